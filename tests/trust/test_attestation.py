"""Evidence, nonces and appraisal (RFC 9334 roles), checked without any transport."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.trust.attestation import (
    Challenge,
    Evidence,
    EvidenceError,
    Measurement,
    Reference,
    Verifier,
    produce_evidence,
    signed_message,
)
from secmas.trust.identity import AgentIdentity


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


REFERENCE = Measurement.of({"code:a": digest("a"), "code:b": digest("b"), "file:a": digest("fa")})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_root_commits_to_every_part() -> None:
    changed = Measurement.of({**dict(REFERENCE.parts), "code:b": digest("evil")})
    assert changed.root != REFERENCE.root
    assert changed.differing(REFERENCE) == ["code:b"]
    assert Measurement.of(dict(reversed(REFERENCE.parts))).root == REFERENCE.root


def test_root_is_the_hash_of_the_parts_written_out_by_hand() -> None:
    """SHA-256 over the domain, then per sorted part its name's length, name and digest:
    the root every reference recorded so far was computed as."""
    by_hand = hashlib.sha256(b"secmas/measurement/1\x00")
    for name, part in sorted(
        {"code:a": digest("a"), "code:b": digest("b"), "file:a": digest("fa")}.items()
    ):
        by_hand.update(len(name).to_bytes(4, "big") + name.encode() + part)
    assert REFERENCE.root == by_hand.digest()
    assert Measurement.decode(REFERENCE.encoded) == REFERENCE
    assert Measurement.decode(REFERENCE.encoded).parts == REFERENCE.parts


def test_a_digest_of_another_length_is_refused() -> None:
    with pytest.raises(ValueError, match="part 'code:a': 31 bytes"):
        Measurement.of({"code:a": bytes(31)})


@given(st.dictionaries(st.text(max_size=12), st.binary(min_size=32, max_size=32), max_size=6))
def test_encoded_parts_read_back(parts: dict[str, bytes]) -> None:
    measurement = Measurement.of(parts)
    assert Measurement.from_wire(measurement.wire).parts == tuple(sorted(parts.items()))


@given(st.binary(max_size=200))
def test_garbage_measurements_only_raise_evidence_error(data: bytes) -> None:
    try:
        parts = Measurement.decode(data).parts
    except EvidenceError:
        return
    assert Measurement.of(dict(parts)).encoded == data  # whatever reads is canonical


def test_out_of_order_parts_are_unreadable_and_fail_appraisal() -> None:
    """Parts swapped in the encoding: another root, and a report that cannot name parts."""
    agent = AgentIdentity.generate("p2")
    verifier = Verifier("p1")
    first, second = (Measurement.of({n: d}).encoded for n, d in REFERENCE.parts[:2])
    swapped = Measurement.decode(second + first)
    challenge = verifier.challenge("p2")
    evidence = produce_evidence(agent, challenge, swapped)
    appraisal = verifier.appraise(evidence, REFERENCE.root, agent.signing_public)
    assert not appraisal.passed and appraisal.measurement is None
    assert appraisal.reasons == (
        "unreadable measurement: part 'code:a' is out of order or repeated",
    )


def test_genuine_evidence_passes_once() -> None:
    agent = AgentIdentity.generate("p2")
    verifier = Verifier("p1")
    challenge = verifier.challenge("p2")
    evidence = produce_evidence(agent, challenge, REFERENCE)
    assert verifier.appraise(evidence, REFERENCE.root, agent.signing_public).passed
    replay = verifier.appraise(evidence, REFERENCE.root, agent.signing_public)
    assert not replay.passed and replay.reasons == ("replayed or unknown nonce",)


def test_evidence_for_another_verifier_is_unknown() -> None:
    agent = AgentIdentity.generate("p2")
    other = Verifier("p3").challenge("p2")
    evidence = produce_evidence(agent, other, REFERENCE)
    appraisal = Verifier("p1").appraise(evidence, REFERENCE.root, agent.signing_public)
    assert not appraisal.passed


def test_stale_evidence_is_refused() -> None:
    clock = Clock()
    agent = AgentIdentity.generate("p2")
    verifier = Verifier("p1", max_age=5.0, clock=clock)
    evidence = produce_evidence(agent, verifier.challenge("p2"), REFERENCE)
    clock.now = 6.0
    appraisal = verifier.appraise(evidence, REFERENCE.root, agent.signing_public)
    assert not appraisal.passed and "stale" in appraisal.reasons[0]


def test_tampered_measurement_names_the_part() -> None:
    agent = AgentIdentity.generate("p2")
    verifier = Verifier("p1")
    tampered = Measurement.of({**dict(REFERENCE.parts), "code:a": digest("patched")})
    evidence = produce_evidence(agent, verifier.challenge("p2"), tampered)
    appraisal = verifier.appraise(evidence, REFERENCE.root, agent.signing_public)
    assert not appraisal.passed
    assert appraisal.reasons == ("measurement differs from the reference",)
    assert appraisal.measurement is not None
    assert appraisal.measurement.differing(REFERENCE) == ["code:a"]


def test_impersonation_and_forged_signatures_fail() -> None:
    agent, impostor = AgentIdentity.generate("p2"), AgentIdentity.generate("p2")
    verifier = Verifier("p1")
    evidence = produce_evidence(impostor, verifier.challenge("p2"), REFERENCE)
    appraisal = verifier.appraise(evidence, REFERENCE.root, agent.signing_public)
    assert appraisal.reasons == ("bad signature for the agent's key",)
    other = AgentIdentity.generate("p4")
    evidence = produce_evidence(other, verifier.challenge("p2"), REFERENCE)
    assert "challenged 'p2'" in verifier.appraise(evidence, REFERENCE.root, b"k" * 32).reasons[0]


def test_signature_binds_nonce_measurement_and_agent() -> None:
    agent = AgentIdentity.generate("p2")
    verifier = Verifier("p1")
    challenge = verifier.challenge("p2")
    evidence = produce_evidence(agent, challenge, REFERENCE)
    message = signed_message("p2", challenge.nonce, REFERENCE.root)
    agent.signing.public_key().verify(evidence.signature, message)
    swapped = Evidence("p2", challenge.nonce, Measurement.of({}), evidence.signature)
    assert not verifier.appraise(swapped, Measurement.of({}).root, agent.signing_public).passed


def test_frames_round_trip() -> None:
    agent = AgentIdentity.generate("p2")
    challenge = Verifier("p1").challenge("p2")
    assert Challenge.decode(challenge.encode()) == challenge
    evidence = produce_evidence(agent, challenge, REFERENCE)
    assert Evidence.decode(evidence.encode()) == evidence
    reference = Reference("p2", "secmas-agent:0.1.0", REFERENCE.root)
    assert Reference.decode(reference.encode()) == reference


@given(st.binary(max_size=300))
def test_garbage_frames_only_raise_evidence_error(data: bytes) -> None:
    for decode in (Challenge.decode, Evidence.decode, Reference.decode):
        with pytest.raises(EvidenceError):
            decode(data)


@given(
    st.dictionaries(
        st.sampled_from(["format", "agent", "nonce", "measurement", "signature", "x"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=70), st.just("secmas.evidence/2")),
    )
)
def test_malformed_evidence_objects_are_refused(frame: dict) -> None:
    import json

    with pytest.raises(EvidenceError):
        Evidence.decode(json.dumps(frame).encode())

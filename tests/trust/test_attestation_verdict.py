"""Signed verdicts: the signature covers every field, so no field can change without
the relying party noticing; encoding round-trips and malformed objects name the field."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.trust.attestation import EvidenceError, SignedVerdict
from secmas.trust.identity import AgentIdentity

VERIFIER = AgentIdentity.generate("pop2")
VERDICT = SignedVerdict("pipe", 7, bytes(range(32)), "pop3", "pop2", b"\x11" * 32, False)


def test_a_signed_verdict_verifies_under_the_verifiers_key_only() -> None:
    signed = VERDICT.signed_by(VERIFIER)
    assert signed.valid(VERIFIER.signing_public)
    assert not signed.valid(AgentIdentity.generate("pop2").signing_public)
    assert SignedVerdict.from_json(signed.to_json()) == signed
    with pytest.raises(ValueError, match="cannot sign"):
        VERDICT.signed_by(AgentIdentity.generate("pop9"))


@pytest.mark.parametrize(
    "change",
    [
        {"pipeline": "other"},
        {"step": 8},
        {"nonce": bytes(32)},
        {"measured": "pop4"},
        {"verifier": "pop9"},
        {"evidence": b"\x22" * 32},
        {"passed": True},
    ],
)
def test_no_field_changes_without_breaking_the_signature(change: dict[str, Any]) -> None:
    signed = VERDICT.signed_by(VERIFIER)
    assert not replace(signed, **change).valid(VERIFIER.signing_public)


@pytest.mark.parametrize(
    ("field", "value"),
    [("step", -1), ("step", True), ("passed", "yes"), ("nonce", "00"), ("signature", "zz")],
)
def test_malformed_verdicts_name_the_field(field: str, value: object) -> None:
    data = VERDICT.signed_by(VERIFIER).to_json()
    data[field] = value
    with pytest.raises(EvidenceError, match=field):
        SignedVerdict.from_json(data)


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=10) | st.integers(), max_size=8))
def test_arbitrary_objects_are_refused_not_crashed_on(data: dict[str, object]) -> None:
    with pytest.raises(EvidenceError):
        SignedVerdict.from_json(data)

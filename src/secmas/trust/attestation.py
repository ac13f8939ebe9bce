"""Remote attestation in RATS roles (RFC 9334): attester, verifier, relying party.

The attester (every agent) measures itself and signs the result together with the
verifier's fresh nonce; the verifier appraises that evidence against the reference
measurement SECaaS stored when it wrapped the agent (`001_…` steps 4, 10–11); the relying
party (the MLFO, through the ledger) acts on the result. Evidence is an Ed25519 signature
by the agent's key over nonce ‖ measurement ‖ agent id; a nonce is used once and only
within `max_age` seconds, so stale or replayed evidence is refused.

The verifier's verdict is itself signed (`SignedVerdict`), with its identity key, over
the step's nonce, the measured agent, the evidence digest and the result: the relying
party checks that signature and the on-chain record before it trusts or revokes anyone,
so nobody else on the bus can pass a tampered agent or fail a genuine one.

This module is pure computation: encoding, signing, appraisal. Transport (the bus) and
recording (the ledger) live in `secmas.trust.chain`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from secmas.transport.nesting import too_deep
from secmas.trust.identity import AgentIdentity, signature_valid

EVIDENCE_FORMAT = "secmas.evidence/2"
CHALLENGE_FORMAT = "secmas.challenge/1"
REFERENCE_FORMAT = "secmas.reference/1"
VERDICT_FORMAT = "secmas.verdict/1"
UNMEASURED_FORMAT = "secmas.unmeasured/1"
_DOMAIN = b"secmas/evidence/1\x00"
_VERDICT_DOMAIN = b"secmas/verdict/1\x00"
NONCE_BYTES = 32
DIGEST_BYTES = 32
_MEASUREMENT_DOMAIN = b"secmas/measurement/1\x00"
MAX_DEPTH = 4  # frames nest two levels (a verifier's answer → its appraisal)


class EvidenceError(ValueError):
    """A challenge, evidence or reference frame that cannot be parsed."""


@dataclass(frozen=True)
class Measurement:
    """Named digests of what an agent runs (modules' code and files, ELF sections) and
    their root: SHA-256 over the sorted (name, digest) pairs, so the signed root commits
    to every part and a verifier can say which part differs.

    It is held as its canonical encoding (`encoded`), the very bytes the root hashes: an
    attester encodes it once per walk, a verifier hashes what arrived in one call and
    reads the parts only to say which differ. Evidence carried the parts as a JSON object
    of hex digests, and writing, parsing and hashing it part by part was a third of the
    main process's work in a 1,000-agent bring-up."""

    encoded: bytes
    """Per part, sorted by name: the name's UTF-8 length (4 bytes, big-endian), the name
    and its DIGEST_BYTES digest."""

    @classmethod
    def of(cls, parts: Mapping[str, bytes]) -> Measurement:
        """A measurement from a name → digest mapping (DIGEST_BYTES digests)."""
        ordered = tuple(sorted(parts.items()))
        for name, digest in ordered:
            if len(digest) != DIGEST_BYTES:
                raise ValueError(f"part {name!r}: {len(digest)} bytes, a digest has {DIGEST_BYTES}")
        measurement = cls(b"".join(_encoded_part(name, digest) for name, digest in ordered))
        measurement.__dict__["parts"] = ordered  # known already: no need to parse it back
        return measurement

    @classmethod
    def decode(cls, encoded: bytes) -> Measurement:
        """A measurement as it arrived; its parts are read (and checked) when asked for."""
        return cls(bytes(encoded))

    @cached_property
    def parts(self) -> tuple[tuple[str, bytes], ...]:
        """The (name, digest) pairs, sorted by name; EvidenceError when `encoded` is not a
        canonical encoding."""
        parts: list[tuple[str, bytes]] = []
        data, at = self.encoded, 0
        while at < len(data):
            if at + 4 > len(data):
                raise EvidenceError(f"measurement: a part's length cut short at byte {at}")
            size = int.from_bytes(data[at : at + 4], "big")
            end = at + 4 + size + DIGEST_BYTES
            if end > len(data):
                raise EvidenceError(f"measurement: the part at byte {at} runs past the end")
            try:
                name = data[at + 4 : at + 4 + size].decode()
            except UnicodeDecodeError:
                raise EvidenceError(
                    f"measurement: the part at byte {at} has no UTF-8 name"
                ) from None
            if parts and name <= parts[-1][0]:
                raise EvidenceError(f"measurement: part {name!r} is out of order or repeated")
            parts.append((name, data[end - DIGEST_BYTES : end]))
            at = end
        return tuple(parts)

    @cached_property
    def root(self) -> bytes:
        """The digest that evidence signs and the ledger's record refers to."""
        return hashlib.sha256(_MEASUREMENT_DOMAIN + self.encoded).digest()

    @cached_property
    def wire(self) -> str:
        """`encoded` as frames carry it (base64), made once per measurement."""
        return base64.b64encode(self.encoded).decode("ascii")

    @classmethod
    def from_wire(cls, value: object) -> Measurement:
        if not isinstance(value, str):
            raise EvidenceError("measurement must be a base64 string")
        try:
            return cls.decode(base64.b64decode(value, validate=True))
        except binascii.Error as exc:
            raise EvidenceError(f"measurement: not base64: {exc}") from None

    def differing(self, reference: Measurement) -> list[str]:
        """Parts that differ from `reference`, are missing from it or are extra."""
        mine, theirs = dict(self.parts), dict(reference.parts)
        return sorted(n for n in mine.keys() | theirs.keys() if mine.get(n) != theirs.get(n))


def _encoded_part(name: str, digest: bytes) -> bytes:
    encoded = name.encode()
    return len(encoded).to_bytes(4, "big") + encoded + digest


def _frame(data: bytes, expected: str) -> dict[str, Any]:
    try:
        text = data.decode()
        if too_deep(text, MAX_DEPTH):
            raise EvidenceError(f"JSON nested more than {MAX_DEPTH} levels deep")
        frame = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvidenceError(f"not JSON: {exc}") from None
    if not isinstance(frame, dict) or frame.get("format") != expected:
        raise EvidenceError(f"not a {expected} frame")
    return frame


def _hex_field(frame: dict[str, Any], key: str, size: int | None = None) -> bytes:
    try:
        value = bytes.fromhex(frame[key])
    except (KeyError, TypeError, ValueError):
        raise EvidenceError(f"field {key!r} missing or not hex") from None
    if size is not None and len(value) != size:
        raise EvidenceError(f"field {key!r} must be {size} bytes, got {len(value)}")
    return value


def _str_field(frame: dict[str, Any], key: str) -> str:
    value = frame.get(key)
    if not isinstance(value, str) or not value:
        raise EvidenceError(f"field {key!r} missing or not a string")
    return value


@dataclass(frozen=True)
class Challenge:
    """A verifier's request for evidence: a fresh nonce for one measured agent."""

    nonce: bytes
    verifier: str
    measured: str

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": CHALLENGE_FORMAT,
                "nonce": self.nonce.hex(),
                "verifier": self.verifier,
                "measured": self.measured,
            }
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> Challenge:
        frame = _frame(data, CHALLENGE_FORMAT)
        return cls(
            _hex_field(frame, "nonce", NONCE_BYTES),
            _str_field(frame, "verifier"),
            _str_field(frame, "measured"),
        )


def signed_message(agent: str, nonce: bytes, root: bytes) -> bytes:
    """What evidence signs: nonce ‖ measurement root ‖ agent id, with a domain label."""
    return _DOMAIN + nonce + root + agent.encode()


@dataclass(frozen=True)
class Evidence:
    """An attester's signed answer to a challenge."""

    agent: str
    nonce: bytes
    measurement: Measurement
    signature: bytes

    @property
    def digest(self) -> bytes:
        """SHA-256 of the signed message and signature: what the ledger record holds."""
        message = signed_message(self.agent, self.nonce, self.measurement.root)
        return hashlib.sha256(message + self.signature).digest()

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": EVIDENCE_FORMAT,
                "agent": self.agent,
                "nonce": self.nonce.hex(),
                "measurement": self.measurement.wire,
                "signature": self.signature.hex(),
            }
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> Evidence:
        frame = _frame(data, EVIDENCE_FORMAT)
        return cls(
            _str_field(frame, "agent"),
            _hex_field(frame, "nonce", NONCE_BYTES),
            Measurement.from_wire(frame.get("measurement")),
            _hex_field(frame, "signature", 64),
        )


def unmeasured(agent: str, reason: str) -> bytes:
    """An attester's answer when it could not measure itself. Unsigned: it can only fail
    the agent that sends it, and it fails the step at once, where no answer would hold
    the verifier for its whole wait (on the virtual clock, minutes of wall time)."""
    frame = {"format": UNMEASURED_FORMAT, "agent": agent, "reason": reason[:300]}
    return json.dumps(frame).encode()


def unmeasured_reason(data: bytes) -> str | None:
    """Why the attester could not measure itself, if `data` is its `unmeasured` answer."""
    try:
        frame = _frame(data, UNMEASURED_FORMAT)
    except EvidenceError:
        return None
    return str(frame.get("reason", ""))[:300]


def produce_evidence(
    identity: AgentIdentity, challenge: Challenge, measurement: Measurement
) -> Evidence:
    """The attester's side: sign the fresh nonce with what it measured just now."""
    message = signed_message(identity.name, challenge.nonce, measurement.root)
    return Evidence(identity.name, challenge.nonce, measurement, identity.sign(message))


@dataclass(frozen=True)
class Appraisal:
    """A verifier's verdict on one piece of evidence, with the reasons when it fails."""

    agent: str
    passed: bool
    reasons: tuple[str, ...] = ()
    evidence: bytes = bytes(32)
    """The appraised evidence's digest (zeros when none arrived): the ledger records it."""
    measurement: Measurement | None = None
    """What the agent reported, for whoever holds the full reference to diagnose."""

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "passed": self.passed,
            "reasons": list(self.reasons),
            "evidence": self.evidence.hex(),
            "measurement": None if self.measurement is None else self.measurement.wire,
        }

    @classmethod
    def from_json(cls, data: object) -> Appraisal:
        if not isinstance(data, dict) or not isinstance(data.get("passed"), bool):
            raise EvidenceError("appraisal must be an object with a boolean 'passed'")
        reasons = data.get("reasons", [])
        if not isinstance(reasons, list):
            raise EvidenceError("appraisal reasons must be a list")
        measurement = (
            None if data.get("measurement") is None else Measurement.from_wire(data["measurement"])
        )
        if measurement is not None and not data["passed"]:
            measurement.parts  # noqa: B018 - a failed agent's report is read to name its parts
        return cls(
            _str_field(data, "agent"),
            data["passed"],
            tuple(str(r) for r in reasons),
            _hex_field(data, "evidence", 32),
            measurement,
        )


@dataclass
class Verifier:
    """The verifier role: issues one-use nonces and appraises evidence against references.

    `max_age` bounds how long a challenge stays answerable (seconds of `clock`: the run's
    simulated seconds on the virtual clock, so that a busy machine never makes evidence
    stale; wall seconds in real time); a challenge may set its own bound."""

    name: str
    max_age: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _outstanding: dict[bytes, tuple[str, float, float]] = field(default_factory=dict)

    def challenge(
        self, measured: str, nonce: bytes | None = None, lifetime: float | None = None
    ) -> Challenge:
        """A challenge for `measured` with `nonce` (the step's, drawn on chain) or a fresh
        random one, remembered until it is used or `lifetime` (default `max_age`) passes."""
        self._forget_expired()
        nonce = secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce
        if len(nonce) != NONCE_BYTES:
            raise ValueError(f"a nonce has {NONCE_BYTES} bytes, got {len(nonce)}")
        lifetime = self.max_age if lifetime is None else lifetime
        self._outstanding[nonce] = (measured, self.clock(), lifetime)
        return Challenge(nonce, self.name, measured)

    def appraise(self, evidence: Evidence, reference: bytes, signing_key: bytes) -> Appraisal:
        """Check freshness, identity, signature, then the measurement root against the
        reference root (`001_…` step 11: the hash is compared with the stored one).

        The nonce is consumed whatever the verdict, so the same evidence never passes
        twice."""

        def verdict(reason: str | None) -> Appraisal:
            reasons = () if reason is None else (reason,)
            measured = evidence.measurement
            return Appraisal(evidence.agent, reason is None, reasons, evidence.digest, measured)

        issued = self._outstanding.pop(evidence.nonce, None)
        if issued is None:
            return verdict("replayed or unknown nonce")
        measured, at, lifetime = issued
        if self.clock() - at > lifetime:
            return verdict(f"stale evidence (older than {lifetime:g} s)")
        if evidence.agent != measured:
            return verdict(f"evidence from {evidence.agent!r}, challenged {measured!r}")
        message = signed_message(evidence.agent, evidence.nonce, evidence.measurement.root)
        if not signature_valid(signing_key, evidence.signature, message):
            return verdict("bad signature for the agent's key")
        if evidence.measurement.root != reference:
            try:
                evidence.measurement.parts  # noqa: B018 - read now, so that reports can name them
            except EvidenceError as exc:
                return replace(verdict(f"unreadable {exc}"), measurement=None)
            return verdict("measurement differs from the reference")
        return verdict(None)

    def _forget_expired(self) -> None:
        now = self.clock()
        for nonce, (_, at, lifetime) in list(self._outstanding.items()):
            if now - at > lifetime:
                del self._outstanding[nonce]


@dataclass(frozen=True)
class Reference:
    """The reference value a verifier receives, sealed, for one measured agent: the root
    of the measurement SECaaS recorded when it wrapped the agent's image."""

    agent: str
    image: str
    root: bytes

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": REFERENCE_FORMAT,
                "agent": self.agent,
                "image": self.image,
                "root": self.root.hex(),
            }
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> Reference:
        frame = _frame(data, REFERENCE_FORMAT)
        return cls(
            _str_field(frame, "agent"),
            _str_field(frame, "image"),
            _hex_field(frame, "root", 32),
        )


def _field(value: bytes) -> bytes:
    return len(value).to_bytes(2, "big") + value


@dataclass(frozen=True)
class SignedVerdict:
    """A verifier's verdict, signed with its identity key over (pipeline, step, nonce,
    measured agent, evidence digest, result): what the relying party acts on once the
    on-chain record agrees with it."""

    pipeline: str
    step: int
    nonce: bytes
    measured: str
    verifier: str
    evidence: bytes
    passed: bool
    signature: bytes = field(default=b"", repr=False)

    def message(self) -> bytes:
        """What the signature covers: every field, length-prefixed, with a domain label."""
        return _VERDICT_DOMAIN + b"".join(
            _field(part)
            for part in (
                self.pipeline.encode(),
                self.step.to_bytes(4, "big"),
                self.nonce,
                self.measured.encode(),
                self.verifier.encode(),
                self.evidence,
                bytes([self.passed]),
            )
        )

    def signed_by(self, identity: AgentIdentity) -> SignedVerdict:
        """This verdict signed by `identity` (who must be its verifier)."""
        if identity.name != self.verifier:
            raise ValueError(f"{identity.name} cannot sign a verdict of {self.verifier}")
        return replace(self, signature=identity.sign(self.message()))

    def valid(self, signing_key: bytes) -> bool:
        """Whether the signature verifies under the verifier's registered key."""
        return signature_valid(signing_key, self.signature, self.message())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": VERDICT_FORMAT,
            "pipeline": self.pipeline,
            "step": self.step,
            "nonce": self.nonce.hex(),
            "measured": self.measured,
            "verifier": self.verifier,
            "evidence": self.evidence.hex(),
            "passed": self.passed,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: object) -> SignedVerdict:
        if not isinstance(data, dict) or data.get("format") != VERDICT_FORMAT:
            raise EvidenceError(f"not a {VERDICT_FORMAT} object")
        step, passed = data.get("step"), data.get("passed")
        if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < 2**32:
            raise EvidenceError("field 'step' must be an integer step number")
        if not isinstance(passed, bool):
            raise EvidenceError("field 'passed' must be a boolean")
        return cls(
            _str_field(data, "pipeline"),
            step,
            _hex_field(data, "nonce", NONCE_BYTES),
            _str_field(data, "measured"),
            _str_field(data, "verifier"),
            _hex_field(data, "evidence", 32),
            passed,
            _hex_field(data, "signature", 64),
        )

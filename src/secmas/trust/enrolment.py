"""Enrolment: an agent joins a pipeline only with the one-time credential issued for it.

`001_…` step 8 has the MLFO distribute credentials to the agents of the pipeline. Here
the MLFO issues, per planned agent, a one-time enrolment credential: 32 random bytes,
the MLFO's and SECaaS's public keys, the pipeline and the agent's name. The IML driver
hands it to the agent's process out of band (a file readable by its owner only, named
by an environment variable, removed once read: never on the command line, in a log or
in a report). The agent's join then proves it holds the credential without sending it:
an HMAC-SHA256 under the credential over the pipeline, its name, account and public
keys, plus an Ed25519 signature by the key it registers (proof of possession). The join
travels as an enrolment envelope, sealed to the MLFO's key.

The MLFO admits a join when a credential was issued for that name and not used yet, the
proof matches and the signature verifies; the credential is then spent. A second join
for an enrolled name, a join without a credential, or one with a wrong proof is refused
with the reason, whoever sends it first (no more first-come enrolment).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secmas.trust.identity import AgentIdentity, signature_valid

CREDENTIAL_ENV = "SECMAS_ENROLMENT"
"""Names the file that holds an agent process's enrolment credential."""
CREDENTIAL_FORMAT = "secmas.enrolment/1"
JOIN_FORMAT = "secmas.join/1"
SECRET_BYTES = 32
_DOMAIN = b"secmas/join/1\x00"


class EnrolmentError(ValueError):
    """A credential or join that cannot be read, or a join the MLFO refuses."""


def _hex(data: dict[str, Any], key: str, size: int) -> bytes:
    try:
        value = bytes.fromhex(data[key])
    except (KeyError, TypeError, ValueError):
        raise EnrolmentError(f"field {key!r} missing or not hex") from None
    if len(value) != size:
        raise EnrolmentError(f"field {key!r} must be {size} bytes, got {len(value)}")
    return value


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise EnrolmentError(f"field {key!r} missing or not a string")
    return value


def _object(raw: bytes, what: str, expected: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnrolmentError(f"{what} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != expected:
        raise EnrolmentError(f"{what} is not a {expected} object")
    return data


@dataclass(frozen=True)
class Credential:
    """What an agent process receives out of band: its one-time secret and whom to trust."""

    pipeline: str
    agent: str
    secret: bytes = field(repr=False)
    mlfo_key: bytes
    """The MLFO's X25519 key: the join is sealed to it, its messages open with it."""
    mlfo_signing_key: bytes
    secaas_key: bytes
    """SECaaS's X25519 key: its challenges of the initial attestation open with it."""
    secaas_signing_key: bytes

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": CREDENTIAL_FORMAT,
                "pipeline": self.pipeline,
                "agent": self.agent,
                "secret": self.secret.hex(),
                "mlfo_key": self.mlfo_key.hex(),
                "mlfo_signing_key": self.mlfo_signing_key.hex(),
                "secaas_key": self.secaas_key.hex(),
                "secaas_signing_key": self.secaas_signing_key.hex(),
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Credential:
        data = _object(raw, "enrolment credential", CREDENTIAL_FORMAT)
        return cls(
            _text(data, "pipeline"),
            _text(data, "agent"),
            _hex(data, "secret", SECRET_BYTES),
            _hex(data, "mlfo_key", 32),
            _hex(data, "mlfo_signing_key", 32),
            _hex(data, "secaas_key", 32),
            _hex(data, "secaas_signing_key", 32),
        )

    def write(self, path: Path) -> None:
        """Hand the credential over: a new file only its owner can read."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(self.encode())

    @classmethod
    def take(cls, path: Path) -> Credential:
        """Read the handed-over credential and remove the file: it is used once."""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise EnrolmentError(f"{path}: cannot read: {exc.strerror or exc}") from None
        path.unlink(missing_ok=True)
        return cls.decode(raw)


def transcript(pipeline: str, agent: str, address: str, signing: bytes, sealing: bytes) -> bytes:
    """What the join's proof and signature cover, every field length-prefixed."""
    parts = (pipeline.encode(), agent.encode(), address.lower().encode(), signing, sealing)
    return _DOMAIN + b"".join(len(p).to_bytes(2, "big") + p for p in parts)


@dataclass(frozen=True)
class JoinRequest:
    """An agent's request to enrol: its account and keys, the credential proof and a
    signature by its signing key."""

    pipeline: str
    agent: str
    address: str
    signing_key: bytes
    sealing_key: bytes
    proof: bytes
    signature: bytes

    @classmethod
    def make(cls, identity: AgentIdentity, address: str, credential: Credential) -> JoinRequest:
        """The join of `identity` (with ledger account `address`) under `credential`."""
        signing, sealing = identity.signing_public, identity.sealing_public
        message = transcript(credential.pipeline, identity.name, address, signing, sealing)
        proof = hmac.new(credential.secret, message, hashlib.sha256).digest()
        return cls(
            credential.pipeline,
            identity.name,
            address,
            signing,
            sealing,
            proof,
            identity.sign(message),
        )

    def message(self) -> bytes:
        return transcript(
            self.pipeline, self.agent, self.address, self.signing_key, self.sealing_key
        )

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": JOIN_FORMAT,
                "pipeline": self.pipeline,
                "agent": self.agent,
                "address": self.address,
                "signing_key": self.signing_key.hex(),
                "sealing_key": self.sealing_key.hex(),
                "proof": self.proof.hex(),
                "signature": self.signature.hex(),
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> JoinRequest:
        data = _object(raw, "join", JOIN_FORMAT)
        return cls(
            _text(data, "pipeline"),
            _text(data, "agent"),
            _text(data, "address"),
            _hex(data, "signing_key", 32),
            _hex(data, "sealing_key", 32),
            _hex(data, "proof", 32),
            _hex(data, "signature", 64),
        )


@dataclass
class Enrolment:
    """The MLFO's side: credentials issued per agent, spent by the first valid join."""

    pipeline: str
    mlfo: AgentIdentity
    secaas: AgentIdentity
    _issued: dict[str, bytes] = field(default_factory=dict, repr=False)
    enrolled: dict[str, JoinRequest] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    def issue(self, agent: str) -> Credential:
        """A fresh one-time credential for `agent` (replacing one not yet used)."""
        if agent in self.enrolled:
            raise EnrolmentError(f"{agent} is already enrolled")
        secret = secrets.token_bytes(SECRET_BYTES)
        self._issued[agent] = secret
        return Credential(
            self.pipeline,
            agent,
            secret,
            self.mlfo.sealing_public,
            self.mlfo.signing_public,
            self.secaas.sealing_public,
            self.secaas.signing_public,
        )

    def admit(self, join: JoinRequest, sender: str, sender_key: bytes) -> JoinRequest:
        """Check a join that arrived in an enrolment envelope from `sender` holding
        `sender_key`; the credential is spent when it passes. EnrolmentError names why a
        join is refused (the reason is also kept in `refused`)."""
        try:
            self._check(join, sender, sender_key)
        except EnrolmentError as exc:
            self.refused.append(f"{join.agent}: {exc}")
            raise
        del self._issued[join.agent]
        self.enrolled[join.agent] = join
        return join

    def _check(self, join: JoinRequest, sender: str, sender_key: bytes) -> None:
        if join.pipeline != self.pipeline:
            raise EnrolmentError(f"join for pipeline {join.pipeline!r}, not {self.pipeline!r}")
        if join.agent != sender or join.sealing_key != sender_key:
            raise EnrolmentError("the join's name or key differ from its envelope's")
        if join.agent in self.enrolled:
            raise EnrolmentError(f"{join.agent} is already enrolled")
        secret = self._issued.get(join.agent)
        if secret is None:
            raise EnrolmentError(f"no enrolment credential was issued for {join.agent!r}")
        expected = hmac.new(secret, join.message(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, join.proof):
            raise EnrolmentError("the credential proof does not match")
        if not signature_valid(join.signing_key, join.signature, join.message()):
            raise EnrolmentError("the join is not signed by the key it registers")

"""An agent's cryptographic identity: what it signs evidence with and what secrets are
sealed to.

Each agent of a MAS pipeline holds two key pairs, both registered on the ledger with its
account (`001_…` steps 7–8): an Ed25519 key that signs attestation evidence, so a verifier
knows which agent measured itself, and an X25519 key that reference measurements and
pipeline secrets are sealed to, so nothing secret travels or rests on chain in clear.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey


@dataclass(frozen=True)
class AgentIdentity:
    """An agent's name and private keys (the public halves are derived)."""

    name: str
    signing: Ed25519PrivateKey = field(repr=False)
    sealing: X25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls, name: str) -> AgentIdentity:
        """Fresh keys for a newly deployed agent."""
        return cls(name, Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    @property
    def signing_public(self) -> bytes:
        """The raw 32-byte Ed25519 public key (as registered on chain)."""
        return self.signing.public_key().public_bytes_raw()

    @property
    def sealing_public(self) -> bytes:
        """The raw 32-byte X25519 public key (as registered on chain)."""
        return self.sealing.public_key().public_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature over `message`."""
        return self.signing.sign(message)


def signature_valid(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether `signature` is a valid Ed25519 signature of `message` under the raw key."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True

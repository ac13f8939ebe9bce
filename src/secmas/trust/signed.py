"""Documents SECaaS signs whole with its Ed25519 key: the host's platform reference
(`secmas.trust.measurer.PlatformReference`) and the release's platform allow-list
(`secmas.trust.sitelist.PlatformAllowList`).

Each is a frozen dataclass with `public_key` and `signature` fields that says, in
`signed_bytes`, what its signature covers: a domain tag of its own, then canonical JSON of
every other field, so that a signature over one kind of document never verifies as
another's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secmas.trust.keys import public_key_hex


class SignedDocument(ABC):
    """Signing and checking for a frozen dataclass with `public_key` and `signature`."""

    public_key: str
    signature: str

    @abstractmethod
    def signed_bytes(self) -> bytes:
        """What the signature covers (its domain tag first)."""

    def sign(self, key: Ed25519PrivateKey) -> Self:
        """This document signed by `key`, which it names."""
        unsigned = replace(self, public_key=public_key_hex(key.public_key()), signature="")  # type: ignore[type-var]
        return replace(unsigned, signature=key.sign(unsigned.signed_bytes()).hex())

    def signed_by(self, trusted: Ed25519PublicKey) -> bool:
        """Whether `trusted` signed this document, and it names that key."""
        if self.public_key != public_key_hex(trusted) or not self.signature:
            return False
        try:
            trusted.verify(bytes.fromhex(self.signature), self.signed_bytes())
        except (InvalidSignature, ValueError):
            return False
        return True

"""The protocol's cryptographic primitives (Bonawitz et al., CCS 2017, §3), from
`cryptography`:

- KA: X25519 key agreement (RFC 7748); the raw shared secret goes through HKDF before any
  use (`secmas.secagg.prg.derive_key`);
- AE: AES-256-GCM authenticated encryption (NIST SP 800-38D) with a random 96-bit nonce
  sent in front of the ciphertext;
- SIG: Ed25519 signatures (RFC 8032) under the clients' long-term identity keys, over
  domain-separated byte strings (`advert_message`, `survivors_message`).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from secmas.secagg.errors import ProtocolAbort

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "SIGNATURE_BYTES",
    "TAG_BYTES",
    "KeyPair",
    "advert_message",
    "agree",
    "commit_seed",
    "open_sealed",
    "public_of",
    "seal",
    "sign",
    "survivors_message",
    "verify",
]

KEY_BYTES = 32
SIGNATURE_BYTES = 64
NONCE_BYTES = 12
TAG_BYTES = 16


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair; `public` is the raw 32-byte public key."""

    private: X25519PrivateKey = field(repr=False)
    public: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        """A fresh key pair from the operating system's CSPRNG."""
        private = X25519PrivateKey.generate()
        return cls(private, private.public_key().public_bytes_raw())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> KeyPair:
        """The key pair of a raw 32-byte private key (one reconstructed from shares)."""
        private = X25519PrivateKey.from_private_bytes(raw)
        return cls(private, private.public_key().public_bytes_raw())

    def private_bytes(self) -> bytes:
        """The raw 32-byte private key (what is secret-shared)."""
        return self.private.private_bytes_raw()


def public_of(private_raw: bytes) -> bytes:
    """The raw X25519 public key of a raw private key."""
    return X25519PrivateKey.from_private_bytes(private_raw).public_key().public_bytes_raw()


def agree(private: X25519PrivateKey, public: bytes) -> bytes:
    """KA.agree: the raw X25519 shared secret with a peer's raw public key.

    Raises ProtocolAbort for a malformed or low-order public key (all-zero output).
    """
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError as exc:
        raise ProtocolAbort(f"unusable X25519 public key: {exc}") from None


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """AE.enc: nonce ‖ AES-256-GCM(key, nonce, plaintext, associated data)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def open_sealed(key: bytes, sealed: bytes, associated: bytes, what: str) -> bytes:
    """AE.dec of `seal`'s output; ProtocolAbort naming `what` if it does not authenticate."""
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise ProtocolAbort(f"{what}: ciphertext too short ({len(sealed)} bytes)")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
    except InvalidTag:
        raise ProtocolAbort(f"{what}: ciphertext does not authenticate") from None


def sign(identity: Ed25519PrivateKey, message: bytes) -> bytes:
    """SIG.sign with a client's identity key."""
    return identity.sign(message)


def verify(public: bytes, signature: bytes, message: bytes) -> bool:
    """SIG.ver under a raw 32-byte Ed25519 public key."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def advert_message(session: bytes, client: int, cipher_pk: bytes, mask_pk: bytes) -> bytes:
    """What a client signs in round 0: its two public keys, bound to session and id."""
    return b"secmas.secagg/advertise/v1" + session + struct.pack("<I", client) + cipher_pk + mask_pk


def survivors_message(session: bytes, survivors: Iterable[int]) -> bytes:
    """What a client signs in round 3: the survivor set U3 it was shown (sorted ids)."""
    ids = sorted(survivors)
    return b"secmas.secagg/consistency/v1" + session + struct.pack(f"<I{len(ids)}I", len(ids), *ids)


def commit_seed(session: bytes, client: int, seed: bytes) -> bytes:
    """SHA-256 commitment to a client's self-mask seed b, bound to session and client.

    b is 32 uniform bytes, so the digest hides it; it binds the client to one b, so a
    b rebuilt from wrong shares is told apart from the right one (and wrong shares found)."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"secmas.secagg/self-mask-commitment/v1" + session + struct.pack("<I", client))
    digest.update(seed)
    return digest.finalize()

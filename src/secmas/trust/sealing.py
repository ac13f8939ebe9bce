"""Sealed boxes: encrypt to an agent's X25519 public key (ECIES-style).

Reference measurements handed to a verifier, and pipeline secrets pushed by the MLFO,
rest on a ledger that every agent can read (DESIGN.md: secrets never go on the ledger in
clear). Sealing makes them readable by the one agent whose key they were sealed to:
an ephemeral X25519 exchange, HKDF-SHA256 bound to both public keys, ChaCha20-Poly1305
with the caller's context (pipeline, purpose, step) as associated data, so a box cannot
be replayed into another context.

Wire format, version 1: `0x01 ‖ ephemeral public key (32) ‖ ciphertext ‖ tag (16)`.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = 1
_INFO = b"secmas/seal/1"
_NONCE = bytes(12)  # every box has its own key, so a fixed nonce never repeats under a key
_OVERHEAD = 1 + 32 + 16


class SealError(ValueError):
    """A sealed box that cannot be opened: wrong key, wrong context, tampered or truncated."""


def _box_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=None, info=_INFO + ephemeral + recipient)
    return hkdf.derive(shared)


def seal(plaintext: bytes, recipient: bytes, context: bytes = b"") -> bytes:
    """Encrypt `plaintext` so that only the holder of `recipient`'s private key opens it."""
    try:
        public = X25519PublicKey.from_public_bytes(recipient)
    except ValueError as exc:
        raise SealError(f"recipient key: {exc}") from None
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    key = _box_key(ephemeral.exchange(public), ephemeral_public, recipient)
    return (
        bytes([VERSION])
        + ephemeral_public
        + ChaCha20Poly1305(key).encrypt(_NONCE, plaintext, context)
    )


def open_sealed(box: bytes, recipient: X25519PrivateKey, context: bytes = b"") -> bytes:
    """The plaintext of `box`; SealError if it was not sealed to this key and context."""
    if len(box) < _OVERHEAD:
        raise SealError(f"sealed box too short ({len(box)} bytes)")
    if box[0] != VERSION:
        raise SealError(f"unknown sealed-box version {box[0]}")
    ephemeral_public, ciphertext = box[1:33], box[33:]
    try:
        shared = recipient.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    except ValueError as exc:
        raise SealError(f"ephemeral key: {exc}") from None
    own = recipient.public_key().public_bytes_raw()
    try:
        return ChaCha20Poly1305(_box_key(shared, ephemeral_public, own)).decrypt(
            _NONCE, ciphertext, context
        )
    except InvalidTag:
        raise SealError("not sealed to this key and context, or tampered") from None

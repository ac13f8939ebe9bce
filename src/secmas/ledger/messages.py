"""Signed personal messages (EIP-191 version 0x45, what `eth_sign` produces), which a
contract checks with `ecrecover`: SECaaS signs each step's reference this way so that the
verifier can record the reference and its verdict in one transaction (`AgentRegistry.
recordStep`).

A local key signs here; an account the node holds is signed for by the node (`eth_sign`).
Signatures are 65 bytes r ‖ s ‖ v with v 27 or 28 and a low s (EIP-2), as the contract
requires.
"""

from __future__ import annotations

from coincurve import PrivateKey, PublicKey
from eth_typing import ChecksumAddress
from eth_utils import keccak

from secmas.ledger.transactions import SECP256K1_N, address_of_key

SIGNATURE_BYTES = 65
_V_OFFSET = 27


def personal_hash(message: bytes) -> bytes:
    """keccak256("\\x19Ethereum Signed Message:\\n" ‖ len ‖ message): what is signed."""
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def sign_personal(key: bytes, message: bytes) -> bytes:
    """`message` signed by the 32-byte private `key` (libsecp256k1 signs with a low s)."""
    signature = PrivateKey(key).sign_recoverable(personal_hash(message), hasher=None)
    return signature[:64] + bytes([signature[64] + _V_OFFSET])


def signer_of(message: bytes, signature: bytes) -> ChecksumAddress:
    """The address whose key signed `message`; ValueError for a malformed or high-s
    signature (the contract takes neither)."""
    if len(signature) != SIGNATURE_BYTES:
        raise ValueError(f"a signature is {SIGNATURE_BYTES} bytes, got {len(signature)}")
    v = signature[64] - _V_OFFSET if signature[64] >= _V_OFFSET else signature[64]
    if v not in (0, 1) or int.from_bytes(signature[32:64], "big") > SECP256K1_N // 2:
        raise ValueError("signature out of range (v 27 or 28, low s)")
    public = PublicKey.from_signature_and_message(
        signature[:64] + bytes([v]), personal_hash(message), hasher=None
    )
    return address_of_key(public)

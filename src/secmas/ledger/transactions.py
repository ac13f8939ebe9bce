"""EIP-1559 (type 2) transactions: the bytes a key signs, the signed envelope, and the sender
a node recovers from it. Pure computation, no node.

    signed = sign(tx, key)                     # what eth_sendRawTransaction carries
    tx, sender = recover(signed)               # what a node checks before executing it

EIP-1559 §"Specification": the envelope is 0x02 ‖ rlp([chain_id, nonce, max_priority_fee,
max_fee, gas, to, value, data, access_list, y_parity, r, s]) and the signature covers
keccak256(0x02 ‖ rlp of the first nine fields). Signatures are low-s (EIP-2) secp256k1 over
coincurve (libsecp256k1).
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from coincurve import PrivateKey, PublicKey
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address

# eth_hash loads its C backend on first use: loaded with this module, it is mapped before
# SECaaS lists the run's process's files for its platform reference, and so is checked by
# digest rather than accepted by its directory.
keccak(b"")

TYPE_EIP1559 = 0x02
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_FIELDS = 9
"""chain_id … access_list: the signed part."""


class InvalidTransaction(ValueError):
    """Bytes that are not a well-formed, validly signed type-2 transaction."""


@dataclass(frozen=True, slots=True)
class Transaction:
    """The fields of a type-2 transaction; `to` None creates a contract."""

    chain_id: int
    nonce: int
    max_priority_fee: int
    max_fee: int
    gas: int
    to: bytes | None
    value: int
    data: bytes

    def _fields(self) -> list[object]:
        to = b"" if self.to is None else self.to
        return [
            self.chain_id,
            self.nonce,
            self.max_priority_fee,
            self.max_fee,
            self.gas,
            to,
            self.value,
            self.data,
            [],
        ]

    def signing_hash(self) -> bytes:
        """keccak256(0x02 ‖ rlp(fields)): what the sender signs."""
        return keccak(bytes([TYPE_EIP1559]) + rlp.encode(self._fields()))


def address_of_key(public: PublicKey) -> ChecksumAddress:
    """An account's address: the last 20 bytes of keccak256 of its uncompressed public key."""
    return to_checksum_address(keccak(public.format(compressed=False)[1:])[-20:])


def sign(tx: Transaction, key: bytes) -> bytes:
    """The signed envelope of `tx` under the 32-byte private `key`."""
    signature = PrivateKey(key).sign_recoverable(tx.signing_hash(), hasher=None)
    r, s, y_parity = (
        int.from_bytes(signature[:32], "big"),
        int.from_bytes(signature[32:64], "big"),
        signature[64],
    )
    return bytes([TYPE_EIP1559]) + rlp.encode([*tx._fields(), y_parity, r, s])


def transaction_hash(signed: bytes) -> bytes:
    """The transaction's hash: keccak256 of its signed envelope."""
    return keccak(signed)


def _quantity(raw: object, name: str) -> int:
    if not isinstance(raw, bytes) or raw[:1] == b"\x00" or len(raw) > 32:
        raise InvalidTransaction(f"field {name} is not a canonical quantity")
    return int.from_bytes(raw, "big")


def _bytes(raw: object, name: str) -> bytes:
    if not isinstance(raw, bytes):
        raise InvalidTransaction(f"field {name} is not a byte string")
    return raw


def recover(signed: bytes) -> tuple[Transaction, ChecksumAddress]:
    """The transaction in `signed` and the address whose key signed it.

    Raises InvalidTransaction for another type, malformed RLP, a non-empty access list, a
    high-s or out-of-range signature, or one no public key matches."""
    if signed[:1] != bytes([TYPE_EIP1559]):
        raise InvalidTransaction("only type-2 (EIP-1559) transactions are accepted")
    try:
        items = rlp.decode(signed[1:])
    except rlp.exceptions.DecodingError as exc:
        raise InvalidTransaction(f"malformed RLP: {exc}") from None
    if not isinstance(items, list) or len(items) != _FIELDS + 3:
        raise InvalidTransaction(f"expected {_FIELDS + 3} fields")
    names = ("chain_id", "nonce", "max_priority_fee", "max_fee", "gas")
    numbers = [_quantity(items[i], n) for i, n in enumerate(names)]
    to = _bytes(items[5], "to")
    if len(to) not in (0, 20):
        raise InvalidTransaction("field to is neither empty nor 20 bytes")
    if items[8] != []:
        raise InvalidTransaction("access lists are not supported")
    tx = Transaction(
        *numbers,
        to=to or None,
        value=_quantity(items[6], "value"),
        data=_bytes(items[7], "data"),
    )
    y_parity, r, s = (_quantity(items[9 + i], n) for i, n in enumerate(("y_parity", "r", "s")))
    if y_parity > 1 or not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        raise InvalidTransaction("signature out of range (EIP-2: low s)")
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity])
    try:
        public = PublicKey.from_signature_and_message(signature, tx.signing_hash(), hasher=None)
    except ValueError as exc:
        raise InvalidTransaction(f"no public key matches the signature: {exc}") from None
    return tx, address_of_key(public)

"""Ledger accounts whose keys this process holds: agents, the MLFO, the SECaaS.

An account is a secp256k1 key and the address derived from it; it signs its transactions
here (`secmas.ledger.transactions`), so any node, in-process or remote, only ever sees
signed bytes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from coincurve import PrivateKey
from eth_typing import ChecksumAddress

from secmas.ledger.transactions import SECP256K1_N, Transaction, address_of_key, sign

KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class Account:
    """A private key and its address. The key never shows in `repr`."""

    key: bytes = field(repr=False)
    address: ChecksumAddress

    @classmethod
    def create(cls) -> Account:
        """A fresh account from the operating system's random source."""
        while True:
            key = secrets.token_bytes(KEY_BYTES)
            if 0 < int.from_bytes(key, "big") < SECP256K1_N:
                return cls.from_key(key)

    @classmethod
    def from_key(cls, key: bytes | str) -> Account:
        """The account of a 32-byte key, raw or hex (with or without 0x)."""
        raw = bytes.fromhex(key.removeprefix("0x")) if isinstance(key, str) else bytes(key)
        if len(raw) != KEY_BYTES or not 0 < int.from_bytes(raw, "big") < SECP256K1_N:
            raise ValueError("an account key is 32 bytes, between 1 and the curve order")
        return cls(raw, address_of_key(PrivateKey(raw).public_key))

    @property
    def key_hex(self) -> str:
        """The key as 0x-prefixed hex, for handing to another process."""
        return "0x" + self.key.hex()

    def sign_transaction(self, tx: Transaction) -> bytes:
        """`tx` signed by this account: the bytes for eth_sendRawTransaction."""
        return sign(tx, self.key)

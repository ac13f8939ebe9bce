"""EIP-1559 signing and sender recovery, against eth_account (web3's signer) and bad bytes."""

from __future__ import annotations

import contextlib

import pytest
from eth_account import Account as EthAccount
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from secmas.ledger.accounts import Account
from secmas.ledger.transactions import (
    SECP256K1_N,
    InvalidTransaction,
    Transaction,
    recover,
    transaction_hash,
)

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
quantities = st.integers(min_value=0, max_value=2**64)
transactions = st.builds(
    Transaction,
    chain_id=st.integers(min_value=1, max_value=2**48),
    nonce=quantities,
    max_priority_fee=quantities,
    max_fee=quantities,
    gas=st.integers(min_value=21_000, max_value=30_000_000),
    to=st.none() | st.binary(min_size=20, max_size=20),
    value=st.integers(min_value=0, max_value=2**128),
    data=st.binary(max_size=200),
)


def _eth_account_raw(tx: Transaction, key: bytes) -> bytes:
    fields = {
        "type": 2,
        "chainId": tx.chain_id,
        "nonce": tx.nonce,
        "maxPriorityFeePerGas": tx.max_priority_fee,
        "maxFeePerGas": tx.max_fee,
        "gas": tx.gas,
        "value": tx.value,
        "data": tx.data,
        "accessList": [],
    }
    if tx.to is not None:
        fields["to"] = to_checksum_address(tx.to)
    return bytes(EthAccount.from_key(key).sign_transaction(fields).raw_transaction)


@given(transactions)
def test_signed_bytes_are_eth_accounts_and_recover_the_signer(tx: Transaction) -> None:
    account = Account.from_key(KEY)
    signed = account.sign_transaction(tx)
    assert signed == _eth_account_raw(tx, KEY)  # RFC 6979: both deterministic
    assert recover(signed) == (tx, account.address)
    assert account.address == EthAccount.from_key(KEY).address


def test_the_hash_is_the_envelopes_keccak() -> None:
    tx = Transaction(1, 0, 1, 2, 21_000, b"\x01" * 20, 5, b"")
    signed = Account.from_key(KEY).sign_transaction(tx)
    fields = {"type": 2, "chainId": 1, "nonce": 0, "maxPriorityFeePerGas": 1, "maxFeePerGas": 2}
    fields |= {"gas": 21_000, "to": to_checksum_address(b"\x01" * 20), "value": 5, "data": b""}
    expected = EthAccount.from_key(KEY).sign_transaction(fields | {"accessList": []}).hash
    assert transaction_hash(signed) == bytes(expected)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "type-2"),
        (b"\x01\xc0", "type-2"),
        (b"\x02\xff", "malformed RLP"),
        (b"\x02\xc0", "expected 12 fields"),
    ],
)
def test_malformed_envelopes_are_refused(raw: bytes, why: str) -> None:
    with pytest.raises(InvalidTransaction, match=why):
        recover(raw)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_fail_otherwise(raw: bytes) -> None:
    with contextlib.suppress(InvalidTransaction):
        recover(b"\x02" + raw)


def test_account_keys_are_checked_and_hidden() -> None:
    for bad in (b"", b"\x00" * 32, SECP256K1_N.to_bytes(32, "big"), "0x12"):
        with pytest.raises(ValueError, match="32 bytes"):
            Account.from_key(bad)
    account = Account.create()
    assert Account.from_key(account.key_hex) == account
    assert account.key.hex() not in repr(account)

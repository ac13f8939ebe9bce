"""A private chain in this process: revm (the Rust EVM of Reth and Foundry, through pyrevm)
executes the contracts; this module is the node around it.

Like a development node with automining, it mines one block per transaction, at once:
- it accepts only signed type-2 transactions and recovers their sender itself, so an
  account's key is what lets it act, as on any chain;
- it checks the chain id, the nonce, the fee cap against the base fee, the block gas limit
  and the sender's funds for gas × fee cap + value before executing;
- it charges gas at min(fee cap, base fee + tip), burns the base fee and pays the tip to
  the block's coinbase (EIP-1559);
- a transaction that reverts is refused, not mined, and spends neither nonce nor gas (as
  eth-tester does), and its revert reason comes back;
- each block gets a fresh random prevrandao and a timestamp of the wall clock, strictly
  increasing.

Executing a transaction here takes well under a millisecond, against tens of
milliseconds through web3 and eth-tester over py-evm, which this node replaces for
`connect(None)`.

Gas is a lower bound of a real chain's: pyrevm keeps one journal open across transactions,
so accounts and storage slots an earlier transaction touched stay warm (EIP-2929) and
SSTORE is priced against the value first loaded (EIP-2200), about 20 000 gas less per
registry transaction. Contracts behave the same (none of ours reads `gasleft`); gas
budgets come from a real node (`tests/ledger/test_hardhat.py`, `secmas ledger serve`).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyrevm
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from secmas.ledger.abi import revert_reason
from secmas.ledger.node import Mined, NodeRefused, NodeRevert, RawLog, SentTransaction
from secmas.ledger.transactions import (
    InvalidTransaction,
    Transaction,
    recover,
    transaction_hash,
)

MEMORY = "memory"
CHAIN_ID = 131277322940537
"""eth-tester's chain id, kept so that nothing outside notices the change of EVM."""
BASE_FEE_WEI = 10**9
"""A constant 1 gwei base fee: the chain is private, its blocks never fill."""
PRIORITY_FEE_WEI = 10**9
"""The tip this node suggests, as Hardhat does."""
BLOCK_GAS_LIMIT = 30_000_000
COINBASE = "0x0000000000000000000000000000000000000000"

_REVERT = re.compile(r"Revert \{ gas_used: \d+, output: 0x([0-9a-fA-F]*) \}")
_HALT = re.compile(r"Halt \{ reason: (\w+)")


def _failure(exc: RuntimeError, gas: int) -> Exception:
    """revm's error text as NodeRevert (the EVM ran and failed) or NodeRefused (it did not)."""
    message = str(exc)
    revert = _REVERT.search(message)
    if revert:
        return NodeRevert(revert_reason(bytes.fromhex(revert.group(1))))
    halt = _HALT.search(message)
    if halt:
        kind = halt.group(1)
        return NodeRevert(f"out of gas (gas limit {gas})" if kind == "OutOfGas" else kind)
    return NodeRefused(message)


class EvmNode:
    """An automining in-process chain whose genesis funds `funded` (address → wei)."""

    url = MEMORY

    def __init__(
        self,
        funded: Mapping[str, int],
        *,
        chain_id: int = CHAIN_ID,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._chain_id = chain_id
        self._clock = clock
        self._lock = threading.Lock()
        self._number = 0
        self._times = [int(clock())]
        self._evm = pyrevm.EVM(env=pyrevm.Env(cfg=pyrevm.CfgEnv(chain_id=chain_id)))
        for address, wei in funded.items():
            self._evm.set_balance(address, wei)
        self._logs: list[RawLog] = []
        self._sent: list[SentTransaction] = []

    def chain_id(self) -> int:
        return self._chain_id

    def accounts(self) -> list[ChecksumAddress]:
        """None: this node holds no keys, every transaction comes signed."""
        return []

    def block_number(self) -> int:
        return self._number

    def block_time(self, number: int) -> int:
        if not 0 <= number <= self._number:
            raise ValueError(f"no block {number}: the chain is at {self._number}")
        return self._times[number]

    def balance(self, address: str) -> int:
        with self._lock:
            return int(self._evm.get_balance(address))

    def nonce(self, address: str) -> int:
        with self._lock:
            return int(self._evm.basic(address).nonce)

    def base_fee(self) -> int:
        return BASE_FEE_WEI

    def priority_fee(self) -> int:
        return PRIORITY_FEE_WEI

    def sent_by(
        self, senders: frozenset[ChecksumAddress], from_block: int, to_block: int
    ) -> list[SentTransaction]:
        with self._lock:
            return [
                s for s in self._sent if s.sender in senders and from_block <= s.block <= to_block
            ]

    def call(
        self,
        sender: str,
        to: str,
        data: bytes,
        *,
        gas: int | None = None,
        value: int = 0,
        block: int | None = None,
    ) -> bytes:
        """A static call on the latest state (this node keeps no history: every block's
        state is the latest as far as reverts go, since reverted transactions are not
        mined)."""
        with self._lock:
            try:
                out = self._evm.message_call(
                    sender, to, data, value=value or None, gas=gas, is_static=True
                )
            except RuntimeError as exc:
                raise _failure(exc, gas or BLOCK_GAS_LIMIT) from None
            return bytes(out)

    def submit(self, signed: bytes) -> Mined:
        try:
            tx, sender = recover(signed)
        except InvalidTransaction as exc:
            raise NodeRefused(f"invalid transaction: {exc}") from None
        if tx.chain_id != self._chain_id:
            raise NodeRefused(f"chain id {tx.chain_id}, this chain is {self._chain_id}")
        if tx.gas > BLOCK_GAS_LIMIT:
            raise NodeRefused(f"gas {tx.gas} above the block gas limit {BLOCK_GAS_LIMIT}")
        if tx.max_fee < BASE_FEE_WEI or tx.max_priority_fee > tx.max_fee:
            raise NodeRefused(
                f"fee cap {tx.max_fee} below the base fee {BASE_FEE_WEI} or under the tip"
            )
        with self._lock:
            return self._execute(tx, sender, transaction_hash(signed))

    def submit_unsigned(self, tx: dict[str, Any]) -> Mined:
        raise NodeRefused("the in-process chain holds no keys: sign the transaction")

    def sign_message(self, address: str, message: bytes) -> bytes:
        raise NodeRefused("the in-process chain holds no keys: sign the message")

    def _execute(self, tx: Transaction, sender: ChecksumAddress, tx_hash: bytes) -> Mined:
        account = self._evm.basic(sender)
        if tx.nonce != account.nonce:
            raise NodeRefused(f"nonce {tx.nonce} for {sender}, expected {account.nonce}")
        if account.balance < tx.gas * tx.max_fee + tx.value:
            raise NodeRefused(f"insufficient funds for gas × fee cap + value on {sender}")
        number, stamp = self._number + 1, max(self._times[-1] + 1, int(self._clock()))
        self._evm.set_block_env(
            pyrevm.BlockEnv(
                number=number,
                timestamp=stamp,
                basefee=0,
                coinbase=COINBASE,
                prevrandao=os.urandom(32),
                gas_limit=BLOCK_GAS_LIMIT,
            )
        )
        self._evm.reset_transient_storage()  # EIP-1153: transient storage lasts one tx
        created: ChecksumAddress | None = None
        try:
            if tx.to is None:
                created = to_checksum_address(
                    self._evm.deploy(sender, tx.data, value=tx.value or None, gas=tx.gas)
                )
            else:
                self._evm.message_call(
                    sender, "0x" + tx.to.hex(), tx.data, value=tx.value or None, gas=tx.gas
                )
                self._bump_nonce(sender)
        except RuntimeError as exc:
            raise _failure(exc, tx.gas) from None
        result = self._evm.result
        gas_used = int(result.gas_used)
        price = min(tx.max_fee, BASE_FEE_WEI + tx.max_priority_fee)
        self._charge(sender, gas_used * price)
        self._evm.set_balance(
            COINBASE, self._evm.get_balance(COINBASE) + gas_used * tx.max_priority_fee
        )
        logs = tuple(
            RawLog(
                to_checksum_address(log.address),
                tuple(bytes.fromhex(t.removeprefix("0x")) for t in log.topics),
                bytes(log.data[1]),
                number,
                tx_hash,
                i,
            )
            for i, log in enumerate(result.logs)
        )
        self._number = number
        self._times.append(stamp)
        self._logs.extend(logs)
        to = None if tx.to is None else to_checksum_address(tx.to)
        self._sent.append(
            SentTransaction(
                tx_hash, number, sender, to, tx.data, tx.value, gas_used, price, created
            )
        )
        return Mined(tx_hash, number, gas_used, 1, logs, created)

    def _bump_nonce(self, address: str) -> None:
        """revm's message calls leave the caller's nonce alone; a mined transaction does not."""
        info = self._evm.basic(address)
        self._evm.insert_account_info(
            address,
            pyrevm.AccountInfo(
                balance=info.balance, nonce=info.nonce + 1, code_hash=info.code_hash
            ),
        )

    def _charge(self, address: str, wei: int) -> None:
        self._evm.set_balance(address, self._evm.get_balance(address) - wei)

    def logs(
        self, address: str, topics: Sequence[bytes | None], from_block: int, to_block: int | None
    ) -> list[RawLog]:
        last = self._number if to_block is None else to_block
        wanted = to_checksum_address(address)
        with self._lock:
            return [
                log
                for log in self._logs
                if log.address == wanted
                and from_block <= log.block <= last
                and len(log.topics) >= len(topics)
                and all(t is None or log.topics[i] == t for i, t in enumerate(topics))
            ]

"""A private chain in this process: py-evm (the Ethereum Foundation's Python EVM) executes
the contracts; this module is the node around it. The same node answers `connect(None)` in
one process and, served over JSON-RPC (`secmas.ledger.rpcserver`), agents in others.

Like a development node with automining, it mines one block per transaction, at once:
- it accepts only signed type-2 transactions and recovers their sender itself, so an
  account's key is what lets it act, as on any chain;
- it checks the chain id, the nonce, the fee cap against the base fee, the block gas limit
  and the sender's funds for gas × fee cap + value before executing;
- the base fee follows EIP-1559 from block to block (from 1 gwei at genesis), the sender
  pays gas at min(fee cap, base fee + tip), the base fee is burnt and the tip goes to the
  block's coinbase;
- a transaction that reverts is refused, not mined, and spends neither nonce nor gas (as
  eth-tester does), and its revert reason comes back;
- each block gets a fresh random prevrandao and a timestamp of the wall clock, strictly
  increasing;
- a view call's answer is kept per block (`CALLS_KEPT` of them): the state after a block
  never changes, so the same call on it (same sender, contract, data, gas and value) gets
  the same answer. Agents of one pipeline all read the same views; on a large one, that
  is most of the work.

Each transaction starts from the committed state of the block before it, so gas is what a
real chain charges (EIP-2929 cold and warm access, EIP-2200/3529 storage pricing): the same,
function by function, as Hardhat's (`tests/ledger/test_evmnode_gas.py`). revm through pyrevm,
which this node replaces, kept one journal across transactions and so undercharged by about
20 000 gas per registry transaction.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth.abc import BlockHeaderAPI, ComputationAPI, StateAPI, VirtualMachineAPI
from eth.chains.base import MiningChain
from eth.constants import (
    BLANK_ROOT_HASH,
    POST_MERGE_DIFFICULTY,
    POST_MERGE_MIX_HASH,
    POST_MERGE_NONCE,
    ZERO_ADDRESS,
)
from eth.db.atomic import AtomicDB
from eth.exceptions import OutOfGas, PyEVMError, Revert, VMError
from eth.vm.forks.prague import PragueVM
from eth.vm.spoof import SpoofTransaction
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from eth_utils.exceptions import ValidationError

from secmas.ledger.abi import revert_reason
from secmas.ledger.node import (
    BLOCK_GAS_LIMIT,
    MEMORY,
    Mined,
    NodeRefused,
    NodeRevert,
    RawLog,
    SentTransaction,
    restore_recursion_limit,
)
from secmas.ledger.transactions import (
    InvalidTransaction,
    Transaction,
    recover,
    transaction_hash,
)

restore_recursion_limit()  # py-evm raised it on import

CHAIN_ID = 131277322940537
"""eth-tester's chain id, kept so that nothing outside notices the change of EVM."""
PRIORITY_FEE_WEI = 10**9
"""The tip this node suggests, as Hardhat does."""
_block_of = operator.attrgetter("block")
CALLS_KEPT = 1024
"""View-call answers kept, the most recent first (`EvmNode.call`)."""
COINBASE = "0x0000000000000000000000000000000000000000"
FORK = "prague"
"""The fork rules the chain runs (Hardhat's default, Osaka, charges these contracts the
same: it changes no opcode or precompile they use)."""


class _Chain(MiningChain):
    """A post-merge chain of one fork whose gas limit stays constant."""

    chain_id = CHAIN_ID
    vm_configuration = ((0, PragueVM),)

    def create_header_from_parent(
        self, parent_header: BlockHeaderAPI, **header_params: Any
    ) -> BlockHeaderAPI:
        return super().create_header_from_parent(
            parent_header, **{**header_params, "gas_limit": parent_header.gas_limit}
        )


@dataclass(frozen=True, slots=True)
class Included:
    """A mined transaction: what was signed, what it paid, what it did."""

    tx: Transaction
    sent: SentTransaction
    mined: Mined


@dataclass(frozen=True, slots=True)
class Block:
    """A mined block as `eth_getBlockByNumber` reports it."""

    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    base_fee: int
    gas_limit: int
    gas_used: int
    transactions: tuple[bytes, ...]


def _genesis(clock: Callable[[], float]) -> dict[str, Any]:
    return {
        "coinbase": ZERO_ADDRESS,
        "difficulty": POST_MERGE_DIFFICULTY,
        "extra_data": b"",
        "gas_limit": BLOCK_GAS_LIMIT,
        "mix_hash": POST_MERGE_MIX_HASH,
        "nonce": POST_MERGE_NONCE,
        "receipt_root": BLANK_ROOT_HASH,
        "timestamp": int(clock()),
        "transaction_root": BLANK_ROOT_HASH,
    }


def _canonical(address: str) -> bytes:
    return bytes.fromhex(address.removeprefix("0x"))


def _failure(error: Exception, gas: int) -> NodeRevert:
    """The EVM ran and failed: the contract's revert reason and data, or what halted it
    (out of the transaction's `gas`, an invalid opcode, …)."""
    if isinstance(error, Revert):
        payload = error.args[0] if error.args and isinstance(error.args[0], bytes) else b""
        return NodeRevert(revert_reason(payload), payload)
    if isinstance(error, OutOfGas):
        return NodeRevert(f"out of gas (gas limit {gas})")
    return NodeRevert(type(error).__name__)


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
        state = {
            _canonical(a): {"balance": wei, "nonce": 0, "code": b"", "storage": {}}
            for a, wei in funded.items()
        }
        chain_class = _Chain.configure(chain_id=chain_id)
        self._chain = chain_class.from_genesis(AtomicDB(), _genesis(clock), state)
        self._logs: list[RawLog] = []
        self._sent: list[SentTransaction] = []
        self._by_hash: dict[bytes, Included] = {}
        self._calls: OrderedDict[tuple[object, ...], bytes | NodeRevert] = OrderedDict()
        self._reader: tuple[bytes, VirtualMachineAPI, StateAPI] | None = None

    def chain_id(self) -> int:
        return self._chain_id

    def accounts(self) -> list[ChecksumAddress]:
        """None: this node holds no keys, every transaction comes signed."""
        return []

    def block_number(self) -> int:
        with self._lock:
            return int(self._chain.get_canonical_head().block_number)

    def _header(self, number: int | None) -> BlockHeaderAPI:
        head = self._chain.get_canonical_head()
        if number is None or number == head.block_number:
            return head
        if not 0 <= number <= head.block_number:
            raise ValueError(f"no block {number}: the chain is at {head.block_number}")
        return self._chain.get_canonical_block_header_by_number(number)

    def block(self, number: int | None = None) -> Block:
        """Block `number` (None: the latest); ValueError for one not mined."""
        with self._lock:
            header = self._header(number)
            body = self._chain.get_canonical_block_by_number(header.block_number)
            return Block(
                header.block_number,
                header.hash,
                header.parent_hash,
                header.timestamp,
                header.base_fee_per_gas,
                header.gas_limit,
                header.gas_used,
                tuple(tx.hash for tx in body.transactions),
            )

    def block_time(self, number: int) -> int:
        return self.block(number).timestamp

    def _state(self, block: int | None = None) -> Any:
        return self._chain.get_vm(self._header(block)).state

    def balance(self, address: str, block: int | None = None) -> int:
        with self._lock:
            return int(self._state(block).get_balance(_canonical(address)))

    def nonce(self, address: str, block: int | None = None) -> int:
        with self._lock:
            return int(self._state(block).get_nonce(_canonical(address)))

    def code(self, address: str, block: int | None = None) -> bytes:
        with self._lock:
            return bytes(self._state(block).get_code(_canonical(address)))

    def base_fee(self) -> int:
        """The base fee of the next block, which the next transaction pays."""
        with self._lock:
            return int(self._chain.header.base_fee_per_gas)

    def priority_fee(self) -> int:
        return PRIORITY_FEE_WEI

    def sent_by(
        self, senders: frozenset[ChecksumAddress], from_block: int, to_block: int
    ) -> list[SentTransaction]:
        with self._lock:
            return [
                s for s in self._sent if s.sender in senders and from_block <= s.block <= to_block
            ]

    def included(self, tx_hash: bytes) -> Included | None:
        """A mined transaction and its receipt; None for one this chain never mined."""
        with self._lock:
            return self._by_hash.get(tx_hash)

    @staticmethod
    def _spoof(
        vm: VirtualMachineAPI, sender: str, to: str | None, data: bytes, gas: int, value: int
    ) -> SpoofTransaction:
        origin = _canonical(sender)
        unsigned = vm.create_unsigned_transaction(
            nonce=vm.state.get_nonce(origin),
            gas_price=0,
            gas=gas,
            to=b"" if to is None else _canonical(to),
            value=value,
            data=data,
        )
        return SpoofTransaction(unsigned, from_=origin)

    def call(
        self,
        sender: str,
        to: str | None,
        data: bytes,
        *,
        gas: int | None = None,
        value: int = 0,
        block: int | None = None,
    ) -> bytes:
        """A read-only call on the state after block `block` (default: the latest); `to`
        None runs `data` as init code."""
        limit = gas or BLOCK_GAS_LIMIT
        with self._lock:
            header = self._header(block)
            key = (header.hash, sender.lower(), to and to.lower(), bytes(data), limit, value)
            answer = self._calls.get(key)
            if answer is None:
                answer = self._execute_call(header, sender, to, data, limit, value)
                self._calls[key] = answer
                if len(self._calls) > CALLS_KEPT:
                    self._calls.popitem(last=False)
            else:
                self._calls.move_to_end(key)
        if isinstance(answer, NodeRevert):
            raise NodeRevert(answer.reason, answer.payload)
        return answer

    def _execute_call(
        self,
        header: BlockHeaderAPI,
        sender: str,
        to: str | None,
        data: bytes,
        limit: int,
        value: int,
    ) -> bytes | NodeRevert:
        """The call's output, or the revert it ends in; NodeRefused (not kept) when the
        transaction is not even valid."""
        vm, state = self._reading(header)
        tx = self._spoof(vm, sender, to, data, limit, value)
        snapshot = state.snapshot()
        try:
            computation = state.costless_execute_transaction(tx)
        except (ValidationError, PyEVMError) as exc:
            raise NodeRefused(str(exc)) from None
        finally:
            state.revert(snapshot)
        if computation.is_error:
            return _failure(computation.error, limit)
        return bytes(computation.output)

    def _reading(self, header: BlockHeaderAPI) -> tuple[VirtualMachineAPI, StateAPI]:
        """The gas-free state view calls on block `header` run in (as `in_costless_state`
        builds it), kept while calls ask for that block: each call is undone after it (a
        snapshot, then a revert), and the calls share what the state read of the trie.
        A fresh state per call decoded the same trie nodes again for each, which was most
        of a view's cost when a thousand agents each read their own secret."""
        if self._reader is None or self._reader[0] != header.hash:
            vm = self._chain.get_vm(header)
            pending = vm.generate_block_from_parent_header_and_coinbase(header, header.coinbase)
            ancestors = itertools.chain((header.hash,), vm.previous_hashes)
            free = pending.header.copy(base_fee_per_gas=0)
            state = vm.build_state(vm.chaindb.db, free, vm.chain_context, ancestors)
            self._reader = (header.hash, vm, state)
        return self._reader[1], self._reader[2]

    def estimate_gas(self, sender: str, to: str | None, data: bytes, value: int = 0) -> int:
        """The least gas limit under which the transaction does not run out (py-evm's
        binary search); NodeRevert when it reverts under any."""
        with self._lock:
            header = self._chain.get_canonical_head()
            tx = self._spoof(self._chain.get_vm(header), sender, to, data, BLOCK_GAS_LIMIT, value)
            try:
                return int(self._chain.estimate_gas(tx, header))
            except VMError as exc:
                raise _failure(exc, BLOCK_GAS_LIMIT) from None
            except (ValidationError, PyEVMError) as exc:
                raise NodeRefused(str(exc)) from None

    def submit(self, signed: bytes) -> Mined:
        """One signed transaction, mined in a block of its own."""
        (outcome,) = self.submit_all([signed])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def submit_unsigned(self, tx: dict[str, Any]) -> Mined:
        raise NodeRefused("the in-process chain holds no keys: sign the transaction")

    def sign_message(self, address: str, message: bytes) -> bytes:
        raise NodeRefused("the in-process chain holds no keys: sign the message")

    def submit_all(self, signed: Sequence[bytes]) -> list[Mined | NodeRefused | NodeRevert]:
        """Signed transactions sent at once (by different senders, none waiting for
        another), mined together: as many per block as its gas limit takes, in order.
        Each gets its receipt, or the error it alone met (refused, or reverted: what it
        did is undone and it is not mined). py-evm persists the state once per block, and
        a block per transaction was most of a large bring-up's ledger time."""
        outcomes: list[Mined | NodeRefused | NodeRevert | None] = [None] * len(signed)
        waiting: list[tuple[int, Transaction, ChecksumAddress]] = []
        for at, raw in enumerate(signed):
            try:
                waiting.append((at, *self._admitted(raw)))
            except (NodeRefused, NodeRevert) as exc:
                outcomes[at] = exc
        with self._lock:
            while waiting:
                waiting = self._mine_some(waiting, signed, outcomes)
        return [o for o in outcomes if o is not None]

    def _admitted(self, signed: bytes) -> tuple[Transaction, ChecksumAddress]:
        """The transaction and its sender; NodeRefused for one no block may hold."""
        try:
            tx, sender = recover(signed)
        except InvalidTransaction as exc:
            raise NodeRefused(f"invalid transaction: {exc}") from None
        if tx.chain_id != self._chain_id:
            raise NodeRefused(f"chain id {tx.chain_id}, this chain is {self._chain_id}")
        if tx.gas > BLOCK_GAS_LIMIT:
            raise NodeRefused(f"gas {tx.gas} above the block gas limit {BLOCK_GAS_LIMIT}")
        return tx, sender

    def _mine_some(
        self,
        waiting: list[tuple[int, Transaction, ChecksumAddress]],
        signed: Sequence[bytes],
        outcomes: list[Mined | NodeRefused | NodeRevert | None],
    ) -> list[tuple[int, Transaction, ChecksumAddress]]:
        """One block of the `waiting` transactions that fit its gas; the rest are left."""
        pending = self._chain.header
        parent = self._chain.get_canonical_head()
        stamp = max(parent.timestamp + 1, int(self._clock()))
        self._chain.header = pending.copy(timestamp=stamp, mix_hash=os.urandom(32))
        vm = self._chain.get_vm(self._chain.header)
        base_block = vm.get_block()
        header = base_block.header
        included: list[tuple[int, Transaction, ChecksumAddress, Any, Any, int]] = []
        left: list[tuple[int, Transaction, ChecksumAddress]] = []
        for at, tx, sender in waiting:
            if header.gas_used + tx.gas > header.gas_limit:
                left.append((at, tx, sender))
                continue
            try:
                receipt, computation = self._applied(vm, header, tx, sender, signed[at])
            except (NodeRefused, NodeRevert) as exc:
                outcomes[at] = exc
                continue
            included.append((at, tx, sender, receipt, computation, header.gas_used))
            header = vm.add_receipt_to_header(header, receipt)
        if not included:
            self._chain.header = pending
            return left
        vm.state.persist()
        sealed = header.copy(state_root=vm.state.state_root)
        evm_txs = [vm.get_transaction_builder().decode(signed[i[0]]) for i in included]
        block = vm.set_block_transactions_and_withdrawals(
            base_block, sealed, evm_txs, [i[3] for i in included]
        )
        self._chain.header = block.header
        number = self._chain.mine_block().number
        price_base = pending.base_fee_per_gas
        first_log = 0
        for at, tx, sender, receipt, computation, before in included:
            price = min(tx.max_fee, price_base + tx.max_priority_fee)  # the block's base fee
            gas = int(receipt.gas_used) - before
            mined = self._record(
                tx, sender, signed[at], number, price, gas, first_log, receipt, computation
            )
            first_log += len(mined.logs)
            outcomes[at] = mined
        return left

    def _applied(
        self,
        vm: VirtualMachineAPI,
        header: BlockHeaderAPI,
        tx: Transaction,
        sender: ChecksumAddress,
        signed: bytes,
    ) -> tuple[Any, ComputationAPI]:
        """`tx` applied to the block being built; NodeRefused or NodeRevert (its effects
        undone) when it may not be mined."""
        base_fee = header.base_fee_per_gas
        if tx.max_fee < base_fee or tx.max_priority_fee > tx.max_fee:
            raise NodeRefused(
                f"fee cap {tx.max_fee} below the base fee {base_fee} or under the tip"
            )
        state = vm.state
        nonce = state.get_nonce(_canonical(sender))
        if tx.nonce != nonce:
            raise NodeRefused(f"nonce {tx.nonce} for {sender}, expected {nonce}")
        if state.get_balance(_canonical(sender)) < tx.gas * tx.max_fee + tx.value:
            raise NodeRefused(f"insufficient funds for gas × fee cap + value on {sender}")
        # `vm.apply_transaction`, with the snapshot taken after the previous transaction's
        # changes are locked (it locks them itself first, which a snapshot cannot span).
        state.lock_changes()
        snapshot = state.snapshot()
        try:
            evm_tx = vm.get_transaction_builder().decode(signed)
            vm.validate_transaction_against_header(header, evm_tx)
            computation = state.apply_transaction(evm_tx)
            receipt = vm.make_receipt(header, evm_tx, computation, state)
            vm.validate_receipt(receipt)
        except (ValidationError, PyEVMError) as exc:
            state.revert(snapshot)
            raise NodeRefused(str(exc)) from None
        if computation.is_error:
            state.revert(snapshot)  # what it did is dropped: it is not mined
            raise _failure(computation.error, tx.gas)
        state.commit(snapshot)
        return receipt, computation

    def _record(
        self,
        tx: Transaction,
        sender: ChecksumAddress,
        signed: bytes,
        number: int,
        price: int,
        gas_used: int,
        first_log: int,
        receipt: Any,
        computation: ComputationAPI,
    ) -> Mined:
        """`tx` as mined in block `number`: `gas_used` its own, its logs numbered in the
        block from `first_log`."""
        tx_hash = transaction_hash(signed)
        logs = tuple(
            RawLog(
                to_checksum_address(log.address),
                tuple(t.to_bytes(32, "big") for t in log.topics),
                bytes(log.data),
                number,
                tx_hash,
                first_log + i,
            )
            for i, log in enumerate(receipt.logs)
        )
        created = None
        if tx.to is None:
            created = to_checksum_address(computation.msg.storage_address)
        to = None if tx.to is None else to_checksum_address(tx.to)
        sent = SentTransaction(
            tx_hash, number, sender, to, tx.data, tx.value, gas_used, price, created
        )
        mined = Mined(tx_hash, number, gas_used, 1, logs, created)
        self._logs.extend(logs)
        self._sent.append(sent)
        self._by_hash[tx_hash] = Included(tx, sent, mined)
        return mined

    def every_log(self, from_block: int, to_block: int) -> list[RawLog]:
        """Every log of blocks `from_block`…`to_block`, in chain order (found by bisection:
        logs are kept in block order, and relying parties read one block's at a time)."""
        with self._lock:
            start = bisect.bisect_left(self._logs, from_block, key=_block_of)
            end = bisect.bisect_right(self._logs, to_block, key=_block_of)
            return self._logs[start:end]

    def logs(
        self, address: str, topics: Sequence[bytes | None], from_block: int, to_block: int | None
    ) -> list[RawLog]:
        """Logs of `address` whose leading topics match `topics` (None: any). Topics without
        a wildcard are compared as one tuple: a thousand members each asking for their own
        box among a push block's thousand logs was 0.75 ms a query part by part, 0.07 ms so."""
        wanted = to_checksum_address(address)
        last = self.block_number() if to_block is None else to_block
        logs = self.every_log(from_block, last)
        prefix = tuple(topics)
        if None not in prefix:
            return [
                log for log in logs if log.address == wanted and log.topics[: len(prefix)] == prefix
            ]
        return [
            log
            for log in logs
            if log.address == wanted
            and len(log.topics) >= len(prefix)
            and all(t is None or log.topics[i] == t for i, t in enumerate(prefix))
        ]

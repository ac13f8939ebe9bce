"""Transactions and calls on one chain, whichever node serves it (`secmas.ledger.node`).

Local accounts sign their transactions here (EIP-1559, explicit gas limit, locally counted
nonce), so the hot path is one signed submission per transaction: no gas estimation and no
nonce query; the fees are quoted again once this client has seen a block newer than its
last quote (EIP-1559 §"Specification": the base fee moves by up to 1/8 a block). Accounts
whose key the node holds (Hardhat's prefunded ones) are signed for by the node instead.

A node's revert becomes `LedgerRevert` here, naming the contract and function; a
transaction mined with status 0 is replayed as a call at its block to recover the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Self, TypeVar

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from secmas.ledger.abi import ContractAbi, LedgerEvent, contract_abi
from secmas.ledger.accounts import Account
from secmas.ledger.errors import (
    LedgerError,
    LedgerRevert,
    LedgerUnavailable,
    TransactionRejected,
)
from secmas.ledger.messages import sign_personal
from secmas.ledger.node import Mined, Node, NodeRefused, NodeRevert, RawLog, SentTransaction
from secmas.ledger.transactions import Transaction

T = TypeVar("T")

DEFAULT_PRIORITY_FEE_WEI = 10**9
"""The tip when the node suggests none (it lacks eth_maxPriorityFeePerGas)."""
ANYONE = "0x0000000000000000000000000000000000000000"
"""The sender of views that answer everybody alike (`BoundContract._read`)."""


@dataclass(frozen=True, slots=True)
class NodeAccount:
    """An account whose key the node holds (`eth_accounts`): the node signs for it."""

    address: ChecksumAddress


AccountLike = Account | NodeAccount | str
"""A local account, a node account, or the address of either."""


def address_of(account: AccountLike) -> ChecksumAddress:
    """The checksummed address of `account`."""
    return to_checksum_address(account if isinstance(account, str) else account.address)


@dataclass(frozen=True, slots=True)
class Sender:
    """Who signs a transaction: a local key, or the node when `key` is None."""

    address: ChecksumAddress
    key: Account | None


@dataclass(frozen=True, slots=True)
class FeeQuote:
    """The fees of the next transactions, from the latest block `block`: the tip the node
    suggests, and a cap of twice the base fee plus the tip, which holds through six full
    blocks in a row (each raises the base fee by at most 1/8)."""

    block: int
    max_priority_fee: int
    max_fee: int


@dataclass(frozen=True, slots=True)
class Receipt:
    """A mined, successful transaction and the events it logged."""

    tx_hash: str
    block: int
    gas_used: int
    events: tuple[LedgerEvent, ...] = ()


class Chain:
    """One client of a node: signing keys, nonces, fees, calls, transactions, logs.

    Threads share one Chain: each sender's transactions go one at a time, in nonce order
    (nonces are counted here), those of different senders side by side, and calls never
    wait for a transaction of this client (the node itself keeps its requests apart). A
    thousand agents of one process send through one Chain: behind one lock, every call
    waited for whichever transaction was being mined. Nonces are counted locally, so an
    account should send through one Chain only.
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self._lock = threading.RLock()
        self._keys: dict[ChecksumAddress, Account] = {}
        self._nonces: dict[ChecksumAddress, int] = {}
        self._fees: FeeQuote | None = None
        self._last_block = -1
        self._node_accounts: frozenset[ChecksumAddress] | None = None
        self._senders: dict[ChecksumAddress, threading.Lock] = {}
        self.chain_id = node.chain_id()

    def _sending(self, address: ChecksumAddress) -> threading.Lock:
        with self._lock:
            return self._senders.setdefault(address, threading.Lock())

    @property
    def url(self) -> str:
        """The node's URL, or "memory" for the in-process chain."""
        return self.node.url

    def node_accounts(self) -> list[NodeAccount]:
        """The accounts the node signs for, in its order (Hardhat: 20 prefunded ones)."""
        with self._lock:
            accounts = [NodeAccount(a) for a in self.node.accounts()]
        self._node_accounts = frozenset(a.address for a in accounts)
        return accounts

    def add_key(self, account: Account) -> None:
        """Lets transactions from `account` be signed by address alone later on."""
        self._keys[account.address] = account

    def sender(self, account: AccountLike) -> Sender:
        """Who signs for `account`; a bare address needs a known key or a node account."""
        if isinstance(account, Account):
            self.add_key(account)
            return Sender(account.address, account)
        address = address_of(account)
        if address in self._keys:
            return Sender(address, self._keys[address])
        if isinstance(account, NodeAccount):
            return Sender(address, None)
        if self._node_accounts is None:
            self.node_accounts()
        if self._node_accounts is not None and address in self._node_accounts:
            return Sender(address, None)
        raise ValueError(f"no key for {address}: pass its Account (secmas.ledger.accounts)")

    def block_number(self) -> int:
        """The number of the latest block."""
        return self.node.block_number()

    def block_time(self, number: int) -> int:
        """The timestamp (Unix seconds) of block `number`."""
        return self.node.block_time(number)

    def balance(self, account: AccountLike) -> int:
        """The balance of `account` in wei."""
        return self.node.balance(address_of(account))

    def sign_message(self, sender: Sender, message: bytes) -> bytes:
        """`message` signed by `sender` as an EIP-191 personal message (`ecrecover`
        checks it on chain): by its local key, or by the node that holds it."""
        if sender.key is not None:
            return sign_personal(sender.key.key, message)
        with self._lock:
            return self.node.sign_message(sender.address, message)

    def sent_by(
        self, senders: frozenset[ChecksumAddress], from_block: int
    ) -> list[SentTransaction]:
        """What `senders` had mined from `from_block` to the latest block, with the gas and
        price their receipts report."""
        with self._lock:
            return self.node.sent_by(senders, from_block, self.node.block_number())

    def call(
        self,
        sender: ChecksumAddress,
        to: str,
        data: bytes,
        where: tuple[str, str],
        block: int | None = None,
    ) -> bytes:
        """The return data of a view call from `sender` (msg.sender matters to some views)
        on the state after block `block` (default: the latest)."""
        try:
            return self.node.call(sender, to, data, block=block)
        except NodeRevert as exc:
            raise LedgerRevert(*where, exc.reason) from exc

    def transact(
        self,
        sender: Sender,
        to: str | None,
        data: bytes,
        *,
        gas: int,
        value: int = 0,
        where: tuple[str, str],
    ) -> Mined:
        """Sends a transaction (a contract creation when `to` is None) and returns it mined;
        reverts raise LedgerRevert, refusals TransactionRejected."""
        with self._sending(sender.address):
            try:
                mined = self._send(sender, to, data, gas, value)
            except LedgerUnavailable:
                self._nonces.pop(sender.address, None)
                raise
            except NodeRevert as exc:
                # The nonce may or may not be spent (Hardhat mines reverted sends): re-read it.
                self._nonces.pop(sender.address, None)
                raise LedgerRevert(*where, exc.reason) from exc
            except NodeRefused as exc:
                self._nonces.pop(sender.address, None)
                self._fees = None
                raise TransactionRejected(*where, str(exc)) from exc
            self._last_block = max(self._last_block, mined.block)
            if mined.status != 1:
                if mined.gas_used >= gas:
                    raise LedgerRevert(*where, f"out of gas (gas limit {gas})")
                raise LedgerRevert(*where, self._replay(sender, to, data, gas, value, mined.block))
            return mined

    def _send(self, sender: Sender, to: str | None, data: bytes, gas: int, value: int) -> Mined:
        if sender.key is None:
            tx: dict[str, Any] = {"from": sender.address, "gas": gas, "value": value, "data": data}
            if to is not None:
                tx["to"] = to
            return self.node.submit_unsigned(tx)
        nonce = self._nonces.get(sender.address)
        if nonce is None:
            nonce = self.node.nonce(sender.address)
        fees = self.fees()
        signed = sender.key.sign_transaction(
            Transaction(
                chain_id=self.chain_id,
                nonce=nonce,
                max_priority_fee=fees.max_priority_fee,
                max_fee=fees.max_fee,
                gas=gas,
                to=None if to is None else bytes.fromhex(to.removeprefix("0x")),
                value=value,
                data=data,
            )
        )
        self._nonces[sender.address] = nonce + 1
        return self.node.submit(signed)

    def fees(self) -> FeeQuote:
        """The fees for the next transaction: the last quote while no block has been mined
        since, else a new one from the latest block's base fee and the node's tip."""
        with self._lock:
            if self._fees is None or self._last_block > self._fees.block:
                self._fees = self._quote()
            return self._fees

    def _quote(self) -> FeeQuote:
        block = self.node.block_number()
        try:
            tip = self.node.priority_fee()
        except LedgerUnavailable:
            raise
        except LedgerError:
            tip = DEFAULT_PRIORITY_FEE_WEI
        self._last_block = max(self._last_block, block)
        return FeeQuote(block, tip, 2 * self.node.base_fee() + tip)

    def _replay(
        self, sender: Sender, to: str | None, data: bytes, gas: int, value: int, block: int
    ) -> str:
        """The revert reason of a transaction mined with status 0, by re-running it."""
        if to is not None:
            try:
                self.node.call(sender.address, to, data, gas=gas, value=value, block=block)
            except NodeRevert as exc:
                return exc.reason
        return "transaction failed (no reason on replay)"

    def logs(
        self, address: str, topics: Sequence[bytes | None], from_block: int, to_block: int | None
    ) -> list[RawLog]:
        """Logs of `address` matching `topics` (None matches any) in a block range
        (`to_block` None: up to the latest)."""
        wanted = list(topics)
        while wanted and wanted[-1] is None:
            wanted.pop()
        return self.node.logs(address, wanted, from_block, to_block)


class BoundContract:
    """A deployed contract seen by one sender; `as_` gives the same contract for another."""

    NAME: ClassVar[str]

    def __init__(self, chain: Chain, address: str, sender: Sender) -> None:
        self._chain = chain
        self._abi: ContractAbi = contract_abi(self.NAME)
        self.address = to_checksum_address(address)
        self.sender = sender

    def as_(self, account: AccountLike) -> Self:
        """This contract, with transactions and calls sent by `account`."""
        return type(self)(self._chain, self.address, self._chain.sender(account))

    def _call(self, function: str, *args: Any) -> tuple[Any, ...]:
        where = (self.NAME, function)
        data = self._chain.call(
            self.sender.address, self.address, self._abi.encode(function, args), where
        )
        return self._abi.decode(function, data)

    def _read(
        self,
        shape: Callable[[tuple[Any, ...]], T],
        function: str,
        *args: Any,
        block: int | None = None,
    ) -> T:
        """A view whose answer does not depend on who asks, asked from the zero address:
        every sender's call is then the same call, which a node answers once per block, and
        the same answer is decoded and turned into what the caller keeps (`shape`, a
        module-level function) once: the values are shared, read them, never change them.
        A pipeline's agents each read the same few hundred members; decoding and wrapping
        them per agent was most of a large bring-up's welcome."""
        where = (self.NAME, function)
        data = self._chain.call(
            ANYONE, self.address, self._abi.encode(function, args), where, block
        )
        return _shaped(self._abi, function, data, shape)

    def _send(self, function: str, *args: Any, gas: int, value: int = 0) -> Receipt:
        mined = self._chain.transact(
            self.sender,
            self.address,
            self._abi.encode(function, args),
            gas=gas,
            value=value,
            where=(self.NAME, function),
        )
        return Receipt(
            tx_hash="0x" + mined.tx_hash.hex(),
            block=mined.block,
            gas_used=mined.gas_used,
            events=self._decode_logs(mined.logs),
        )

    def _decode_logs(self, logs: Sequence[RawLog]) -> tuple[LedgerEvent, ...]:
        mine = (self._abi.decode_log(log) for log in logs if log.address == self.address)
        return tuple(e for e in mine if e is not None)

    def events(
        self, from_block: int = 0, *, pipeline: bytes | None = None, to_block: int | None = None
    ) -> list[LedgerEvent]:
        """This contract's events from `from_block` on, for relying parties that poll; every
        event's first topic is the pipeline id, so `pipeline` filters on the node."""
        logs = self._chain.logs(self.address, [None, pipeline], from_block, to_block)
        return list(self._decode_logs(logs))


@lru_cache(maxsize=256)
def _shaped(
    abi: ContractAbi, function: str, data: bytes, shape: Callable[[tuple[Any, ...]], T]
) -> T:
    """`data` decoded as `function`'s answer and shaped, kept (`BoundContract._read`)."""
    return shape(abi.decode(function, data))

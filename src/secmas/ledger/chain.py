"""Transactions and calls on one chain, whichever backend serves it.

Local accounts sign their transactions here (EIP-1559, explicit gas limit, locally counted
nonce), so the hot path is one `eth_sendRawTransaction` and one receipt lookup per
transaction: no gas estimation, no nonce or fee queries. Accounts whose key the node holds
(Hardhat's prefunded ones) go through `eth_sendTransaction` instead.

Every backend's way of reporting a revert becomes `LedgerRevert` here; a transaction mined
with status 0 is replayed with `eth_call` at its block to recover the reason.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import eth_abi
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from eth_utils.exceptions import ValidationError
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError

from secmas.ledger.abi import ContractAbi, LedgerEvent, contract_abi
from secmas.ledger.errors import LedgerRevert, LedgerUnavailable, TransactionRejected

DEFAULT_PRIORITY_FEE_WEI = 10**9
RECEIPT_TIMEOUT_S = 120.0
RECEIPT_POLL_S = 0.05

_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)
_HARDHAT_REASON = re.compile(r"reverted with reason string '(.*)'", re.DOTALL)


@dataclass(frozen=True, slots=True)
class NodeAccount:
    """An account whose key the node holds (`eth_accounts`): the node signs for it."""

    address: ChecksumAddress


AccountLike = LocalAccount | NodeAccount | str
"""A local account, a node account, or the address of either."""


def address_of(account: AccountLike) -> ChecksumAddress:
    """The checksummed address of `account`."""
    return to_checksum_address(account if isinstance(account, str) else account.address)


@dataclass(frozen=True, slots=True)
class Sender:
    """Who signs a transaction: a local key, or the node when `key` is None."""

    address: ChecksumAddress
    key: LocalAccount | None


@dataclass(frozen=True, slots=True)
class Receipt:
    """A mined, successful transaction and the events it logged."""

    tx_hash: str
    block: int
    gas_used: int
    events: tuple[LedgerEvent, ...] = ()


def _decode_revert_data(data: bytes) -> str | None:
    if data[:4] == _ERROR_STRING:
        try:
            (reason,) = eth_abi.decode(["string"], data[4:])
        except DecodingError:  # malformed payload: fall back to the node's message
            return None
        return str(reason)
    if data[:4] == _PANIC and len(data) >= 36:
        return f"panic 0x{int.from_bytes(data[4:36], 'big'):02x}"
    if len(data) >= 4:
        return f"custom error 0x{data[:4].hex()}"
    return None


def _clean_message(message: str) -> str:
    match = _HARDHAT_REASON.search(message)
    if match:
        return match.group(1)
    return message.removeprefix("execution reverted: ").strip() or "execution reverted"


def revert_rule(exc: BaseException) -> str | None:
    """The revert reason carried by a backend's exception; None when it reports no revert.

    eth-tester raises `TransactionFailed("execution reverted: <reason>")`; JSON-RPC nodes
    answer with an error whose data is the ABI-encoded `Error(string)` (web3 raises
    `ContractLogicError` for calls and `Web3RPCError` for Hardhat's reverted sends).
    """
    if isinstance(exc, TransactionFailed):
        # py-evm errors may arrive as (message, detail) tuples.
        first = exc.args[0] if exc.args else ""
        return _clean_message(str(first[0] if isinstance(first, tuple) and first else first))
    data: Any = None
    message = str(exc)
    if isinstance(exc, ContractLogicError):
        data, message = exc.data, exc.message or message
    elif isinstance(exc, Web3RPCError):
        error = (exc.rpc_response or {}).get("error") or {}
        data, message = error.get("data"), str(error.get("message", exc.message))
    if isinstance(data, Mapping):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        reason = _decode_revert_data(bytes.fromhex(data[2:]))
        if reason is not None:
            return reason
    if isinstance(exc, ContractLogicError) or "revert" in message.lower():
        return _clean_message(message)
    return None


class Chain:
    """One connection to a chain: signing keys, nonces, fees, calls, transactions, logs.

    Requests are serialised by a lock (eth-tester is not thread-safe, and nonces are counted
    here): use one Chain per process or agent for parallel senders on a real node. Nonces
    are counted locally, so an account should send through one Chain only.

    With `index_logs`, logs are served from the receipts of the transactions sent here
    instead of `eth_getLogs`: eth-tester answers that by looking every receipt up with a
    scan back from the head, quadratic in the chain length (1.3 s for 100 blocks), while a
    private in-process chain sees all its transactions pass through its one Chain.
    """

    def __init__(
        self,
        w3: Web3,
        url: str,
        *,
        index_logs: bool = False,
        priority_fee_wei: int = DEFAULT_PRIORITY_FEE_WEI,
    ) -> None:
        self.w3 = w3
        self.url = url
        self._lock = threading.RLock()
        self._keys: dict[ChecksumAddress, LocalAccount] = {}
        self._nonces: dict[ChecksumAddress, int] = {}
        self._priority_fee = priority_fee_wei
        self._max_fee: int | None = None
        self._node_accounts: frozenset[ChecksumAddress] | None = None
        self._log_index: list[Mapping[str, Any]] | None = [] if index_logs else None
        with self._rpc():
            self.chain_id = w3.eth.chain_id

    @contextmanager
    def _rpc(self) -> Iterator[None]:
        """Turns transport failures (requests raises OSError subclasses) into LedgerUnavailable."""
        try:
            yield
        except OSError as exc:
            raise LedgerUnavailable(self.url, str(exc)) from exc

    def node_accounts(self) -> list[NodeAccount]:
        """The accounts the node signs for, in its order (Hardhat: 20 prefunded ones)."""
        with self._lock, self._rpc():
            accounts = [NodeAccount(to_checksum_address(a)) for a in self.w3.eth.accounts]
        self._node_accounts = frozenset(a.address for a in accounts)
        return accounts

    def add_key(self, account: LocalAccount) -> None:
        """Lets transactions from `account` be signed by address alone later on."""
        self._keys[to_checksum_address(account.address)] = account

    def sender(self, account: AccountLike) -> Sender:
        """Who signs for `account`; a bare address needs a known key or a node account."""
        if isinstance(account, LocalAccount):
            self.add_key(account)
            return Sender(to_checksum_address(account.address), account)
        address = address_of(account)
        if address in self._keys:
            return Sender(address, self._keys[address])
        if isinstance(account, NodeAccount):
            return Sender(address, None)
        if self._node_accounts is None:
            self.node_accounts()
        if self._node_accounts is not None and address in self._node_accounts:
            return Sender(address, None)
        raise ValueError(f"no key for {address}: pass its LocalAccount (eth_account)")

    def block_number(self) -> int:
        """The number of the latest block."""
        with self._lock, self._rpc():
            return int(self.w3.eth.block_number)

    def balance(self, account: AccountLike) -> int:
        """The balance of `account` in wei."""
        with self._lock, self._rpc():
            return int(self.w3.eth.get_balance(address_of(account)))

    def call(self, sender: ChecksumAddress, to: str, data: bytes, where: tuple[str, str]) -> bytes:
        """The return data of a view call from `sender` (msg.sender matters to some views)."""
        with self._lock, self._rpc():
            try:
                return bytes(self.w3.eth.call({"from": sender, "to": to, "data": data}))
            except (TransactionFailed, Web3Exception) as exc:
                rule = revert_rule(exc)
                if rule is None:
                    raise
                raise LedgerRevert(*where, rule) from exc

    def transact(
        self,
        sender: Sender,
        to: str | None,
        data: bytes,
        *,
        gas: int,
        value: int = 0,
        where: tuple[str, str],
    ) -> Mapping[str, Any]:
        """Sends a transaction (a contract creation when `to` is None) and returns its
        web3 receipt once mined; reverts raise LedgerRevert, refusals TransactionRejected."""
        with self._lock, self._rpc():
            try:
                tx_hash = self._send(sender, to, data, gas, value)
            except OSError:
                self._nonces.pop(sender.address, None)
                raise
            except (TransactionFailed, Web3Exception, ValidationError) as exc:
                # The nonce may or may not be spent (Hardhat mines reverted sends): re-read it.
                self._nonces.pop(sender.address, None)
                rule = revert_rule(exc)
                if rule is not None:
                    raise LedgerRevert(*where, rule) from exc
                self._max_fee = None
                raise TransactionRejected(*where, str(exc)) from exc
            receipt = self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=RECEIPT_TIMEOUT_S, poll_latency=RECEIPT_POLL_S
            )
            if receipt["status"] != 1:
                if receipt["gasUsed"] >= gas:
                    raise LedgerRevert(*where, f"out of gas (gas limit {gas})")
                call = {"from": sender.address, "data": data, "gas": gas, "value": value}
                if to is not None:
                    call["to"] = to
                raise LedgerRevert(*where, self._replay(call, int(receipt["blockNumber"])))
            if self._log_index is not None:
                self._log_index.extend(receipt["logs"])
            return receipt

    def _send(self, sender: Sender, to: str | None, data: bytes, gas: int, value: int) -> bytes:
        tx: dict[str, Any] = {"gas": gas, "value": value, "data": data}
        if to is not None:
            tx["to"] = to
        if sender.key is None:
            return bytes(self.w3.eth.send_transaction({**tx, "from": sender.address}))
        nonce = self._nonces.get(sender.address)
        if nonce is None:
            nonce = int(self.w3.eth.get_transaction_count(sender.address, "pending"))
        tx.update(
            type=2,
            chainId=self.chain_id,
            nonce=nonce,
            maxFeePerGas=self._fee_cap(),
            maxPriorityFeePerGas=self._priority_fee,
        )
        signed = sender.key.sign_transaction(tx)
        tx_hash = bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        self._nonces[sender.address] = nonce + 1
        return tx_hash

    def _fee_cap(self) -> int:
        """maxFeePerGas: twice the base fee seen first, plus the tip; refreshed after a refusal.

        Dev chains' base fee only falls while blocks are less than half full."""
        if self._max_fee is None:
            base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
            self._max_fee = 2 * base_fee + self._priority_fee
        return self._max_fee

    def _replay(self, call: dict[str, Any], block: int) -> str:
        """The revert reason of a transaction mined with status 0, by re-running it."""
        try:
            self.w3.eth.call(call, block)
        except (TransactionFailed, Web3Exception) as exc:
            rule = revert_rule(exc)
            if rule is not None:
                return rule
        return "transaction failed (no reason on replay)"

    def logs(
        self, address: str, topics: Sequence[bytes | None], from_block: int, to_block: int | str
    ) -> list[Mapping[str, Any]]:
        """Raw logs of `address` matching `topics` (None matches any) in a block range."""
        wanted = list(topics)
        while wanted and wanted[-1] is None:
            wanted.pop()
        if self._log_index is not None:
            last = float("inf") if to_block == "latest" else int(to_block)
            return [
                log
                for log in self._log_index
                if log["address"] == address
                and from_block <= log["blockNumber"] <= last
                and len(log["topics"]) >= len(wanted)
                and all(t is None or bytes(log["topics"][i]) == t for i, t in enumerate(wanted))
            ]
        query: dict[str, Any] = {
            "address": address,
            "fromBlock": from_block,
            "toBlock": to_block,
            "topics": ["0x" + t.hex() if t is not None else None for t in wanted],
        }
        with self._lock, self._rpc():
            return list(self.w3.eth.get_logs(query))


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

    def _send(self, function: str, *args: Any, gas: int, value: int = 0) -> Receipt:
        receipt = self._chain.transact(
            self.sender,
            self.address,
            self._abi.encode(function, args),
            gas=gas,
            value=value,
            where=(self.NAME, function),
        )
        return Receipt(
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            block=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            events=self._decode_logs(receipt["logs"]),
        )

    def _decode_logs(self, logs: Sequence[Mapping[str, Any]]) -> tuple[LedgerEvent, ...]:
        mine = (self._abi.decode_log(log) for log in logs if log["address"] == self.address)
        return tuple(e for e in mine if e is not None)

    def events(
        self, from_block: int = 0, *, pipeline: bytes | None = None, to_block: int | None = None
    ) -> list[LedgerEvent]:
        """This contract's events from `from_block` on, for relying parties that poll; every
        event's first topic is the pipeline id, so `pipeline` filters on the node."""
        logs = self._chain.logs(
            self.address, [None, pipeline], from_block, "latest" if to_block is None else to_block
        )
        return list(self._decode_logs(logs))

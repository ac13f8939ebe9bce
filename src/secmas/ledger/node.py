"""What a chain node offers the ledger client, whichever node it is: the in-process EVM
(`secmas.ledger.evmnode`) or an Ethereum JSON-RPC node (`secmas.ledger.rpcnode`).

The client (`secmas.ledger.chain.Chain`) signs, counts nonces and names the contract
function in its errors; a node executes, mines and reports, in the plain types below.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_typing import ChecksumAddress

PYTHON_RECURSION_LIMIT = 1000
MEMORY = "memory"
BLOCK_GAS_LIMIT = 30_000_000
"""What a block holds on the in-process node, as on Hardhat: no transaction may ask more,
so whatever grows with the number of agents goes in batches that fit."""
"""The ledger URL of the in-process chain (`secmas.ledger.evmnode`)."""


def restore_recursion_limit() -> None:
    """Puts back the interpreter's recursion limit after web3 or py-evm raised it.

    py-evm (through py_ecc) raises it to 100 000 on import. Deep
    recursion anywhere in the process (a deeply nested JSON message, say) then overflows the
    C stack and kills the process instead of raising RecursionError. The contracts nest
    calls two deep, well within Python's default limit."""
    if sys.getrecursionlimit() > PYTHON_RECURSION_LIMIT:
        sys.setrecursionlimit(PYTHON_RECURSION_LIMIT)


class NodeRevert(Exception):
    """The EVM reverted a call or a transaction; `reason` is the contract's revert text,
    `payload` the revert data as the EVM returned it (where the node passes it on)."""

    def __init__(self, reason: str, payload: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.payload = payload

    def __reduce__(self) -> tuple[type[NodeRevert], tuple[str, bytes]]:
        return NodeRevert, (self.reason, self.payload)  # the payload too, across processes


class NodeRefused(Exception):
    """The node refused a transaction before executing it (nonce, funds, fee, gas limit,
    signature)."""


@dataclass(frozen=True, slots=True)
class RawLog:
    """One log entry of a mined transaction, as the EVM emitted it."""

    address: ChecksumAddress
    topics: tuple[bytes, ...]
    data: bytes
    block: int
    tx_hash: bytes
    log_index: int


@dataclass(frozen=True, slots=True)
class Mined:
    """A mined transaction: `status` 1 succeeded, 0 failed (some nodes mine reverts)."""

    tx_hash: bytes
    block: int
    gas_used: int
    status: int
    logs: tuple[RawLog, ...]
    contract_address: ChecksumAddress | None


@dataclass(frozen=True, slots=True)
class SentTransaction:
    """A mined transaction as its receipt reports it: what the sender paid is
    `gas_used` × `effective_gas_price` (EIP-1559: min(fee cap, base fee + tip))."""

    tx_hash: bytes
    block: int
    sender: ChecksumAddress
    to: ChecksumAddress | None
    data: bytes
    value: int
    gas_used: int
    effective_gas_price: int
    contract_address: ChecksumAddress | None


class Node(Protocol):
    """A chain node. Every method may raise `LedgerUnavailable` when the node is out of
    reach; transactions are automined or waited for, so `submit*` return them mined."""

    url: str

    def chain_id(self) -> int:
        """The chain id that signatures commit to (EIP-155)."""
        ...

    def accounts(self) -> list[ChecksumAddress]:
        """The accounts whose keys the node holds and signs for (`eth_accounts`)."""
        ...

    def block_number(self) -> int:
        """The latest block."""
        ...

    def block_time(self, number: int) -> int:
        """The timestamp (Unix seconds) of block `number`."""
        ...

    def balance(self, address: str) -> int:
        """The balance of `address` in wei."""
        ...

    def nonce(self, address: str) -> int:
        """The next nonce of `address`, counting pending transactions."""
        ...

    def base_fee(self) -> int:
        """The base fee per gas of the latest block, in wei."""
        ...

    def priority_fee(self) -> int:
        """The tip per gas the node suggests (`eth_maxPriorityFeePerGas`), in wei."""
        ...

    def sent_by(
        self, senders: frozenset[ChecksumAddress], from_block: int, to_block: int
    ) -> list[SentTransaction]:
        """The transactions `senders` had mined in blocks `from_block`…`to_block`, in
        chain order, with their receipts' gas and price."""
        ...

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
        """The return data of a read-only call (at `block`, default the latest);
        NodeRevert on a revert."""
        ...

    def submit(self, signed: bytes) -> Mined:
        """Executes a signed transaction; NodeRevert or NodeRefused when it does not run."""
        ...

    def submit_unsigned(self, tx: dict[str, Any]) -> Mined:
        """Executes a transaction from one of `accounts()`, signed by the node."""
        ...

    def sign_message(self, address: str, message: bytes) -> bytes:
        """`message` signed as an EIP-191 personal message by one of `accounts()`
        (`eth_sign`): 65 bytes r ‖ s ‖ v."""
        ...

    def logs(
        self, address: str, topics: Sequence[bytes | None], from_block: int, to_block: int | None
    ) -> list[RawLog]:
        """Logs of `address` whose leading topics match (None: any) in a block range
        (`to_block` None: up to the latest)."""
        ...

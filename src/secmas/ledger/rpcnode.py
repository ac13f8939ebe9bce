"""An Ethereum JSON-RPC node (Hardhat, Geth, Besu, `secmas ledger serve`) through web3.py.

Every node's way of reporting a revert becomes `NodeRevert` here: JSON-RPC nodes answer
with an error whose data is the ABI-encoded `Error(string)` (web3 raises
`ContractLogicError` for calls and `Web3RPCError` for Hardhat's reverted sends); other
refusals become `NodeRefused`, and an unreachable node `LedgerUnavailable`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from eth_utils.exceptions import ValidationError
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError

from secmas.ledger.abi import revert_reason
from secmas.ledger.errors import LedgerUnavailable
from secmas.ledger.node import Mined, NodeRefused, NodeRevert, RawLog, restore_recursion_limit

restore_recursion_limit()

RECEIPT_TIMEOUT_S = 120.0
RECEIPT_POLL_S = 0.05
_HARDHAT_REASON = re.compile(r"reverted with reason string '(.*)'", re.DOTALL)


def _clean_message(message: str) -> str:
    match = _HARDHAT_REASON.search(message)
    if match:
        return match.group(1)
    return message.removeprefix("execution reverted: ").strip() or "execution reverted"


def revert_rule(exc: BaseException) -> str | None:
    """The revert reason carried by web3's exception; None when it reports no revert."""
    data: Any = None
    message = str(exc)
    if isinstance(exc, ContractLogicError):
        data, message = exc.data, exc.message or message
    elif isinstance(exc, Web3RPCError):
        error = (exc.rpc_response or {}).get("error") or {}
        data, message = error.get("data"), str(error.get("message", exc.message))
    if isinstance(data, Mapping):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        return revert_reason(bytes.fromhex(data[2:]))
    if isinstance(exc, ContractLogicError) or "revert" in message.lower():
        return _clean_message(message)
    return None


def _log(entry: Mapping[str, Any]) -> RawLog:
    return RawLog(
        to_checksum_address(entry["address"]),
        tuple(bytes(t) for t in entry["topics"]),
        bytes(entry["data"]),
        int(entry["blockNumber"]),
        bytes(entry["transactionHash"]),
        int(entry["logIndex"]),
    )


class Web3Node:
    """A JSON-RPC node at `url` through `w3`."""

    def __init__(self, w3: Web3, url: str) -> None:
        self.w3 = w3
        self.url = url

    @contextmanager
    def _rpc(self) -> Iterator[None]:
        """Transport failures (requests raises OSError subclasses) as LedgerUnavailable."""
        try:
            yield
        except OSError as exc:
            raise LedgerUnavailable(self.url, str(exc)) from exc

    def chain_id(self) -> int:
        with self._rpc():
            return int(self.w3.eth.chain_id)

    def accounts(self) -> list[ChecksumAddress]:
        with self._rpc():
            return [to_checksum_address(a) for a in self.w3.eth.accounts]

    def block_number(self) -> int:
        with self._rpc():
            return int(self.w3.eth.block_number)

    def block_time(self, number: int) -> int:
        with self._rpc():
            return int(self.w3.eth.get_block(number)["timestamp"])

    def balance(self, address: str) -> int:
        with self._rpc():
            return int(self.w3.eth.get_balance(to_checksum_address(address)))

    def nonce(self, address: str) -> int:
        with self._rpc():
            return int(self.w3.eth.get_transaction_count(to_checksum_address(address), "pending"))

    def base_fee(self) -> int:
        with self._rpc():
            return int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))

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
        request: dict[str, Any] = {"from": sender, "to": to, "data": data}
        if gas is not None:
            request.update(gas=gas, value=value)
        with self._rpc():
            try:
                return bytes(self.w3.eth.call(request, "latest" if block is None else block))
            except Web3Exception as exc:
                rule = revert_rule(exc)
                if rule is None:
                    raise
                raise NodeRevert(rule) from exc

    def submit(self, signed: bytes) -> Mined:
        with self._rpc():
            return self._mined(self._sent(lambda: self.w3.eth.send_raw_transaction(signed)))

    def submit_unsigned(self, tx: dict[str, Any]) -> Mined:
        with self._rpc():
            return self._mined(self._sent(lambda: self.w3.eth.send_transaction(tx)))  # type: ignore[arg-type]

    @staticmethod
    def _sent(send: Any) -> bytes:
        try:
            return bytes(send())
        except (Web3Exception, ValidationError) as exc:
            rule = revert_rule(exc)
            if rule is not None:
                raise NodeRevert(rule) from exc
            raise NodeRefused(str(exc)) from exc

    def _mined(self, tx_hash: bytes) -> Mined:
        receipt = self.w3.eth.wait_for_transaction_receipt(
            tx_hash,  # type: ignore[arg-type]
            timeout=RECEIPT_TIMEOUT_S,
            poll_latency=RECEIPT_POLL_S,
        )
        created = receipt.get("contractAddress")
        return Mined(
            bytes(receipt["transactionHash"]),
            int(receipt["blockNumber"]),
            int(receipt["gasUsed"]),
            int(receipt["status"]),
            tuple(_log(entry) for entry in receipt["logs"]),
            None if created is None else to_checksum_address(created),
        )

    def logs(
        self, address: str, topics: Sequence[bytes | None], from_block: int, to_block: int | None
    ) -> list[RawLog]:
        query: dict[str, Any] = {
            "address": to_checksum_address(address),
            "fromBlock": from_block,
            "toBlock": "latest" if to_block is None else to_block,
            "topics": ["0x" + t.hex() if t is not None else None for t in topics],
        }
        with self._rpc():
            return [_log(entry) for entry in self.w3.eth.get_logs(query)]  # type: ignore[arg-type]

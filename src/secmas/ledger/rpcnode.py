"""An Ethereum JSON-RPC node (Hardhat, Geth, Besu, `secmas ledger serve`) over HTTP(S).

A plain JSON-RPC 2.0 client on the standard library's http.client, one kept-alive
connection per node: an agent process that talks to the ledger loads no web3, eth_account
or py_ecc (about a second of start-up and 50 MB each).

Every node's way of reporting a revert becomes `NodeRevert` here: Geth and `secmas ledger
serve` answer code 3 with the ABI-encoded `Error(string)` as the error's data, Hardhat a
message "… reverted with reason string '…'" with the payload under data.data; other
errors become `NodeRefused`, and a node out of reach `LedgerUnavailable`.

Given a `token`, each request carries it as `Authorization: Bearer …` (what `secmas ledger
serve` and a run's own served ledger ask of every client); a refusal names the token.
"""

from __future__ import annotations

import http.client
import itertools
import json
import re
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from secmas.ledger.abi import revert_reason
from secmas.ledger.errors import LedgerError, LedgerUnavailable
from secmas.ledger.node import Mined, NodeRefused, NodeRevert, RawLog, SentTransaction

LEDGER_TOKEN_ENV = "SECMAS_LEDGER_TOKEN"
"""The environment variable that carries a served ledger's bearer token (never argv)."""
RECEIPT_TIMEOUT_S = 120.0
RECEIPT_POLL_S = 0.05
MAX_RESPONSE_BYTES = 64 << 20
DROPPED_KEEP_ALIVE = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ssl.SSLEOFError,
)
"""How a kept-alive connection the node closed while it was idle fails the next request
(sending into it, or reading its end; over TLS an EOF): retried once on a new one."""
_HARDHAT_REASON = re.compile(r"reverted with reason string '(.*)'", re.DOTALL)


class RpcFailure(LedgerError):
    """A JSON-RPC error object from the node (one the ledger does not read as a revert or
    a refused transaction)."""

    def __init__(self, error: Mapping[str, Any]) -> None:
        self.code = error.get("code")
        self.message = str(error.get("message", ""))
        self.data = error.get("data")
        super().__init__(f"{self.message} (code {self.code})")


def revert_rule(error: RpcFailure) -> str | None:
    """The revert reason in a node's error; None when the error is not a revert."""
    data = error.data.get("data") if isinstance(error.data, Mapping) else error.data
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        return revert_reason(bytes.fromhex(data[2:]))
    match = _HARDHAT_REASON.search(error.message)
    if match:
        return match.group(1)
    if error.code == 3 or "revert" in error.message.lower():
        return error.message.removeprefix("execution reverted: ").strip() or "execution reverted"
    return None


def _quantity(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _log(entry: Mapping[str, Any]) -> RawLog:
    return RawLog(
        to_checksum_address(entry["address"]),
        tuple(bytes.fromhex(t[2:]) for t in entry["topics"]),
        bytes.fromhex(entry["data"][2:]),
        _quantity(entry["blockNumber"]),
        bytes.fromhex(entry["transactionHash"][2:]),
        _quantity(entry["logIndex"]),
    )


class JsonRpcNode:
    """The node at `url` (http:// or https://; an https node's certificate is checked
    against `ca_file`, or the system's trust store), shown `token` if given."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        ca_file: Path | None = None,
        token: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"ledger URL must be 'memory' or http(s)://…, got {url!r}")
        self.url = url
        self._parts = parts
        self._timeout = timeout_s
        self._tls = (
            ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
            if parts.scheme == "https"
            else None
        )
        self._headers = {"Content-Type": "application/json"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._connection: http.client.HTTPConnection | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _connect(self) -> http.client.HTTPConnection:
        host, port = self._parts.hostname or "", self._parts.port
        if self._tls is not None:
            return http.client.HTTPSConnection(host, port, timeout=self._timeout, context=self._tls)
        return http.client.HTTPConnection(host, port, timeout=self._timeout)

    def request(self, method: str, params: Sequence[Any]) -> Any:
        """The result of one call; RpcFailure for the node's error, LedgerUnavailable when
        it cannot be reached or answers no JSON-RPC (one retry on a dropped keep-alive)."""
        with self._lock:
            return self._request(method, params)

    def _request(self, method: str, params: Sequence[Any]) -> Any:
        body = json.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        ).encode()
        for attempt in (0, 1):
            if self._connection is None:
                self._connection = self._connect()
            try:
                self._connection.request("POST", self._parts.path or "/", body, self._headers)
                response = self._connection.getresponse()
                payload = response.read(MAX_RESPONSE_BYTES)
                break
            except (OSError, http.client.HTTPException) as exc:
                self._connection.close()
                self._connection = None
                reused = isinstance(exc, DROPPED_KEEP_ALIVE)
                if attempt or not reused:
                    raise LedgerUnavailable(self.url, str(exc) or type(exc).__name__) from exc
        if response.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            wanted = f"a valid bearer token ({LEDGER_TOKEN_ENV})"
            raise LedgerUnavailable(self.url, f"HTTP {response.status}: the node wants {wanted}")
        try:
            reply = json.loads(payload)
        except ValueError:
            raise LedgerUnavailable(
                self.url, f"HTTP {response.status}: not JSON-RPC ({payload[:80]!r})"
            ) from None
        if not isinstance(reply, dict):
            raise LedgerUnavailable(self.url, f"not a JSON-RPC reply: {str(reply)[:80]}")
        if "error" in reply:
            error = reply["error"]
            raise RpcFailure(error if isinstance(error, dict) else {"message": str(error)})
        return reply.get("result")

    def chain_id(self) -> int:
        return _quantity(self.request("eth_chainId", []))

    def accounts(self) -> list[ChecksumAddress]:
        return [to_checksum_address(a) for a in self.request("eth_accounts", [])]

    def block_number(self) -> int:
        return _quantity(self.request("eth_blockNumber", []))

    def _block(self, which: int | str) -> Mapping[str, Any]:
        tag = hex(which) if isinstance(which, int) else which
        block = self.request("eth_getBlockByNumber", [tag, False])
        if not isinstance(block, dict):
            raise ValueError(f"no block {which}")
        return block

    def block_time(self, number: int) -> int:
        return _quantity(self._block(number)["timestamp"])

    def balance(self, address: str) -> int:
        return _quantity(self.request("eth_getBalance", [address, "latest"]))

    def nonce(self, address: str) -> int:
        return _quantity(self.request("eth_getTransactionCount", [address, "pending"]))

    def base_fee(self) -> int:
        return _quantity(self._block("latest").get("baseFeePerGas", "0x0"))

    def priority_fee(self) -> int:
        return _quantity(self.request("eth_maxPriorityFeePerGas", []))

    def sent_by(
        self, senders: frozenset[ChecksumAddress], from_block: int, to_block: int
    ) -> list[SentTransaction]:
        sent = []
        for number in range(from_block, to_block + 1):
            block = self.request("eth_getBlockByNumber", [hex(number), True])
            for tx in block["transactions"] if isinstance(block, dict) else ():
                if to_checksum_address(tx["from"]) in senders:
                    sent.append(self._sent_transaction(tx, number))
        return sent

    def _sent_transaction(self, tx: Mapping[str, Any], block: int) -> SentTransaction:
        """`tx`, mined in `block`, with its receipt's gas (some nodes' block bodies leave
        a transaction's blockNumber out, and name no creation's `to`); a receipt without
        effectiveGasPrice (older nodes) falls back on the mined transaction's gasPrice,
        which nodes fill with it."""
        receipt = self.request("eth_getTransactionReceipt", [tx["hash"]])
        price = receipt.get("effectiveGasPrice", tx.get("gasPrice"))
        created = receipt.get("contractAddress")
        return SentTransaction(
            bytes.fromhex(tx["hash"][2:]),
            block,
            to_checksum_address(tx["from"]),
            to_checksum_address(tx["to"]) if tx.get("to") else None,
            bytes.fromhex(str(tx.get("input", tx.get("data", "0x")))[2:]),
            _quantity(tx["value"]),
            _quantity(receipt["gasUsed"]),
            _quantity(price),
            None if created is None else to_checksum_address(created),
        )

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
        request: dict[str, Any] = {"from": sender, "to": to, "data": _hex(data)}
        if gas is not None:
            request.update(gas=hex(gas), value=hex(value))
        try:
            result = self.request("eth_call", [request, "latest" if block is None else hex(block)])
        except RpcFailure as exc:
            rule = revert_rule(exc)
            if rule is None:
                raise NodeRefused(str(exc)) from exc
            raise NodeRevert(rule) from exc
        return bytes.fromhex(str(result)[2:])

    def submit(self, signed: bytes) -> Mined:
        return self._mined(self._sent("eth_sendRawTransaction", _hex(signed)))

    def sign_message(self, address: str, message: bytes) -> bytes:
        signature = self.request("eth_sign", [address, _hex(message)])
        return bytes.fromhex(str(signature).removeprefix("0x"))

    def submit_unsigned(self, tx: dict[str, Any]) -> Mined:
        wire = {
            key: _hex(value)
            if isinstance(value, bytes)
            else hex(value)
            if isinstance(value, int)
            else value
            for key, value in tx.items()
        }
        return self._mined(self._sent("eth_sendTransaction", wire))

    def _sent(self, method: str, param: Any) -> str:
        try:
            return str(self.request(method, [param]))
        except RpcFailure as exc:
            rule = revert_rule(exc)
            if rule is not None:
                raise NodeRevert(rule) from exc
            raise NodeRefused(str(exc)) from exc

    def _mined(self, tx_hash: str) -> Mined:
        deadline = time.monotonic() + RECEIPT_TIMEOUT_S
        while (receipt := self.request("eth_getTransactionReceipt", [tx_hash])) is None:
            if time.monotonic() > deadline:
                raise LedgerUnavailable(self.url, f"{tx_hash} not mined in {RECEIPT_TIMEOUT_S} s")
            time.sleep(RECEIPT_POLL_S)
        created = receipt.get("contractAddress")
        return Mined(
            bytes.fromhex(receipt["transactionHash"][2:]),
            _quantity(receipt["blockNumber"]),
            _quantity(receipt["gasUsed"]),
            _quantity(receipt["status"]),
            tuple(_log(entry) for entry in receipt["logs"]),
            None if created is None else to_checksum_address(created),
        )

    def logs(
        self, address: str, topics: Sequence[bytes | None], from_block: int, to_block: int | None
    ) -> list[RawLog]:
        query = {
            "address": address,
            "fromBlock": hex(from_block),
            "toBlock": "latest" if to_block is None else hex(to_block),
            "topics": [None if t is None else _hex(t) for t in topics],
        }
        return [_log(entry) for entry in self.request("eth_getLogs", [query])]

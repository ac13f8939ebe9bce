"""The in-process chain served over HTTP JSON-RPC, so that agents in separate OS processes
share one ledger without Geth, Besu or Hardhat.

    with LedgerServer(port=0) as server:       # or `secmas ledger serve`
        operator = server.connect()            # connect(server.url, token=server.token, …)
        contracts = operator.deploy()

The chain is the very node `connect(None)` runs in one process (`secmas.ledger.evmnode`):
one EVM whichever way the agents are placed, with the same chain id, genesis and gas. Its
genesis funds the MLFO and the SECaaS, two accounts of fresh random keys that only the
server's owner is handed (`mlfo_key`, `secaas_key`), or the keys its owner drew
(`access`, with the token: a deployment hands them to the server's pod).

Whoever reaches the port is a stranger until shown otherwise: every request must carry
`Authorization: Bearer <token>`, the server's random `token` (compared in constant time;
401 otherwise, before the body is read). And the server signs for nobody: it holds no
`eth_accounts`, answers no `eth_sign` or `eth_sendTransaction`, so a client acts only
as the accounts whose keys it holds, submitting what it signed (`eth_sendRawTransaction`).

Given a certificate and its key (`cert_file`, `key_file`: PEM), the server speaks HTTPS
(TLS ≥ 1.2, the handshake in each connection's own thread, so a client that never
completes one holds up nobody) and its `url` is `https://…`; clients check it with
`connect(url, ca_file=…)`.

Requests are answered one at a time, under a lock. Results are written the way nodes write
them (quantities as hex strings), and reverts the way Geth and Hardhat report them (code 3,
the revert payload as data), so `secmas.ledger.chain` maps them to the same `LedgerRevert`
as for any node. State-rewriting development methods (`evm_revert`, `evm_snapshot`,
`hardhat_setBalance`, …) are not served: the ledger is an audit trail.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from eth_typing import ChecksumAddress
from eth_utils import is_hex_address, to_checksum_address

import secmas
from secmas.ledger.connection import GENESIS_FUNDING_WEI, Ledger, connect, memory_accounts
from secmas.ledger.evmnode import FORK, Block, EvmNode, Included
from secmas.ledger.keyfile import LedgerAccess, new_token
from secmas.ledger.node import NodeRefused, NodeRevert, RawLog
from secmas.ledger.transactions import InvalidTransaction, recover

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8545
MAX_BODY_BYTES = 4 * 1024 * 1024
IDLE_TIMEOUT_S = 60.0
"""How long a kept-alive connection may sit idle (or a body take to arrive)."""
SHUTDOWN_POLL_S = 0.05
"""How often the accept loop looks for `stop()` (the standard library's 0.5 s slows tests)."""

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
"""Geth's code for a request the chain refuses (bad nonce, no funds, unknown block)."""
REVERTED = 3
"""Geth's and Hardhat's code for execution reverted; the error's data is the payload."""

_HEAD_TAGS = frozenset({"latest", "safe", "finalized", "pending"})
_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)


class RpcError(Exception):
    """A JSON-RPC error object: code, message and optional data."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def reply(self, request_id: Any) -> dict[str, Any]:
        """The error response to the request with `request_id`."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"jsonrpc": "2.0", "id": request_id, "error": error}


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _revert(exc: NodeRevert) -> RpcError:
    """A revert as Geth and Hardhat report it: the reason in the message when it is an
    Error(string), the payload as the error's data."""
    if exc.payload[:4] == _ERROR_STRING:
        message = f"execution reverted: {exc.reason}"
    else:
        message = "execution reverted" if exc.payload else f"execution reverted: {exc.reason}"
    return RpcError(REVERTED, message, _hex(exc.payload))


def _reject_constant(name: str) -> float:
    """NaN and Infinity are not JSON, and could not be written back."""
    raise ValueError(f"{name} is not valid JSON")


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


# -- parameters ----------------------------------------------------------------------------
def _param(params: list[Any], index: int, what: str, default: Any = ...) -> Any:
    if index < len(params):
        return params[index]
    if default is ...:
        raise RpcError(INVALID_PARAMS, f"missing {what}")
    return default


def _quantity(value: Any, what: str) -> int:
    if isinstance(value, str) and value.startswith("0x"):
        with contextlib.suppress(ValueError):
            return int(value, 16)
    raise RpcError(INVALID_PARAMS, f"invalid {what} {value!r}: not a hex quantity")


def _data(value: Any, what: str) -> bytes:
    if isinstance(value, str) and value.startswith("0x"):
        with contextlib.suppress(ValueError):
            return bytes.fromhex(value[2:])
    raise RpcError(INVALID_PARAMS, f"invalid {what} {value!r}: not hex data")


def _address(value: Any, what: str = "address") -> ChecksumAddress:
    if isinstance(value, str) and is_hex_address(value):
        return to_checksum_address(value)
    raise RpcError(INVALID_PARAMS, f"invalid {what} {value!r}")


def _block_number(value: Any, head: int) -> int:
    """A block tag or a hex quantity (absent: the head)."""
    if value is None or (isinstance(value, str) and value in _HEAD_TAGS):
        return head
    if value == "earliest":
        return 0
    number = _quantity(value, "block")
    if number > head:
        raise RpcError(SERVER_ERROR, f"no block {number}: the chain is at {head}")
    return number


def _accepted(value: Any, what: str) -> frozenset[str] | None:
    """The lowercased values an address or topic position accepts; None for any (absent,
    null or an empty list, as for Geth)."""
    values = [value] if isinstance(value, str) else value
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RpcError(INVALID_PARAMS, f"invalid {what} {value!r}")
    return frozenset(v.lower() for v in values) or None


def _call_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RpcError(INVALID_PARAMS, "a call or transaction must be an object")
    to = value.get("to")
    return {
        "from": _address(value["from"], "from") if "from" in value else None,
        "to": None if to is None else _address(to, "to"),
        "data": _data(value.get("data", value.get("input", "0x")), "data"),
        "value": _quantity(value.get("value", "0x0"), "value"),
        "gas": None if value.get("gas") is None else _quantity(value["gas"], "gas"),
    }


# -- results -------------------------------------------------------------------------------
def _log(entry: RawLog, block_hash: bytes) -> dict[str, Any]:
    return {
        "address": entry.address,
        "topics": [_hex(t) for t in entry.topics],
        "data": _hex(entry.data),
        "blockNumber": hex(entry.block),
        "blockHash": _hex(block_hash),
        "transactionHash": _hex(entry.tx_hash),
        "transactionIndex": "0x0",
        "logIndex": hex(entry.log_index),
        "removed": False,
    }


def _transaction(included: Included, block_hash: bytes) -> dict[str, Any]:
    tx, sent = included.tx, included.sent
    return {
        "hash": _hex(sent.tx_hash),
        "type": "0x2",
        "chainId": hex(tx.chain_id),
        "nonce": hex(tx.nonce),
        "blockHash": _hex(block_hash),
        "blockNumber": hex(sent.block),
        "transactionIndex": "0x0",
        "from": sent.sender,
        "to": sent.to,
        "value": hex(tx.value),
        "gas": hex(tx.gas),
        "maxFeePerGas": hex(tx.max_fee),
        "maxPriorityFeePerGas": hex(tx.max_priority_fee),
        "gasPrice": hex(sent.effective_gas_price),
        "input": _hex(tx.data),
        "accessList": [],
    }


def _receipt(included: Included, block_hash: bytes) -> dict[str, Any]:
    sent, mined = included.sent, included.mined
    return {
        "transactionHash": _hex(sent.tx_hash),
        "transactionIndex": "0x0",
        "blockHash": _hex(block_hash),
        "blockNumber": hex(sent.block),
        "from": sent.sender,
        "to": sent.to,
        "type": "0x2",
        "cumulativeGasUsed": hex(sent.gas_used),
        "gasUsed": hex(sent.gas_used),
        "effectiveGasPrice": hex(sent.effective_gas_price),
        "contractAddress": sent.contract_address,
        "logs": [_log(entry, block_hash) for entry in mined.logs],
        "status": hex(mined.status),
    }


class JsonRpcEndpoint:
    """JSON-RPC 2.0 over one `EvmNode`, without the HTTP: parsing, batches, error codes and
    result encoding. It holds no account: clients submit transactions they signed.
    Thread-safe: requests run one at a time."""

    def __init__(self, node: EvmNode) -> None:
        self.node = node
        self._lock = threading.Lock()
        self._methods: dict[str, Callable[[list[Any]], Any]] = {
            "web3_clientVersion": lambda _: f"secmas/{secmas.__version__}/py-evm/{FORK}",
            "net_version": lambda _: str(node.chain_id()),
            "net_listening": lambda _: True,
            "eth_chainId": lambda _: hex(node.chain_id()),
            "eth_syncing": lambda _: False,
            "eth_accounts": lambda _: [],
            "eth_blockNumber": lambda _: hex(node.block_number()),
            "eth_gasPrice": lambda _: hex(node.base_fee() + node.priority_fee()),
            "eth_maxPriorityFeePerGas": lambda _: hex(node.priority_fee()),
            "eth_getBalance": lambda p: hex(node.balance(*self._at(p))),
            "eth_getTransactionCount": lambda p: hex(node.nonce(*self._at(p))),
            "eth_getCode": lambda p: _hex(node.code(*self._at(p))),
            "eth_call": self._call,
            "eth_estimateGas": self._estimate,
            "eth_sendRawTransaction": self._send_raw,
            "eth_getTransactionReceipt": lambda p: self._mined(p, _receipt),
            "eth_getTransactionByHash": lambda p: self._mined(p, _transaction),
            "eth_getBlockByNumber": self._block,
            "eth_getLogs": self._logs,
        }

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods served, in order."""
        return tuple(sorted(self._methods))

    def answer(self, body: bytes) -> bytes | None:
        """The response body to a request body; None when there is nothing to answer (a
        notification, or a batch of them)."""
        try:
            message = json.loads(body, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            return _dump(RpcError(PARSE_ERROR, f"parse error: {exc}").reply(None))
        if not isinstance(message, list):
            reply = self._one(message)
            return None if reply is None else _dump(reply)
        if not message:
            return _dump(RpcError(INVALID_REQUEST, "empty batch").reply(None))
        replies = [r for r in map(self._one, message) if r is not None]
        return _dump(replies) if replies else None

    def _one(self, message: Any) -> dict[str, Any] | None:
        """The response to one request of a batch or alone; None for a notification."""
        if not isinstance(message, dict):
            return RpcError(INVALID_REQUEST, "a request must be a JSON object").reply(None)
        request_id = message.get("id")
        if not _valid_id(request_id):
            return RpcError(INVALID_REQUEST, "id must be a string, a number or null").reply(None)
        method, params = message.get("method"), message.get("params", [])
        if message.get("jsonrpc") != "2.0" or not isinstance(method, str):
            error = RpcError(INVALID_REQUEST, 'a request needs "jsonrpc": "2.0" and a "method"')
            return error.reply(request_id)
        try:
            if not isinstance(params, list):
                raise RpcError(INVALID_PARAMS, "params must be an array (positional)")
            reply = {"jsonrpc": "2.0", "id": request_id, "result": self.call(method, params)}
        except RpcError as exc:
            reply = exc.reply(request_id)
        except Exception as exc:  # a bug here or in the EVM must not take the server down
            log.exception("JSON-RPC %s failed", method)
            reply = RpcError(INTERNAL_ERROR, f"internal error: {exc!r}").reply(request_id)
        return reply if "id" in message else None

    def call(self, method: str, params: list[Any]) -> Any:
        """The result of `method`, written for the wire; RpcError when it fails."""
        handler = self._methods.get(method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, f"method {method!r} not found")
        with self._lock:
            try:
                return handler(params)
            except NodeRevert as exc:
                raise _revert(exc) from exc
            except NodeRefused as exc:
                raise RpcError(SERVER_ERROR, str(exc)) from exc

    def _at(self, params: list[Any]) -> tuple[ChecksumAddress, int]:
        """[address, block]: the address and the block's number."""
        address = _address(_param(params, 0, "address"))
        return address, _block_number(_param(params, 1, "block", None), self.node.block_number())

    def _call(self, params: list[Any]) -> str:
        call = _call_object(_param(params, 0, "call"))
        block = _block_number(_param(params, 1, "block", None), self.node.block_number())
        sender = call["from"] or "0x" + "00" * 20
        output = self.node.call(
            sender, call["to"], call["data"], gas=call["gas"], value=call["value"], block=block
        )
        return _hex(output)

    def _estimate(self, params: list[Any]) -> str:
        call = _call_object(_param(params, 0, "transaction"))
        sender = call["from"] or "0x" + "00" * 20
        return hex(self.node.estimate_gas(sender, call["to"], call["data"], call["value"]))

    def _send_raw(self, params: list[Any]) -> str:
        signed = _data(_param(params, 0, "transaction"), "transaction")
        try:
            recover(signed)
        except InvalidTransaction as exc:
            raise RpcError(INVALID_PARAMS, f"invalid transaction: {exc}") from exc
        return _hex(self.node.submit(signed).tx_hash)

    def _mined(
        self, params: list[Any], write: Callable[[Included, bytes], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """A mined transaction (receipt or body) by hash; None (null) for an unknown one."""
        included = self.node.included(_data(_param(params, 0, "transaction hash"), "hash"))
        if included is None:
            return None
        return write(included, self.node.block(included.sent.block).hash)

    def _block(self, params: list[Any]) -> dict[str, Any] | None:
        try:
            number = _block_number(_param(params, 0, "block"), self.node.block_number())
        except RpcError as exc:
            if exc.code == SERVER_ERROR:
                return None  # not mined yet: null, as nodes answer
            raise
        full = _param(params, 1, "full transactions flag", False) is True
        block = self.node.block(number)
        transactions: list[Any] = [_hex(h) for h in block.transactions]
        if full:
            transactions = [
                _transaction(included, block.hash)
                for h in block.transactions
                if (included := self.node.included(h)) is not None
            ]
        return _block_json(block, transactions)

    def _logs(self, params: list[Any]) -> list[dict[str, Any]]:
        """eth_getLogs with Geth's filter rules: a block range or one block hash, addresses
        and topic positions each matching any of a list (null or empty: any)."""
        if len(params) != 1 or not isinstance(params[0], dict):
            raise RpcError(INVALID_PARAMS, "eth_getLogs takes one filter object")
        criteria = params[0]
        block_hash = criteria.get("blockHash")
        if block_hash is not None and ("fromBlock" in criteria or "toBlock" in criteria):
            raise RpcError(INVALID_PARAMS, "blockHash excludes fromBlock and toBlock")
        head = self.node.block_number()
        first = _block_number(criteria.get("fromBlock"), head)
        last = _block_number(criteria.get("toBlock"), head)
        in_block = _accepted(block_hash, "blockHash")
        if in_block is not None:
            first, last = 0, head
        addresses = _accepted(criteria.get("address"), "address")
        topics = criteria.get("topics") or []
        if not isinstance(topics, list):
            raise RpcError(INVALID_PARAMS, f"invalid topics {topics!r}")
        wanted = [_accepted(t, "topic") for t in topics]
        hashes: dict[int, bytes] = {}
        found = []
        for entry in self.node.every_log(first, last):
            if entry.block not in hashes:
                hashes[entry.block] = self.node.block(entry.block).hash
            written = _log(entry, hashes[entry.block])
            if (
                (in_block is None or written["blockHash"] in in_block)
                and (addresses is None or entry.address.lower() in addresses)
                and len(written["topics"]) >= len(wanted)
                and all(w is None or written["topics"][i] in w for i, w in enumerate(wanted))
            ):
                found.append(written)
        return found


def _block_json(block: Block, transactions: list[Any]) -> dict[str, Any]:
    return {
        "number": hex(block.number),
        "hash": _hex(block.hash),
        "parentHash": _hex(block.parent_hash),
        "timestamp": hex(block.timestamp),
        "baseFeePerGas": hex(block.base_fee),
        "gasLimit": hex(block.gas_limit),
        "gasUsed": hex(block.gas_used),
        "miner": "0x" + "00" * 20,
        "transactions": transactions,
    }


def _dump(reply: Any) -> bytes:
    return json.dumps(reply, separators=(",", ":")).encode()


class _Handler(BaseHTTPRequestHandler):
    """POST / with a JSON body, HTTP/1.1 keep-alive. JSON-RPC errors are answered with
    status 200; only what is wrong at the HTTP level gets another status."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    timeout = IDLE_TIMEOUT_S
    server: _HttpServer

    def do_POST(self) -> None:
        length = self._content_length()
        if not self._authorized():
            self._refuse(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required")
        elif length is None:
            self._refuse(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
        elif length > MAX_BODY_BYTES:
            self._refuse(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"request body of {length} bytes exceeds {MAX_BODY_BYTES}",
            )
        elif self.headers.get_content_type() != "application/json":
            # Browsers send other types cross-origin without asking: refusing them keeps a
            # web page from sending transactions as the MLFO through a local server.
            self._refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be JSON")
        else:
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                body = b""
            if len(body) < length:  # the client went away mid-body
                self.close_connection = True
                return
            reply = self.server.endpoint.answer(body)
            if reply is None:
                self._send(HTTPStatus.NO_CONTENT, b"")
            else:
                self._send(HTTPStatus.OK, reply)

    def _content_length(self) -> int | None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return None
        return length if length >= 0 else None

    def _authorized(self) -> bool:
        """Whether the request shows the server's token (compared in constant time)."""
        scheme, _, shown = self.headers.get("Authorization", "").partition(" ")
        expected = self.server.token.encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(shown.strip().encode(), expected)

    def do_GET(self) -> None:
        if not self._authorized():
            self._refuse(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required")
        else:
            self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "JSON-RPC requests are POSTed")

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        """Answers and closes: an unread body must not be taken for the next request."""
        self.close_connection = True
        self._send(status, _dump(RpcError(INVALID_REQUEST, message).reply(None)))

    def _send(self, status: HTTPStatus, body: bytes) -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json")
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "POST")
        if status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", "Bearer")
        if self.close_connection:
            self.send_header("Connection", "close")
        if status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _HttpServer(ThreadingHTTPServer):
    """A thread per connection; tracks open connections so that stopping closes kept-alive
    ones too (otherwise a client could go on talking to a stopped server)."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        endpoint: JsonRpcEndpoint,
        tls: ssl.SSLContext | None,
        token: str,
    ) -> None:
        self.endpoint = endpoint
        self.tls = tls
        self.token = token
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept; with TLS, the handshake happens later, in the connection's thread."""
        connection, address = self.socket.accept()
        if self.tls is not None:
            connection = self.tls.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-answer (or are cut off by `stop`) are routine."""
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("connection from %s failed", client_address, exc_info=True)
        else:
            log.exception("serving %s failed", client_address)

    def close_connections(self) -> None:
        """Ends every open connection; their threads then finish on their own."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


def _server_context(cert_file: Path, key_file: Path | None) -> ssl.SSLContext:
    """TLS ≥ 1.2 with the server's certificate chain and key (ValueError naming the file)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert_file), None if key_file is None else str(key_file))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"ledger certificate {cert_file}: {exc}") from None
    return context


class LedgerServer:
    """A fresh in-process chain served over HTTP JSON-RPC at `url` while started, to
    clients showing `token`.

    `port` 0 picks a free port. `start()` raises OSError when the address cannot be bound
    (port in use, no such host). The chain lives as long as the object: stopping and
    starting again serves the same ledger. `access`: the MLFO's and SECaaS's keys and the
    token, drawn by whoever hands them to the clients (default: fresh ones)."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        access: LedgerAccess | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._tls = None if cert_file is None else _server_context(cert_file, key_file)
        keys = (None, None) if access is None else access.keys.hex()
        self.mlfo, self.secaas = memory_accounts(*keys)
        self.token = new_token() if access is None else access.token
        """The bearer token every client must show: hand it over as a secret."""
        node = EvmNode({a.address: GENESIS_FUNDING_WEI for a in (self.mlfo, self.secaas)})
        self._endpoint = JsonRpcEndpoint(node)
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """`http(s)://HOST:PORT`, with the port actually bound once started."""
        scheme = "http" if self._tls is None else "https"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def mlfo_key(self) -> str:
        """The MLFO's private key (hex), for clients in other processes."""
        return self.mlfo.key_hex

    @property
    def secaas_key(self) -> str:
        """The SECaaS's private key (hex), for clients in other processes."""
        return self.secaas.key_hex

    def connect(self, timeout_s: float = 10.0, ca_file: Path | None = None) -> Ledger:
        """A client of this server signing as the MLFO and the SECaaS with their keys."""
        return connect(
            self.url,
            mlfo_key=self.mlfo_key,
            secaas_key=self.secaas_key,
            timeout_s=timeout_s,
            ca_file=ca_file,
            token=self.token,
        )

    def start(self) -> Self:
        """Binds and serves from a background thread; returns at once."""
        if self._httpd is not None:
            raise RuntimeError(f"ledger server already serving at {self.url}")
        self._httpd = _HttpServer((self.host, self.port), self._endpoint, self._tls, self.token)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            args=(SHUTDOWN_POLL_S,),
            name=f"ledger-rpc:{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info("ledger JSON-RPC server at %s", self.url)
        return self

    def stop(self) -> None:
        """Stops accepting, ends open connections and frees the port; idempotent."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

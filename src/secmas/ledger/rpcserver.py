"""The in-process EVM served over HTTP JSON-RPC, so that agents in separate OS processes share
one ledger without Geth, Besu or Hardhat.

    with LedgerServer(port=0) as server:       # or `secmas ledger serve`
        operator = server.connect()            # connect(server.url, mlfo_key=…, secaas_key=…)
        contracts = operator.deploy()

The chain is eth-tester's over py-evm (`connect(None)` runs revm in-process instead, with
the same chain id and genesis): its genesis funds the MLFO and the SECaaS, which are also its
`eth_accounts`, so `connect(server.url)` without keys works too (the server
signs for them, like Hardhat for its prefunded accounts). Their keys are eth-tester's
well-known test keys: anyone who can reach the port can act as either, which is why the
server listens on the loopback interface unless told otherwise.

Given a certificate and its key (`cert_file`, `key_file`: PEM), the server speaks HTTPS
(TLS ≥ 1.2, the handshake in each connection's own thread, so a client that never
completes one holds up nobody) and its `url` is `https://…`; clients check it with
`connect(url, ca_file=…)`.

Requests go through web3's `EthereumTesterProvider` (with its request and result formatting,
as in-process) one at a time, under a lock: eth-tester is not thread-safe. Results are
written the way nodes write them (quantities as hex strings), and reverts the way Geth and
Hardhat report them (code 3, the revert payload as data), so `secmas.ledger.chain` maps
them to the same `LedgerRevert` as for any node. State-rewriting development methods
(`evm_revert`, `evm_snapshot`, `testing_timeTravel`, …) are not served: the ledger is an
audit trail.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import eth_abi
from eth.exceptions import PyEVMError
from eth_keys import keys
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import generate_genesis_state_for_keys
from eth_tester.exceptions import BlockNotFound, TransactionFailed
from eth_tester.exceptions import TransactionNotFound as TesterTransactionNotFound
from eth_tester.exceptions import ValidationError as TesterValidationError
from eth_utils.exceptions import ValidationError as EvmValidationError
from rlp.exceptions import RLPException
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.providers.eth_tester import EthereumTesterProvider

from secmas.ledger.accounts import Account
from secmas.ledger.connection import Ledger, connect, memory_accounts
from secmas.ledger.messages import sign_personal
from secmas.ledger.node import restore_recursion_limit

restore_recursion_limit()
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

METHODS = frozenset(
    {
        "web3_clientVersion",
        "web3_sha3",
        "net_version",
        "net_listening",
        "net_peerCount",
        "eth_chainId",
        "eth_syncing",
        "eth_accounts",
        "eth_blockNumber",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_feeHistory",
        "eth_getBalance",
        "eth_getTransactionCount",
        "eth_getCode",
        "eth_getStorageAt",
        "eth_call",
        "eth_estimateGas",
        "eth_sendRawTransaction",
        "eth_sendTransaction",
        "eth_getTransactionReceipt",
        "eth_getTransactionByHash",
        "eth_getTransactionByBlockHashAndIndex",
        "eth_getTransactionByBlockNumberAndIndex",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getBlockTransactionCountByHash",
        "eth_getBlockTransactionCountByNumber",
        "eth_getLogs",
        "eth_sign",
    }
)
"""What web3 and `secmas.ledger` use, and the rest of eth-tester's read and send methods.
No log filters: installing one makes eth-tester scan every past block (see _LogIndex)."""
_SENDS = frozenset({"eth_sendRawTransaction", "eth_sendTransaction"})
_HEAD_TAGS = frozenset({"latest", "safe", "finalized", "pending"})

_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
# Malformed input surfaces from eth-tester's validators, web3's formatters or RLP decoding.
_BAD_PARAMS = (
    TesterValidationError,
    RLPException,
    TypeError,
    ValueError,
    LookupError,
    AttributeError,
)
# The chain refusing a well-formed request: py-evm's transaction checks, unknown objects.
_REFUSED = (
    EvmValidationError,
    PyEVMError,
    BlockNotFound,
    TesterTransactionNotFound,
)


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


def _wire(value: Any) -> Any:
    """An eth-tester result as nodes write it: integers as hex quantities, bytes as hex."""
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Mapping):
        return {str(k): _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    raise TypeError(f"cannot write a {type(value).__name__} as JSON-RPC")


def _revert(message: str) -> RpcError:
    """A revert as Geth and Hardhat report it, from eth-tester's "execution reverted: …".

    eth-tester has already decoded an `Error(string)` payload into its reason, so that is
    encoded back; any other payload (custom errors, a bare `revert()`) it writes as a
    Python bytes literal, which is the raw payload."""
    reason = message.removeprefix("execution reverted").removeprefix(": ")
    if reason.startswith(("b'", 'b"')):
        try:
            payload = ast.literal_eval(reason)
        except (ValueError, SyntaxError):
            payload = None
        if isinstance(payload, bytes):
            return RpcError(REVERTED, "execution reverted", "0x" + payload.hex())
    data = _ERROR_STRING + eth_abi.encode(["string"], [reason])
    return RpcError(REVERTED, f"execution reverted: {reason}", "0x" + data.hex())


def _reject_constant(name: str) -> float:
    """NaN and Infinity are not JSON, and could not be written back."""
    raise ValueError(f"{name} is not valid JSON")


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def _block_number(value: Any, head: int) -> int:
    """A filter's block bound: a tag or a hex quantity (absent: the head)."""
    if value is None or (isinstance(value, str) and value in _HEAD_TAGS):
        return head
    if value == "earliest":
        return 0
    if isinstance(value, str) and value.startswith("0x"):
        with contextlib.suppress(ValueError):
            return int(value, 16)
    raise RpcError(INVALID_PARAMS, f"invalid block {value!r}")


def _accepted(value: Any, what: str) -> frozenset[str] | None:
    """The lowercased values an address or topic position accepts; None for any (absent,
    null or an empty list, as for Geth)."""
    values = [value] if isinstance(value, str) else value
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RpcError(INVALID_PARAMS, f"invalid {what} {value!r}")
    return frozenset(v.lower() for v in values) or None


class _LogIndex:
    """Every log of the chain in order, kept from the receipts of the transactions sent
    through the server (the only way in), to answer eth_getLogs with Geth's filter rules.

    eth-tester answers it by looking each receipt up with a scan back from the head:
    quadratic in the chain's length, over 10 s for 700 blocks, all of it holding the lock
    that every client waits on."""

    def __init__(self) -> None:
        self._logs: list[tuple[int, Mapping[str, Any]]] = []

    def add(self, receipt: Mapping[str, Any]) -> None:
        """Indexes the logs of a mined transaction's receipt (written for the wire)."""
        self._logs.extend((int(log["blockNumber"], 16), log) for log in receipt["logs"])

    def select(self, params: list[Any], head: int) -> list[Mapping[str, Any]]:
        """The logs matching eth_getLogs's one filter object."""
        if len(params) != 1 or not isinstance(params[0], dict):
            raise RpcError(INVALID_PARAMS, "eth_getLogs takes one filter object")
        criteria = params[0]
        block_hash = criteria.get("blockHash")
        if block_hash is not None and ("fromBlock" in criteria or "toBlock" in criteria):
            raise RpcError(INVALID_PARAMS, "blockHash excludes fromBlock and toBlock")
        first = _block_number(criteria.get("fromBlock"), head)
        last = _block_number(criteria.get("toBlock"), head)
        in_block = _accepted(block_hash, "blockHash")
        addresses = _accepted(criteria.get("address"), "address")
        topics = criteria.get("topics") or []
        if not isinstance(topics, list):
            raise RpcError(INVALID_PARAMS, f"invalid topics {topics!r}")
        wanted = [_accepted(t, "topic") for t in topics]
        return [
            log
            for number, log in self._logs
            if (first <= number <= last if in_block is None else log["blockHash"] in in_block)
            and (addresses is None or log["address"].lower() in addresses)
            and len(log["topics"]) >= len(wanted)
            and all(w is None or log["topics"][i] in w for i, w in enumerate(wanted))
        ]


class JsonRpcEndpoint:
    """JSON-RPC 2.0 over one EthereumTesterProvider, without the HTTP: parsing, batches,
    error codes and result encoding. Thread-safe: requests run one at a time."""

    def __init__(
        self, provider: EthereumTesterProvider, holds: Mapping[str, Account] | None = None
    ) -> None:
        # No web3 middleware of our own: only the provider's request and result formatting.
        w3 = Web3(provider, middleware=[])
        self._request = provider.request_func(w3, w3.middleware_onion)
        self._lock = threading.Lock()
        self._logs = _LogIndex()
        self._holds = {address.lower(): account for address, account in (holds or {}).items()}
        """The accounts this node signs messages for (`eth_sign`), by address."""

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
        except Exception as exc:  # a bug here or in eth-tester must not take the server down
            log.exception("JSON-RPC %s failed", method)
            reply = RpcError(INTERNAL_ERROR, f"internal error: {exc!r}").reply(request_id)
        return reply if "id" in message else None

    def call(self, method: str, params: list[Any]) -> Any:
        """The result of `method`, written for the wire; RpcError when it fails."""
        if method not in METHODS:
            raise RpcError(METHOD_NOT_FOUND, f"method {method!r} not found")
        with self._lock:
            if method == "eth_getLogs":
                return self._logs.select(params, int(self._forward("eth_blockNumber", []), 16))
            if method == "eth_sign":
                return self._sign(params)
            result = self._forward(method, params)
            if method in _SENDS:  # mined at once: eth-tester mines every transaction
                self._logs.add(self._forward("eth_getTransactionReceipt", [result]))
            return result

    def _sign(self, params: list[Any]) -> str:
        """`eth_sign` [address, data]: the data signed as an EIP-191 personal message by an
        account this node holds, as Geth and Hardhat sign for their unlocked accounts (the
        SECaaS's step references, `AgentRegistry.recordStep`)."""
        if len(params) != 2 or not all(isinstance(p, str) for p in params):
            raise RpcError(INVALID_PARAMS, "eth_sign takes an address and hex data")
        account = self._holds.get(params[0].lower())
        if account is None:
            raise RpcError(SERVER_ERROR, f"unknown account {params[0]}")
        try:
            data = bytes.fromhex(params[1].removeprefix("0x"))
        except ValueError as exc:
            raise RpcError(INVALID_PARAMS, f"invalid params: data is not hex: {exc}") from exc
        return "0x" + sign_personal(account.key, data).hex()

    def _forward(self, method: str, params: list[Any]) -> Any:
        """The provider's answer written for the wire, its failures as RpcError."""
        try:
            response = self._request(method, params)
        except TransactionFailed as exc:
            raise _revert(str(exc.args[0]) if exc.args else "") from exc
        except ContractLogicError as exc:  # panics, as eth-tester's web3 glue raises them
            raise RpcError(REVERTED, "execution reverted", exc.data) from exc
        except _BAD_PARAMS as exc:
            raise RpcError(INVALID_PARAMS, f"invalid params: {exc}") from exc
        except _REFUSED as exc:
            raise RpcError(SERVER_ERROR, str(exc)) from exc
        error = response.get("error")
        if error is not None:
            raise RpcError(int(error.get("code", SERVER_ERROR)), str(error.get("message")))
        return _wire(response.get("result"))


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
        if length is None:
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

    def do_GET(self) -> None:
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
        self, address: tuple[str, int], endpoint: JsonRpcEndpoint, tls: ssl.SSLContext | None
    ) -> None:
        self.endpoint = endpoint
        self.tls = tls
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


def memory_provider(mlfo: Account, secaas: Account) -> EthereumTesterProvider:
    """A fresh eth-tester chain whose genesis funds the MLFO and the SECaaS (once if they are
    one account)."""
    funded = [mlfo] if mlfo.address == secaas.address else [mlfo, secaas]
    state = generate_genesis_state_for_keys([keys.PrivateKey(a.key) for a in funded])
    return EthereumTesterProvider(EthereumTester(PyEVMBackend(genesis_state=state)))


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
    """A fresh in-process chain served over HTTP JSON-RPC at `url` while started.

    `port` 0 picks a free port. `start()` raises OSError when the address cannot be bound
    (port in use, no such host). The chain lives as long as the object: stopping and
    starting again serves the same ledger."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        cert_file: Path | None = None,
        key_file: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._tls = None if cert_file is None else _server_context(cert_file, key_file)
        self.mlfo, self.secaas = memory_accounts()
        holds = {self.mlfo.address: self.mlfo, self.secaas.address: self.secaas}
        self._endpoint = JsonRpcEndpoint(memory_provider(self.mlfo, self.secaas), holds)
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

    def connect(self, timeout_s: float = 10.0) -> Ledger:
        """A client of this server signing as the MLFO and the SECaaS with their keys."""
        return connect(
            self.url, mlfo_key=self.mlfo_key, secaas_key=self.secaas_key, timeout_s=timeout_s
        )

    def start(self) -> Self:
        """Binds and serves from a background thread; returns at once."""
        if self._httpd is not None:
            raise RuntimeError(f"ledger server already serving at {self.url}")
        self._httpd = _HttpServer((self.host, self.port), self._endpoint, self._tls)
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

"""The JSON-RPC client: how each node's errors read, and a node that is not one."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import eth_abi
import pytest

from secmas.ledger import rpcserver
from secmas.ledger.abi import contract_abi
from secmas.ledger.artifacts import load_artifact
from secmas.ledger.errors import LedgerUnavailable
from secmas.ledger.node import NodeRefused, NodeRevert
from secmas.ledger.rpcnode import JsonRpcNode, RpcFailure, revert_rule
from secmas.ledger.rpcserver import LedgerServer
from secmas.ledger.transactions import Transaction
from secmas.listenport import free_port
from secmas.transport.tls import issue_run_pki

REASON = "AgentRegistry: caller is not the MLFO"


def _error_string(reason: str) -> str:
    return "0x08c379a0" + eth_abi.encode(["string"], [reason]).hex()


@pytest.mark.parametrize(
    ("error", "rule"),
    [
        (
            {"code": 3, "message": f"execution reverted: {REASON}", "data": _error_string(REASON)},
            REASON,
        ),
        (  # Hardhat: the payload under data.data
            {
                "code": -32603,
                "message": "Error: VM Exception while processing transaction: "
                f"reverted with reason string '{REASON}'",
                "data": {"message": "...", "data": _error_string(REASON)},
            },
            REASON,
        ),
        ({"code": -32603, "message": f"reverted with reason string '{REASON}'"}, REASON),
        ({"code": 3, "message": "execution reverted"}, "execution reverted"),
        ({"code": -32000, "message": "nonce too low"}, None),
    ],
)
def test_each_nodes_revert_reads_as_the_contracts_rule(
    error: dict[str, object], rule: str | None
) -> None:
    assert revert_rule(RpcFailure(error)) == rule


class _NotANode(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b"<html>proxy error</html>"
        self.send_response(502)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def not_a_node() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _NotANode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_web_server_that_is_no_node_is_unavailable(not_a_node: str) -> None:
    with pytest.raises(LedgerUnavailable, match="HTTP 502: not JSON-RPC"):
        JsonRpcNode(not_a_node).chain_id()


def test_nothing_listening_is_unavailable() -> None:
    with pytest.raises(LedgerUnavailable, match="unavailable"):
        JsonRpcNode(f"http://127.0.0.1:{free_port()}", timeout_s=2).block_number()


def test_urls_other_than_http_are_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        JsonRpcNode("ftp://127.0.0.1:8545")


def test_a_served_chain_answers_and_reverts_through_the_client() -> None:
    with LedgerServer(port=0) as server:
        node = JsonRpcNode(server.url, token=server.token)
        assert node.chain_id() == 131277322940537 and node.block_number() == 0
        assert node.accounts() == []
        with pytest.raises(LedgerUnavailable, match=r"HTTP 401: .*bearer token"):
            JsonRpcNode(server.url).block_number()
        with pytest.raises(NodeRefused, match=r"(?i)invalid|decode|rlp"):
            node.submit(b"\x02\x00")
        abi = contract_abi("AuditAnchor")
        code = load_artifact("AuditAnchor").bytecode
        creation = Transaction(node.chain_id(), 0, 10**9, 10**11, 600_000, None, 0, code)
        deployed = node.submit(server.mlfo.sign_transaction(creation))
        anchor = str(deployed.contract_address)
        data = abi.encode("anchor", [b"\x01" * 32, 1, b"\x02" * 32])
        with pytest.raises(NodeRevert, match="AuditAnchor: caller is not the owner"):
            node.call(server.secaas.address, anchor, data)


@pytest.mark.parametrize("https", [False, True])
def test_a_keep_alive_the_node_closed_while_idle_is_reopened(
    https: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client idle longer than the node's keep-alive (a real-time run's agents between
    bring-up and their next attestation) finds its connection closed: over HTTPS that
    reads as an EOF in the TLS layer, not a reset, and is retried on a fresh one."""
    monkeypatch.setattr(rpcserver._Handler, "timeout", 0.2)
    tls = issue_run_pki(tmp_path / "pki", ["ledger"])["ledger"]
    files = {"cert_file": tls.cert_file, "key_file": tls.key_file} if https else {}
    with LedgerServer(port=0, **files) as server:  # type: ignore[arg-type]
        ca = tls.ca_file if https else None
        node = JsonRpcNode(server.url, ca_file=ca, token=server.token)
        assert node.block_number() == 0
        time.sleep(0.6)  # the node closed the idle connection meanwhile
        assert node.block_number() == 0

"""The in-process EVM over HTTP JSON-RPC: one ledger shared by clients that know nothing of
each other (separate connections, a separate process) but its token, reverts surfacing as
LedgerRevert as for any node, and JSON-RPC errors, never a crash, for whatever a client
sends. (Clients without the token, and signing for the server's accounts:
tests/security/test_ledger_access.py.)"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import eth_abi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.ledger.conftest import evidence

from secmas.ledger import (
    Account,
    AgentRegistration,
    Contracts,
    Ledger,
    LedgerError,
    LedgerRevert,
    LedgerUnavailable,
    RegistryClient,
    agent_id,
    connect,
    pipeline_id,
)
from secmas.ledger.rpcnode import LEDGER_TOKEN_ENV
from secmas.ledger.rpcserver import INTERNAL_ERROR, MAX_BODY_BYTES, METHOD_NOT_FOUND, LedgerServer
from secmas.ledger.transactions import Transaction
from secmas.transport.tls import issue_run_pki

PID = pipeline_id("pipeline-rpc")
FUNDING_WEI = 10**17
SUBPROCESS_TIMEOUT_S = 60


@pytest.fixture
def server() -> Iterator[LedgerServer]:
    with LedgerServer(port=0) as running:
        yield running


def post(
    server: LedgerServer, body: bytes, content_type: str = "application/json"
) -> tuple[int, Any]:
    """Status and decoded JSON body (None when empty) of a raw POST."""
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        headers = {"Content-Type": content_type, "Authorization": f"Bearer {server.token}"}
        connection.request("POST", "/", body, headers)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    return response.status, json.loads(payload) if payload else None


def request(method: str, params: Any) -> bytes:
    """The body of one request."""
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()


def rpc(server: LedgerServer, method: str, params: Any) -> Any:
    """The decoded response to one request."""
    status, reply = post(server, request(method, params))
    assert status == 200
    return reply


def reverting_creation(payload: bytes) -> str:
    """Init code that reverts with `payload`: CODECOPY it from behind the code, REVERT."""
    n = len(payload)
    code = bytes([0x60, n, 0x60, 0x0C, 0x60, 0x00, 0x39, 0x60, n, 0x60, 0x00, 0xFD])
    return "0x" + (code + payload).hex()


def first_step(
    operator: Ledger, contracts: Contracts, first: Account, second: Account
) -> RegistryClient:
    """Two funded agents in a plan, the first attested by the SECaaS: the second is
    measured next, by the first. Returns the registry as the SECaaS."""
    contracts.registry.register_agents(
        PID,
        [
            AgentRegistration(a.address, agent_id(f"agent-{i}"), os.urandom(32), os.urandom(32))
            for i, a in enumerate((first, second))
        ],
        funding_per_agent_wei=FUNDING_WEI,
    )
    contracts.registry.set_plans(PID, [[first, second]])[0]
    secaas = contracts.registry.as_(operator.secaas)
    secaas.record_initial(PID, first, evidence("nonce"), True, evidence("initial"))
    return secaas


def test_attestation_flow_across_separate_connections(server: LedgerServer) -> None:
    operator = server.connect()  # the MLFO and the SECaaS
    contracts = operator.deploy()
    agents_side = server.connect()  # another client: it only signs for the agents
    first, second = agents_side.new_account(), agents_side.new_account()
    secaas = first_step(operator, contracts, first, second)
    step = secaas.current_step(PID)
    assert step is not None and (step.verifier, step.measured) == (first.address, second.address)
    secaas.provide_reference(PID, step.index, b"sealed reference")

    seen = agents_side.attach(contracts.registry.address, contracts.secret_store.address)
    verifier = seen.registry.as_(first)
    reference = verifier.reference_for(PID)
    assert (reference.step, reference.measured) == (step.index, second.address)
    assert reference.sealed_reference == b"sealed reference"
    receipt = verifier.record_result(PID, step.index, reference.nonce, True, evidence("step 1"))

    assert contracts.registry.root_of_trust(PID) == second.address
    records = contracts.registry.records(PID)
    assert [r.tx_hash for r in records] == [records[0].tx_hash, receipt.tx_hash]
    assert {e.name for e in contracts.events(pipeline=PID)} >= {"AttestationRecorded"}

    # Reverts of a locally signed transaction and of a view call, from either client.
    with pytest.raises(LedgerRevert) as caught:
        verifier.record_result(PID, 2, evidence("nonce"), True, evidence("again"))
    assert (caught.value.contract, caught.value.function, caught.value.rule) == (
        "AgentRegistry",
        "recordResult",
        "AgentRegistry: caller is not the elected verifier",
    )
    with pytest.raises(LedgerRevert, match="AgentRegistry: caller is not the SECaaS"):
        contracts.registry.record_initial(PID, first, evidence("nonce"), True, evidence("x"))
    epoch = contracts.registry.key_epoch(PID)
    contracts.secret_store.push_secrets(PID, epoch, {first: b"key"})
    assert seen.secret_store.as_(first).fetch_secret(PID) == (epoch, b"key")
    with pytest.raises(LedgerRevert) as caught:
        seen.secret_store.as_(second).fetch_secret(PID)
    assert caught.value.rule == "SecretStore: no secret for caller in this epoch"
    # Nonces stay in step after the reverts.
    next_step = secaas.current_step(PID)
    assert next_step is not None
    secaas.provide_reference(PID, next_step.index, b"next")
    assert seen.registry.as_(second).reference_for(PID).sealed_reference == b"next"


def test_clients_without_keys_are_told_to_bring_them(server: LedgerServer) -> None:
    """The server holds no account to lend: a client names the MLFO's key or has none."""
    assert rpc(server, "eth_accounts", [])["result"] == []
    with pytest.raises(LedgerError, match="no unlocked accounts: pass mlfo_key"):
        connect(server.url, token=server.token)
    for method in ("eth_sign", "eth_sendTransaction", "personal_sign", "eth_signTransaction"):
        params = [server.secaas.address, "0x00"]
        assert rpc(server, method, params)["error"]["code"] == METHOD_NOT_FOUND, method


def test_parallel_clients_are_served_one_request_at_a_time(server: LedgerServer) -> None:
    operator = server.connect()
    deployers = [operator.new_account() for _ in range(8)]
    for deployer in deployers:  # each client deploys from an account of its own
        operator.chain.transact(
            operator.chain.sender(operator.mlfo), deployer.address, b"", gas=21_000,
            value=10**18, where=("test", "fund"),
        )  # fmt: skip

    def deploy(deployer: Account) -> str:
        keys = {"mlfo_key": deployer.key, "secaas_key": deployer.key}
        return connect(server.url, token=server.token, **keys).deploy().registry.address

    with ThreadPoolExecutor(4) as pool:
        addresses = list(pool.map(deploy, deployers))
    assert len(set(addresses)) == 8


def test_a_client_in_another_process(server: LedgerServer) -> None:
    operator = server.connect()
    contracts = operator.deploy()
    first, second = operator.new_account(), operator.new_account()
    secaas = first_step(operator, contracts, first, second)
    secaas.provide_reference(PID, 1, b"sealed reference")
    # The elected verifier, in its own process, knows the URL, the contracts and its key.
    script = textwrap.dedent(
        """
        import json, sys
        from secmas.ledger import Account, LedgerRevert, connect
        url, registry, store, key, pid = sys.argv[1:]
        agent = Account.from_key(key)
        contracts = connect(url, mlfo_key=key, secaas_key=key).attach(registry, store)
        view = contracts.registry.as_(agent)
        pid = bytes.fromhex(pid)
        reference = view.reference_for(pid)
        digest = bytes(range(32))
        receipt = view.record_result(pid, reference.step, reference.nonce, True, digest)
        try:
            view.record_result(pid, reference.step, reference.nonce, True, digest)
        except LedgerRevert as exc:
            rule = exc.rule
        print(json.dumps({"reference": reference.sealed_reference.decode(),
                          "tx": receipt.tx_hash, "rule": rule}))
        """
    )
    args = [server.url, contracts.registry.address, contracts.secret_store.address]
    args += [first.key_hex, PID.hex()]
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=os.environ | {LEDGER_TOKEN_ENV: server.token},  # as a run hands it to an agent
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["reference"] == "sealed reference"
    assert seen["rule"] == "AgentRegistry: caller is not the elected verifier"
    assert contracts.registry.root_of_trust(PID) == second.address
    assert contracts.registry.records(PID)[-1].tx_hash == seen["tx"]


@pytest.mark.parametrize(
    ("payload", "data"),
    [
        (
            bytes.fromhex("08c379a0") + eth_abi.encode(["string"], ["nope"]),
            "0x08c379a0" + eth_abi.encode(["string"], ["nope"]).hex(),
        ),
        (bytes.fromhex("4e487b71") + (0x11).to_bytes(32, "big"), None),
        (bytes.fromhex("deadbeef") + bytes(32), None),
        (b"", "0x"),
    ],
    ids=["Error(string)", "Panic", "custom error", "bare revert"],
)
def test_reverts_answer_code_3_with_the_payload(
    server: LedgerServer, payload: bytes, data: str | None
) -> None:
    call = {"from": server.mlfo.address, "data": reverting_creation(payload), "gas": "0x100000"}
    for method, params in (("eth_call", [call, "latest"]), ("eth_estimateGas", [call])):
        error = rpc(server, method, params)["error"]
        assert error["code"] == 3 and error["message"].startswith("execution reverted")
        assert error["data"] == (data or "0x" + payload.hex()), method


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"\xff\xfe", -32700),
        (b"[" * 100_000, -32700),
        (b'{"jsonrpc": "2.0", "id": NaN, "method": "eth_chainId"}', -32700),
        (b"[]", -32600),
        (b"42", -32600),
        (b'{"jsonrpc": "2.0", "id": 1}', -32600),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}', -32600),
        (b'{"jsonrpc": "2.0", "id": [1], "method": "eth_chainId"}', -32600),
        (request("eth_mine", []), -32601),
        (request("evm_revert", ["0x1"]), -32601),
        (request("eth_getBalance", {}), -32602),
        (request("eth_getBalance", ["0xzz", "latest"]), -32602),
        (request("eth_call", ["x", "latest"]), -32602),
        (request("eth_sendRawTransaction", ["0x"]), -32602),
        (request("eth_getLogs", [{"topics": 5}]), -32602),
        (request("eth_getLogs", [{"fromBlock": "soon"}]), -32602),
        (request("eth_getLogs", [{"blockHash": "0x00", "toBlock": "latest"}]), -32602),
    ],
)
def test_malformed_requests_get_json_rpc_errors(
    server: LedgerServer, body: bytes, code: int
) -> None:
    status, reply = post(server, body)
    assert status == 200 and reply["error"]["code"] == code, reply
    assert rpc(server, "eth_chainId", [])["result"].startswith("0x")  # still serving


def test_refused_transactions_are_server_errors(server: LedgerServer) -> None:
    to = bytes.fromhex(server.secaas.address[2:])
    tx = Transaction(131277322940537, 0, 10**9, 3 * 10**9, 21000, to, 1, b"")
    raw = "0x" + server.mlfo.sign_transaction(tx).hex()
    assert "result" in rpc(server, "eth_sendRawTransaction", [raw])
    error = rpc(server, "eth_sendRawTransaction", [raw])["error"]
    assert error["code"] == -32000 and "nonce" in error["message"]


def test_batches_and_notifications(server: LedgerServer) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "eth_chainId"},
        {"jsonrpc": "2.0", "method": "eth_blockNumber"},  # a notification: no answer
        {"jsonrpc": "2.0", "id": 7, "method": "no_such"},
        5,
    ]
    status, replies = post(server, json.dumps(batch).encode())
    assert status == 200
    assert [r["id"] for r in replies] == ["a", 7, None]
    assert replies[0]["result"] == hex(131277322940537)
    assert [r.get("error", {}).get("code") for r in replies] == [None, -32601, -32600]
    assert post(server, json.dumps(batch[1:2]).encode()) == (204, None)
    assert post(server, json.dumps(batch[1]).encode()) == (204, None)


def exchange(
    server: LedgerServer, method: str, headers: dict[str, str]
) -> tuple[http.client.HTTPResponse, bytes]:
    """A request with these headers and no body, and its response."""
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.putrequest(method, "/")
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        # Announced too big: refused before reading it, and the connection is closed.
        ("POST", {"Content-Length": str(MAX_BODY_BYTES + 1)}, 413),
        ("POST", {"Transfer-Encoding": "chunked"}, 411),
        ("POST", {"Content-Length": "-1"}, 411),
        ("POST", {"Content-Length": "²"}, 411),
        ("POST", {"Content-Length": "2", "Content-Type": "text/plain"}, 415),
        ("GET", {}, 405),
        # A wrong token, or none: refused before anything else.
        ("POST", {"Content-Length": "2", "Authorization": "Bearer wrong"}, 401),
        ("POST", {"Content-Length": "2", "Authorization": ""}, 401),
        ("GET", {"Authorization": "Basic d3Jvbmc="}, 401),
    ],
)
def test_http_level_refusals(
    server: LedgerServer, method: str, headers: dict[str, str], status: int
) -> None:
    shown = {"Content-Type": "application/json", "Authorization": f"Bearer {server.token}"}
    response, body = exchange(server, method, shown | headers)
    assert (response.status, response.getheader("Connection")) == (status, "close")
    assert json.loads(body)["error"]["code"] == -32600
    assert rpc(server, "eth_chainId", [])["result"].startswith("0x")


def test_get_logs_follows_the_filter_rules(server: LedgerServer) -> None:
    contracts = server.connect().deploy()
    registry = contracts.registry
    agent = server.connect().new_account()
    registry.register_agents(
        PID,
        [AgentRegistration(agent.address, agent_id("agent-0"), os.urandom(32), os.urandom(32))],
        funding_per_agent_wei=FUNDING_WEI,
    )
    receipt = registry.set_plans(PID, [[agent]])[0]
    logs = rpc(server, "eth_getLogs", [{"fromBlock": "earliest"}])["result"]
    assert logs and all(log["address"] == registry.address for log in logs)
    either = ["0x" + PID.hex(), "0x" + "00" * 32]
    by_pid = {"fromBlock": "0x0", "address": registry.address.lower(), "topics": [None, either]}
    assert rpc(server, "eth_getLogs", [by_pid])["result"] == logs
    by_pid["topics"] = [None, "0x" + "00" * 32]
    assert rpc(server, "eth_getLogs", [by_pid])["result"] == []
    block = hex(receipt.block)
    last = rpc(server, "eth_getLogs", [{"fromBlock": block, "toBlock": block}])["result"]
    assert {log["transactionHash"] for log in last} == {receipt.tx_hash}
    same = rpc(server, "eth_getLogs", [{"blockHash": last[0]["blockHash"]}])["result"]
    assert same == last
    assert rpc(server, "eth_getLogs", [{"fromBlock": "0x0", "address": [agent.address]}]) == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": [],
    }


def test_reads_of_blocks_transactions_state_and_history(server: LedgerServer) -> None:
    """What a block explorer or web3 asks: blocks, transactions and receipts by hash,
    balances and code at a past block, the fee and client queries, after a transfer the
    client signed."""
    contracts = server.connect().deploy()
    registry = contracts.registry.address
    nonce = int(rpc(server, "eth_getTransactionCount", [server.mlfo.address])["result"], 16)
    to = bytes.fromhex(server.secaas.address[2:])
    transfer = Transaction(131277322940537, nonce, 10**9, 10**11, 21000, to, 5, b"")
    raw = "0x" + server.mlfo.sign_transaction(transfer).hex()
    sent = rpc(server, "eth_sendRawTransaction", [raw])["result"]
    tx = rpc(server, "eth_getTransactionByHash", [sent])["result"]
    receipt = rpc(server, "eth_getTransactionReceipt", [sent])["result"]
    assert (tx["from"], tx["to"], tx["value"], tx["gas"]) == (
        server.mlfo.address,
        server.secaas.address,
        "0x5",
        "0x5208",  # a plain transfer's 21 000
    )
    assert receipt["blockHash"] == tx["blockHash"] and receipt["status"] == "0x1"
    head = int(rpc(server, "eth_blockNumber", [])["result"], 16)
    block = rpc(server, "eth_getBlockByNumber", [hex(head), True])["result"]
    assert [t["hash"] for t in block["transactions"]] == [sent]
    assert block["hash"] == tx["blockHash"] and int(block["baseFeePerGas"], 16) > 0
    assert rpc(server, "eth_getBlockByNumber", [hex(head + 1), False])["result"] is None
    before = hex(head - 1)
    balances = [
        int(rpc(server, "eth_getBalance", [server.secaas.address, at])["result"], 16)
        for at in (before, "latest")
    ]
    assert balances[1] - balances[0] == 5
    assert rpc(server, "eth_getCode", [registry, "0x0"])["result"] == "0x"
    assert len(rpc(server, "eth_getCode", [registry, "latest"])["result"]) > 1000
    unknown = "0x" + "ab" * 32
    assert rpc(server, "eth_getTransactionReceipt", [unknown])["result"] is None
    assert rpc(server, "net_version", [])["result"] == str(131277322940537)
    assert rpc(server, "web3_clientVersion", [])["result"].startswith("secmas/")
    price = int(rpc(server, "eth_gasPrice", [])["result"], 16)
    tip = int(rpc(server, "eth_maxPriorityFeePerGas", [])["result"], 16)
    assert price > tip > 0


def test_stop_closes_kept_alive_connections_and_frees_the_port() -> None:
    server = LedgerServer(port=0).start()
    ledger = server.connect(timeout_s=2)
    assert ledger.block_number() == 0
    server.stop()
    with pytest.raises(LedgerUnavailable):
        ledger.block_number()
    server.stop()  # idempotent
    with LedgerServer(port=server.port) as again:  # the port is free
        assert again.url == server.url


def test_https_with_the_runs_ca(tmp_path: Path) -> None:
    """The server speaks TLS with a certificate of its own CA; a client that checks it
    against that CA works, one that trusts only the system's CAs is refused, and a
    client that never completes a handshake holds up nobody."""
    tls = issue_run_pki(tmp_path / "pki", ["ledger"])["ledger"]
    with LedgerServer(port=0, cert_file=tls.cert_file, key_file=tls.key_file) as server:
        assert server.url.startswith("https://127.0.0.1:")
        with socket.create_connection((server.host, server.port)):  # silent, no handshake
            keys = {"mlfo_key": server.mlfo_key, "secaas_key": server.secaas_key}
            keys |= {"token": server.token}
            ledger = connect(server.url, ca_file=tls.ca_file, timeout_s=5, **keys)
            assert ledger.deploy().registry.address.startswith("0x")
        with pytest.raises(LedgerUnavailable, match="SSL"):
            connect(server.url, timeout_s=5, **keys).deploy()
    with pytest.raises(ValueError, match="ledger certificate"):
        LedgerServer(port=0, cert_file=tmp_path / "missing.pem", key_file=tls.key_file)


WORDS = ["0x", "0x0", "0x5208", "latest", "earliest", "0xzz", "-0x1", "0x" + "f" * 70]
SERVED = LedgerServer(port=0)
ADDRESSES = [SERVED.mlfo.address, SERVED.secaas.address, "0x" + "11" * 20]
KEYS = ["from", "to", "data", "value", "gas", "topics", "address", "fromBlock", "toBlock"]
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from(WORDS + ADDRESSES),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from([*KEYS, "blockHash", "input"]), inner, max_size=4)
    ),
    max_leaves=12,
)
"""JSON values, with the hex strings, tags, keys and accounts (the funded MLFO and SECaaS)
the methods read among them."""

ENDPOINT = SERVED._endpoint  # served without HTTP: the same answers


@settings(max_examples=300, deadline=None)
@given(method=st.sampled_from(ENDPOINT.methods), params=st.lists(JSON, max_size=3))
def test_any_params_get_a_result_or_a_json_rpc_error_never_an_internal_one(
    method: str, params: list[object]
) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    reply = json.loads(ENDPOINT.answer(body.encode()) or b"null")
    assert "result" in reply or reply["error"]["code"] != INTERNAL_ERROR, reply

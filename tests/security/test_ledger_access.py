"""Attacks on the ledger a run serves: with curl alone, anyone who reached its port moved
the MLFO's money and had the server sign as the SECaaS (its keys were the well-known test
keys 1 and 2, and the server signed for them).

A served ledger answers only a client that shows the run's bearer token; even that
client gets no signature for an account the server holds (it submits transactions it
signed itself); and every chain a run creates has MLFO and SECaaS keys of its own."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.ledgerserve import ledger_serve

from secmas.ledger.accounts import Account
from secmas.ledger.connection import connect
from secmas.ledger.rpcnode import LEDGER_TOKEN_ENV
from secmas.ledger.rpcserver import LedgerServer
from secmas.ledger.transactions import Transaction
from secmas.pipeline.iml import AgentLaunch
from secmas.pipeline.processes import RunServers
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")
WELL_KNOWN = {Account.from_key((n).to_bytes(32, "big")).address for n in (1, 2)}
METHODS = [
    ("eth_blockNumber", []),
    ("eth_accounts", []),
    ("eth_getBalance", ["0x" + "11" * 20, "latest"]),
    ("eth_sendRawTransaction", ["0x02"]),
    ("eth_sendTransaction", [{"from": "0x" + "11" * 20, "to": "0x" + "22" * 20}]),
    ("eth_sign", ["0x" + "11" * 20, "0x00"]),
    ("eth_getLogs", [{}]),
]


def post(
    url: str, method: str, params: list[Any], *, token: str | None = None, ca: Path | None = None
) -> tuple[int, Any]:
    """A plain JSON-RPC POST, as curl sends it: the status and the decoded body."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    context = None if ca is None else ssl.create_default_context(cafile=str(ca))
    request = urllib.request.Request(url, body, headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as refused:
        return refused.code, None


@pytest.fixture
def run_ledger(tmp_path: Path) -> Iterator[tuple[LedgerServer, Path]]:
    """The ledger a `--processes` run serves its agents (HTTPS with the run's CA)."""
    servers = RunServers(tmp_path, SCENARIO)
    server = servers.start_ledger()
    assert servers.ledger_ca is not None
    try:
        yield server, servers.ledger_ca
    finally:
        servers.stop()


@pytest.mark.parametrize(("method", "params"), METHODS)
def test_a_runs_ledger_refuses_a_client_without_the_token(
    run_ledger: tuple[LedgerServer, Path], method: str, params: list[Any]
) -> None:
    server, ca = run_ledger
    status, _ = post(server.url, method, params, ca=ca)
    assert status in (401, 403), f"{method} answered with {status}"
    status, _ = post(server.url, method, params, token="not-the-token", ca=ca)
    assert status in (401, 403), f"{method} with a wrong token answered with {status}"


def test_ledger_serve_refuses_a_client_without_the_token(tmp_path: Path) -> None:
    """`secmas ledger serve` as a user starts it; every method is refused to curl."""
    with ledger_serve(tmp_path) as served:
        for method, params in METHODS:
            status, _ = post(served.url, method, params)
            assert status in (401, 403), f"{method} answered with {status}"


def test_the_server_signs_for_no_account_it_holds(run_ledger: tuple[LedgerServer, Path]) -> None:
    """Even with the token, the server lends none of its accounts: no message or
    transaction signed for the MLFO or the SECaaS; a transaction the client signed itself
    is accepted."""
    server, ca = run_ledger
    token = server.token
    stranger = Account.create().address
    for holder in (server.mlfo.address, server.secaas.address):
        for method, params in [
            ("eth_sign", [holder, "0x" + b"step reference".hex()]),
            ("personal_sign", ["0x" + b"step reference".hex(), holder]),
            ("eth_signTransaction", [{"from": holder, "to": stranger, "value": "0x1"}]),
            ("eth_sendTransaction", [{"from": holder, "to": stranger, "value": hex(10**18)}]),
        ]:
            status, reply = post(server.url, method, params, token=token, ca=ca)
            assert status == 200 and "error" in reply and "result" not in reply, (method, reply)
    assert post(server.url, "eth_accounts", [], token=token, ca=ca)[1]["result"] == []
    keys = {"mlfo_key": server.mlfo_key, "secaas_key": server.secaas_key}
    ledger = connect(server.url, ca_file=ca, **keys, token=token)
    assert ledger.balance(stranger) == 0
    fees = ledger.chain.fees()
    signed = server.mlfo.sign_transaction(
        Transaction(
            chain_id=ledger.chain.chain_id,
            nonce=0,
            max_priority_fee=fees.max_priority_fee,
            max_fee=fees.max_fee,
            gas=21_000,
            to=bytes.fromhex(stranger[2:]),
            value=1,
            data=b"",
        )
    )
    status, reply = post(
        server.url, "eth_sendRawTransaction", ["0x" + signed.hex()], token=token, ca=ca
    )
    assert status == 200 and "result" in reply, reply


def test_no_chain_of_a_run_has_the_well_known_keys(tmp_path: Path) -> None:
    """The in-process chain (`secmas demo`, `secmas run`) and the served one
    (`--processes`, `secmas ledger serve`): their MLFO and SECaaS are nobody's test keys,
    and two runs' are not the same."""
    seen: set[str] = set()
    for _ in range(2):
        ledger = connect(None)
        server = LedgerServer(port=0)
        for account in (ledger.mlfo, ledger.secaas, server.mlfo, server.secaas):
            address = str(getattr(account, "address", account))
            assert address not in WELL_KNOWN, address
            assert address not in seen, f"{address} again in another run"
            seen.add(address)


def test_the_token_goes_to_an_agent_in_its_environment_never_on_its_command_line() -> None:
    launch = AgentLaunch("pop1", Path("s.yaml"), "tls://127.0.0.1:4222", "p", ledger_token="t0k")
    assert launch.env()[LEDGER_TOKEN_ENV] == "t0k"
    assert "t0k" not in " ".join(launch.argv()) and "t0k" not in repr(launch)

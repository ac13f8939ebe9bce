"""The in-process node charges what a real one does: the same transactions, from the same
keys, cost the same gas on it as on Hardhat, for every function of every contract.

Steps carry the nonce the registry drew from the block's hash and prevrandao, which differ
from chain to chain: those calldata bytes differ, so gas is compared net of calldata (4 gas
a zero byte, 16 another, EIP-2028, the same rule on both), and the SECaaS's signature over
it is drawn until it takes the same branch on both."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

from secmas.ledger import AgentRegistration, Ledger, agent_id, connect, pipeline_id
from secmas.ledger.accounts import Account
from secmas.ledger.artifacts import CONTRACT_NAMES, load_artifact
from secmas.ledger.gas import function_name
from secmas.ledger.registry import Initial, RegistryClient, StepInfo
from secmas.ledger.reputation import PeerTally

MLFO_KEY = (0xA11CE).to_bytes(32, "big")
SECAAS_KEY = (0x5ECAA5).to_bytes(32, "big")
AGENT_KEYS = [(0xA6E00 + i).to_bytes(32, "big") for i in range(3)]
FUNDS_WEI = 10**21


def _fixed(label: str) -> bytes:
    """32 bytes of no zero byte: calldata costs 4 gas per zero byte, 16 per other."""
    return (label.encode() * 32)[:32]


def every_function(ledger: Ledger) -> list[tuple[str, int]]:
    """Calls each state-changing function of the four contracts at least once, in one
    fixed order from fixed keys; (function, gas used net of calldata) for each transaction."""
    contracts = ledger.deploy()
    registry, store = contracts.registry, contracts.secret_store
    pid = pipeline_id("gas")
    agents = [Account.from_key(k) for k in AGENT_KEYS]
    registry.register_agents(
        pid,
        [
            AgentRegistration(a.address, agent_id(f"a{i}"), _fixed(f"s{i}"), _fixed(f"k{i}"))
            for i, a in enumerate(agents)
        ],
        funding_per_agent_wei=10**17,
    )
    registry.set_plans(pid, [agents])[0]
    secaas = registry.as_(ledger.secaas)
    secaas.record_initial(pid, agents[0], _fixed("nonce"), True, _fixed("initial"))
    for index, verdict in enumerate((True, True)):
        step = secaas.current_step(pid)
        assert step is not None
        secaas.provide_reference(pid, step.index, b"sealed reference" * 4)
        verifier = registry.as_(next(a for a in agents if a.address == step.verifier))
        nonce = verifier.reference_for(pid).nonce
        verifier.record_result(pid, step.index, nonce, verdict, _fixed(f"step{index}"))
    step = secaas.current_step(pid)
    assert step is not None
    sealed, signature = _even_signature(secaas, pid, step)
    verifier = registry.as_(next(a for a in agents if a.address == step.verifier))
    verifier.record_step(pid, step.index, step.nonce, True, _fixed("step"), sealed, signature)
    store.push_secrets(pid, 1, {a: b"sealed secret" * 6 for a in agents})
    reputation = ledger.deploy_reputation(registry.address)
    reputation.as_(agents[0]).report(pid, [PeerTally(agents[1].address, 2, 1)])
    ledger.deploy_audit_anchor().anchor(_fixed("log"), 7, _fixed("head"))
    registry.revoke(pid, agents[2])
    registry.open_step(pid)
    secaas.record_initials(
        pid,
        [
            Initial(agents[1], _fixed("again1"), True, _fixed("seen1")),
            Initial(agents[0], _fixed("again0"), False, _fixed("seen0")),
        ],
    )
    sent = ledger.chain.sent_by(
        frozenset({ledger.mlfo.address, ledger.secaas.address, *(a.address for a in agents)}), 0
    )
    return [(function_name(tx), tx.gas_used - calldata_gas(tx.data)) for tx in sent]


def calldata_gas(data: bytes) -> int:
    """EIP-2028: 4 gas per zero byte of calldata, 16 per other byte."""
    zeros = data.count(0)
    return 4 * zeros + 16 * (len(data) - zeros)


def _even_signature(secaas: RegistryClient, pid: bytes, step: StepInfo) -> tuple[bytes, bytes]:
    """A reference whose SECaaS signature has recovery id 27: the registry checks the id
    with a short-circuit, so the other one costs 20 gas more (by design, on any chain)."""
    for extra in range(64):
        sealed = b"sealed reference" * 4 + bytes([extra])
        signature = secaas.sign_reference(pid, step, sealed)
        if signature[64] in (0, 27):
            return sealed, signature
    raise AssertionError("64 signatures in a row with recovery id 28")


def _rpc(url: str, method: str, *params: object) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["result"]


def _funded(url: str) -> Callable[[], Ledger]:
    def ledger() -> Ledger:
        for key in (MLFO_KEY, SECAAS_KEY):
            _rpc(url, "hardhat_setBalance", Account.from_key(key).address, hex(FUNDS_WEI))
        return connect(url, mlfo_key=MLFO_KEY, secaas_key=SECAAS_KEY)

    return ledger


def test_every_contract_function_costs_the_same_gas_as_on_hardhat(hardhat_url: str) -> None:
    here = every_function(connect(None, mlfo_key=MLFO_KEY, secaas_key=SECAAS_KEY))
    there = every_function(_funded(hardhat_url)())
    assert here == there
    called = {name for name, _ in here}
    for contract in CONTRACT_NAMES:
        transacting = {
            f"{contract}.{entry['name']}"
            for entry in load_artifact(contract).abi
            if entry["type"] == "function" and entry["stateMutability"] not in ("view", "pure")
        }
        assert {f"{contract}.constructor", *transacting} <= called

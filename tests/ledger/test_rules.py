"""Every access rule of both contracts reverts with LedgerRevert naming the rule."""

from __future__ import annotations

import os

import pytest
from tests.ledger.conftest import Pipeline, build_pipeline, evidence

from secmas.ledger import (
    AgentRegistration,
    Contracts,
    Ledger,
    LedgerRevert,
    LedgerUnavailable,
    TransactionRejected,
    agent_id,
    connect,
)
from secmas.ledger.abi import contract_abi
from secmas.ledger.artifacts import load_artifact


def _registration(ledger: Ledger, name: str = "extra") -> AgentRegistration:
    return AgentRegistration(
        ledger.new_account().address, agent_id(name), os.urandom(32), os.urandom(32)
    )


def test_revert_names_contract_function_and_rule(pipeline3: Pipeline) -> None:
    intruder = pipeline3.members[0].registry
    with pytest.raises(LedgerRevert) as caught:
        intruder.register_agents(
            pipeline3.pid, [_registration(pipeline3.ledger)], funding_per_agent_wei=0
        )
    error = caught.value
    assert (error.contract, error.function) == ("AgentRegistry", "registerAgents")
    assert error.rule == "AgentRegistry: caller is not the MLFO"
    assert str(error) == (
        "AgentRegistry.registerAgents reverted: AgentRegistry: caller is not the MLFO"
    )


def test_only_the_mlfo_manages_agents_and_plans(pipeline3: Pipeline) -> None:
    p, agent = pipeline3, pipeline3.members[0].registry
    for secaas_or_agent in (p.secaas, agent):
        with pytest.raises(LedgerRevert, match="caller is not the MLFO"):
            secaas_or_agent.revoke(p.pid, p.members[1].account)
        with pytest.raises(LedgerRevert, match="caller is not the MLFO"):
            secaas_or_agent.set_plans(p.pid, [[m.account for m in p.members]])[0]
    with pytest.raises(LedgerRevert, match="caller is not the MLFO or the SECaaS"):
        agent.open_step(p.pid)
    with pytest.raises(LedgerRevert, match="SecretStore: caller is not the MLFO"):
        p.members[0].store.push_secrets(p.pid, 1, {p.members[0].account: b"x"})


def test_only_the_secaas_attests_initially_and_provides_references(pipeline3: Pipeline) -> None:
    p = pipeline3
    for caller in (p.mlfo, p.members[0].registry):
        with pytest.raises(LedgerRevert) as caught:
            caller.record_initial(
                p.pid, p.members[0].account, evidence("nonce"), True, evidence("x")
            )
        assert caught.value.rule == "AgentRegistry: caller is not the SECaaS"
    p.bootstrap()
    with pytest.raises(LedgerRevert, match="AgentRegistry: caller is not the SECaaS"):
        p.mlfo.provide_reference(p.pid, 1, b"ref")


def test_registration_rules(pipeline3: Pipeline) -> None:
    p = pipeline3
    again = AgentRegistration(p.members[0].address, agent_id("dup"), bytes(32), bytes(32))
    with pytest.raises(LedgerRevert, match="AgentRegistry: agent already registered"):
        p.mlfo.register_agents(p.pid, [again])
    twice = _registration(p.ledger)
    with pytest.raises(LedgerRevert, match="AgentRegistry: agent already registered"):
        p.mlfo.register_agents(p.pid, [twice, twice])
    stranger = p.ledger.new_account()
    with pytest.raises(LedgerRevert, match="AgentRegistry: agent not registered"):
        p.mlfo.set_plans(p.pid, [[p.members[0].account, stranger]])[0]
    with pytest.raises(LedgerRevert, match="AgentRegistry: agent not registered"):
        p.secaas.record_initial(p.pid, stranger, evidence("nonce"), True, evidence("x"))
    with pytest.raises(ValueError, match="32 bytes"):
        AgentRegistration(stranger.address, b"short", bytes(32), bytes(32))


def test_an_unregistered_account_cannot_record(ledger: Ledger, contracts: Contracts) -> None:
    p = build_pipeline(ledger, contracts, 3)
    # Registered (and so funded) in another pipeline only.
    other = build_pipeline(ledger, contracts, 1, "pipeline-2").members[0]
    p.bootstrap()
    with pytest.raises(LedgerRevert) as caught:
        other.registry.record_result(p.pid, 1, evidence("nonce"), True, evidence("x"))
    assert caught.value.rule == "AgentRegistry: agent not registered"


def test_only_the_elected_verifier_reads_and_records(pipeline3: Pipeline) -> None:
    p = pipeline3
    a0, _, a2 = p.members
    p.bootstrap()
    with pytest.raises(LedgerRevert, match="AgentRegistry: reference not provided"):
        a0.registry.reference_for(p.pid)
    with pytest.raises(LedgerRevert, match="AgentRegistry: reference not provided"):
        a0.registry.record_result(p.pid, 1, evidence("nonce"), True, evidence("x"))
    p.attest()  # a0 verified a1; a1 now verifies a2
    p.secaas.provide_reference(p.pid, 2, b"ref")
    # a0 is trusted but not elected; a2 is not trusted yet.
    with pytest.raises(LedgerRevert) as caught:
        a0.registry.record_result(p.pid, 2, evidence("nonce"), True, evidence("x"))
    assert (caught.value.function, caught.value.rule) == (
        "recordResult",
        "AgentRegistry: caller is not the elected verifier",
    )
    with pytest.raises(LedgerRevert, match="AgentRegistry: caller not trusted"):
        a2.registry.record_result(p.pid, 2, evidence("nonce"), True, evidence("x"))
    with pytest.raises(LedgerRevert) as caught:
        a0.registry.reference_for(p.pid)
    assert (caught.value.function, caught.value.rule) == (
        "referenceFor",
        "AgentRegistry: caller is not the elected verifier",
    )


def test_step_index_must_match(pipeline3: Pipeline) -> None:
    p = pipeline3
    p.bootstrap()
    with pytest.raises(LedgerRevert, match="AgentRegistry: wrong step index"):
        p.secaas.provide_reference(p.pid, 2, b"ref")
    p.secaas.provide_reference(p.pid, 1, b"ref")
    with pytest.raises(LedgerRevert, match="AgentRegistry: reference already provided"):
        p.secaas.provide_reference(p.pid, 1, b"other")
    with pytest.raises(LedgerRevert, match="AgentRegistry: wrong step index"):
        p.members[0].registry.record_result(p.pid, 7, evidence("nonce"), True, evidence("x"))


def test_a_failed_agent_never_becomes_root_of_trust(pipeline3: Pipeline) -> None:
    p = pipeline3
    a0, a1, a2 = p.members
    p.bootstrap()
    p.attest(passed=False)  # a1 failed
    assert p.mlfo.root_of_trust(p.pid) == a0.address
    p.attest(passed=True)  # a0 verifies a2: a2 becomes RoT
    assert p.mlfo.root_of_trust(p.pid) == a2.address
    step = p.mlfo.current_step(p.pid)
    assert step is not None and (step.verifier, step.measured) == (a2.address, a0.address)
    p.attest(passed=True)  # back to a0
    step = p.mlfo.current_step(p.pid)
    assert step is not None and step.measured == a1.address
    p.secaas.provide_reference(p.pid, step.index, b"ref")
    with pytest.raises(LedgerRevert, match="AgentRegistry: caller not trusted"):
        a1.registry.record_result(p.pid, step.index, evidence("nonce"), True, evidence("x"))
    assert all(r.new_root != a1.address for r in p.mlfo.records(p.pid))


def test_secrets_are_served_to_trusted_agents_only(pipeline3: Pipeline) -> None:
    p = pipeline3
    a0, a1, a2 = p.members
    store = p.contracts.secret_store
    p.bootstrap()
    p.attest(passed=False)  # a1 untrusted
    with pytest.raises(LedgerRevert, match="SecretStore: agent not trusted"):
        store.push_secrets(p.pid, 1, {a1.account: b"k1"})
    with pytest.raises(LedgerRevert, match="SecretStore: wrong key epoch"):
        store.push_secrets(p.pid, 2, {a0.account: b"k0"})
    store.push_secrets(p.pid, 1, {a0.account: b"k0"})
    assert a0.store.fetch_secret(p.pid) == (1, b"k0")
    with pytest.raises(LedgerRevert) as caught:
        a1.store.fetch_secret(p.pid)
    assert (caught.value.contract, caught.value.function, caught.value.rule) == (
        "SecretStore",
        "fetchSecret",
        "SecretStore: caller not trusted",
    )
    p.mlfo.revoke(p.pid, a0.account)
    with pytest.raises(LedgerRevert, match="SecretStore: caller not trusted"):
        a0.store.fetch_secret(p.pid)
    with pytest.raises(LedgerRevert, match="SecretStore: agent revoked"):
        store.push_secrets(p.pid, 2, {a0.account: b"k0"})
    with pytest.raises(LedgerRevert, match="SecretStore: agent not registered"):
        store.push_secrets(p.pid, 2, {p.ledger.new_account(): b"k"})
    assert a2.registry.is_active(p.pid, a2.address)


def test_revocation_starts_a_key_epoch_without_old_secrets(pipeline3: Pipeline) -> None:
    p = pipeline3
    a0, a1, a2 = p.members
    p.bootstrap()
    p.attest()
    p.attest()
    p.contracts.secret_store.push_secrets(p.pid, 1, {m.account: b"epoch-1" for m in p.members})
    receipt = p.mlfo.revoke(p.pid, a0.account)
    assert [(e.name, dict(e.args)) for e in receipt.events[:2]] == [
        ("AgentRevoked", {"pipeline": p.pid, "account": a0.address}),
        ("KeyEpochStarted", {"pipeline": p.pid, "epoch": 2}),
    ]
    # a0 was being measured by a2: that step ends and a2 measures a1 instead.
    assert [e.name for e in receipt.events[2:]] == ["StepClosed", "StepOpened"]
    step = p.mlfo.current_step(p.pid)
    assert step is not None and (step.verifier, step.measured) == (a2.address, a1.address)
    info = p.mlfo.agent(p.pid, a0.account)
    assert (info.revoked, info.trusted) == (True, False)
    assert not p.mlfo.is_active(p.pid, a0.address)
    with pytest.raises(LedgerRevert) as caught:
        a1.store.fetch_secret(p.pid)
    assert caught.value.rule == "SecretStore: no secret for caller in this epoch"
    p.contracts.secret_store.push_secrets(p.pid, 2, {a1.account: b"epoch-2", a2.account: b"e2"})
    assert a1.store.fetch_secret(p.pid) == (2, b"epoch-2")
    with pytest.raises(LedgerRevert, match="AgentRegistry: agent revoked"):
        p.mlfo.revoke(p.pid, a0.account)
    with pytest.raises(LedgerRevert, match="AgentRegistry: agent revoked"):
        p.mlfo.set_plans(p.pid, [[a0.account, a1.account]])[0]


def test_revoking_the_root_of_trust_closes_the_step(pipeline3: Pipeline) -> None:
    p = pipeline3
    a0, a1, a2 = p.members
    p.bootstrap()
    p.attest()  # RoT a1, a1 to verify a2
    receipt = p.mlfo.revoke(p.pid, a1.account)
    assert [e.name for e in receipt.events] == ["AgentRevoked", "KeyEpochStarted", "StepClosed"]
    assert p.mlfo.root_of_trust(p.pid) is None
    assert p.mlfo.current_step(p.pid) is None
    with pytest.raises(LedgerRevert, match="AgentRegistry: no root of trust"):
        p.secaas.open_step(p.pid)
    with pytest.raises(LedgerRevert, match="AgentRegistry: no open step"):
        p.secaas.provide_reference(p.pid, 2, b"ref")
    with pytest.raises(LedgerRevert, match="AgentRegistry: agent revoked"):
        a1.registry.record_result(p.pid, 2, evidence("nonce"), True, evidence("x"))
    p.secaas.record_initial(p.pid, a2.account, evidence("nonce"), True, evidence("again"))
    step = p.mlfo.current_step(p.pid)
    # a1 is revoked, so a2 verifies a0 (skipping itself and a1).
    assert step is not None and (step.verifier, step.measured) == (a2.address, a0.address)


def test_revoking_the_measured_agent_moves_the_step_on(pipeline3: Pipeline) -> None:
    p = pipeline3
    a0, a1, a2 = p.members
    p.bootstrap()
    receipt = p.mlfo.revoke(p.pid, a1.account)
    assert [e.name for e in receipt.events][-2:] == ["StepClosed", "StepOpened"]
    step = p.mlfo.current_step(p.pid)
    assert step is not None and (step.index, step.measured) == (2, a2.address)
    p.mlfo.open_step(p.pid)
    step = p.mlfo.current_step(p.pid)
    assert step is not None
    assert (step.index, step.verifier, step.measured) == (3, a0.address, a2.address)


def test_the_secret_store_belongs_to_the_registry_owner(pipeline3: Pipeline) -> None:
    p = pipeline3
    deployer = p.ledger.chain.sender(p.members[0].account)
    code = contract_abi("SecretStore").constructor_data(
        load_artifact("SecretStore").bytecode, [p.contracts.registry.address]
    )
    with pytest.raises(LedgerRevert) as caught:
        p.ledger.chain.transact(
            deployer, None, code, gas=1_500_000, where=("SecretStore", "constructor")
        )
    assert caught.value.rule == "SecretStore: deployer is not the MLFO"


def test_unfunded_sender_is_rejected_not_reverted(contracts: Contracts, ledger: Ledger) -> None:
    pauper = contracts.registry.as_(ledger.new_account())
    with pytest.raises(TransactionRejected) as caught:
        pauper.open_step(bytes(32))
    assert (caught.value.contract, caught.value.function) == ("AgentRegistry", "openStep")


def test_unreachable_node_is_reported_with_its_url() -> None:
    with pytest.raises(LedgerUnavailable) as caught:
        connect("http://127.0.0.1:9", timeout_s=1.0)
    assert caught.value.url == "http://127.0.0.1:9"
    assert "127.0.0.1:9" in str(caught.value)


def test_a_transaction_out_of_gas_says_so(pipeline3: Pipeline) -> None:
    p = pipeline3
    data = contract_abi("AgentRegistry").encode("setPlans", [p.pid, 1, 0, [[p.members[0].address]]])
    mlfo = p.ledger.chain.sender(p.ledger.mlfo)
    with pytest.raises(LedgerRevert) as caught:
        p.ledger.chain.transact(
            mlfo, p.mlfo.address, data, gas=23_000, where=("AgentRegistry", "setPlans")
        )
    assert caught.value.rule == "out of gas (gas limit 23000)"
    p.mlfo.set_plans(p.pid, [[p.members[0].account]])[0]  # the nonce stayed in step

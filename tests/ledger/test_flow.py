"""The attestation chain on the in-process EVM: registration, rotating root of trust,
records, events, secrets; and a 50-agent round."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.ledger.conftest import (
    FUNDING_WEI,
    Pipeline,
    build_pipeline,
    evidence,
    register_fresh,
)

from secmas.ledger import Contracts, Ledger, connect, id_name, pipeline_id, registry
from secmas.ledger.node import BLOCK_GAS_LIMIT


def test_registration_funds_agents_and_leaves_them_untrusted(pipeline3: Pipeline) -> None:
    p = pipeline3
    assert p.mlfo.owner() == p.ledger.mlfo.address
    assert p.mlfo.secaas() == p.ledger.secaas.address
    assert p.mlfo.members(p.pid) == [m.address for m in p.members]
    assert p.mlfo.plan(p.pid) == [m.address for m in p.members]
    assert p.mlfo.key_epoch(p.pid) == 1
    assert p.mlfo.root_of_trust(p.pid) is None
    assert p.mlfo.current_step(p.pid) is None
    for m in p.members:
        info = p.mlfo.agent(p.pid, m.account)
        assert (info.registered, info.revoked, info.trusted) == (True, False, False)
        assert info.name == m.name
        assert len(info.signing_key) == len(info.sealing_key) == 32
        assert p.mlfo.is_active(p.pid, m.address)
        assert not p.mlfo.is_trusted(p.pid, m.address)
        assert p.ledger.balance(m.account) == FUNDING_WEI
    stranger = p.ledger.new_account()
    assert not p.mlfo.agent(p.pid, stranger).registered


def test_members_are_read_page_by_page_with_their_entries(
    pipeline3: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pipeline3
    p.mlfo.revoke(p.pid, p.members[1].account)
    one_by_one = [p.mlfo.agent(p.pid, a) for a in p.mlfo.members(p.pid)]
    for page in (1, 2, 3, 256):
        monkeypatch.setattr(registry, "MEMBER_PAGE", page)
        assert p.mlfo.member_infos(p.pid) == one_by_one
    assert [i.revoked for i in one_by_one] == [False, True, False]
    assert p.mlfo.member_infos(pipeline_id("nobody")) == []


def test_every_reader_of_the_same_members_gets_the_same_shaped_pages(
    pipeline3: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Agents in one process read the same answer; each page is shaped once for them all,
    and a change on chain is a new answer, shaped afresh."""
    p = pipeline3
    monkeypatch.setattr(registry, "MEMBER_PAGE", 2)
    agent = p.mlfo.as_(p.members[0].account)
    first = p.mlfo.member_pages(p.pid, tuple)
    again = agent.member_pages(p.pid, tuple)
    assert [len(page) for page in first] == [2, 1]
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert agent.member_pages(p.pid, registry.trusted_accounts) == [frozenset(), frozenset()]
    p.bootstrap()
    after = agent.member_pages(p.pid, registry.trusted_accounts)
    assert after == [frozenset({p.members[0].address}), frozenset()]


def test_plans_cost_what_the_client_allows_and_large_ones_take_several_blocks(
    ledger: Ledger, contracts: Contracts
) -> None:
    pid = pipeline_id("pipeline-200")
    accounts = register_fresh(ledger, contracts, pid, 200)
    (one,) = contracts.registry.set_plans(pid, [accounts])  # 200 storage slots written anew
    assert one.gas_used <= registry._plans_gas([200], 0, 1)
    assert one.gas_used > 0.9 * registry._plans_gas([200], 0, 1) - registry._GAS_ELECTING
    pairs = [accounts[i : i + 2] for i in range(0, 200, 2)]
    (split,) = contracts.registry.set_plans(pid, pairs)
    bound = registry._plans_gas([2] * 100, 0, 100)
    assert split.gas_used <= bound and split.gas_used > 0.8 * (bound - registry._GAS_ELECTING)
    assert contracts.registry.group_count(pid) == 100
    assert contracts.registry.group_of(pid, accounts[3]) == 1
    assert contracts.registry.plan(pid, 99) == [a.address for a in accounts[198:]]
    assert registry.most_per_plan(0) > 1000 and registry.most_per_plan(1) > 500
    with pytest.raises(ValueError, match=f"at most {registry.most_per_plan(0)} in group 0"):
        contracts.registry.set_plans(pid, [accounts * 6])


def test_plans_are_batched_to_fit_blocks() -> None:
    """1,000 agents in 500 groups of two: 500 × (2 × 50 k + 40 k) = 70 M gas, three blocks."""
    batches = registry.plan_batches([2] * 500)
    assert batches[0][0] == 0 and batches[-1][1] == 500
    assert all(a[1] == b[0] for a, b in pairwise(batches))
    assert len(batches) == 3
    assert all(
        registry._plans_gas([2] * 500, first, end) <= BLOCK_GAS_LIMIT for first, end in batches
    )
    with pytest.raises(ValueError, match="group 1 has an empty plan"):
        registry.plan_batches([2, 0])
    with pytest.raises(ValueError, match="no attestation plan"):
        registry.plan_batches([])


def test_root_of_trust_rotates_along_the_plan(pipeline3: Pipeline) -> None:
    p = pipeline3
    a0, a1, a2 = (m.address for m in p.members)
    start = p.ledger.block_number() + 1
    receipt = p.bootstrap()
    assert [e.name for e in receipt.events] == ["AttestationRecorded", "StepOpened"]
    assert p.mlfo.root_of_trust(p.pid) == a0
    step = p.mlfo.current_step(p.pid)
    assert step is not None
    assert (step.index, step.verifier, step.measured, step.reference_provided) == (1, a0, a1, False)

    step1, receipt1 = p.attest()
    assert p.mlfo.root_of_trust(p.pid) == a1
    opened = [e for e in receipt1.events if e.name == "StepOpened"]
    assert opened[0].args == {
        "pipeline": p.pid,
        "group": 0,
        "step": 2,
        "verifier": a1,
        "measured": a2,
        "guest": False,
    }
    step2, receipt2 = p.attest()
    assert p.mlfo.root_of_trust(p.pid) == a2
    # The plan wraps round: the RoT a2 measures a0 next.
    step3 = p.mlfo.current_step(p.pid)
    assert step3 is not None
    assert (step3.index, step3.verifier, step3.measured) == (3, a2, a0)
    assert p.mlfo.cursor(p.pid) == (0, 1)
    assert all(p.mlfo.is_trusted(p.pid, m.address) for m in p.members)

    records = p.mlfo.records(p.pid)
    assert p.mlfo.record_count(p.pid) == len(records) == 3
    assert [(r.index, r.step, r.verifier, r.measured, r.passed, r.new_root) for r in records] == [
        (0, 0, p.ledger.secaas.address, a0, True, a0),
        (1, 1, a0, a1, True, a1),
        (2, 2, a1, a2, True, a2),
    ]
    assert records[1].evidence == evidence("step 1")
    assert [r.tx_hash for r in records] == [receipt.tx_hash, receipt1.tx_hash, receipt2.tx_hash]
    assert all(r.timestamp > 0 for r in records)
    assert p.mlfo.last_record(p.pid) == records[2]

    events = p.contracts.events(start, pipeline=p.pid)
    names = [e.name for e in events]
    assert names == ["AttestationRecorded", "StepOpened"] + 2 * [
        "ReferenceProvided",
        "AttestationRecorded",
        "StepOpened",
    ]
    recorded = [e for e in events if e.name == "AttestationRecorded"]
    assert [(e.args["index"], e.args["measured"], e.args["newRoot"]) for e in recorded] == [
        (r.index, r.measured, r.new_root) for r in records
    ]
    assert [e.tx_hash for e in recorded] == [r.tx_hash for r in records]
    assert step1.index == 1 and step2.index == 2


def test_failed_agent_is_distrusted_and_skipped_as_root(pipeline3: Pipeline) -> None:
    p = pipeline3
    a0, a1, a2 = (m.address for m in p.members)
    p.bootstrap()
    p.attest(passed=False)  # a0 fails a1
    assert p.mlfo.root_of_trust(p.pid) == a0
    assert not p.mlfo.is_trusted(p.pid, a1)
    step = p.mlfo.current_step(p.pid)
    assert step is not None and (step.verifier, step.measured) == (a0, a2)
    record = p.mlfo.records(p.pid)[-1]
    assert (record.measured, record.passed, record.new_root) == (a1, False, a0)


def test_secrets_follow_trust_and_key_epochs(pipeline3: Pipeline) -> None:
    p = pipeline3
    p.bootstrap()
    p.attest()
    p.attest()
    secrets = {m.account: b"sealed-key-1-" + m.name.encode() for m in p.members}
    receipt = p.contracts.secret_store.push_secrets(p.pid, 1, secrets)
    assert [e.name for e in receipt.events] == ["SecretPushed"] * 3
    for m in p.members:
        assert m.store.fetch_secret(p.pid) == (1, secrets[m.account])
        assert p.contracts.secret_store.has_secret(p.pid, 1, m.account)
    p.mlfo.revoke(p.pid, p.members[0].account)
    assert p.mlfo.key_epoch(p.pid) == 2
    assert not p.contracts.secret_store.has_secret(p.pid, 2, p.members[1].account)
    fresh = {m.account: b"sealed-key-2-" + m.name.encode() for m in p.members[1:]}
    p.contracts.secret_store.push_secrets(p.pid, 2, fresh)
    assert p.members[1].store.fetch_secret(p.pid) == (2, fresh[p.members[1].account])


@settings(max_examples=6)
@given(verdicts=st.lists(st.booleans(), min_size=1, max_size=6))
def test_chain_state_follows_a_model_of_the_election(verdicts: list[bool]) -> None:
    """A verifier's verdict moves the RoT only on a pass; the next measured agent is the
    next plan entry after the last measured one, skipping the RoT (cyclic)."""
    ledger = connect(None)
    p = build_pipeline(ledger, ledger.deploy(), 4)
    plan = [m.address for m in p.members]
    p.bootstrap()
    root, cursor, trusted = plan[0], 0, {plan[0]}
    for passed in verdicts:
        position = next(i for i in range(cursor, cursor + 4) if plan[i % 4] != root)
        measured = plan[position % 4]
        step, _ = p.attest(passed)
        assert (step.verifier, step.measured) == (root, measured)
        cursor = position + 1
        if passed:
            root = measured
            trusted.add(measured)
        else:
            trusted.discard(measured)
    assert p.mlfo.root_of_trust(p.pid) == root
    assert p.mlfo.cursor(p.pid) == (cursor % 4, cursor // 4)
    assert {a for a in plan if p.mlfo.is_trusted(p.pid, a)} == trusted
    records = p.mlfo.records(p.pid)
    assert [r.passed for r in records[1:]] == verdicts
    assert all(r.verifier == previous.new_root for previous, r in pairwise(records))


def test_fifty_agents_complete_a_round(ledger: Ledger, contracts: Contracts) -> None:
    p = build_pipeline(ledger, contracts, 50, "pipeline-50")
    p.bootstrap()
    for _ in range(49):
        p.attest()
    plan = [m.address for m in p.members]
    assert p.mlfo.record_count(p.pid) == 50
    assert all(p.mlfo.is_trusted(p.pid, a) for a in plan)
    records = p.mlfo.records(p.pid)
    assert [r.measured for r in records] == plan
    assert p.mlfo.root_of_trust(p.pid) == records[-1].measured == plan[-1]
    assert all(r.verifier == previous.measured for previous, r in pairwise(records))
    assert p.mlfo.cursor(p.pid) == (0, 1)
    step = p.mlfo.current_step(p.pid)
    assert step is not None and (step.verifier, step.measured) == (plan[-1], plan[0])
    events = p.mlfo.events(pipeline=p.pid)
    assert sum(e.name == "AttestationRecorded" for e in events) == 50
    assert sum(e.name == "AgentRegistered" for e in events) == 50
    assert {id_name(e.args["id"]) for e in events if e.name == "AgentRegistered"} == {
        m.name for m in p.members
    }

"""Attacks on the attestation record: a pass recorded without evidence, under a nonce that
is not the step's, or by an account that is not the step's elected verifier. Each must
revert with a reason that names the rule it broke."""

from __future__ import annotations

import pytest
from tests.ledger.conftest import Pipeline, build_pipeline, evidence

from secmas.ledger import Contracts, Ledger, LedgerRevert, connect
from secmas.ledger.registry import StepInfo


@pytest.fixture
def opened() -> Pipeline:
    """A pipeline whose first mutual step is open with its reference provided: member 0
    (the root of trust) is to measure member 1."""
    ledger: Ledger = connect(None)
    contracts: Contracts = ledger.deploy()
    p = build_pipeline(ledger, contracts, 3)
    p.bootstrap()
    step = p.secaas.current_step(p.pid)
    assert step is not None
    p.secaas.provide_reference(p.pid, step.index, b"sealed reference")
    return p


def test_a_pass_with_an_all_zero_evidence_digest_is_refused(opened: Pipeline) -> None:
    p = opened
    step = p.secaas.current_step(p.pid)
    assert step is not None
    verifier = p.member(step.verifier).registry
    with pytest.raises(LedgerRevert) as caught:
        verifier.record_result(p.pid, step.index, step.nonce, True, bytes(32))
    assert caught.value.rule == "AgentRegistry: a pass needs an evidence digest"
    assert p.mlfo.record_count(p.pid) == 1  # only the SECaaS's initial record
    assert not p.mlfo.is_trusted(p.pid, step.measured)


def test_a_verdict_under_another_nonce_is_refused(opened: Pipeline) -> None:
    p = opened
    step = p.secaas.current_step(p.pid)
    assert step is not None and step.nonce != bytes(32)
    verifier = p.member(step.verifier).registry
    for nonce in (bytes(32), evidence("a nonce of the attacker's choosing")):
        with pytest.raises(LedgerRevert) as caught:
            verifier.record_result(p.pid, step.index, nonce, True, evidence("evidence"))
        assert caught.value.rule == "AgentRegistry: nonce is not the step's"
    assert not p.mlfo.is_trusted(p.pid, step.measured)


def passed_first_step(p: Pipeline) -> tuple[StepInfo, StepInfo]:
    """The first step, passed by its verifier, and the second, open with its reference."""
    first = p.secaas.current_step(p.pid)
    assert first is not None
    p.member(first.verifier).registry.record_result(
        p.pid, first.index, first.nonce, True, evidence("genuine")
    )
    second = p.secaas.current_step(p.pid)
    assert second is not None
    p.secaas.provide_reference(p.pid, second.index, b"sealed reference")
    return first, second


def test_an_old_steps_nonce_cannot_be_replayed(opened: Pipeline) -> None:
    p = opened
    first, second = passed_first_step(p)
    assert second.nonce != first.nonce
    with pytest.raises(LedgerRevert, match="nonce is not the step's"):
        p.member(second.verifier).registry.record_result(
            p.pid, second.index, first.nonce, True, evidence("replayed")
        )


def test_only_the_assigned_verifier_records(opened: Pipeline) -> None:
    p = opened
    step = p.secaas.current_step(p.pid)
    assert step is not None
    outsiders = [m for m in p.members if m.address != step.verifier]
    for outsider in outsiders:
        with pytest.raises(LedgerRevert) as caught:
            outsider.registry.record_result(p.pid, step.index, step.nonce, True, evidence("forged"))
        assert caught.value.rule in (
            "AgentRegistry: caller is not the elected verifier",
            "AgentRegistry: caller not trusted",
        )
    for operator in (p.mlfo, p.secaas):
        with pytest.raises(LedgerRevert, match="agent not registered"):
            operator.record_result(p.pid, step.index, step.nonce, True, evidence("forged"))
    assert not p.mlfo.is_trusted(p.pid, step.measured)


def test_a_trusted_member_not_elected_cannot_record(opened: Pipeline) -> None:
    """Once a step passed, its verifier is still trusted but no longer elected: its record
    of the next step (a pass, for whoever that measures) reverts."""
    p = opened
    first, second = passed_first_step(p)
    assert second.verifier != first.verifier and p.mlfo.is_trusted(p.pid, first.verifier)
    with pytest.raises(LedgerRevert) as caught:
        p.member(first.verifier).registry.record_result(
            p.pid, second.index, second.nonce, True, evidence("forged")
        )
    assert caught.value.rule == "AgentRegistry: caller is not the elected verifier"
    still = p.secaas.current_step(p.pid)
    assert still is not None and still.index == second.index  # the step is still open


def test_before_any_record_there_is_no_last_one() -> None:
    ledger = connect(None)
    p = build_pipeline(ledger, ledger.deploy(), 2)
    assert p.mlfo.last_record(p.pid) is None


def test_an_initial_pass_needs_evidence_and_a_nonce(opened: Pipeline) -> None:
    p = opened
    target = p.members[2].account
    with pytest.raises(LedgerRevert, match="a pass needs an evidence digest"):
        p.secaas.record_initial(p.pid, target, evidence("nonce"), True, bytes(32))
    with pytest.raises(LedgerRevert, match="AgentRegistry: empty nonce"):
        p.secaas.record_initial(p.pid, target, bytes(32), True, evidence("evidence"))


def test_the_record_keeps_the_steps_nonce(opened: Pipeline) -> None:
    p = opened
    step = p.secaas.current_step(p.pid)
    assert step is not None
    receipt = p.member(step.verifier).registry.record_result(
        p.pid, step.index, step.nonce, True, evidence("genuine")
    )
    record = p.mlfo.records(p.pid)[-1]
    assert (record.step, record.nonce, record.evidence) == (
        step.index,
        step.nonce,
        evidence("genuine"),
    )
    assert record.tx_hash == receipt.tx_hash
    last = p.mlfo.recorded_in(  # the relying party's read
        p.pid, receipt.tx_hash, receipt.block, step.measured, step.nonce
    )
    assert (last.index, last.nonce, last.passed) == (record.index, step.nonce, True)

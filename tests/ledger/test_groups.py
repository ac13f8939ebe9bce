"""Attestation groups on the registry contract: each group its own plan, root of trust
and open step, side by side; a round of a group among several ends with a guest step in
which its root of trust measures a member of another group, whose pass trusts the guest
without handing it the group's root of trust."""

from __future__ import annotations

import pytest
from tests.ledger.conftest import Pipeline, build_pipeline, evidence

from secmas.ledger.connection import Contracts, Ledger
from secmas.ledger.errors import LedgerRevert
from secmas.ledger.registry import StepInfo


@pytest.fixture
def grouped(ledger: Ledger, contracts: Contracts) -> Pipeline:
    """Six agents in two groups: m0 m1 m2 | m3 m4 m5."""
    return build_pipeline(ledger, contracts, 6, groups=2)


def _measured(p: Pipeline, group: int) -> tuple[str, str, bool]:
    step = p.mlfo.current_step(p.pid, group)
    assert step is not None
    return p.member(step.verifier).name, p.member(step.measured).name, step.guest


def test_each_group_runs_its_own_chain_and_ends_each_round_with_a_guest(grouped: Pipeline) -> None:
    p = grouped
    assert p.mlfo.group_count(p.pid) == 2
    assert [p.mlfo.group_of(p.pid, m.address) for m in p.members] == [0, 0, 0, 1, 1, 1]
    p.bootstrap(0)
    p.bootstrap(3)
    assert _measured(p, 0) == ("agent-0", "agent-1", False)
    assert _measured(p, 1) == ("agent-3", "agent-4", False)
    p.attest(group=0)
    p.attest(group=0)
    assert p.mlfo.root_of_trust(p.pid, 0) == p.members[2].address
    # Round 0 of group 0 ends with a guest from group 1: its first member.
    assert _measured(p, 0) == ("agent-2", "agent-3", True)
    assert p.mlfo.cursor(p.pid, 0) == (3, 0)
    step, receipt = p.attest(group=0)
    assert p.mlfo.root_of_trust(p.pid, 0) == p.members[2].address  # a guest's pass: no RoT
    assert p.mlfo.root_of_trust(p.pid, 1) == p.members[3].address  # nor in its own group
    (recorded,) = [e for e in receipt.events if e.name == "AttestationRecorded"]
    assert (recorded.args["group"], recorded.args["step"]) == (0, step.index)
    assert p.mlfo.last_record(p.pid, 0).index == recorded.args["index"]
    assert _measured(p, 0) == ("agent-2", "agent-0", False)  # round 1
    # Group 1's guest is from group 0; in round 1, group 0's guest is group 1's second.
    p.attest(group=1)
    p.attest(group=1)
    assert _measured(p, 1) == ("agent-5", "agent-0", True)
    for _ in range(3):
        p.attest(group=0)
    assert _measured(p, 0) == ("agent-2", "agent-4", True)
    assert all(p.mlfo.is_trusted(p.pid, m.address) for m in p.members)


def _to_group_0s_guest_step(p: Pipeline) -> StepInfo:
    """Both groups anchored by SECaaS, group 0 through its members: its guest step."""
    p.bootstrap(0)
    p.bootstrap(3)
    p.attest(group=0)
    p.attest(group=0)
    step = p.mlfo.current_step(p.pid, 0)
    assert step is not None and step.guest
    return step


def test_a_guest_revoked_during_its_step_ends_that_step(grouped: Pipeline) -> None:
    p = grouped
    guest_step = _to_group_0s_guest_step(p)
    p.mlfo.revoke(p.pid, p.members[3].address)
    assert p.mlfo.root_of_trust(p.pid, 1) is None  # it held group 1's root of trust
    assert _measured(p, 0) == ("agent-2", "agent-0", False)
    verifier = p.member(guest_step.verifier).registry
    with pytest.raises(LedgerRevert, match="wrong step index"):
        verifier.record_result(p.pid, guest_step.index, guest_step.nonce, True, evidence("late"), 0)


def test_a_failed_guest_loses_trust_and_the_group_keeps_its_root(grouped: Pipeline) -> None:
    p = grouped
    _to_group_0s_guest_step(p)
    p.attest(passed=False, group=0)
    assert not p.mlfo.is_trusted(p.pid, p.members[3].address)
    assert p.mlfo.root_of_trust(p.pid, 0) == p.members[2].address
    # An untrusted root of trust elects nobody: group 1 waits for SECaaS.
    assert p.mlfo.current_step(p.pid, 1) is not None
    with pytest.raises(LedgerRevert, match="caller not trusted"):
        p.attest(group=1)


def test_one_group_has_no_guest_steps(pipeline3: Pipeline) -> None:
    p = pipeline3
    p.bootstrap()
    for _ in range(6):
        step, _ = p.attest()
        assert not step.guest
    assert p.mlfo.cursor(p.pid) == (1, 2)  # six steps on from m0: m0 is next but one

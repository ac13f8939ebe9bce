"""The Reputation contract on the in-process EVM: tallies per observer and in total, events,
and its rules (only a trusted agent reports, never of itself, only of a registered peer)
as LedgerRevert."""

from __future__ import annotations

import pytest
from tests.ledger.conftest import Pipeline

from secmas.ledger import LedgerError, LedgerRevert
from secmas.ledger.reputation import PeerTally, ReputationClient


@pytest.fixture
def reputation(pipeline3: Pipeline) -> ReputationClient:
    pipeline3.bootstrap(0)
    pipeline3.attest()  # member 1 passes: trusted
    return pipeline3.ledger.deploy_reputation(pipeline3.contracts.registry.address)


def reporter(pipeline: Pipeline, reputation: ReputationClient, index: int) -> ReputationClient:
    return reputation.as_(pipeline.members[index].account)


def test_tallies_add_up_per_observer_and_in_total(
    pipeline3: Pipeline, reputation: ReputationClient
) -> None:
    a, b, c = (m.address for m in pipeline3.members)
    first = reporter(pipeline3, reputation, 0).report(
        pipeline3.pid, [PeerTally(b, 2, 1), PeerTally(c, 0, 3)]
    )
    reporter(pipeline3, reputation, 1).report(pipeline3.pid, [PeerTally(c, 1, 0)])
    reporter(pipeline3, reputation, 0).report(pipeline3.pid, [PeerTally(c, 0, 1)])
    assert reputation.tally(pipeline3.pid, c) == PeerTally(c, 1, 4)
    assert reputation.tally(pipeline3.pid, b) == PeerTally(b, 2, 1)
    assert reputation.tally(pipeline3.pid, a) == PeerTally(a, 0, 0)
    assert reputation.tally_by(pipeline3.pid, a, c) == PeerTally(c, 0, 4)
    assert reputation.tally_by(pipeline3.pid, b, c) == PeerTally(c, 1, 0)
    assert [(e.name, e.args["peer"], e.args["kept"], e.args["broken"]) for e in first.events] == [
        ("Reported", b, 2, 1),
        ("Reported", c, 0, 3),
    ]
    assert first.gas_used < 40_000 + 70_000 * 2
    assert len(reputation.events(pipeline=pipeline3.pid)) == 4


@pytest.mark.parametrize(
    ("who", "peer", "kept", "broken", "rule"),
    [
        (2, 0, 1, 0, "observer not trusted"),  # member 2 was never attested
        (0, 0, 1, 0, "an agent does not rate itself"),
        (0, None, 1, 0, "peer not registered"),
        (0, 1, 0, 0, "empty tally"),
    ],
)
def test_its_rules(
    pipeline3: Pipeline,
    reputation: ReputationClient,
    who: int,
    peer: int | None,
    kept: int,
    broken: int,
    rule: str,
) -> None:
    address = (
        pipeline3.ledger.new_account().address if peer is None else pipeline3.members[peer].address
    )
    with pytest.raises(LedgerRevert, match=f"Reputation: {rule}"):
        reporter(pipeline3, reputation, who).report(
            pipeline3.pid, [PeerTally(str(address), kept, broken)]
        )


def test_a_revoked_agent_reports_no_more(pipeline3: Pipeline, reputation: ReputationClient) -> None:
    pipeline3.mlfo.revoke(pipeline3.pid, pipeline3.members[1].account)
    peer = pipeline3.members[0].address
    with pytest.raises(LedgerRevert, match="observer not trusted"):
        reporter(pipeline3, reputation, 1).report(pipeline3.pid, [PeerTally(peer, 0, 1)])


def test_reading_where_no_contract_is(pipeline3: Pipeline, reputation: ReputationClient) -> None:
    chain = pipeline3.ledger.chain
    elsewhere = ReputationClient(chain, pipeline3.members[0].address, reputation.sender)
    with pytest.raises(LedgerError, match="no Reputation contract"):
        elsewhere.tally(pipeline3.pid, pipeline3.members[1].address)

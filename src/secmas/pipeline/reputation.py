"""The run's reputation tallies, recorded on the ledger when the run ends.

The MLFO deploys a Reputation contract beside the run's AgentRegistry; every agent still
trusted then reports its own tallies of its peers (`secmas.agents.reputation`) from its
own account, so each judgement on the chain is signed by the initiator that made it. An
agent revoked meanwhile cannot report (the contract refuses it): its judgements stay in
report.json only, and the record says so.
"""

from __future__ import annotations

from typing import Any

from secmas.agents.reputation import ReputationBook, tallies_by_observer
from secmas.ledger.ids import pipeline_id
from secmas.ledger.reputation import PeerTally
from secmas.pipeline.inprocess import InProcessAgents


def record_reputation(secure: InProcessAgents, book: ReputationBook) -> dict[str, Any]:
    """Deploy the contract and report every trusted observer's tallies (blocking: ledger
    transactions); report.json's `reputation.ledger`: the contract, each observer's
    transaction, and the observers whose tallies were not recorded, with why."""
    mlfo = secure.mlfo
    assert mlfo is not None and mlfo.contracts is not None and mlfo.ledger is not None
    pipeline = pipeline_id(mlfo.name)
    registry = mlfo.contracts.registry
    contract = mlfo.ledger.deploy_reputation(registry.address)
    reports: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for observer, seen in tallies_by_observer(book).items():
        member = secure.members.get(observer)
        if member is None or not registry.is_trusted(pipeline, member.account):
            skipped[observer] = "not trusted by the registry (revoked)"
            continue
        tallies = [
            PeerTally(secure.members[peer].account.address, tally.kept, tally.broken)
            for peer, tally in seen
            if peer in secure.members
        ]
        if tallies:
            receipt = contract.as_(member.account).report(pipeline, tallies)
            reports[observer] = receipt.tx_hash
    return {"contract": contract.address, "reports": reports, "skipped": skipped}

"""Steps 6–7 and their undoing, the same for every IML driver: the MLFO registers the
agents' accounts and keys and sets the attestation plan; a failed deployment revokes
whoever was registered, so nothing stays half-registered."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from secmas.ledger.errors import LedgerError
from secmas.ledger.ids import agent_id, pipeline_id
from secmas.ledger.registry import MAX_AGENTS_PER_REGISTRATION, AgentRegistration, RegistryClient
from secmas.trust.chain import Peer

logger = logging.getLogger(__name__)


def register_agents(
    registry: RegistryClient,
    pipeline: str,
    peers: Sequence[Peer],
    groups: Sequence[Sequence[Peer]],
    funding_per_agent_wei: int,
) -> dict[str, str]:
    """Register `peers` (in batches the contract accepts), each funded with
    `funding_per_agent_wei` (`secmas.ledger.funding.Budget`), then set the attestation
    groups' plans (every member once, in attestation order); the transaction hashes by
    what they did."""
    pid = pipeline_id(pipeline)
    registrations = [
        AgentRegistration(p.address, agent_id(p.name), p.signing_key, p.sealing_key) for p in peers
    ]
    txs = {}
    for start in range(0, len(registrations), MAX_AGENTS_PER_REGISTRATION):
        batch = registrations[start : start + MAX_AGENTS_PER_REGISTRATION]
        txs[f"register[{start}]"] = registry.register_agents(
            pid, batch, funding_per_agent_wei=funding_per_agent_wei
        ).tx_hash
    plans = registry.set_plans(pid, [[p.address for p in plan] for plan in groups])
    txs["plan"] = plans[0].tx_hash
    txs.update({f"plan[{i}]": receipt.tx_hash for i, receipt in enumerate(plans[1:], 1)})
    return txs


def revoke_active(registry: RegistryClient, pipeline: str, peers: Iterable[Peer]) -> None:
    """Rollback: revoke every one of `peers` still active on chain (errors are logged,
    so one refusal does not keep the others registered)."""
    pid = pipeline_id(pipeline)
    for peer in peers:
        try:
            if registry.is_active(pid, peer.address):
                registry.revoke(pid, peer.address)
        except LedgerError as exc:
            logger.error("rollback: could not revoke %s: %s", peer.name, exc)

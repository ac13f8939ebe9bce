"""The trust layer's section of report.json, made one way whatever the agents' placement.

The MLFO (`secmas.pipeline.orchestrator`) keeps the same records whatever the agents'
placement (the chain's entries, the key epochs, the setup transactions, the gas) and
gives them here as `TrustRecords`, with what only the placement knows (when an agent's
process was killed) as that agent's extra columns. So every placement's report has the
same keys, and a ledger URL that carries credentials is shown without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from secmas.ledger.connection import Contracts, Ledger
from secmas.pipeline.workflow import Workflow
from secmas.scenario.model import Security
from secmas.transport.address import redact_userinfo
from secmas.trust.chain import GUEST, ChainEntry
from secmas.trust.deadlines import round_trip_summary
from secmas.trust.distribution import PluginTrust
from secmas.trust.epochs import EpochPush
from secmas.trust.liveness import LivenessMonitor
from secmas.trust.manifest import ReferenceManifest
from secmas.trust.rotation import Rotation
from secmas.trust.view import TrustView
from secmas.trust.windows import measurement_report


@dataclass(frozen=True)
class TrustRecords:
    """What an MLFO kept of a run's trust life, for the report."""

    pipeline: str
    ledger_url: str | None
    """The node's URL ("memory" for the in-process EVM); None when not known."""
    contracts: Contracts
    security: Security
    view: TrustView
    accounts: Mapping[str, str]
    """Each agent's ledger account, in the scenario's order."""
    columns: Mapping[str, Mapping[str, Any]]
    """Each agent's columns that only its placement knows."""
    plan: Sequence[str]
    groups: Sequence[Sequence[str]]
    """The attestation groups, each in its plan's order."""
    setup_tx: Mapping[str, str]
    entries: Sequence[ChainEntry]
    pushes: Sequence[EpochPush]
    rotations: Sequence[Rotation]
    liveness: LivenessMonitor | None
    """Heartbeats and silences (None when the run kept no watch)."""
    workflow: Workflow
    round_trips: Sequence[float]
    """Challenge → evidence round trips of the verifiers in the MLFO's process."""
    ledger: Ledger
    """Where the run's receipts are read back for its gas and fees."""
    funding: dict[str, Any] | None
    channel: dict[str, Any] | None
    external: dict[str, Any] | None
    """The host measurers' report (None without measurement from outside)."""
    image: ReferenceManifest
    plugins: PluginTrust = field(default_factory=PluginTrust)
    """The plug-in distributions the agents ran, and how each was trusted."""


def trust_report(records: TrustRecords, now: float) -> dict[str, Any]:
    """report.json's `trust` section at run time `now`."""
    r = records
    beats = r.liveness.beats if r.liveness else {}
    mutual_steps = sum(e.kind in ("mutual", GUEST) for e in r.entries)
    # the groups step side by side: the pipeline makes a step every period / groups
    spacing = r.security.attestation.period / max(1, len(r.groups))
    gas = r.ledger.gas_report(list(r.accounts.values()), steps=mutual_steps, period_s=spacing)
    image = r.image
    return {
        "pipeline": r.pipeline,
        "ledger": None if r.ledger_url is None else redact_userinfo(r.ledger_url),
        "contracts": {
            "AgentRegistry": r.contracts.registry.address,
            "SecretStore": r.contracts.secret_store.address,
        },
        "image": {
            "name": image.image,
            "version": image.version,
            "root": image.root,
            "entries": len(image.entries),
        },
        "plugins": r.plugins.report(),
        "agents": {
            agent: {
                "account": account,
                "trusted": r.view.admits(agent),
                "excluded": r.view.excluded.get(agent),
                "heartbeats": beats.get(agent, 0),
                **r.columns.get(agent, {}),
            }
            for agent, account in r.accounts.items()
        },
        "plan": list(r.plan),
        "groups": [list(group) for group in r.groups],
        "setup_tx": dict(r.setup_tx),
        # numbered in the order settled: SECaaS's checks share the chain's step 0
        "attestations": [{"check": n} | e.to_json() for n, e in enumerate(r.entries, 1)],
        "key_epochs": [
            {
                "epoch": p.epoch,
                "recipients": len(p.recipients),
                "tx": p.receipts[-1].tx_hash if p.receipts else None,  # nobody trusted
                "batches": len(p.receipts),
            }
            for p in r.pushes
        ],
        "rotations": [rotation.to_json() for rotation in r.rotations],
        "external_measurement": r.external,
        "silent_agents": (r.liveness.silent(now, 3 * r.security.heartbeat) if r.liveness else []),
        "channel": r.channel,
        "timings_s": {step.number: round(step.seconds, 4) for step in r.workflow.records},
        "challenge_round_trips": round_trip_summary(list(r.round_trips)),
        "measurement": measurement_report(
            list(r.entries), list(r.accounts), r.security.attestation, now
        ),
        "gas": gas.to_json(),
        "funding": r.funding,
    }

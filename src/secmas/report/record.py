"""report.json: the machine-readable record of a run (its schema is in the README)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from secmas.agents.journal import ExecutionEvent
from secmas.agents.nfva.codec import request_to_content
from secmas.agents.nfva.records import AuctionRecord
from secmas.pipeline.operate import OperateResult
from secmas.report.acceptance import Acceptance
from secmas.report.looplatency import episodes, loop_report

SCHEMA = "secmas.run/1"


def auction_entry(initiator: str, record: AuctionRecord) -> dict[str, Any]:
    """One auction: goal, preferences, constraints, bids with utilities, refusals, winner."""
    outcome = record.outcome
    request = outcome.request
    winner = outcome.winner
    content = request_to_content(request, {})
    return {
        "goal": outcome.label,
        "goal_name": request.goal,
        "args": list(request.args),
        "initiator": initiator,
        "preferences": content["preferences"],
        "constraints": content["constraints"],
        "traffic_mbps": request.traffic,
        "bids": [
            {
                "agent": b.bidder,
                "vnf": b.vnf,
                "units": b.units,
                "T": b.T,
                "C": b.C,
                "D": b.D,
                "utility": score,
                "path": list(b.path),
                "reuses_instance": b.instance,
            }
            for b, score in zip(outcome.bids, outcome.scores, strict=True)
        ],
        "refusals": [{"agent": r.bidder, "reason": r.reason} for r in outcome.refusals],
        "winner": None if winner is None else winner.bidder,
        "winner_vnf": None if winner is None else winner.vnf,
        "status": record.status,
        "attempt": record.attempt,
        "sim_start_s": record.started,
        "sim_end_s": record.ended,
        "wall_ms": record.wall_ms,
        "messages": record.messages,
    }


def executions(events: list[ExecutionEvent]) -> list[dict[str, Any]]:
    """Per goal, how many times a winner's plan acted for it (1 when execution was exactly
    once, whatever failed meanwhile), with the initiators it acted for and the winners."""
    by_goal: dict[str, list[ExecutionEvent]] = {}
    for event in events:
        by_goal.setdefault(event.goal, []).append(event)
    return [
        {
            "goal": goal,
            "count": len(acted),
            "initiators": sorted({e.initiator for e in acted}),
            "winners": [e.agent for e in acted],
            "times": [e.time for e in acted],
        }
        for goal, acted in by_goal.items()
    ]


def loop_latency(result: OperateResult) -> dict[str, Any]:
    """report.json's `loop`: event to enforced rule in real time, with the attestations
    that ran meanwhile."""
    scenario = result.scenario
    step = scenario.traffic.step if scenario.traffic else 1.0
    attestations = (result.trust or {}).get("attestations", [])
    found = episodes(result.journal.actions, result.step_walls, attestations, step)
    return loop_report(found)


def build_report(result: OperateResult, accepted: Acceptance, run_id: str) -> dict[str, Any]:
    """The whole run as plain JSON data."""
    scenario = result.scenario
    journal = result.journal
    step = scenario.traffic.step if scenario.traffic else 0.0
    analytics = dict(result.analytics or {})
    policy = analytics.pop("policy", None)
    cti, mtd = analytics.pop("cti", None), analytics.pop("mtd", None)
    return {
        "schema": SCHEMA,
        "run_id": run_id,
        "scenario": scenario.id,
        "engine": getattr(result, "engine", "simulator"),
        "seed": scenario.seed,
        "pops": len(scenario.pops),
        "wall_seconds": result.wall_seconds,
        "simulated_seconds": len(result.telemetry) * step,
        "bus_messages": result.messages,
        "auctions": [auction_entry(init, rec) for init, rec in journal.auctions],
        "placements": [asdict(p) for p in journal.placements],
        "actions": [asdict(a) for a in journal.actions],
        "loop": loop_latency(result),
        "executions": executions(journal.executions),
        "final_instances": [
            {"id": i.id, "vnf": i.vnf, "pop": i.pop, "units": i.units}
            for i in result.infra.instances.values()
        ],
        "capacity": {
            "steps_checked": result.capacity.steps,
            "violations": result.capacity.violations,
            "peak_use": result.capacity.peak_use,
        },
        "telemetry": [asdict(x) for x in result.telemetry],
        "acceptance": accepted.as_dict(),
        "trust": result.trust,
        "workflow": result.workflow,
        "analytics": analytics or None,
        "policy": policy,
        "cti": cti,
        "mtd": mtd,
        "emulation": getattr(result, "emulation", None),
        "reputation": {
            **journal.reputation.report(scenario.auction.reputation_weight),
            "ledger": result.reputation_ledger,
        },
        "refused_messages": [asdict(r) for r in journal.refusals],
        "minds": [asdict(m) for m in journal.minds],
    }

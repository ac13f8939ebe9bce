"""What a sweep records of each run, computed from the run's report.json alone (so a run
kept with `--keep-runs` can be measured again) and from what the worker measured of it.

Every row has the `BASE` columns; a spec adds any of `EXTRA` by name (`metrics:`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from secmas.report.acceptance import REQUIRED

Report = Mapping[str, Any]
Row = Mapping[str, Any]
Metric = Callable[[Report, Row], float | None]

STRATEGY_GOAL = "linkRateLimited"
"""The throttling strategy's goal: its auction done means the link is rate limited."""
LOAD_ACTION = "syntheticGoals"
"""The action `secmas.agents.workload` journals when it posts the synthetic goals."""
DETECTION_ACTION = "overUsage"


def mitigation_seconds(report: Report) -> float | None:
    """Simulated seconds from the attack's first step until the attack reaching the server
    is, and stays to the end, at most 1 − REQUIRED of what the attackers send (the
    acceptance threshold); None without an attack or when that never holds."""
    telemetry = report.get("telemetry") or []
    start = next((x["t"] for x in telemetry if x["offered_attack"] > 0), None)
    if start is None:
        return None
    held: float | None = None
    for x in telemetry:
        if x["t"] < start:
            continue
        ok = x["attack"] <= (1.0 - REQUIRED) * x["offered_attack"] + 1e-12
        if not ok:
            held = None
        elif held is None:
            held = x["t"]
    return None if held is None else held - start


def throttle_seconds(report: Report) -> float | None:
    """Simulated seconds from when the synthetic goals were posted (the Link Monitor's
    over-usage when the scenario has no load) until the linkRateLimited auction is done:
    the delay of 003 Figure 5.5; None when either never happened."""
    actions = report.get("actions") or []
    begun = next((a["time"] for a in actions if a["action"] == LOAD_ACTION), None)
    if begun is None:
        begun = next((a["time"] for a in actions if a["action"] == DETECTION_ACTION), None)
    done = [
        a["sim_end_s"]
        for a in report.get("auctions") or []
        if a["goal_name"] == STRATEGY_GOAL and a["status"] == "done"
    ]
    if begun is None or not done:
        return None
    return min(done) - begun


def _nfva(report: Report) -> int:
    return sum(int(a["messages"]) for a in report.get("auctions") or [])


def _per_auction(total: float, report: Report) -> float | None:
    count = len(report.get("auctions") or [])
    return total / count if count else None


def _per_agent_kib(report: Report, row: Row) -> float | None:
    grown, agents = row.get("run_rss_mib"), report.get("pops")
    return None if grown is None or not agents else grown * 1024 / agents


BASE = (
    "agents",
    "passed",
    "mitigation_s",
    "auctions",
    "bus_messages",
    "wall_s",
    "peak_rss_mib",
    "run_rss_mib",
)
"""Columns every run has (with the run key's columns and `error`)."""

EXTRA: dict[str, tuple[str, Metric]] = {
    "throttle_s": (
        "simulated s from the synthetic goals (or the over-usage) to linkRateLimited done",
        lambda report, row: throttle_seconds(report),
    ),
    "nfva_messages": (
        "NFV-A messages of all auctions (CFPs, bids, accept/reject, INFORM-DONE)",
        lambda report, row: _nfva(report),
    ),
    "nfva_per_auction": (
        "NFV-A messages per auction",
        lambda report, row: _per_auction(_nfva(report), report),
    ),
    "bus_per_auction": (
        "bus messages per auction",
        lambda report, row: _per_auction(report["bus_messages"], report),
    ),
    "auctions_done": (
        "auctions whose goal was achieved",
        lambda report, row: sum(1 for a in report.get("auctions") or [] if a["status"] == "done"),
    ),
    "attack_reduction": (
        "1 - attack delivered / offered over the end window",
        lambda report, row: report["acceptance"]["attack_reduction"],
    ),
    "legit_ratio": (
        "legitimate traffic at the end / before the attack",
        lambda report, row: report["acceptance"]["legit_ratio"],
    ),
    "simulated_s": ("simulated seconds run", lambda report, row: report["simulated_seconds"]),
    "run_rss_per_agent_kib": ("run_rss_mib per agent, KiB", _per_agent_kib),
}
"""Metrics a spec may ask for: name → (description, function of report and base row)."""


def base_values(report: Report, wall_s: float) -> dict[str, Any]:
    """The BASE columns that come from the report (memory is the worker's)."""
    return {
        "agents": report["pops"],
        "passed": bool(report["acceptance"]["passed"]),
        "mitigation_s": mitigation_seconds(report),
        "auctions": len(report.get("auctions") or []),
        "bus_messages": report["bus_messages"],
        "wall_s": wall_s,
    }


def extra_values(names: tuple[str, ...], report: Report, row: Row) -> dict[str, Any]:
    """The requested EXTRA metrics of one run."""
    return {name: EXTRA[name][1](report, row) for name in names}

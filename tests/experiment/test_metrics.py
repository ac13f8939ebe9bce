"""Per-run measures computed from report.json data."""

from __future__ import annotations

from typing import Any

from secmas.experiment.metrics import mitigation_seconds, throttle_seconds


def step(t: float, attack: float, offered: float) -> dict[str, float]:
    return {"t": t, "legit": 1.0, "attack": attack, "offered_attack": offered}


def auction(goal: str, end: float, status: str = "done") -> dict[str, Any]:
    return {"goal_name": goal, "sim_end_s": end, "status": status, "messages": 10}


def test_mitigation_is_when_the_attack_stays_below_the_threshold() -> None:
    telemetry = [
        step(0, 0, 0),
        step(1, 4, 4),  # attack starts
        step(2, 0.2, 4),  # below 10 % ...
        step(3, 2, 4),  # ... but not for good
        step(4, 0.4, 4),
        step(5, 0.1, 4),
    ]
    assert mitigation_seconds({"telemetry": telemetry}) == 3.0
    assert mitigation_seconds({"telemetry": [*telemetry, step(6, 3, 4)]}) is None
    assert mitigation_seconds({"telemetry": [step(0, 0, 0)]}) is None


def test_throttle_time_counts_from_the_synthetic_goals() -> None:
    report = {
        "actions": [
            {"time": 23.0, "action": "overUsage"},
            {"time": 23.5, "action": "syntheticGoals"},
        ],
        "auctions": [
            auction("linkRateLimited", 23.0, status="no-bids"),
            auction("linkRateLimited", 23.75),
            auction("anomalousUsage", 23.6),
        ],
    }
    assert throttle_seconds(report) == 0.25
    report["actions"] = report["actions"][:1]  # no load: from the over-usage
    assert throttle_seconds(report) == 0.75
    assert throttle_seconds({"actions": [], "auctions": []}) is None

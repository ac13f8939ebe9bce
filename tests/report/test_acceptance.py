"""Why a run missed its acceptance figures, as far as its own telemetry and auctions show."""

from __future__ import annotations

from typing import Any

import yaml

from secmas.cli.main import default_scenario_path
from secmas.network.dataplane import Telemetry
from secmas.report.acceptance import acceptance, failure_reasons
from secmas.scenario.model import Scenario

REFERENCE = yaml.safe_load(default_scenario_path().read_text())
NOT_MITIGATED = 1.0  # attack MB/s delivered, all of what was offered


def reference(**changes: Any) -> Scenario:
    return Scenario.model_validate(REFERENCE | changes)


def steps(*monitored: float) -> list[Telemetry]:
    """One telemetry step per monitored load, the attack on and delivered throughout."""
    return [
        Telemetry(float(t), 2.0, NOT_MITIGATED, 2.0, NOT_MITIGATED, load)
        for t, load in enumerate(monitored)
    ]


def reasons(telemetry: list[Telemetry]) -> tuple[str, ...]:
    """Why a run of the reference scenario with this telemetry and no auction failed."""
    return failure_reasons(acceptance(telemetry, 0.0, True), reference(), telemetry, [])


def test_a_link_monitor_that_never_perceived_the_attack_is_the_reason() -> None:
    assert reasons(steps(3.0, 3.14, 3.1, 3.0)) == (
        "the Link Monitor never perceived over-usage of pop6–server: the link carried at most "
        "3.14 MB/s, below its 4 MB/s threshold (defence.monitor.threshold), so the DDoS "
        "strategy started no auction",
    )


def test_a_load_over_the_threshold_too_briefly_is_named_so() -> None:
    [reason] = reasons(steps(3.0, 4.5, 4.6, 3.0, 4.2))
    assert (
        "carried at most 4.6 MB/s, above its 4 MB/s threshold for fewer than 3 steps in a "
        "row (defence.monitor.threshold)" in reason
    )


def test_a_perceived_attack_or_a_passed_run_needs_no_reason() -> None:
    assert reasons(steps(3.0, 4.5, 4.6, 4.7, 4.8)) == ()
    mitigated = [Telemetry(float(t), 2.0, 0.0, 2.0, NOT_MITIGATED, 2.0) for t in range(5)]
    assert acceptance(mitigated, 0.0, True).passed
    assert failure_reasons(acceptance(mitigated, 0.0, True), reference(), mitigated, []) == ()


def auction(goal: str, status: str, refusals: dict[str, str], **fields: Any) -> dict[str, Any]:
    """An auction as report.json records it."""
    name = goal.partition("(")[0]
    return {
        "goal": goal,
        "goal_name": name,
        "initiator": "pop6",
        "constraints": [{"measure": "P", "op": "<=", "value": 8.0}],
        "refusals": [{"agent": a, "reason": r} for a, r in refusals.items()],
        "status": status,
        "attempt": 1,
        "sim_start_s": 86.5,
    } | fields


NO_PATH = "no path to pop6 satisfies the goal constraints"
FULL = "sat_req fails for 2×anomaly_detector: needs 2c/4G/20G, free 0c/2G/46G"


def test_a_goal_nobody_could_bid_for_names_the_constraint_no_path_meets() -> None:
    data = yaml.safe_load(default_scenario_path().read_text())
    data["goals"][1]["constraints"] = [{"measure": "P", "op": "<=", "value": 0}]
    scenario = Scenario.model_validate(data)
    refusals = {f"pop{i}": NO_PATH for i in range(1, 6)} | {"pop6": FULL}
    auctions = [
        auction("linkRateLimited(pop6~server)", "done", {}),
        auction(
            "anomalousUsage(pop6~server)",
            "no-bids",
            refusals,
            constraints=[{"measure": "P", "op": "<=", "value": 0.0}],
        ),
    ]
    telemetry = steps(5.0, 5.0, 5.0, 5.0)
    [reason] = failure_reasons(acceptance(telemetry, 0.0, True), scenario, telemetry, auctions)
    assert reason == (
        "anomalousUsage(pop6~server) got no bid (t=86.5 s): no path from pop1, pop2, pop3, "
        "pop4, pop5 to pop6 meets goals[1].constraints[0] P <= 0 (the least lossy loses "
        f"0.5 %); pop6: {FULL}"
    )


def test_a_goal_met_in_a_later_auction_or_refused_for_other_reasons_is_told_as_it_was() -> None:
    telemetry = steps(5.0, 5.0, 5.0, 5.0)
    accepted = acceptance(telemetry, 0.0, True)
    later = [
        auction("flowRecord(10.0.0.100)", "no-bids", {"pop1": "x"}),
        auction("flowRecord(10.0.0.100)", "done", {}),
    ]
    assert failure_reasons(accepted, reference(), telemetry, later) == ()
    lost = [auction("flowRecord(10.0.0.100)", "winner-lost", {}, attempt=3)]
    assert failure_reasons(accepted, reference(), telemetry, lost) == (
        "flowRecord(10.0.0.100) was not met: winner-lost in attempt 3 (t=86.5 s)",
    )
    refused = [auction("flowRecord(10.0.0.100)", "no-bids", {"pop1": "too busy"})]
    assert failure_reasons(accepted, reference(), telemetry, refused) == (
        "flowRecord(10.0.0.100) got no bid (t=86.5 s): pop1: too busy",
    )


def test_a_run_without_a_monitored_link_says_nothing_of_the_monitor() -> None:
    telemetry = [Telemetry(float(t), 2.0, 1.0, 2.0, 1.0, None) for t in range(5)]
    data = dict(REFERENCE)
    del data["defence"]
    scenario = Scenario.model_validate(data)
    assert failure_reasons(acceptance(telemetry, 0.0, True), scenario, telemetry, []) == ()

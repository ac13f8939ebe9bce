"""Why a run missed its acceptance figures, as far as its own telemetry and auctions show."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import yaml

from secmas.cli.main import default_scenario_path
from secmas.network.dataplane import Telemetry
from secmas.report.acceptance import Timeline, acceptance, failure_reasons
from secmas.scenario.model import Scenario

REFERENCE = yaml.safe_load(default_scenario_path().read_text())
NOT_MITIGATED = 1.0  # attack MB/s delivered, all of what was offered
ATTACKED = Timeline(attack_start=1.0)
"""Telemetry made by hand: the attack on from its second step (the first shows the
legitimate traffic before it), no scenario end to reach."""


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
    return failure_reasons(acceptance(telemetry, ATTACKED, True), reference(), telemetry, [])


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
    assert acceptance(mitigated, ATTACKED, True).passed
    assert failure_reasons(acceptance(mitigated, ATTACKED, True), reference(), mitigated, []) == ()


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
    [reason] = failure_reasons(acceptance(telemetry, ATTACKED, True), scenario, telemetry, auctions)
    assert reason == (
        "anomalousUsage(pop6~server) got no bid (t=86.5 s): no path from pop1, pop2, pop3, "
        "pop4, pop5 to pop6 meets goals[1].constraints[0] P <= 0 (the least lossy loses "
        f"0.5 %); pop6: {FULL}"
    )


def test_a_goal_met_in_a_later_auction_or_refused_for_other_reasons_is_told_as_it_was() -> None:
    telemetry = steps(5.0, 5.0, 5.0, 5.0)
    accepted = acceptance(telemetry, ATTACKED, True)
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
    assert failure_reasons(acceptance(telemetry, ATTACKED, True), scenario, telemetry, []) == ()


def test_a_run_whose_samples_stop_short_of_the_end_has_measured_nothing() -> None:
    """An emulated run whose sampling fell behind: its samples stop at 41 s of a 75 s
    scenario, and the last one, mitigated and legitimate traffic back, would pass."""
    before = [Telemetry(float(t), 2.0, 0.0, 2.0, 0.0, 2.0) for t in range(20)]
    after = [Telemetry(float(t), 2.02, 0.0, 2.0, 5.0, 2.0) for t in range(20, 42)]
    timeline = Timeline(attack_start=20.0, end=75.0, step=1.0)
    accepted = acceptance(before + after, timeline, True)
    assert accepted.attack_reduction == 1.0 and accepted.legit_ratio == pytest.approx(1.01)
    assert not accepted.passed
    assert accepted.telemetry_until == 42.0
    why = "the telemetry stops at 42 s of the scenario's 75 s"
    assert set(accepted.not_measured) == {"attack reduction", "legitimate traffic"}
    assert all(text.startswith(why) for text in accepted.not_measured.values())
    telemetry = before + after
    [first, second] = failure_reasons(accepted, reference(), telemetry, [])[:2]
    assert first.startswith(f"attack reduction not measured: {why}")
    assert second.startswith(f"legitimate traffic not measured: {why}")


def test_samples_that_reach_the_end_after_one_late_step_are_enough() -> None:
    """The last sample may start a step early (it came late and covers two slots)."""
    telemetry = [Telemetry(float(t), 2.0, 0.0, 2.0, 1.0, 2.0) for t in range(74)]
    accepted = acceptance(telemetry, Timeline(attack_start=20.0, end=75.0), True)
    assert accepted.passed and accepted.not_measured == {}


def test_an_end_window_with_too_few_samples_is_not_measured() -> None:
    """Samples every 5 s in the end window of a 1 s step: a late sample's average stands
    for seconds it never saw."""
    early = [Telemetry(float(t), 2.0, 0.0, 2.0, 1.0, 2.0) for t in range(55)]
    sparse = [Telemetry(float(t), 2.0, 0.0, 2.0, 1.0, 2.0) for t in (60, 65, 70, 74)]
    accepted = acceptance(early + sparse, Timeline(attack_start=20.0, end=75.0), True)
    assert not accepted.passed
    assert accepted.not_measured["legitimate traffic"] == (
        "the last 20 s hold 4 samples of the 20 expected (one every 1 s): sampling fell behind"
    )


def test_a_scenario_without_legitimate_clients_is_not_measured_never_met() -> None:
    telemetry = [Telemetry(float(t), 0.0, 0.0, 0.0, 1.0, 2.0) for t in range(10)]
    timeline = Timeline(attack_start=5.0, end=10.0, legit_clients=False)
    accepted = acceptance(telemetry, timeline, True)
    assert accepted.legit_ratio is None and accepted.attack_reduction == 1.0
    assert not accepted.passed
    assert accepted.not_measured == {
        "legitimate traffic": "the scenario has no legitimate clients "
        "(traffic.background.hosts is 0)"
    }
    assert accepted.as_dict()["passed"] is False


def test_an_attack_that_stops_early_is_judged_over_its_own_last_20_s() -> None:
    """Attack offered 4 MB/s from 10 s to 50 s of a 100 s run; from 30 s on, 0.2 MB/s of
    it still arrives: reduction = 1 - 0.2 / 4 = 0.95 over 30-50 s, and the run's end
    window (no attack in it) judges legitimate traffic alone."""
    telemetry = [
        Telemetry(
            float(t),
            2.0,
            (0.2 if t >= 30 else 4.0) if 10 <= t < 50 else 0.0,
            2.0,
            4.0 if 10 <= t < 50 else 0.0,
            2.0,
        )
        for t in range(100)
    ]
    timeline = Timeline(attack_start=10.0, attack_stop=50.0, end=100.0)
    accepted = acceptance(telemetry, timeline, True)
    assert accepted.attack_reduction == pytest.approx(0.95)
    assert accepted.end_offered_attack == pytest.approx(4.0)
    assert accepted.legit_ratio == pytest.approx(1.0)
    assert accepted.passed


def test_a_run_without_telemetry_measured_nothing_unless_it_had_no_traffic() -> None:
    assert acceptance([], Timeline(attack_start=5.0, end=10.0), True).not_measured == {
        "legitimate traffic": "the run recorded no telemetry",
        "attack reduction": "the run recorded no telemetry",
    }
    assert acceptance([], Timeline(traffic=False), True).passed
    assert not acceptance([], Timeline(traffic=False), False).passed


def test_the_timeline_of_a_scenario() -> None:
    assert Timeline.of(reference()) == Timeline(
        attack_start=20.0, attack_stop=None, end=240.0, step=1.0
    )
    data = REFERENCE | {"traffic": REFERENCE["traffic"] | {"duration": 75, "step": 0.5}}
    data["traffic"]["background"] = data["traffic"]["background"] | {"hosts": 0}
    timeline = Timeline.of(Scenario.model_validate(data))
    assert (timeline.end, timeline.step, timeline.legit_clients) == (75.0, 0.5, False)


def test_a_hidden_attackers_attacks_are_judged_after_their_first_seconds() -> None:
    """The demo's hidden attacker ran floods at 28.3–34.2 s and 51.7–60.1 s of an 80 s run
    (and a CPU hog, which offers no traffic); the loop cut each 3 s after it began. Judged
    over each flood after its first 5 s, all of it was removed; over the 20 s before the
    last one stopped, its undetected first seconds would count (6 of 9 s removed), and the
    run's last 20 s saw no attack at all."""
    scenario = reference(traffic=REFERENCE["traffic"] | {"duration": 80, "step": 1})
    timeline = Timeline.of(scenario, [(28.3, 34.2), (51.7, 60.1)])
    assert (timeline.attack_start, timeline.attack_stop) == (28.3, 60.1)
    judged = [w for pair in timeline.judged or () for w in pair]
    assert judged == pytest.approx([33.3, 34.2, 56.7, 60.1])

    def flood(t: float) -> tuple[float, float]:
        for start, stop in ((28.3, 34.2), (51.7, 60.1)):
            if start <= t < stop:
                return 4.0, (4.0 if t < start + 3 else 0.0)
        return 0.0, 0.0

    telemetry = [Telemetry(float(t), 2.0, flood(t)[1], 2.0, flood(t)[0], 2.0) for t in range(80)]
    accepted = acceptance(telemetry, timeline, True)
    assert accepted.attack_reduction == pytest.approx(1.0) and accepted.passed
    unjudged = replace(timeline, judged=None)
    assert acceptance(telemetry, unjudged, True).attack_reduction == pytest.approx(6 / 9)


def test_a_hidden_attack_shorter_than_the_allowance_is_not_judged() -> None:
    timeline = Timeline.of(reference(), [(30.0, 33.0)])
    assert timeline.judged == ()


def test_a_hidden_attack_lasting_to_the_end_is_judged_at_the_end() -> None:
    scenario = reference(traffic=REFERENCE["traffic"] | {"duration": 80, "step": 1})
    timeline = Timeline.of(scenario, [(30.0, 79.5)])
    assert (timeline.attack_start, timeline.attack_stop) == (30.0, None)


def test_a_hidden_attacker_with_no_network_attack_leaves_nothing_to_reduce() -> None:
    timeline = Timeline.of(reference(), [])
    assert timeline.attack_start is None and timeline.attack_stop is None

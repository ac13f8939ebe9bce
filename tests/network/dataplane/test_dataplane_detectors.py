"""The Link Monitor, Anomaly Detector and Classifier algorithms on simulated traffic."""

from __future__ import annotations

from collections.abc import Callable
from statistics import fmean

import pytest

from secmas.network.dataplane import (
    Counters,
    DataPlane,
    FlowId,
    FlowStats,
    LinkOverUsage,
    TrafficSplit,
    UsageEvent,
    classify_flows,
    detect_intrusion,
    is_syn_flood,
    normal_steps,
    robust_z,
)
from secmas.network.dataplane.detectors import abusive_sources
from secmas.scenario.model import Monitor, Scenario

SEEDS = range(6)
SERVER = "10.0.0.100"
RECENT = 3  # steps averaged for the detector's "current" rate


def feed(detector: LinkOverUsage, rates: list[float]) -> list[UsageEvent | None]:
    return [detector.update(rate) for rate in rates]


def test_over_usage_needs_consecutive_steps_above_threshold() -> None:
    detector = LinkOverUsage(threshold=4.0, consecutive=3)
    events = feed(detector, [5, 5, 3, 5, 5, 5, 5])
    assert events == [None, None, None, None, None, UsageEvent.OVER, None]
    assert detector.over


def test_over_usage_clears_only_below_the_hysteresis_band() -> None:
    detector = LinkOverUsage(threshold=4.0, hysteresis=0.8, consecutive=2)
    feed(detector, [5, 5])
    # 3.5 is under the threshold but above 4 × 0.8 = 3.2: still over.
    assert feed(detector, [3.5, 3.5, 3.5]) == [None, None, None]
    assert feed(detector, [3.0, 3.0]) == [None, UsageEvent.NORMAL]
    assert not detector.over


def test_over_usage_takes_the_scenario_monitor() -> None:
    monitor = Monitor(pop="pop6", link=("pop6", "server"), threshold=4.0, hysteresis=0.5)
    detector = LinkOverUsage.for_monitor(monitor, consecutive=1)
    assert (detector.threshold, detector.hysteresis, detector.consecutive) == (4.0, 0.5, 1)
    with pytest.raises(ValueError, match="threshold"):
        LinkOverUsage(threshold=0.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_link_monitor_fires_once_shortly_after_the_attack(
    ddos_scenario: Scenario, seed: int
) -> None:
    plane = DataPlane(ddos_scenario, seed)
    plane.run_until(240)
    detector = LinkOverUsage(threshold=4.0)
    events = [(r.t, detector.update(r.monitored or 0.0)) for r in plane.server_series()]
    # The flood starts at t = 20 and lifts the link to ~6.2 MB/s; three steps later: over.
    assert [(t, e) for t, e in events if e] == [(22.0, UsageEvent.OVER)]


def test_robust_z_uses_the_floors_for_flat_history() -> None:
    # MAD of a flat series is 0; the scale falls back to 5 % of the median, 0.1.
    assert robust_z(2.5, [2.0] * 10, floor=0.05, relative=0.05) == pytest.approx(5.0)
    # Median 0: the absolute floor 0.05.
    assert robust_z(0.1, [0.0] * 10, floor=0.05, relative=0.05) == pytest.approx(2.0)


def test_intrusion_needs_history_or_enough_peers() -> None:
    # Six destinations and no history: cross-sectional fallback flags the odd one out.
    current = {f"10.0.0.{i}": 1.0 + 0.01 * i for i in range(5)} | {"10.0.0.9": 6.0}
    assert detect_intrusion(current, {}) == ["10.0.0.9"]
    # Two destinations and no history: nothing to compare with, nothing flagged.
    assert detect_intrusion({"a": 1.0, "b": 6.0}, {}) == []
    # Own history wins over peers: a destination that was always busy is not an outlier.
    history = {"10.0.0.9": [6.0, 5.9, 6.1, 6.0, 6.05]}
    assert detect_intrusion(current, history) == []


def test_normal_steps_leave_out_the_over_usage_episodes() -> None:
    rates = [float(i) for i in range(10)]  # step i covers [i, i + 1) s
    assert normal_steps(rates, 1.0, 8.0) == rates[:8]
    # An episode from 2.5 s to 5.2 s touches steps 2 to 5.
    assert normal_steps(rates, 1.0, 8.0, [(2.5, 5.2)]) == [0.0, 1.0, 6.0, 7.0]
    assert normal_steps(rates, 0.5, 3.0, [[0.0, 1.0]]) == [2.0, 3.0, 4.0, 5.0]
    assert normal_steps(rates, 1.0, 0.0) == []
    assert normal_steps(rates[:3], 1.0, 8.0, [(1.0, 99.0)]) == [0.0]


def test_what_is_left_of_a_flood_is_an_outlier_against_the_normal_steps_only() -> None:
    """A flood mitigated in part comes back as a second over-usage. Against the whole
    history before it (normal, then the flood itself) the residue is no outlier; against
    the normal steps it is (the emulated demo lost one attacker of four this way)."""
    normal, flood, between = [3.0, 3.05, 2.95, 3.0, 3.02] * 3, [7.0, 6.9, 7.1] * 9, [3.1] * 2
    history = normal + flood + between  # steps of 1 s: flood from 15 s to 42 s
    residue = {SERVER: 4.0}  # legitimate 3 MB/s and one attacker left
    whole = normal_steps(history, 1.0, len(history))
    assert detect_intrusion(residue, {SERVER: whole}) == []
    kept = normal_steps(history, 1.0, len(history), [(15.0, 42.0)])
    assert kept == normal + between
    assert detect_intrusion(residue, {SERVER: kept}) == [SERVER]


def test_intrusion_is_one_sided() -> None:
    assert detect_intrusion({"a": 0.0}, {"a": [2.0, 2.1, 1.9, 2.0, 2.0]}) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_no_intrusion_under_background_traffic(
    make_scenario: Callable[..., Scenario], seed: int
) -> None:
    plane = DataPlane(make_scenario(attack=None), seed)
    plane.run_until(240)
    series = plane.destination_rates("pop6")[SERVER]
    for now in range(10, 241):
        current = fmean(series[now - RECENT : now])
        baseline = series[: now - RECENT]
        assert detect_intrusion({SERVER: current}, {SERVER: baseline}) == []


def detect_now(plane: DataPlane, baseline_steps: int) -> list[str]:
    """Run the Anomaly Detector at pop6: recent mean against the first `baseline_steps`."""
    series = plane.destination_rates("pop6")[SERVER]
    return detect_intrusion({SERVER: fmean(series[-RECENT:])}, {SERVER: series[:baseline_steps]})


@pytest.mark.parametrize("seed", SEEDS)
def test_intrusion_flags_the_server_under_the_flood(ddos_scenario: Scenario, seed: int) -> None:
    plane = DataPlane(ddos_scenario, seed)
    detector = LinkOverUsage(threshold=4.0)
    plane.run_until(10)
    while detector.update(plane.load("pop6", "server")) is None:
        if plane.now <= 20:  # every step so far is before the flood
            assert detect_now(plane, int(plane.now) - RECENT) == [], f"at t={plane.now}"
        plane.step()
    # Baseline: the steps before the over-usage began, `consecutive` steps ago.
    assert detect_now(plane, int(plane.now) - detector.consecutive) == [SERVER]


def test_syn_flood_signature() -> None:
    flood = Counters(seconds=10, bytes=600_000, packets=10_000, syn=10_000, ack=0)
    web = Counters(seconds=10, bytes=800_000, packets=1_000, syn=8, ack=8)
    slow_flood = Counters(seconds=10, bytes=600, packets=10, syn=10, ack=0)
    assert is_syn_flood(flood)
    assert not is_syn_flood(web)
    assert not is_syn_flood(slow_flood)  # 1 SYN/s is below the rate a flood needs
    assert not is_syn_flood(Counters(seconds=10, bytes=0, packets=0, syn=0, ack=0))


def _flow(src: str, window: Counters) -> FlowStats:
    return FlowStats(FlowId(src, SERVER, 8000), "server", None, window, window, window)


def test_a_client_that_downloads_is_not_taken_for_an_http_flood() -> None:
    """Real counters see a bare ACK for every few segments a client receives: a video
    client opening one connection a second sends about six ACKs a second, which the ACKs
    alone would put far above its peers, as a flood."""
    peers = [
        _flow(f"10.1.0.{i}", Counters(seconds=10, bytes=30_000, packets=40, syn=8, ack=10))
        for i in range(2, 20)
    ]
    video = _flow("10.1.0.1", Counters(seconds=10, bytes=60_000, packets=120, syn=10, ack=60))
    flood = _flow("10.66.0.1", Counters(seconds=10, bytes=90_000, packets=400, syn=130, ack=390))
    found = {s.flow.src_ip for s in abusive_sources([*peers, video, flood])}
    assert found == {"10.66.0.1"}


@pytest.mark.parametrize("seed", SEEDS)
def test_classifier_finds_every_attacker_and_no_legit_flow(
    ddos_scenario: Scenario, seed: int
) -> None:
    plane = DataPlane(ddos_scenario, seed)
    plane.run_until(40)
    truth = plane.ground_truth()
    found = {stats.flow for stats in classify_flows(plane.flows_via("pop6", SERVER))}
    assert found == {flow for flow, attack in truth.items() if attack}


def test_classifier_per_split_part_covers_all_attackers(ddos_scenario: Scenario) -> None:
    plane = DataPlane(ddos_scenario)
    plane.add_rule(TrafficSplit("pop6", SERVER, 2))
    plane.run_until(40)
    found = [
        {s.flow.src_ip for s in classify_flows(plane.flows_via("pop6", SERVER, part=k))}
        for k in (0, 1)
    ]
    attackers = {flow.src_ip for flow, attack in plane.ground_truth().items() if attack}
    assert found[0] and found[1]
    assert found[0] | found[1] == attackers


def test_classifier_finds_nothing_before_the_attack(ddos_scenario: Scenario) -> None:
    plane = DataPlane(ddos_scenario)
    plane.run_until(20)
    assert classify_flows(plane.flows_via("pop6")) == []

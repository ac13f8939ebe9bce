"""The emulated CNF loop's pure parts: the DE's choice, in-effect test, ground-truth
labels, evaluation; and the Monitoring Service's PromQL grid alignment."""

from __future__ import annotations

import numpy as np
import pytest

from secmas.analytics.cnfloop import (
    Reaction,
    attack_segments,
    choose_mitigation,
    evaluate,
    evaluate_attacks,
    false_alarms_within,
    in_effect,
    normal_bounds,
    step_labels,
)
from secmas.analytics.cnftelemetry import align, grid, metric_queries
from secmas.network.dataplane.cnf import METRICS


def test_traffic_furthest_out_of_line_calls_for_the_guard() -> None:
    assert choose_mitigation([("throughput", 9.0), ("cpu", 7.0)]) == "guard"
    assert choose_mitigation([("connections", 1.5)]) == "guard"


def test_resources_furthest_out_of_line_call_for_isolation() -> None:
    assert choose_mitigation([("cpu", 30.0), ("throughput", 3.0)]) == "isolate"
    assert choose_mitigation([("memory_rss", 2.0)]) == "isolate"


def test_nothing_out_of_line_is_no_mitigation() -> None:
    assert choose_mitigation([("cpu", 0.9), ("connections", 0.5), ("latency_p99", 40.0)]) is None


def test_bounds_and_effect() -> None:
    features = ("cpu", "memory_rss", "throughput", "connections")
    normal = np.array([[0.01, 10.0, 30.0, 2.0], [0.02, 12.0, 50.0, 4.0]])
    bounds = normal_bounds(normal, features)
    assert bounds["throughput"] == pytest.approx(75.001)
    assert bounds["cpu"] == pytest.approx(0.031)
    flood = np.array([0.3, 12.0, 300.0, 4.0])
    limited = np.array([0.3, 12.0, 60.0, 5.0])
    assert not in_effect("guard", flood, features, bounds)
    assert in_effect("guard", limited, features, bounds)
    assert not in_effect("isolate", limited, features, bounds)  # the CPU is still high
    assert in_effect("isolate", np.array([0.02, 11.0, 300.0, 90.0]), features, bounds)


def test_step_labels_from_episodes() -> None:
    times = np.arange(100.0, 110.0)
    labels = step_labels(times, [("http_flood", 101.5, 104.0), ("high_cpu", 107.0, 108.0)])
    assert labels.tolist() == [
        "normal",
        "normal",
        "http_flood",
        "http_flood",
        "normal",
        "normal",
        "normal",
        "high_cpu",
        "normal",
        "normal",
    ]


def test_reaction_delays() -> None:
    reaction = Reaction("slowloris", 100.0, 110.0, 102.5, "guard", 104.0)
    assert (reaction.delay, reaction.time_to_mitigate) == (2.5, 1.5)
    missed = Reaction("high_memory", 100.0, 110.0, None, None, None)
    assert missed.delay is None and missed.time_to_mitigate is None


def test_evaluation_counts_false_alarms_in_normal_time() -> None:
    labels = np.array(["normal"] * 6 + ["http_flood"] * 4 + ["normal"] * 10, dtype=object)
    window = 2
    flags = np.zeros(len(labels) - window + 1, dtype=bool)
    flags[[7, 8]] = True  # windows ending at steps 8 and 9: inside the flood
    flags[15] = True  # window ending at step 16: a false alarm
    result = evaluate(flags, labels, step=0.5, window=window)
    assert result.false_alarm_windows == 1
    assert result.precision == pytest.approx(2 / 3)
    assert result.normal_seconds == 7.5  # 15 normal steps end a window (step 0 only leads in)
    assert result.false_alarms_per_hour == pytest.approx(480.0)


def _two_attacks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """20 steps of 1 s, window 3; a flood on steps 4–6, a CPU hog on steps 12–13; flagged
    windows end at steps 3 (false alarm), 5, 6, 7 (flood), 13 (hog) and 18 (false alarm)."""
    times = np.arange(20.0)
    labels = step_labels(times, [("http_flood", 4.0, 7.0), ("high_cpu", 12.0, 14.0)])
    flags = np.zeros(18, dtype=bool)
    flags[[end - 2 for end in (3, 5, 6, 7, 13, 18)]] = True
    return times, labels, flags


def test_each_window_belongs_to_one_attack() -> None:
    times, _, _ = _two_attacks()
    # the flood owns windows ending at steps 2–8 (step 9's window is the first free of it),
    # the hog those ending at 9–19; each slice has the 2 steps leading into its first window
    assert attack_segments(times, [7.0, 14.0], 3) == [slice(0, 9), slice(7, 20)]


def test_per_attack_scores_by_hand() -> None:
    times, labels, flags = _two_attacks()
    flood, hog = evaluate_attacks(flags, labels, times, [7.0, 14.0], step=1.0, window=3)
    # flood: anomalous windows end at 4–8 (5), flagged 5, 6, 7 → TP 3, FP 1 (end 3), FN 2;
    # normal steps ending a window: 2, 3, 7, 8 → 4 s
    assert (flood.precision, flood.recall) == (0.75, 0.6)
    assert flood.f1 == pytest.approx(2 / 3)
    assert flood.normal_seconds == 4.0 and flood.false_alarm_windows == 1
    assert flood.false_alarms_per_hour == pytest.approx(900.0)
    # hog: anomalous windows end at 12–15 (4), flagged 13 → TP 1, FP 1 (end 18), FN 3;
    # normal steps 9–11 and 14–19 → 9 s
    assert (hog.precision, hog.recall) == (0.5, 0.25)
    assert hog.f1 == pytest.approx(1 / 3)
    assert hog.normal_seconds == 9.0 and hog.false_alarms_per_hour == pytest.approx(400.0)
    run = evaluate(flags, labels, step=1.0, window=3)  # the parts add up to the run
    assert run.false_alarm_windows == 2 and run.normal_seconds == 13.0
    assert run.f1 == pytest.approx(8 / 15)  # TP 4, FP 2, FN 5


def test_queries_cover_every_metric() -> None:
    queries = metric_queries(0.5)
    assert set(queries) == set(METRICS)
    assert "[2s]" in queries["cpu"] and "histogram_quantile(0.99" in queries["latency_p99"]
    assert "[4s]" in metric_queries(1.0)["net_rx"]


def test_grid_is_prometheus_steps() -> None:
    assert grid(10.0, 12.0, 0.5).tolist() == [10.0, 10.5, 11.0, 11.5, 12.0]
    assert grid(10.0, 9.0, 0.5).tolist() == []


def test_align_fills_gaps_and_nan() -> None:
    times = np.array([10.0, 10.5, 11.0, 11.5])
    present = (np.array([10.5, 11.5]), np.array([3.0, 5.0]))
    quantile = (np.array([10.0, 10.5, 11.0, 11.5]), np.array([1.0, np.nan, 2.0, 2.0]))
    absent = (np.array([]), np.array([]))
    values = align(times, [present, quantile, absent])
    assert values[:, 0].tolist() == [3.0, 3.0, 3.0, 5.0]  # before: the first; gap: the last
    assert values[:, 1].tolist() == [1.0, 0.0, 2.0, 2.0]  # NaN (no request) is 0
    assert values[:, 2].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_false_alarms_within_spans() -> None:
    times, labels, flags = _two_attacks()
    # false alarms end at steps 3 and 18; flagged windows ending at 5–7 and 13 hold attacks
    assert false_alarms_within(flags, labels, times, 3, [(0.0, 19.0)]) == 2
    assert false_alarms_within(flags, labels, times, 3, [(5.0, 13.0)]) == 0
    assert false_alarms_within(flags, labels, times, 3, [(2.0, 3.0), (18.0, 18.0)]) == 2
    assert false_alarms_within(flags, labels, times, 3, []) == 0

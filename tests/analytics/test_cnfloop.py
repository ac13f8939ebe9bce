"""The real CNF loop's pure parts: normal bounds, when a remedy is in effect, the ground
truth of a step; and the Monitoring Service's PromQL grid alignment."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.analytics.cnfloop import (
    Condition,
    above,
    condition_at,
    families,
    first_in_effect,
    in_effect,
    normal_bounds,
    step_labels,
)
from secmas.analytics.cnftelemetry import align, grid, metric_queries
from secmas.network.dataplane.cnf import METRICS


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


def test_a_replica_and_a_fresh_instance_are_in_effect_on_what_they_bring_back() -> None:
    features = ("cpu", "memory_rss", "latency_p90")
    bounds = normal_bounds(np.array([[0.1, 20.0, 2.0], [0.2, 20.0, 3.0]]), features)
    hogged = np.array([1.0, 48.0, 40.0])
    shared = np.array([1.0, 48.0, 3.0])  # a replica took half the requests: fast again
    assert in_effect("scale_out", shared, features, bounds)
    assert not in_effect("migrate", shared, features, bounds)  # the hog still runs
    assert in_effect("migrate", np.array([0.2, 21.0, 40.0]), features, bounds)
    assert not in_effect("scale_out", hogged, features, bounds)


def test_first_in_effect_is_the_first_step_after_the_action() -> None:
    features = ("throughput", "connections")
    bounds = {"throughput": 50.0, "connections": 5.0}
    times = [10.0, 11.0, 12.0, 13.0, 14.0]
    rows = np.array([[30.0, 2.0], [300.0, 900.0], [40.0, 3.0], [300.0, 9.0], [40.0, 2.0]])
    assert first_in_effect(times, rows, 10.5, "guard", features, bounds) == 12.0
    assert first_in_effect(times, rows, 12.0, "guard", features, bounds) == 14.0
    assert first_in_effect(times, rows, 14.0, "guard", features, bounds) is None


def test_the_condition_of_a_step_is_what_ran_in_it() -> None:
    conditions = [Condition("high_cpu", 20.0, 30.0), Condition("mixed", 35.0, 75.0)]
    assert condition_at(conditions, 20.0, 1.0) is None  # step (19, 20]: before the hog
    assert condition_at(conditions, 21.0, 1.0) == conditions[0]
    assert condition_at(conditions, 30.5, 1.0) == conditions[0]  # (29.5, 30.5] held some
    assert condition_at(conditions, 32.0, 1.0) is None
    assert condition_at(conditions, 75.0, 1.0) == conditions[1]


@given(
    st.lists(
        st.tuples(st.floats(-1e6, 1e6, allow_nan=False), st.floats(0, 1e6, allow_nan=False)),
        min_size=1,
        max_size=30,
    )
)
def test_every_normal_row_is_within_the_bounds(rows: list[tuple[float, float]]) -> None:
    features = ("throughput", "connections")
    bounds = normal_bounds(np.array(rows), features)
    assert all(in_effect("guard", np.array(row), features, bounds) for row in rows)


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


def test_a_step_names_the_families_of_attacks_whose_metrics_it_has_above_bounds() -> None:
    """What lets a new attack through the loop's cooldown and settle (realcnf): a hog
    while a guard settles moves the host's metrics, which the guard's alert did not."""
    bounds = {"cpu": 0.02, "connections": 14.0, "load": 1.5, "memory_rss": 29.0}
    hog = {"cpu": 0.9, "connections": 2.0, "load": 9.0, "memory_rss": 20.0}
    assert above(hog, bounds) == ["cpu", "load"]
    assert families(above(hog, bounds)) == {"host"}  # the machine's load is no evidence
    flood = hog | {"cpu": 0.01, "connections": 300.0}
    assert families(above(flood, bounds)) == {"network"}
    assert families(["load", "disk_write"]) == frozenset()

"""The decision engine's confusion matrix (secmas.analytics.confusion), and the DE's choice
on the real CNF's recorded attacks (floods used to be isolated)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from secmas.analytics.confusion import (
    NO_CHOICE,
    ConfusionMatrix,
    Episode,
    first_choice,
    met_episodes,
)
from secmas.analytics.csvdata import read_recording
from secmas.analytics.decision import Alert, Mitigation, anomaly_kind, decide
from secmas.analytics.registry import fit_detector
from secmas.analytics.scoring import Fitting, WindowDetector
from secmas.network.dataplane.cnf import METRICS
from secmas.pipeline.realcnf import PERSISTENCE

RECORDING = Path(__file__).parents[2] / "benchmarks" / "recordings" / "cnf-emulated-attacks.csv"
WINDOW = 4


def test_counts_right_share_and_table() -> None:
    episodes = [
        Episode("syn_flood", "cnfGuarded"),
        Episode("syn_flood", "cnfIsolated"),
        Episode("high_cpu", "cnfIsolated"),
        Episode("http_flood", NO_CHOICE),
    ]
    matrix = ConfusionMatrix.of(episodes)
    assert matrix.count("syn_flood", "cnfGuarded") == 1
    assert matrix.count("syn_flood", "cnfIsolated") == 1
    assert matrix.count("high_cpu", "cnfGuarded") == 0
    assert matrix.right == 0.5
    assert matrix.table().splitlines() == [
        "| kind | cnfGuarded | cnfIsolated | none |",
        "|---|---:|---:|---:|",
        "| syn_flood | 1 | 1 | 0 |",
        "| high_cpu | 0 | 1 | 0 |",
        "| http_flood | 0 | 0 | 1 |",
    ]
    assert matrix.to_json()["counts"]["syn_flood"] == {
        "cnfGuarded": 1,
        "cnfIsolated": 1,
        "none": 0,
    }


def test_no_episodes_and_unknown_kinds() -> None:
    assert ConfusionMatrix.of([]).right == 0.0
    with pytest.raises(ValueError, match="unknown kind 'meteor'"):
        Episode("meteor", "cnfGuarded")


def test_first_choice_is_what_the_de_acts_on_first() -> None:
    guard, scale = Mitigation("cnfGuarded", ("web", "1")), Mitigation("cnfScaledOut", ("web",))
    assert first_choice([guard, scale]) == "cnfGuarded"
    assert first_choice([]) == NO_CHOICE


def recorded_episodes() -> list[Episode]:
    """The recording's episodes as the real CNF's loop meets them: the default z-score
    detector, its alert fired after `PERSISTENCE` flagged windows in a row."""
    series = read_recording(RECORDING)
    values = series.values[:, [series.features.index(m) for m in METRICS]]

    def fit(normal: np.ndarray) -> WindowDetector:
        return fit_detector("zscore", normal, METRICS, Fitting(window=WINDOW))

    return met_episodes(values, series.truth(), fit, PERSISTENCE)


def alert(severity: tuple[tuple[str, float], ...], threshold: float = 1.0) -> Alert:
    """An unprofiled alert of the CNF `web` with these severities."""
    return Alert(0.0, "web", "pop", 2.0 * threshold, threshold, (), severity=severity)


def test_recorded_floods_are_guarded_and_host_incidents_isolated() -> None:
    """20 recorded episodes, 4 of each kind: every flood gets the guard from the DE's own
    rules (no isolation that finds nothing and falls back), every hog or leak isolation."""
    episodes = recorded_episodes()
    for episode in episodes:  # sane ratios, not ×10⁹
        assert 0 < max(ratio for _, ratio in episode.severity) < 1e4
    matrix = ConfusionMatrix.of(episodes)
    kinds = ("http_flood", "slowloris", "syn_flood", "high_cpu", "high_memory")
    assert set(matrix.kinds) == set(kinds)
    for kind in ("http_flood", "slowloris", "syn_flood"):
        assert matrix.count(kind, "cnfGuarded") == 4, matrix.table()
    for kind in ("high_cpu", "high_memory"):
        assert matrix.count(kind, "cnfIsolated") == 4, matrix.table()
    assert matrix.right == 1.0


def test_a_flood_that_makes_the_cnf_busy_is_still_a_network_anomaly() -> None:
    severity = (("cpu", 60.0), ("load", 40.0), ("throughput", 20.0), ("connections", 9.0))
    assert anomaly_kind(alert(severity)) == "network"


def test_strong_traffic_far_below_a_hog_is_a_host_anomaly() -> None:
    """A connection count flat in training (capped at 5) beside a CPU 108 limits out: the
    hog's, not a flood's (the recorded high_memory episode under IsolationForest)."""
    severity = (("cpu", 108.0), ("memory_rss", 5.0), ("connections", 5.0))
    assert anomaly_kind(alert(severity)) == "host"
    assert [m.goal for m in decide(alert(severity))] == ["cnfIsolated"]


def test_a_flood_that_leads_but_is_nowhere_strong_is_still_a_network_anomaly() -> None:
    """The recorded HTTP flood of episode 16 at the loop's alert: throughput ×7 its normal
    maximum, yet only 4.2 limits out (its training spread was wide), the CPU serving it
    close behind; no feature strong. The DE used to isolate the instance for it."""
    severity = (("net_rx", 4.22), ("throughput", 4.2), ("cpu", 4.19), ("net_tx", 1.28))
    assert anomaly_kind(alert(severity)) == "network"
    assert [m.goal for m in decide(alert(severity))] == ["cnfGuarded"]


def test_an_unclear_anomaly_the_host_leads_is_still_isolated() -> None:
    severity = (("cpu", 4.0), ("memory_rss", 2.0), ("net_tx", 1.3))
    assert anomaly_kind(alert(severity)) == "host"
    assert anomaly_kind(alert((("net_tx", 0.9), ("cpu", 0.5)))) == "host"

"""The decision engine's confusion matrix (secmas.analytics.confusion), and the DE's choice
on the real CNF's recorded attacks (issue 39: floods were isolated)."""

from __future__ import annotations

from pathlib import Path

import pytest

from secmas.analytics.confusion import NO_CHOICE, ConfusionMatrix, Episode, first_choice
from secmas.analytics.csvdata import read_series
from secmas.analytics.decision import Alert, Mitigation, anomaly_kind, decide
from secmas.analytics.detectors import fit_baseline
from secmas.analytics.events import events
from secmas.network.dataplane.cnf import METRICS

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
    """Each attack or incident of the recording as the loop meets it: the default z-score
    detector trained on the normal stretch before it (as after a re-baselining), the DE
    deciding on the first flagged window inside it."""
    series = read_series(RECORDING)
    values = series.values[:, [series.features.index(m) for m in METRICS]]
    found, before = [], 0
    for event in events(series.truth()):
        detector = fit_baseline("zscore", values[before + 2 : event.start], METRICS, window=WINDOW)
        scores = detector.score(values[before : event.stop])
        inside = [i for i in scores.flagged if scores.end[i] + before >= event.start]
        choice = NO_CHOICE
        if inside:
            i = inside[0]
            severity = detector.severity(scores.per_feature[i])
            assert max(ratio for _, ratio in severity) < 1e4  # sane ratios, not ×10⁹
            choice = first_choice(decide(alert(severity, float(scores.limit[i]))))
        found.append(Episode(event.label, choice))
        before = event.stop
    return found


def alert(severity: tuple[tuple[str, float], ...], threshold: float = 1.0) -> Alert:
    """An unprofiled alert of the CNF `web` with these severities."""
    return Alert(0.0, "web", "pop", 2.0 * threshold, threshold, (), severity=severity)


def test_recorded_floods_are_guarded_and_host_incidents_isolated() -> None:
    matrix = ConfusionMatrix.of(recorded_episodes())
    assert set(matrix.kinds) == {"http_flood", "slowloris", "syn_flood", "high_cpu", "high_memory"}
    for kind in ("slowloris", "syn_flood"):
        assert matrix.count(kind, "cnfGuarded") == 1
    for kind in ("high_cpu", "high_memory"):
        assert matrix.count(kind, "cnfIsolated") == 1
    # no episode gets a remedy of the wrong kind (the recording's HTTP flood is frozen at
    # its normal rate, issue 39, so it may go unseen: `none`, never an isolation)
    assert matrix.count("http_flood", "cnfIsolated") == 0
    assert matrix.right >= 0.8


def test_a_flood_that_makes_the_cnf_busy_is_still_a_network_anomaly() -> None:
    severity = (("cpu", 60.0), ("load", 40.0), ("throughput", 20.0), ("connections", 9.0))
    assert anomaly_kind(alert(severity)) == "network"


def test_strong_traffic_far_below_a_hog_is_a_host_anomaly() -> None:
    """A connection count flat in training (capped at 5) beside a CPU 108 limits out: the
    hog's, not a flood's (issue 39's high_memory episode under IsolationForest)."""
    severity = (("cpu", 108.0), ("memory_rss", 5.0), ("connections", 5.0))
    assert anomaly_kind(alert(severity)) == "host"
    assert [m.goal for m in decide(alert(severity))] == ["cnfIsolated"]

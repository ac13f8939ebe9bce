"""`--model auto` (secmas.analytics.selection): the benchmark's order, validated on
held-out normal data (false alarms decide; injected spikes, level shifts and drifts are
reported), the reasons it reports, and its choice on a shipped real series."""

from __future__ import annotations

import numpy as np
import pytest

from secmas.analytics.datasets import shipped_ecg
from secmas.analytics.events import events, score_events
from secmas.analytics.options import DEFAULT_DETECTOR
from secmas.analytics.registry import benchmark_order, detector_names, fit_detector
from secmas.analytics.scoring import Fitting
from secmas.analytics.selection import (
    FALSE_ALARM_BUDGET,
    INJECTIONS,
    SEEN_AUC,
    choose_detector,
    inject_anomalies,
)


def normal(steps: int = 600) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(steps)
    cpu = 0.5 + 0.2 * np.sin(t / 3) + 0.01 * rng.standard_normal(steps)
    connections = 40 + 60 * (cpu - 0.5) + 0.5 * rng.standard_normal(steps)
    return np.stack([cpu, connections], axis=1)


def test_injections_cycle_through_kinds_and_metrics_with_normal_gaps() -> None:
    series = normal(400)
    sigma = np.array([0.1, 2.0])
    data, labels = inject_anomalies(series, sigma, window=10, seed=1)
    found = events(labels)
    assert [e.label for e in found[:3]] == list(INJECTIONS)
    spike = found[0]
    assert spike.length == 1
    assert abs(data[spike.start, 0] - series[spike.start, 0]) == pytest.approx(0.6)
    shift = found[1]
    moved = data[shift.start : shift.stop, 0] - series[shift.start : shift.stop, 0]
    assert shift.length == 30 and np.allclose(np.abs(moved), 0.3)
    assert found[3].label == "spike" and not np.allclose(data[:, 1], series[:, 1])
    normal_steps = labels == "normal"
    np.testing.assert_array_equal(data[normal_steps], series[normal_steps])


def drifting(steps: int = 600) -> np.ndarray:
    """A regular signal whose level climbs all along: later normal rows sit above every
    level the fitting part held, which a z-score of levels flags and a discord does not."""
    t = np.arange(steps)
    rng = np.random.default_rng(1)
    return (np.sin(t / 3) + t / 20 + 0.01 * rng.standard_normal(steps))[:, None]


def test_benchmark_order_holds_every_detector_and_the_default_is_auto() -> None:
    order = benchmark_order()
    assert sorted(order) == sorted(detector_names())
    assert order == ("zscore", "discord", "pca", "iforest", "lstm-ae")
    assert DEFAULT_DETECTOR == "auto"


def test_auto_takes_the_first_in_the_benchmark_order_within_the_false_alarm_budget() -> None:
    notes: list[str] = []
    detector, selection = choose_detector(
        normal(),
        ("cpu", "connections"),
        candidates=("iforest", "pca", "zscore"),
        fitting=Fitting(note=notes.append),
    )
    assert [c.name for c in selection.candidates] == ["zscore"]  # the first passed
    first = selection.candidates[0]
    assert first.within_budget and first.false_alarm_share <= FALSE_ALARM_BUDGET
    assert selection.chosen == detector.name == "zscore"
    assert selection.reason.startswith("zscore: the first in the benchmark's order")
    report = selection.to_json()
    assert report["order"] == list(benchmark_order()) and report["false_alarm_budget"] == 0.03
    assert report["candidates"][0]["normal_windows"] == first.normal_windows > 0
    assert not any("validating pca" in n for n in notes)
    assert detector.score(normal()).score.shape == (591,)  # refitted on the whole series


def test_auto_passes_over_a_detector_that_false_alarms_on_held_out_normal_data() -> None:
    detector, selection = choose_detector(drifting(), ("cpu",), candidates=("zscore", "discord"))
    zscore, discord = selection.candidates
    assert zscore.name == "zscore" and not zscore.within_budget
    assert zscore.false_alarm_share > 0.5  # the drift leaves every level it learnt
    assert discord.within_budget and detector.name == selection.chosen == "discord"
    assert "tried before: zscore" in selection.reason


def test_auto_without_a_candidate_within_budget_takes_the_fewest_false_alarms() -> None:
    _, selection = choose_detector(drifting(), ("cpu",), candidates=("zscore", "pca"))
    assert not any(c.within_budget for c in selection.candidates)
    fewest = min(selection.candidates, key=lambda c: c.false_alarm_share)
    assert selection.chosen == fewest.name
    assert "none flagged at most 3%" in selection.reason


def test_auto_chooses_the_zscore_on_a_shipped_real_series_and_it_matches_the_references() -> None:
    """On the shipped MIT-BIH ECG (real, labelled; not made by the project) auto keeps the
    benchmark's first, the z-score, which finds the labelled anomaly with a window F1 at least the
    discord reference's (benchmarks/results/detectors.md)."""
    normal_part, labelled = shipped_ecg()
    detector, selection = choose_detector(normal_part.values, normal_part.features)
    assert selection.chosen == detector.name == benchmark_order()[0]
    found = {}
    for name, fitted in (
        ("auto", detector),
        ("discord", fit_detector("discord", normal_part.values, normal_part.features)),
    ):
        scores = fitted.score(labelled.values)
        found[name] = score_events(scores.flags, labelled.labels, ends=scores.end, span=10)
    assert found["auto"].event_recall == 1.0
    assert found["auto"].f1 >= found["discord"].f1 > 0


def beats(steps: int = 2000) -> np.ndarray:
    """A heartbeat: a noisy baseline with a narrow tall beat every 20 steps. Its median
    and MAD are the baseline's, so the beats sit dozens of MADs away and a spike of 6σ is
    smaller than every beat: a z-score of levels does not see it; shapes do."""
    rng = np.random.default_rng(2)
    t = np.arange(steps)
    beat = 10.0 * np.exp(-(((t % 20) - 10) ** 2) / 4.0)
    return (beat + 0.2 * rng.standard_normal(steps))[:, None]


def test_auto_passes_over_a_detector_blind_to_the_injected_events() -> None:
    detector, selection = choose_detector(beats(), ("ecg",), candidates=("zscore", "discord"))
    zscore = selection.candidates[0]
    assert zscore.name == "zscore" and zscore.within_budget  # quiet on normal data …
    assert zscore.roc_auc is not None and zscore.roc_auc < SEEN_AUC  # … and blind
    assert not zscore.sees_injections and not zscore.passes
    assert selection.chosen == detector.name == "discord" and selection.candidates[1].passes
    assert "tried before: zscore 2% flagged, ROC-AUC 0.52" in selection.reason
    assert selection.to_json()["candidates"][0]["sees_injections"] is False


def test_auto_on_too_few_rows_fits_the_first_candidate_and_says_why() -> None:
    detector, selection = choose_detector(
        normal(200), ("cpu", "connections"), candidates=("pca", "zscore")
    )
    assert detector.name == selection.chosen == "zscore" and selection.candidates == ()
    assert selection.reason == (
        "zscore: the first in the benchmark's order (zscore, discord, pca, iforest, lstm-ae); "
        "200 normal rows are too few to validate on (auto needs 270 for window 10: "
        "17·window to validate on, 10·window to fit)"
    )
    assert detector.score(normal(200)).score.shape == (191,)


def test_auto_bad_input() -> None:
    with pytest.raises(ValueError, match=r"too few to validate on .* no candidate detector"):
        choose_detector(
            normal(40)[:, :1], ("cpu",), candidates=("discord",), fitting=Fitting(window=2)
        )
    with pytest.raises(ValueError, match="unknown candidates"):
        choose_detector(normal(), ("cpu", "connections"), candidates=("lof",))
    detector, selection = choose_detector(
        normal(), ("cpu", "connections"), candidates=("pca", "discord"), fitting=Fitting(window=2)
    )
    failed = next(c for c in selection.candidates if c.name == "discord")
    assert failed.error and "≥ 3 steps" in failed.error and detector.name == "pca"

"""`--model auto` (secmas.analytics.selection): validation on held-out normal data with
injected spikes, level shifts and drifts, and the reasons it reports."""

from __future__ import annotations

import numpy as np
import pytest

from secmas.analytics.events import events
from secmas.analytics.selection import INJECTIONS, choose_detector, inject_anomalies


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


def test_auto_reports_every_candidate_and_picks_the_best_f1() -> None:
    notes: list[str] = []
    detector, selection = choose_detector(
        normal(), ("cpu", "connections"), candidates=("zscore", "pca", "iforest"), note=notes.append
    )
    assert {c.name for c in selection.candidates} == {"zscore", "pca", "iforest"}
    best = max(selection.candidates, key=lambda c: c.f1)
    assert selection.chosen == detector.name == best.name
    assert selection.reason.startswith(f"{best.name}: the highest window F1 ({best.f1:.3f}")
    assert "injected spikes, level shifts and drifts" in selection.reason
    report = selection.to_json()
    assert report["chosen"] == best.name and len(report["candidates"]) == 3
    assert all(0 <= c["window_f1"] <= 1 and c["roc_auc"] is not None for c in report["candidates"])
    assert any(n.startswith("auto: validating pca") for n in notes)
    assert detector.score(normal()).score.shape == (591,)  # refitted on the whole series


def test_auto_bad_input() -> None:
    with pytest.raises(ValueError, match="needs at least 270 normal rows"):
        choose_detector(normal(200), ("cpu", "connections"), candidates=("zscore",))
    with pytest.raises(ValueError, match="unknown candidates"):
        choose_detector(normal(), ("cpu", "connections"), candidates=("lof",))
    detector, selection = choose_detector(
        normal(), ("cpu", "connections"), candidates=("discord", "zscore"), window=2
    )
    failed = next(c for c in selection.candidates if c.name == "discord")
    assert failed.error and "≥ 3 steps" in failed.error and detector.name == "zscore"

"""MLP / Random Forest / SVM baselines and the Table 2/3 comparison (004_… Section 6.2)."""

from __future__ import annotations

import numpy as np
import pytest

from secmas.analytics.baselines import (
    BASELINES,
    BINARY,
    MULTICLASS,
    WindowClassifier,
    baseline_model,
    classification_table,
    compare,
    make_estimator,
    profiler_model,
    summary_features,
    window_features,
)
from secmas.analytics.profiling import PROFILE_CLASSES
from secmas.analytics.windows import Scaler

KNOWN = PROFILE_CLASSES[:4]  # normal, high_cpu, high_memory, traffic_spike


def make_windows(per_class: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Noise windows [N, 8, 4]; class k > 0 lifts channel k − 1 by 4."""
    rng = np.random.default_rng(seed)
    labels = [c for c in KNOWN for _ in range(per_class)]
    x = rng.normal(size=(len(labels), 8, 4)).astype(np.float32)
    for i, label in enumerate(labels):
        k = KNOWN.index(label)
        if k:
            x[i, :, k - 1] += 4.0
    return x, labels


def test_summary_features_by_hand() -> None:
    window = np.array([[[1.0, 0.0], [3.0, 2.0], [2.0, 4.0]]])  # [1, T=3, F=2]
    stats = summary_features(window)
    std0 = np.std([1.0, 3.0, 2.0])
    std1 = np.std([0.0, 2.0, 4.0])
    expected = [2.0, 2.0, std0, std1, 1.0, 0.0, 3.0, 4.0, 1.0, 4.0]  # mean, std, min, max, Δ
    assert stats.shape == (1, 10)
    assert stats[0] == pytest.approx(expected)
    scaler = Scaler(np.zeros(2), np.ones(2))
    assert window_features(window, scaler).shape == (1, 3 * 2 + 5 * 2)
    assert window_features(window, scaler, summary=False).shape == (1, 6)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", BASELINES)
def test_each_baseline_learns_tiny_data(name: str) -> None:
    x, labels = make_windows(12, seed=0)
    test_x, test_labels = make_windows(5, seed=1)
    model = WindowClassifier(make_estimator(name, seed=0)).fit(x, labels)
    guesses = model.predict(test_x)
    assert set(guesses) <= set(KNOWN)
    assert np.mean(np.array(guesses) == np.array(test_labels)) > 0.75  # chance is 1/4


def test_unknown_baseline_and_unfitted_use_are_refused() -> None:
    with pytest.raises(ValueError, match="xgboost"):
        baseline_model("xgboost")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="not been fitted"):
        WindowClassifier(make_estimator("svm")).predict(np.zeros((1, 2, 2)))


def test_tasks_relabel_original_conditions() -> None:
    labels = ["normal", "high_cpu", "disk_storm", "unknown"]
    assert BINARY.relabel(labels) == ["normal", "anomalous", "anomalous", "anomalous"]
    assert MULTICLASS.relabel(labels) == ["normal", "high_cpu", "unknown", "unknown"]


def test_one_profiler_serves_both_tasks() -> None:
    x, labels = make_windows(4, seed=2)
    fit = profiler_model(width=0.25, epochs=1, seed=0)
    binary = fit(x, labels, BINARY)
    multiclass = fit(x, labels, MULTICLASS)
    assert binary.__self__ is multiclass.__self__  # type: ignore[attr-defined]
    assert set(binary(x)) <= {"normal", "anomalous"}


def test_the_profiler_trains_on_the_classes_it_is_given() -> None:
    x, labels = make_windows(4, seed=2)
    recorded = ("normal", "syn_flood", "high_cpu")
    keep = [i for i, label in enumerate(labels) if label in ("normal", "high_cpu", "high_memory")]
    mine = [{"high_memory": "syn_flood"}.get(labels[i], labels[i]) for i in keep]
    fit = profiler_model(width=0.25, epochs=1, seed=0, classes=recorded)
    predict = fit(x[keep], mine, MULTICLASS)
    assert predict.__self__.classes == recorded  # type: ignore[attr-defined]
    assert set(predict(x[keep])) <= {*recorded, "unknown"}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_compare_builds_table_rows() -> None:
    train = make_windows(10, seed=3)
    test_x, test_labels = make_windows(4, seed=4)
    test_labels[-1] = "disk_storm"  # an unseen condition: scored as "unknown"
    models = {
        "1D-CNN": profiler_model(width=0.25, epochs=2, lr=0.01, seed=0),
        "Random Forest": baseline_model("random_forest"),
        "SVM": baseline_model("svm", summary=False),
    }
    rows = compare(train, (test_x, test_labels), (BINARY, MULTICLASS), models)
    assert [(r.task, r.model) for r in rows] == [
        (task, model) for task in ("binary", "multiclass") for model in models
    ]
    for row in rows:
        for value in (row.accuracy, row.precision, row.recall, row.f1):
            assert 0.0 <= value <= 1.0
        assert row.fit_seconds >= 0 and row.predict_ms_per_window >= 0
    forest = next(r for r in rows if r.task == "binary" and r.model == "Random Forest")
    assert forest.accuracy > 0.75
    table = classification_table(rows)
    assert table.count("\n") == 1 + len(rows)
    assert "| multiclass | SVM |" in table

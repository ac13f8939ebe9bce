"""Baseline classifiers and the comparison of Tables 2 and 3 (004_… Section 6.2).

Tables 2 and 3 of 004_e7e54a2542bcd055.txt compare the 1D-CNN profiler with a Multi-Layer
Perceptron, a Random Forest and an SVM on the binary (normal / anomalous) and the 7-class task.
The source gives no details of the baselines; ours (scikit-learn, fixed seeds):

* input: each window [T, F] is standardised with a `Scaler` fitted on the training windows,
  flattened to T·F values and, with `summary=True` (default), extended by five statistics per
  feature over the window — mean, standard deviation, minimum, maximum and last − first — so the
  models see level, spread and trend without having to learn them from raw steps;
* MLP: `MLPClassifier` with hidden layers (64, 32), ReLU, Adam, up to 300 iterations (it has
  no class weighting);
* Random Forest: 100 trees, balanced class weights;
* SVM: `SVC` with an RBF kernel, C = 1, gamma "scale", balanced class weights.

`compare` trains each model of a mapping per task and scores it on a test set; the CNN takes
part through `profiler_model`, so a benchmark can put them side by side (`classification_table`
renders the rows).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from secmas.analytics.metrics import Average, classification_scores
from secmas.analytics.profiling import PROFILE_CLASSES, TwoStageProfiler
from secmas.analytics.windows import Scaler

Baseline = Literal["mlp", "random_forest", "svm"]
BASELINES: tuple[Baseline, ...] = ("mlp", "random_forest", "svm")
SUMMARY_STATS: tuple[str, ...] = ("mean", "std", "min", "max", "delta")
"""Per-feature statistics appended by `summary_features` (delta = last − first)."""

Predict = Callable[[np.ndarray], Sequence[str]]


@dataclass(frozen=True)
class Task:
    """A classification task: its label set and how original labels map onto it.

    For a binary task every label other than "normal" becomes `positive`; for a multiclass task
    a label outside `labels` (e.g. an attack or pattern the profiler was not trained on) becomes
    "unknown" — the answer an open-set profiler should give for it.
    """

    name: str
    labels: tuple[str, ...]
    average: Average
    positive: str | None = None

    def relabel(self, labels: Sequence[str]) -> list[str]:
        if self.average == "binary":
            return ["normal" if label == "normal" else str(self.positive) for label in labels]
        return [label if label in self.labels else "unknown" for label in labels]


BINARY = Task("binary", ("normal", "anomalous"), "binary", positive="anomalous")
"""Table 2: normal vs anomalous, scores of the anomalous class."""
MULTICLASS = Task("multiclass", PROFILE_CLASSES, "macro")
"""Table 3: the 7 profile classes, macro-averaged (use average="weighted" to match its rows)."""

Fit = Callable[[np.ndarray, Sequence[str], Task], Predict]
"""Train on windows with their original condition labels for a task; returns a predictor."""


def summary_features(windows: np.ndarray) -> np.ndarray:
    """Per-feature mean, std, min, max and last − first of windows [N, T, F] → [N, 5·F]."""
    x = np.asarray(windows, dtype=np.float32)
    stats = (x.mean(1), x.std(1), x.min(1), x.max(1), x[:, -1] - x[:, 0])
    return np.concatenate(stats, axis=1)


def window_features(windows: np.ndarray, scaler: Scaler, *, summary: bool = True) -> np.ndarray:
    """Flattened scaled windows [N, T·F], plus `summary_features` when asked."""
    x = np.asarray(windows)
    if x.ndim != 3:
        raise ValueError(f"expected windows [N, T, F], got shape {x.shape}")
    scaled = scaler.transform(x)
    flat = scaled.reshape(len(scaled), -1)
    return np.concatenate([flat, summary_features(scaled)], axis=1) if summary else flat


def make_estimator(name: Baseline, seed: int = 0) -> ClassifierMixin:
    """An unfitted scikit-learn baseline with the settings of the module docstring."""
    if name == "mlp":
        return MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=300, random_state=seed)
    if name == "random_forest":
        return RandomForestClassifier(
            n_estimators=100, class_weight="balanced", random_state=seed, n_jobs=1
        )
    if name == "svm":
        return SVC(kernel="rbf", C=1.0, gamma="scale", class_weight="balanced", random_state=seed)
    raise ValueError(f"unknown baseline {name!r}; choose from {BASELINES}")


class WindowClassifier:
    """A scikit-learn classifier over scaled, flattened windows (+ summary statistics)."""

    def __init__(self, estimator: Any, *, summary: bool = True) -> None:
        self.estimator = estimator
        self.summary = summary
        self.scaler: Scaler | None = None

    def fit(self, windows: np.ndarray, labels: Sequence[str]) -> WindowClassifier:
        x = np.asarray(windows)
        if len(x) != len(labels):
            raise ValueError(f"{len(x)} windows but {len(labels)} labels")
        self.scaler = Scaler.fit(x)
        self.estimator.fit(window_features(x, self.scaler, summary=self.summary), list(labels))
        return self

    def predict(self, windows: np.ndarray) -> list[str]:
        if self.scaler is None:
            raise RuntimeError("the classifier has not been fitted")
        guesses = self.estimator.predict(
            window_features(windows, self.scaler, summary=self.summary)
        )
        return [str(g) for g in guesses]


def baseline_model(name: Baseline, *, seed: int = 0, summary: bool = True) -> Fit:
    """A `Fit` for `compare`: trains the named baseline on the task's labels."""
    make_estimator(name, seed)  # fail early on a bad name

    def fit(windows: np.ndarray, labels: Sequence[str], task: Task) -> Predict:
        model = WindowClassifier(make_estimator(name, seed), summary=summary)
        return model.fit(windows, task.relabel(labels)).predict

    return fit


def profiler_model(**fit_options: Any) -> Fit:
    """A `Fit` for `compare` training a `TwoStageProfiler` (options go to its `fit`).

    One profiler serves both tasks, as in the system: the binary task reads stage 1 alone
    (`predict_binary`), the multiclass task the full two-stage answer. The profiler trained for
    one task is reused for the next when the training windows and labels are the same objects.
    Training labels outside the profiler's classes (option `classes`, default
    `PROFILE_CLASSES`) are trained as "unknown".
    """
    cache: dict[tuple[int, int], TwoStageProfiler] = {}
    known = Task("profiler", tuple(fit_options.get("classes", PROFILE_CLASSES)), "macro")

    def fit(windows: np.ndarray, labels: Sequence[str], task: Task) -> Predict:
        key = (id(windows), id(labels))
        if key not in cache:
            cache.clear()
            cache[key] = TwoStageProfiler.fit(windows, known.relabel(labels), **fit_options)
        profiler = cache[key]
        return profiler.predict_binary if task.average == "binary" else profiler.predict

    return fit


def default_models(seed: int = 0, **profiler_options: Any) -> dict[str, Fit]:
    """The four rows of Tables 2/3: the 1D-CNN profiler, MLP, Random Forest and SVM."""
    models: dict[str, Fit] = {"1D-CNN": profiler_model(seed=seed, **profiler_options)}
    labels = {"mlp": "MLP", "random_forest": "Random Forest", "svm": "SVM"}
    models |= {labels[name]: baseline_model(name, seed=seed) for name in BASELINES}
    return models


@dataclass(frozen=True)
class Row:
    """One row of a Table 2/3-like comparison."""

    task: str
    model: str
    accuracy: float
    precision: float
    recall: float
    f1: float
    fit_seconds: float
    predict_ms_per_window: float


def compare(
    train: tuple[np.ndarray, Sequence[str]],
    test: tuple[np.ndarray, Sequence[str]],
    tasks: Sequence[Task] = (BINARY, MULTICLASS),
    models: Mapping[str, Fit] | None = None,
) -> list[Row]:
    """Train every model for every task on `train`, score it on `test` (windows, labels).

    Labels are the original condition names; each task maps them (`Task.relabel`) for both
    the truth and the predictions. `models` defaults to `default_models()`.
    """
    chosen = default_models() if models is None else models
    windows, labels = train
    test_windows, test_labels = test
    rows: list[Row] = []
    for task in tasks:
        truth = task.relabel(test_labels)
        for name, fit in chosen.items():
            started = time.perf_counter()
            predict = fit(windows, labels, task)
            trained = time.perf_counter()
            guesses = task.relabel(predict(test_windows))
            done = time.perf_counter()
            scores = classification_scores(
                truth, guesses, task.labels, average=task.average, positive=task.positive
            )
            per_window = 1000 * (done - trained) / max(1, len(test_windows))
            rows.append(Row(task.name, name, *scores, trained - started, per_window))
    return rows


def classification_table(rows: Sequence[Row]) -> str:
    """A Markdown table of `compare` rows (one block per task, as Tables 2 and 3)."""
    lines = [
        "| Task | Algorithm | Accuracy | Precision | Recall | F1-Score | Fit (s) | ms/window |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.task} | {r.model} | {r.accuracy:.4f} | {r.precision:.4f} | {r.recall:.4f} | "
            f"{r.f1:.4f} | {r.fit_seconds:.2f} | {r.predict_ms_per_window:.3f} |"
        )
    return "\n".join(lines)

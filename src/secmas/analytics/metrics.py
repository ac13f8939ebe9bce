"""Classification and regression scores for the profiling evaluation (004_… Sections 6.2–6.3).

Tables 2 and 3 of 004_e7e54a2542bcd055.txt report accuracy, precision, recall and F1 for a
binary (normal / anomalous) and a 7-class profiler; Section 6.3 reports R², MAE and RMSE for
the CPU and memory (RSS) forecasters. The source does not say how the per-class scores of
Table 3 were averaged; its baseline rows have recall equal to accuracy (MLP 0.8718/0.8718,
Random Forest 0.8956/0.8956, SVM 0.8410/0.8410), which is what support-weighted recall always
gives, so the weighted average is available for a like-for-like comparison. Our default for
several classes is the macro average (every class counts the same, so rare anomaly types are
not drowned by the normal class); binary scores are those of the positive class
("anomalous").

Section 6.3's RSS row (MAE 23815.3 > RMSE 16443.2) cannot come from one set of errors
(MAE ≤ RMSE always); the definitions below are the standard ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np

Average = Literal["macro", "weighted", "binary"]


class Scores(NamedTuple):
    """Classification scores (Tables 2 and 3 of 004_…)."""

    accuracy: float
    precision: float
    recall: float
    f1: float


class Regression(NamedTuple):
    """Regression scores of Section 6.3 of 004_…, in the units of the target."""

    r2: float
    mae: float
    rmse: float


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Confusion matrix [true, predicted] over `labels`; ValueError for a label not listed."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    index = {label: i for i, label in enumerate(labels)}
    if len(index) != len(labels):
        raise ValueError(f"duplicate labels in {list(labels)}")
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for truth, guess in zip(y_true, y_pred, strict=True):
        for label in (truth, guess):
            if label not in index:
                raise ValueError(f"label {label!r} is not one of {list(labels)}")
        matrix[index[truth], index[guess]] += 1
    return matrix


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0 when the denominator is 0 (no predictions / no support)."""
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


def classification_scores(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    labels: Sequence[str],
    *,
    average: Average | None = None,
    positive: str | None = None,
) -> Scores:
    """Accuracy, precision, recall and F1 of `y_pred` against `y_true`.

    average:
      "binary"   – scores of the class `positive` only (default "anomalous" when it is one of
                   two labels, else the second label); Table 2's setting;
      "macro"    – unweighted mean of the per-class precision, recall and F1 (F1 is the mean of
                   the per-class F1 values, not the F1 of the means);
      "weighted" – per-class scores weighted by their support in `y_true` (recall then equals
                   accuracy, as in the baseline rows of Table 3).
    The default is "binary" for two labels and "macro" otherwise. A class that is never
    predicted has precision 0, one with no support recall 0. The macro mean runs over the
    classes that occur in `y_true` or `y_pred` (a class absent from both has no defined
    scores; e.g. a test set with no "unknown" windows, none predicted, is not penalised for it).
    """
    matrix = confusion(y_true, y_pred, labels)
    total = int(matrix.sum())
    if total == 0:
        raise ValueError("no samples to score")
    accuracy = float(np.trace(matrix)) / total
    if average is None:
        average = "binary" if len(labels) == 2 else "macro"
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    precisions = [_ratio(matrix[i, i], predicted[i]) for i in range(len(labels))]
    recalls = [_ratio(matrix[i, i], support[i]) for i in range(len(labels))]
    f1s = [_f1(p, r) for p, r in zip(precisions, recalls, strict=True)]
    if average == "binary":
        if positive is None:
            positive = "anomalous" if "anomalous" in labels else labels[-1]
        if len(labels) != 2 or positive not in labels:
            raise ValueError(f"binary scores need two labels including {positive!r}: {labels}")
        i = list(labels).index(positive)
        return Scores(accuracy, precisions[i], recalls[i], f1s[i])
    if average == "macro":
        present = (support + predicted) > 0
        weights = present / present.sum()
    elif average == "weighted":
        weights = support / total
    else:
        raise ValueError(f"unknown average {average!r}")
    return Scores(
        accuracy,
        float(np.dot(weights, precisions)),
        float(np.dot(weights, recalls)),
        float(np.dot(weights, f1s)),
    )


def regression_scores(
    y: np.ndarray | Sequence[float], y_hat: np.ndarray | Sequence[float]
) -> Regression:
    """R² (coefficient of determination), MAE and RMSE of `y_hat` against `y` (Section 6.3).

    R² = 1 − SS_res / SS_tot; for a constant `y` (SS_tot = 0) it is 1 for a perfect fit and
    0 otherwise, so the result is always finite.
    """
    truth = np.asarray(y, dtype=np.float64).ravel()
    guess = np.asarray(y_hat, dtype=np.float64).ravel()
    if truth.shape != guess.shape:
        raise ValueError(f"{truth.size} values but {guess.size} predictions")
    if truth.size == 0:
        raise ValueError("no values to score")
    error = guess - truth
    ss_res = float(np.sum(error**2))
    ss_tot = float(np.sum((truth - truth.mean()) ** 2))
    perfect = 1.0 if ss_res == 0 else 0.0
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else perfect
    return Regression(r2, float(np.mean(np.abs(error))), math.sqrt(ss_res / truth.size))

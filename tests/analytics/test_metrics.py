"""Classification and regression scores, checked against hand computations (004_… 6.2–6.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from secmas.analytics.metrics import (
    Regression,
    Scores,
    classification_scores,
    confusion,
    regression_scores,
)

N, A = "normal", "anomalous"


def test_binary_scores_are_those_of_the_anomalous_class() -> None:
    # TP = 1 (index 3), FP = 1 (index 1), FN = 1 (index 4), TN = 2.
    truth = [N, N, N, A, A]
    guess = [N, A, N, A, N]
    scores = classification_scores(truth, guess, (N, A))
    assert scores == pytest.approx(Scores(0.6, 0.5, 0.5, 0.5))
    # Positive class listed first: still "anomalous" by default.
    assert classification_scores(truth, guess, (A, N), average="binary") == pytest.approx(scores)


def test_binary_scores_with_an_explicit_positive_class() -> None:
    truth = [N, N, N, A, A]
    guess = [N, N, N, N, A]
    # Positive "normal": TP = 3, FP = 1, FN = 0.
    scores = classification_scores(truth, guess, (N, A), average="binary", positive=N)
    assert scores == pytest.approx(Scores(0.8, 0.75, 1.0, 2 * 0.75 / 1.75))


def test_macro_and_weighted_averages_by_hand() -> None:
    truth = ["a", "a", "a", "b", "b", "c"]
    guess = ["a", "a", "b", "b", "c", "c"]
    # a: P 2/2, R 2/3; b: P 1/2, R 1/2; c: P 1/2, R 1/1.
    precision = (1.0, 0.5, 0.5)
    recall = (2 / 3, 0.5, 1.0)
    f1 = tuple(2 * p * r / (p + r) for p, r in zip(precision, recall, strict=True))
    macro = classification_scores(truth, guess, ("a", "b", "c"))
    assert macro == pytest.approx(Scores(4 / 6, sum(precision) / 3, sum(recall) / 3, sum(f1) / 3))
    weights = (3 / 6, 2 / 6, 1 / 6)
    weighted = classification_scores(truth, guess, ("a", "b", "c"), average="weighted")
    expected = [
        sum(w * v for w, v in zip(weights, vals, strict=True)) for vals in (precision, recall, f1)
    ]
    assert weighted == pytest.approx(Scores(4 / 6, *expected))
    assert weighted.recall == pytest.approx(weighted.accuracy)  # as in Table 3's baselines


def test_macro_skips_classes_neither_present_nor_predicted() -> None:
    truth = ["a", "a", "b"]
    guess = ["a", "a", "b"]
    assert classification_scores(truth, guess, ("a", "b", "unknown")) == Scores(1, 1, 1, 1)
    # A class predicted without support counts, with precision 0.
    spurious = classification_scores(truth, ["a", "unknown", "b"], ("a", "b", "unknown"))
    assert spurious.precision == pytest.approx((1 + 1 + 0) / 3)
    assert spurious.recall == pytest.approx((0.5 + 1 + 0) / 3)


def test_never_predicted_class_has_zero_precision() -> None:
    scores = classification_scores([N, A], [N, N], (N, A))
    assert scores == Scores(0.5, 0.0, 0.0, 0.0)


def test_confusion_matrix_and_bad_input() -> None:
    assert confusion(["a", "b", "b"], ["b", "b", "a"], ("a", "b")).tolist() == [[0, 1], [1, 1]]
    with pytest.raises(ValueError, match="'z'"):
        classification_scores(["a"], ["z"], ("a", "b"))
    with pytest.raises(ValueError, match="2 true labels but 1"):
        classification_scores(["a", "b"], ["a"], ("a", "b"))
    with pytest.raises(ValueError, match="no samples"):
        classification_scores([], [], ("a", "b"))
    with pytest.raises(ValueError, match="binary"):
        classification_scores(["a"], ["a"], ("a", "b", "c"), average="binary")


def test_regression_scores_by_hand() -> None:
    # errors 0, 0, 0, 1: MAE 1/4, RMSE sqrt(1/4), SS_tot = 5 → R² = 1 − 1/5.
    scores = regression_scores([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0])
    assert scores == pytest.approx(Regression(0.8, 0.25, 0.5))
    assert scores.mae <= scores.rmse


def test_regression_scores_of_a_constant_target_stay_finite() -> None:
    assert regression_scores(np.ones(3), np.ones(3)) == Regression(1.0, 0.0, 0.0)
    off = regression_scores(np.ones(3), np.full(3, 2.0))
    assert off == Regression(0.0, 1.0, 1.0)
    assert math.isfinite(off.r2)
    with pytest.raises(ValueError, match="3 values but 2"):
        regression_scores(np.ones(3), np.ones(2))

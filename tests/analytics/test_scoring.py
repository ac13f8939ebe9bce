"""Per-feature severity of the shared detector plumbing (secmas.analytics.scoring)."""

from __future__ import annotations

import numpy as np
import pytest

from secmas.analytics.detectors import RobustZDetector
from secmas.analytics.registry import fit_detector
from secmas.analytics.scoring import FLAT_CAP, Fitting, still_features
from secmas.analytics.threshold import AdaptiveThreshold, StaticThreshold

FEATURES = ("cpu", "load", "memory_vsize", "connections")


def normal(steps: int = 60, seed: int = 0) -> np.ndarray:
    """cpu and connections vary; load (0) and memory_vsize (30.0977 MB) never move, as on
    the real CNF's first 25 s."""
    rng = np.random.default_rng(seed)
    cpu = 0.006 + 0.001 * rng.standard_normal(steps)
    connections = 2.0 + rng.integers(-1, 2, steps)
    return np.stack([cpu, np.zeros(steps), np.full(steps, 30.0977), connections], axis=1)


def test_a_feature_constant_in_training_cannot_dominate_severity() -> None:
    """memory_vsize constant in training, 477 MB more in the window; connections ten of
    its spreads up: connections explains the window, memory_vsize stays bounded."""
    detector = fit_detector("zscore", normal(), FEATURES, Fitting(window=4))
    window = normal(4, seed=1)
    window[:, FEATURES.index("memory_vsize")] += 477.25
    window[:, FEATURES.index("load")] = 1.0
    window[-2:, FEATURES.index("connections")] = 12.0
    _, errors, _ = detector.score_window(window)
    severity = dict(detector.severity(errors))
    assert detector.severity(errors)[0][0] == "connections"
    assert severity["memory_vsize"] <= FLAT_CAP
    assert severity["load"] <= FLAT_CAP
    assert max(severity.values()) < 1e3


def test_a_rounding_noise_limit_cannot_blow_a_ratio_up() -> None:
    """A training limit of 1e-12 (rounding noise) read ×10⁹ before."""
    detector = hand_made(limits=(2.0, 1e-12, 1e-12, 3.0), static=4.0)
    severity = dict(detector.severity(np.array([1.0, 1.000000028, 477.25, 0.0])))
    assert severity == {
        "cpu": 0.5,
        "load": pytest.approx(1.000000028 / 4.0),
        "memory_vsize": FLAT_CAP,
        "connections": 0.0,
    }


def test_severity_by_hand() -> None:
    """limits (2, 0.1, 0, 3), window threshold 4: load's and memory_vsize's limits are under
    a tenth of it, so they are judged against 4 and capped at 5:
    cpu 6/2 = 3, load 8/4 = 2, memory_vsize min(40/4, 5) = 5, connections 1.5/3 = 0.5."""
    detector = hand_made(limits=(2.0, 0.1, 0.0, 3.0), static=4.0)
    severity = detector.severity(np.array([6.0, 8.0, 40.0, 1.5]))
    assert severity == (("memory_vsize", 5.0), ("cpu", 3.0), ("load", 2.0), ("connections", 0.5))


def test_no_per_feature_limits_no_severity() -> None:
    detector = hand_made(limits=None, static=4.0)
    assert detector.severity(np.ones(len(FEATURES))) == ()


def hand_made(limits: tuple[float, ...] | None, static: float) -> RobustZDetector:
    """A z-score detector with the given per-feature limits and window threshold."""
    ones = np.ones(len(FEATURES))
    scale = (np.zeros(len(FEATURES)), ones)
    return RobustZDetector(
        FEATURES,
        4,
        scale,
        scale,
        StaticThreshold(99.0, static),
        AdaptiveThreshold(percentile=99.0).calibrate(np.full(10, static)),
        None if limits is None else np.array(limits),
    )


def test_still_features_by_hand() -> None:
    """Spreads 0, 2e-6 (under 1e-4 of a level of 30: 3e-3), 1e-2 (over it) and 5e-5
    (under 1e-4 of the floor of 1, for a level near 0)."""
    series = np.array([[1.0, 30.0, 30.0, 0.0], [1.0, 30.000002, 30.01, 0.00005]])
    assert still_features(series).tolist() == [True, True, False, True]


def test_calibrating_on_the_training_series_zeroes_a_still_features_limit() -> None:
    """memory_vsize moved by rounding noise only: limit 0 (bounded severity); the others
    keep the percentile of their errors."""
    values = normal()
    values[::3, FEATURES.index("memory_vsize")] += 1e-6
    detector = fit_detector("zscore", values, FEATURES, Fitting(window=4))
    limits = dict(zip(FEATURES, detector.feature_limits.tolist(), strict=True))
    assert limits["memory_vsize"] == 0.0
    assert limits["load"] == 0.0
    assert limits["cpu"] > 0.0 and limits["connections"] > 0.0

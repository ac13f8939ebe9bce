"""An attacker steering the decision engine's remedy through a metric that never moved in
training: a flood that also grows the CNF's virtual size must still be guarded, not
isolated, and the explanation must name what moved.

A metric the exporter rounds (memory_vsize 30.0977 MB, sometimes 30.0977001) or one the
autoencoder reconstructs imperfectly has a spread in training of rounding noise; measured
against it, a 477 MB step reads ×10⁸ and outranks the flood's connection count, tipping
the DE to quarantine the instance while the flood goes on.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from secmas.analytics.decision import Alert, decide
from secmas.analytics.registry import fit_detector
from secmas.analytics.scoring import FLAT_CAP, Fitting, LSTMSettings, WindowDetector

FEATURES = ("cpu", "load", "memory_vsize", "connections", "throughput")
VSIZE = FEATURES.index("memory_vsize")


def normal(steps: int, seed: int, jitter: float) -> np.ndarray:
    """cpu, connections and throughput vary; load is 0; memory_vsize sits at 30.0977 MB,
    `jitter` MB up at random steps (rounding noise of the exporter)."""
    rng = np.random.default_rng(seed)
    cpu = 0.006 + 0.001 * rng.standard_normal(steps)
    connections = 2.0 + rng.integers(-1, 2, steps)
    throughput = 40.0 + 4.0 * rng.standard_normal(steps)
    vsize = 30.0977 + jitter * rng.integers(0, 2, steps)
    return np.stack([cpu, np.zeros(steps), vsize, connections, throughput], axis=1)


def flood_window(detector: WindowDetector, jitter: float) -> np.ndarray:
    """A Slowloris-like flood: connections ×100 over the last half of the window, while
    the attacker's requests grow nginx's virtual size by 477 MB."""
    window = normal(detector.window, seed=7, jitter=jitter)
    window[:, VSIZE] += 477.25
    window[detector.window // 2 :, FEATURES.index("connections")] = 200.0
    return window


def fitted(model: str, jitter: float) -> WindowDetector:
    torch.set_num_threads(1)
    fitting = Fitting(window=4, seed=0, lstm=LSTMSettings(epochs=3, batch=50))
    return fit_detector(model, normal(160, 0, jitter), FEATURES, fitting)


@pytest.mark.parametrize(
    ("model", "jitter"),
    [("zscore", 1e-6), ("iforest", 1e-6), ("zscore", 1e-3), ("lstm-ae", 0.0)],
)
def test_a_still_metric_cannot_steer_a_flood_to_isolation(model: str, jitter: float) -> None:
    detector = fitted(model, jitter)
    score, errors, _ = detector.score_window(flood_window(detector, jitter))
    severity = detector.severity(errors)
    ratios = dict(severity)
    assert ratios["memory_vsize"] <= FLAT_CAP
    assert severity[0][0] == "connections"
    alert = Alert(0.0, "web", "pop", score, detector.threshold_value(), (), severity=severity)
    assert decide(alert)[0].goal == "cnfGuarded"

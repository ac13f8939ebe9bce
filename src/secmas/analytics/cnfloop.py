"""The real CNF's closed loop, its pure parts: ground truth, normal bounds, and when a
mitigation is in effect (`002_…` Section II.A, IV).

A mitigation is *in effect* at the first step after the winner of its auction acted at
which the metrics it acts on are back under their normal bounds (the largest value of
the CNF's normal phase plus half of it), read from the real counters like everything
else: a guard brings back the requests served and the connections held, an isolation
or a fresh instance the CPU and memory an intruder used, a replica the latency of a
CNF that had too few.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from secmas.analytics.events import NORMAL

ACTS_ON = {
    "guard": ("throughput", "connections"),
    "isolate": ("cpu", "memory_rss"),
    "migrate": ("cpu", "memory_rss"),
    "scale_out": ("latency_p90",),
}
"""The metrics each remedy brings back (the test of it being in effect)."""


def normal_bounds(values: np.ndarray, features: Sequence[str]) -> dict[str, float]:
    """Per metric, the highest level still normal: the training maximum plus half its
    size (and a hair, for metrics that were always 0)."""
    top = np.asarray(values, dtype=float).max(axis=0)
    return {name: float(v + 0.5 * abs(v) + 1e-3) for name, v in zip(features, top, strict=True)}


def in_effect(
    remedy: str, row: np.ndarray, features: Sequence[str], bounds: dict[str, float]
) -> bool:
    """Whether one step's metrics show the remedy working."""
    return all(row[features.index(name)] <= bounds[name] for name in ACTS_ON[remedy])


def first_in_effect(
    times: Sequence[float],
    rows: np.ndarray,
    after: float,
    remedy: str,
    features: Sequence[str],
    bounds: dict[str, float],
) -> float | None:
    """The first step time after `after` at which `remedy` is in effect (None: never)."""
    for t, row in zip(times, rows, strict=True):
        if t > after and in_effect(remedy, row, features, bounds):
            return float(t)
    return None


@dataclass(frozen=True)
class Condition:
    """An attack or incident of the ground truth: its kind and [start, stop) times."""

    kind: str
    start: float
    stop: float


def condition_at(conditions: Sequence[Condition], t: float, step: float) -> Condition | None:
    """The condition under way in the step that ends at `t` (it covers (t − step, t])."""
    for condition in conditions:
        if condition.start < t and t - step < condition.stop:
            return condition
    return None


def step_labels(times: np.ndarray, episodes: Sequence[tuple[str, float, float]]) -> np.ndarray:
    """The ground-truth label of each step: the attack under way at its time, else normal."""
    labels = np.full(len(times), NORMAL, dtype=object)
    for kind, start, stop in episodes:
        labels[(times >= start) & (times < stop)] = kind
    return labels

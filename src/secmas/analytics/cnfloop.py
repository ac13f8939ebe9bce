"""The emulated CNF's closed loop, its pure parts: the Decision Engine's choice, when a
mitigation is in effect, and the per-attack evaluation (`002_…` Section II.A, IV).

The DE reads the detector's explanation of a flagged window (each metric's error over
its own training limit, `Detector.severity`): when traffic metrics are the furthest out
of line it calls for the `guard` (per-source limits, held connections dropped), when
resource metrics are, for `isolate` (code inside the CNF that is not the CNF; the
enforcement falls back to the guard when it finds none, since a flood also makes the
server itself use more CPU and memory). A mitigation is *in effect* at the first step
after it was enforced at which the metrics it acts on are back under their normal bounds
(from the training data), read from the real counters through Prometheus like everything
else.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from secmas.analytics.events import NORMAL, score_events, window_truth

TRAFFIC = ("throughput", "connections", "net_rx", "net_tx", "error_rate")
RESOURCE = ("cpu", "load", "memory_rss", "memory_vsize")
ACTS_ON = {"guard": ("throughput", "connections"), "isolate": ("cpu", "memory_rss")}
"""The metrics each mitigation brings back (the test of it being in effect)."""
OUT_OF_LINE = 1.0
"""A metric's error over its training limit above which it counts as out of line."""


def choose_mitigation(severity: Sequence[tuple[str, float]]) -> str | None:
    """'guard', 'isolate' or None (nothing out of line) for a flagged window: the
    mitigation of the group of metrics furthest out of line."""
    ratios = dict(severity)
    traffic = max((ratios.get(name, 0.0) for name in TRAFFIC), default=0.0)
    resource = max((ratios.get(name, 0.0) for name in RESOURCE), default=0.0)
    if max(traffic, resource) <= OUT_OF_LINE:
        return None
    return "guard" if traffic >= resource else "isolate"


def normal_bounds(values: np.ndarray, features: Sequence[str]) -> dict[str, float]:
    """Per metric, the highest level still normal: the training maximum plus half its
    size (and a hair, for metrics that were always 0)."""
    top = np.asarray(values, dtype=float).max(axis=0)
    return {name: float(v + 0.5 * abs(v) + 1e-3) for name, v in zip(features, top, strict=True)}


def in_effect(
    mitigation: str, row: np.ndarray, features: Sequence[str], bounds: dict[str, float]
) -> bool:
    """Whether one step's metrics show the mitigation working."""
    return all(row[features.index(name)] <= bounds[name] for name in ACTS_ON[mitigation])


@dataclass(frozen=True)
class Reaction:
    """What the loop did about one attack: first alert, mitigation, when it took effect
    (Unix s; None when it did not)."""

    kind: str
    start: float
    stop: float
    detected: float | None
    mitigation: str | None
    effective: float | None
    clean_before: bool = True
    """Whether the detector's window was clean when the attack started (if not, the
    detection may belong to what came before)."""

    @property
    def delay(self) -> float | None:
        return None if self.detected is None else self.detected - self.start

    @property
    def time_to_mitigate(self) -> float | None:
        if self.detected is None or self.effective is None:
            return None
        return self.effective - self.detected


def step_labels(times: np.ndarray, episodes: Sequence[tuple[str, float, float]]) -> np.ndarray:
    """The ground-truth label of each step: the attack under way at its time, else normal."""
    labels = np.full(len(times), NORMAL, dtype=object)
    for kind, start, stop in episodes:
        labels[(times >= start) & (times < stop)] = kind
    return labels


@dataclass(frozen=True)
class Evaluation:
    """Window F1 and false alarms of the detector on the held-out part of a run."""

    f1: float
    precision: float
    recall: float
    false_alarm_windows: int
    normal_seconds: float
    false_alarms_per_hour: float | None


def evaluate(flags: np.ndarray, labels: np.ndarray, step: float, window: int) -> Evaluation:
    """Window-level scores of per-window `flags` (stride-1 windows over `labels`: the
    first `window - 1` steps only lead into the first window). A window is anomalous when
    any step it holds is under attack; a flagged normal window is a false alarm. Normal
    time counts the normal steps that end a window (the held-out steps)."""
    score = score_events(flags, labels, step, span=window)
    normal = float(np.sum(np.asarray(labels)[window - 1 :] == NORMAL)) * step
    rate = score.false_alarm_windows / (normal / 3600.0) if normal > 0 else None
    return Evaluation(
        f1=score.f1,
        precision=score.precision,
        recall=score.recall,
        false_alarm_windows=score.false_alarm_windows,
        normal_seconds=normal,
        false_alarms_per_hour=None if rate is None or not math.isfinite(rate) else rate,
    )


def attack_segments(times: np.ndarray, stops: Sequence[float], window: int) -> list[slice]:
    """The steps each attack is judged on, as slices of `times` (each holding the
    `window - 1` steps that lead into its first window).

    Attack i owns the stride-1 windows whose last step lies from the first window free of
    attack i−1's steps (attack i−1's stop step + `window - 1`; the first held-out window
    for the first attack) up to, not including, the first window free of its own steps;
    the last attack also owns every window after it. So each window belongs to exactly
    one attack — the normal time before an attack and the windows still holding its
    steps — and the per-attack counts add up to the run's.
    """
    ends = [int(np.searchsorted(times, stop, side="left")) + window - 1 for stop in stops]
    bounds = [window - 1, *(min(e, len(times)) for e in ends[:-1]), len(times)]
    return [slice(lo - (window - 1), max(lo, hi)) for lo, hi in itertools.pairwise(bounds)]


def evaluate_attacks(
    flags: np.ndarray,
    labels: np.ndarray,
    times: np.ndarray,
    stops: Sequence[float],
    step: float,
    window: int,
) -> list[Evaluation]:
    """Window F1 and false alarms per hour of each attack's segment (`attack_segments`)."""
    flagged = np.asarray(flags, dtype=bool)
    result = []
    for part in attack_segments(times, stops, window):
        first, last = part.start, part.stop - (window - 1)
        result.append(evaluate(flagged[first:last], labels[part], step, window))
    return result


def false_alarms_within(
    flags: np.ndarray,
    labels: np.ndarray,
    times: np.ndarray,
    window: int,
    spans: Sequence[tuple[float, float]],
) -> int:
    """False-alarm windows (flagged, every step normal) whose last step's time lies in one
    of `spans` ([from, to], Unix s) — e.g. the waits that ended in a re-baselining."""
    ends = np.arange(window - 1, len(times))
    false = np.asarray(flags, dtype=bool) & ~window_truth(labels, ends, window)
    at = np.asarray(times, dtype=float)[ends]
    inside = np.zeros(len(ends), dtype=bool)
    for first, last in spans:
        inside |= (at >= first) & (at <= last)
    return int(np.sum(false & inside))

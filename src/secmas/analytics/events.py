"""Event-window scoring of a detector's flags against per-step ground truth.

Attacks and anomalies are episodes, and what an operator needs is each episode caught, soon,
without crying wolf; so besides window-level precision/recall/F1 this module scores events:

- an *event* is a maximal run of steps with one and the same non-normal label;
- an event is *detected* (once, however many windows flag it) when a flagged window ends
  inside [start, stop + grace) — clipped at the next event's start —, and its *delay* is
  (end of the first such window − start) · step seconds;
- a flagged window whose label is normal is a *false alarm*; a window's label is the label
  of its last step (the step it reports on), anomalous when not normal — or, with `span`
  set to the detector's window length, anomalous when any step the window holds is, so a
  window that still holds the end of an episode is not called a false alarm.

No point adjustment: window-level figures count each window as it is, so a single early
flag does not turn a whole event into true positives. The detector evaluated is the one of
`002_…` (Section IV), whose Fig. 6 reads exactly so: red dots inside attack periods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "NORMAL",
    "Event",
    "EventScore",
    "Ranking",
    "events",
    "rank_windows",
    "score_events",
    "window_truth",
]

NORMAL = "normal"


@dataclass(frozen=True)
class Event:
    """Steps [start, stop) of one episode of a non-normal condition."""

    start: int
    stop: int
    label: str

    @property
    def length(self) -> int:
        """Number of steps."""
        return self.stop - self.start


def _labels(labels: np.ndarray) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"expected one label per step, got shape {array.shape}")
    return array.astype(str)


def events(labels: np.ndarray, normal: str = NORMAL) -> list[Event]:
    """The events of a label series: maximal runs of one non-normal label, in order."""
    array = _labels(labels)
    if array.size == 0:
        return []
    changes = np.flatnonzero(array[1:] != array[:-1]) + 1
    starts = np.concatenate(([0], changes))
    stops = np.concatenate((changes, [array.size]))
    return [
        Event(int(a), int(b), str(array[a]))
        for a, b in zip(starts, stops, strict=True)
        if array[a] != normal
    ]


@dataclass(frozen=True)
class EventScore:
    """Event- and window-level figures of one detector run (see the module docstring).

    `delays` (seconds) follow `detected`. `precision`, `recall` and `f1` are window level,
    0 where undefined (nothing flagged, nothing anomalous).
    """

    detected: tuple[Event, ...]
    missed: tuple[Event, ...]
    delays: tuple[float, ...]
    false_alarm_windows: int
    precision: float
    recall: float
    f1: float
    windows: int
    flagged_windows: int
    anomalous_windows: int

    @property
    def event_recall(self) -> float:
        """Share of the events detected (NaN when there were none)."""
        total = len(self.detected) + len(self.missed)
        return len(self.detected) / total if total else float("nan")

    @property
    def mean_delay(self) -> float:
        """Mean detection delay in seconds (NaN when nothing was detected)."""
        return float(np.mean(self.delays)) if self.delays else float("nan")

    @property
    def max_delay(self) -> float:
        """Longest detection delay in seconds (NaN when nothing was detected)."""
        return float(max(self.delays)) if self.delays else float("nan")

    @property
    def false_alarm_rate(self) -> float:
        """Share of the normal windows that were flagged (NaN when none was normal)."""
        normal = self.windows - self.anomalous_windows
        return self.false_alarm_windows / normal if normal else float("nan")

    def per_label(self) -> dict[str, tuple[int, int]]:
        """For each label: (events detected, events in all)."""
        counts: dict[str, tuple[int, int]] = {}
        for event, hit in [(e, 1) for e in self.detected] + [(e, 0) for e in self.missed]:
            found, total = counts.get(event.label, (0, 0))
            counts[event.label] = (found + hit, total + 1)
        return dict(sorted(counts.items()))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form: counts, figures (None where undefined) and each event's outcome."""
        delays = dict(zip(self.detected, self.delays, strict=True))
        outcomes = sorted(self.detected + self.missed, key=lambda e: e.start)
        return {
            "events": len(outcomes),
            "detected": len(self.detected),
            "missed": len(self.missed),
            "delays": list(self.delays),
            "event_recall": _number(self.event_recall),
            "mean_delay": _number(self.mean_delay),
            "max_delay": _number(self.max_delay),
            "false_alarm_windows": self.false_alarm_windows,
            "false_alarm_rate": _number(self.false_alarm_rate),
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "windows": self.windows,
            "flagged_windows": self.flagged_windows,
            "anomalous_windows": self.anomalous_windows,
            "per_label": {label: list(pair) for label, pair in self.per_label().items()},
            "outcomes": [
                {
                    "start": e.start,
                    "stop": e.stop,
                    "label": e.label,
                    "detected": e in delays,
                    "delay": delays.get(e),
                }
                for e in outcomes
            ],
        }


def _number(value: float) -> float | None:
    """NaN (undefined) as None, for strict JSON."""
    return None if math.isnan(value) else value


def _ends(count: int, steps: int, ends: np.ndarray | None) -> np.ndarray:
    if ends is None:
        if count > steps:
            raise ValueError(f"{count} windows cannot end within {steps} labelled steps")
        # Windows of stride 1 over the whole series: the last one ends at the last step.
        return np.arange(steps - count, steps, dtype=np.int64)
    array = np.asarray(ends, dtype=np.int64)
    if array.shape != (count,):
        raise ValueError(f"expected {count} window ends, got shape {array.shape}")
    if count and (array.min() < 0 or array.max() >= steps):
        raise ValueError(f"window ends must lie in [0, {steps}), the labelled steps")
    return array


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def score_events(
    flags: np.ndarray,
    labels: np.ndarray,
    step: float = 1.0,
    *,
    ends: np.ndarray | None = None,
    grace: int = 0,
    normal: str = NORMAL,
    span: int = 1,
) -> EventScore:
    """Score per-window `flags` [N] against per-step `labels` [T].

    `ends` is the index of each window's last step; by default the windows are taken to be
    the stride-1 windows of the series, the last ending at the last step. `step` is the
    seconds between steps (for delays); `grace` extends each event by that many steps for
    detection only (a window just after an event still holds some of its steps). A window
    counts as anomalous when any of the `span` steps ending at its end is (1: its last
    step's label; the detector's window length: any step the detector saw).
    """
    if span < 1:
        raise ValueError(f"span must be ≥ 1 step, got {span}")
    flagged = np.asarray(flags, dtype=bool)
    if flagged.ndim != 1:
        raise ValueError(f"expected one flag per window, got shape {flagged.shape}")
    if not step > 0:
        raise ValueError(f"step must be positive seconds, got {step!r}")
    if grace < 0:
        raise ValueError(f"grace must be ≥ 0 steps, got {grace}")
    truth = _labels(labels)
    window_end = _ends(flagged.size, truth.size, ends)
    anomalous = window_truth(truth, window_end, span, normal)
    hits = window_end[flagged]
    found = events(truth, normal)
    detected: list[Event] = []
    delays: list[float] = []
    missed: list[Event] = []
    for i, event in enumerate(found):
        limit = event.stop + grace
        if i + 1 < len(found):
            limit = min(limit, found[i + 1].start)
        inside = hits[(hits >= event.start) & (hits < limit)]
        if inside.size:
            detected.append(event)
            delays.append(float(inside.min() - event.start) * step)
        else:
            missed.append(event)
    true_positive = int(np.sum(flagged & anomalous))
    precision = _ratio(true_positive, int(flagged.sum()))
    recall = _ratio(true_positive, int(anomalous.sum()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return EventScore(
        detected=tuple(detected),
        missed=tuple(missed),
        delays=tuple(delays),
        false_alarm_windows=int(np.sum(flagged & ~anomalous)),
        precision=precision,
        recall=recall,
        f1=f1,
        windows=int(flagged.size),
        flagged_windows=int(flagged.sum()),
        anomalous_windows=int(anomalous.sum()),
    )


@dataclass(frozen=True)
class Ranking:
    """How well a detector's window scores rank anomalous windows above normal ones,
    whatever the threshold: ROC-AUC, and whether the top-scoring window holds an
    anomalous step (the UCR anomaly archive's test: the single labelled anomaly should be
    where the score peaks)."""

    roc_auc: float
    top_on_anomaly: bool
    top_end: int

    def to_json(self) -> dict[str, Any]:
        return {
            "roc_auc": _number(self.roc_auc),
            "top_on_anomaly": self.top_on_anomaly,
            "top_end": self.top_end,
        }


def window_truth(
    labels: np.ndarray, ends: np.ndarray, span: int, normal: str = NORMAL
) -> np.ndarray:
    """Whether each window (ending at `ends`, holding `span` steps) holds an anomalous step."""
    abnormal = _labels(labels) != normal
    seen = np.concatenate(([0], np.cumsum(abnormal)))
    last = np.asarray(ends, dtype=np.int64) + 1
    return seen[last] - seen[np.maximum(last - span, 0)] > 0


def rank_windows(
    scores: np.ndarray, labels: np.ndarray, ends: np.ndarray, span: int, normal: str = NORMAL
) -> Ranking:
    """ROC-AUC of window `scores` against windows holding an anomalous step (NaN when all
    windows are of one kind), and the top-scoring window's verdict."""
    from sklearn.metrics import roc_auc_score

    score = np.asarray(scores, dtype=np.float64)
    truth = window_truth(labels, ends, span, normal)
    both = truth.any() and not truth.all()
    auc = float(roc_auc_score(truth, score)) if both else math.nan
    top = int(np.argmax(score))
    return Ranking(auc, bool(truth[top]), int(np.asarray(ends)[top]))

"""Decision thresholds on anomaly scores, calibrated apart from the model that scores.

`StaticThreshold` is the rule of `002_…` (Section IV): "a static threshold defined as 99 % of
the loss distribution", read as the 99th percentile of the reconstruction errors of the
training (normal) windows; a window whose error is above it is anomalous.

`AdaptiveThreshold` lets the limit follow slow drift of normal behaviour (a workload that
grows over the day) without learning the attack itself. For each score in time order:

    limit = max(floor, median(H) + k · 1.4826 · MAD(H))
    flagged = score > limit
    H ← H + [score]  only when not flagged (H keeps the last `window` such scores)

where `floor` is the static percentile of the training errors (the adaptive limit is never
below the static one), H starts as the last `window` training errors, and MAD is the median
absolute deviation (× 1.4826, a standard deviation for Gaussian data). Flagged scores never
enter H, so a sustained attack does not raise the limit that is catching it; a drift slower
than the limit's margin moves the median with it. The limitation: a step change of normal
behaviour larger than the margin stays flagged until the model is refitted.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "AdaptiveThreshold",
    "LiveThreshold",
    "StaticThreshold",
    "Threshold",
    "threshold_from_json",
]

MAD_TO_SIGMA = 1.4826
"""Median absolute deviation × this = standard deviation, for normally distributed data."""


def _scores(values: Iterable[float] | np.ndarray, what: str = "scores") -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one number per window, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} must be finite numbers (found NaN or infinity)")
    return array


def _check_percentile(percentile: float) -> None:
    if not (isinstance(percentile, int | float) and 0 < percentile <= 100):
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")


def _check_value(name: str, value: float | None) -> None:
    if value is not None and not (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _not_calibrated(kind: str) -> RuntimeError:
    return RuntimeError(f"{kind} threshold not calibrated: call calibrate(train_errors) first")


@dataclass
class StaticThreshold:
    """Anomalous when the score is above a percentile of the training errors (`002_…`)."""

    percentile: float = 99.0
    value: float | None = None
    kind: ClassVar[str] = "static"

    def __post_init__(self) -> None:
        _check_percentile(self.percentile)
        _check_value("value", self.value)

    @property
    def calibrated(self) -> bool:
        """Whether `calibrate` (or a saved value) has set the limit."""
        return self.value is not None

    def calibrate(self, train_errors: Iterable[float] | np.ndarray) -> StaticThreshold:
        """Set the limit to the percentile of the training windows' errors; returns self."""
        errors = _scores(train_errors, "training errors")
        if errors.size == 0:
            raise ValueError("cannot calibrate a threshold on no training errors")
        self.value = float(np.percentile(errors, self.percentile))
        return self

    def live(self) -> LiveThreshold:
        """A one-score-at-a-time evaluator of this rule."""
        if self.value is None:
            raise _not_calibrated(self.kind)
        return LiveThreshold(self.value)

    def evaluate(self, scores: Iterable[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flags (bool [N]) and the limit each score was compared with (float [N])."""
        array = _scores(scores)
        if self.value is None:
            raise _not_calibrated(self.kind)
        return array > self.value, np.full(array.shape, self.value)

    def flags(self, scores: Iterable[float] | np.ndarray) -> np.ndarray:
        """Whether each score is anomalous (bool [N])."""
        return self.evaluate(scores)[0]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form; `threshold_from_json` reads it back."""
        return {"kind": self.kind, "percentile": self.percentile, "value": self.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StaticThreshold:
        """The threshold `to_json` wrote; ValueError when malformed."""
        _expect_kind(data, cls.kind)
        return _build(cls, data, ("percentile", "value"))


@dataclass
class AdaptiveThreshold:
    """Anomalous when the score is above max(static floor, rolling median + k·MAD of the
    last `window` unflagged scores); see the module docstring for the rule."""

    window: int = 120
    k: float = 4.0
    percentile: float = 99.0
    floor: float | None = None
    history: tuple[float, ...] = field(default=())
    kind: ClassVar[str] = "adaptive"

    def __post_init__(self) -> None:
        if not (isinstance(self.window, int) and self.window >= 3):
            raise ValueError(f"adaptive window must be an integer ≥ 3, got {self.window!r}")
        if not (isinstance(self.k, int | float) and math.isfinite(self.k) and self.k > 0):
            raise ValueError(f"adaptive k must be a positive number, got {self.k!r}")
        _check_percentile(self.percentile)
        _check_value("floor", self.floor)
        self.history = tuple(float(x) for x in _scores(list(self.history), "history"))
        if len(self.history) > self.window:
            self.history = self.history[-self.window :]

    @property
    def calibrated(self) -> bool:
        """Whether `calibrate` (or a saved floor) has set the rule's starting point."""
        return self.floor is not None

    def calibrate(self, train_errors: Iterable[float] | np.ndarray) -> AdaptiveThreshold:
        """Floor = percentile of the training errors, history = their last `window`; self."""
        errors = _scores(train_errors, "training errors")
        if errors.size == 0:
            raise ValueError("cannot calibrate a threshold on no training errors")
        self.floor = float(np.percentile(errors, self.percentile))
        self.history = tuple(float(x) for x in errors[-self.window :])
        return self

    def live(self) -> LiveThreshold:
        """A one-score-at-a-time evaluator starting from the calibration history."""
        if self.floor is None:
            raise _not_calibrated(self.kind)
        return LiveThreshold(self.floor, self.k, deque(self.history, maxlen=self.window))

    def evaluate(self, scores: Iterable[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flags (bool [N]) and the limit each score was compared with (float [N]), in order,
        starting from the calibration history (the call does not change the threshold)."""
        array = _scores(scores)
        tracker = self.live()
        flags = np.zeros(array.shape, dtype=bool)
        limits = np.zeros(array.shape, dtype=np.float64)
        for i, score in enumerate(array):
            flags[i], limits[i] = tracker.step(float(score))
        return flags, limits

    def flags(self, scores: Iterable[float] | np.ndarray) -> np.ndarray:
        """Whether each score is anomalous (bool [N])."""
        return self.evaluate(scores)[0]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form; `threshold_from_json` reads it back."""
        return {
            "kind": self.kind,
            "window": self.window,
            "k": self.k,
            "percentile": self.percentile,
            "floor": self.floor,
            "history": list(self.history),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AdaptiveThreshold:
        """The threshold `to_json` wrote; ValueError when malformed."""
        _expect_kind(data, cls.kind)
        return _build(cls, data, ("window", "k", "percentile", "floor", "history"))


class LiveThreshold:
    """Evaluates a threshold one score at a time (live detection).

    With no `k` it is a fixed limit; with `k` and a history it applies the adaptive rule and
    remembers each unflagged score.
    """

    def __init__(
        self, floor: float, k: float | None = None, history: deque[float] | None = None
    ) -> None:
        self.floor = floor
        self.k = k
        self.history: deque[float] = history if history is not None else deque()

    def limit(self) -> float:
        """The limit the next score is compared with."""
        if self.k is None or not self.history:
            return self.floor
        recent = np.fromiter(self.history, dtype=np.float64, count=len(self.history))
        median = float(np.median(recent))
        mad = float(np.median(np.abs(recent - median)))
        return max(self.floor, median + self.k * MAD_TO_SIGMA * mad)

    def step(self, score: float) -> tuple[bool, float]:
        """Whether `score` is anomalous, and the limit it was compared with."""
        limit = self.limit()
        flagged = score > limit
        if self.k is not None and not flagged:
            self.history.append(score)
        return flagged, limit


Threshold = StaticThreshold | AdaptiveThreshold

_KINDS: dict[str, type[StaticThreshold] | type[AdaptiveThreshold]] = {
    StaticThreshold.kind: StaticThreshold,
    AdaptiveThreshold.kind: AdaptiveThreshold,
}


def _expect_kind(data: Any, kind: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"a threshold is a JSON object, got {type(data).__name__}")
    if data.get("kind") != kind:
        raise ValueError(f"expected a {kind!r} threshold, got kind {data.get('kind')!r}")


def _build(cls: type, data: dict[str, Any], names: tuple[str, ...]) -> Any:
    unknown = set(data) - {"kind", *names}
    if unknown:
        raise ValueError(f"unknown {data['kind']} threshold fields: {sorted(unknown)}")
    try:
        return cls(**{name: data[name] for name in names if name in data})
    except TypeError as exc:
        raise ValueError(f"malformed {data['kind']} threshold: {exc}") from None


def threshold_from_json(data: dict[str, Any]) -> Threshold:
    """The threshold of either kind that `to_json` wrote (its `kind` field chooses)."""
    if not isinstance(data, dict):
        raise ValueError(f"a threshold is a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown threshold kind {kind!r}; expected one of {sorted(_KINDS)}")
    return _KINDS[kind].from_json(data)

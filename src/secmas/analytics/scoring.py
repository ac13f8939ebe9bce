"""What every anomaly detector of CNF metrics shares: windows in, scores and flags out.

A detector (the LSTM autoencoder of `002_…` Section IV, or one of the baselines of
`secmas.analytics.detectors`) turns each window of `window` steps of a series [T, F] into an
error per metric [F]; the window's score combines them (the autoencoder: their mean). The
score is compared with a threshold calibrated on the scores of normal windows
(`secmas.analytics.threshold`): the static percentile of `002_…`, or the adaptive rule.
`WindowDetector` holds that plumbing — column matching, batch and live scoring, thresholds,
per-metric severity — so that every detector is scored, explained and thresholded alike;
a subclass only says how a window's errors are computed.

`WindowDetector` is also what a detector plug-in is: a distribution names its subclass
under the `secmas.detectors` entry-point group (`secmas.analytics.registry`), as secmas
names its own. The class says its name (the entry point's), the kind of model file it
writes and reads back, where it stands in the benchmark, how it is fitted from a
`Fitting` (`train`) and how a model file of its kind rebuilds it (`restore`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numpy as np

from secmas.analytics.threshold import (
    AdaptiveThreshold,
    LiveThreshold,
    StaticThreshold,
    Threshold,
    threshold_from_json,
)
from secmas.analytics.windows import window_ends

if TYPE_CHECKING:
    from secmas.analytics.modelfile import ModelFile

__all__ = [
    "FLAT_CAP",
    "FLAT_SHARE",
    "STILL_SPREAD",
    "DetectorInputError",
    "Fitting",
    "LSTMSettings",
    "Note",
    "Progress",
    "Scores",
    "StoredBasics",
    "ThresholdName",
    "WindowDetector",
    "check_features",
    "check_series",
    "still_features",
    "stored_basics",
]

ThresholdName = Literal["static", "adaptive"]
FLAT_SHARE = 0.1
"""A feature whose own training limit is under this share of the window threshold barely
varied in training: its severity is judged against the window threshold (`severity`)."""
FLAT_CAP = 5.0
"""The highest severity of a feature that barely varied in training: the decision engine's
`STRONG`, so it can count as strongly elevated but never dominate."""
STILL_SPREAD = 1e-4
"""A feature whose training values spread over less than this share of their level (of 1
at least) had no variance: what moved was rounding noise (a virtual size of 30.0977 MB,
now and then 30.0977001), and a spread measured on it would read a real step ×10⁸."""


Note = Callable[[str], None]
"""Told what a detector is preparing (one line of text), for a progress display."""
Progress = Callable[[int, float, float | None], None]
"""Called after each epoch of a trained network with (epoch from 1, training loss,
validation loss or None)."""


@dataclass(frozen=True)
class LSTMSettings:
    """The autoencoder's training settings (`002_…` Section IV by default)."""

    epochs: int = 30
    batch: int = 50
    hidden: int = 32
    latent: int = 16


@dataclass(frozen=True)
class Fitting:
    """How a detector is fitted on a normal series: what every detector's `train` gets.

    A detector uses what applies to it (a baseline has no epochs) and ignores the rest, so
    that one request fits any installed detector by name."""

    window: int = 10
    """Time steps per window."""
    percentile: float = 99.0
    """The static threshold: this percentile of the training windows' scores."""
    seed: int = 0
    adaptive: AdaptiveThreshold | None = None
    """The adaptive rule's window and k (None: the default rule at `percentile`)."""
    lstm: LSTMSettings = field(default_factory=LSTMSettings)
    """Sizes and schedule of a detector that trains a network."""
    note: Note | None = None
    progress: Progress | None = None


class DetectorInputError(ValueError):
    """Data a detector cannot score: wrong columns, too few steps, missing values."""


@dataclass(frozen=True, eq=False)
class Scores:
    """A detector's verdict on a series, one entry per window.

    `score` is the window's anomaly score (for the autoencoder its mean absolute
    reconstruction error in standard deviations of the training data), `per_feature` each
    metric's error [N, F], `limit` the threshold it was compared with, `flags` whether it is
    above, `end` the index of the window's last step.
    """

    features: tuple[str, ...]
    end: np.ndarray
    score: np.ndarray
    per_feature: np.ndarray
    flags: np.ndarray
    limit: np.ndarray
    threshold: ThresholdName

    def __len__(self) -> int:
        return int(self.score.shape[0])

    @property
    def flagged(self) -> np.ndarray:
        """Indices of the flagged windows."""
        return np.flatnonzero(self.flags)

    def explain(self, index: int, top: int | None = None) -> list[tuple[str, float]]:
        """The window's metrics with their errors, largest first (the `top` ones)."""
        errors = self.per_feature[index]
        order = np.argsort(-errors, kind="stable")[:top]
        return [(self.features[j], float(errors[j])) for j in order]

    def top_feature(self, index: int) -> str:
        """The metric that deviated most in the window."""
        return self.features[int(np.argmax(self.per_feature[index]))]


def still_features(series: np.ndarray) -> np.ndarray:
    """Per feature of a series [T, F] (or windows [N, T, F]), whether its values had no
    variance: max − min ≤ `STILL_SPREAD` · max(1, |median|)."""
    flat = np.asarray(series, dtype=np.float64)
    flat = flat.reshape(-1, flat.shape[-1])
    spread = flat.max(axis=0) - flat.min(axis=0)
    return spread <= STILL_SPREAD * np.maximum(1.0, np.abs(np.median(flat, axis=0)))


def check_features(features: Sequence[str]) -> tuple[str, ...]:
    """The feature names as a tuple; ValueError when empty, unnamed or repeated."""
    names = tuple(features)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"features must be non-empty names, got {names!r}")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"feature names appear more than once: {', '.join(twice)}")
    return names


def check_series(values: np.ndarray, features: int, window: int) -> np.ndarray:
    """A series [T ≥ window, features] of finite numbers as float64 (DetectorInputError)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise DetectorInputError(f"expected a series [steps, features], got shape {array.shape}")
    if array.shape[1] != features:
        raise DetectorInputError(
            f"the data has {array.shape[1]} columns; the model was fitted on {features} features"
        )
    if array.shape[0] < window:
        raise DetectorInputError(
            f"the data has {array.shape[0]} rows; the model needs at least {window}"
        )
    if not np.all(np.isfinite(array)):
        row = int(np.flatnonzero(~np.all(np.isfinite(array), axis=1))[0])
        raise DetectorInputError(f"the data holds a missing or infinite value at row {row}")
    return array


@dataclass(frozen=True)
class StoredBasics:
    """What every detector's model file holds besides the model itself."""

    features: tuple[str, ...]
    window: int
    static: StaticThreshold
    adaptive: AdaptiveThreshold
    feature_limits: np.ndarray | None


def stored_basics(config: dict[str, Any], extras: dict[str, Any]) -> StoredBasics:
    """Features, window, thresholds and per-feature limits of a model file's `config` and
    `extras`; KeyError, TypeError or ValueError when malformed."""
    features = check_features(config["features"])
    window = config["window"]
    if not isinstance(window, int) or isinstance(window, bool):
        raise ValueError(f"window {window!r} is not an integer")
    static = threshold_from_json(extras["thresholds"]["static"])
    adaptive = threshold_from_json(extras["thresholds"]["adaptive"])
    if not isinstance(static, StaticThreshold) or not isinstance(adaptive, AdaptiveThreshold):
        raise ValueError("thresholds of the wrong kinds")
    if not (static.calibrated and adaptive.calibrated):
        raise ValueError("thresholds not calibrated")
    limits = extras.get("feature_limits")
    limits_array = None if limits is None else np.asarray(limits, dtype=float)
    return StoredBasics(features, window, static, adaptive, limits_array)


class WindowDetector(ABC):
    """A fitted detector of windows of `window` steps over the named `features`.

    Subclasses compute each window's errors per feature (`_errors` for a whole series,
    `_window_errors` for one live window) and may change how they combine into the
    window's score (`combine`, default: their mean), or compute the score otherwise
    (`evaluate`, `evaluate_window`).
    """

    name: ClassVar[str] = ""
    """The detector's name on the command line (`--model`): its plug-in's name."""
    kind: ClassVar[str] = ""
    """The kind of model file it writes (`save`) and rebuilds itself from (`restore`)."""
    standing: ClassVar[int | None] = None
    """Its place in the side-by-side benchmark (benchmarks/results/detectors.md), 1 the
    best: `--model auto` tries detectors in this order; None (not benchmarked) after
    those that are, by name."""

    def __init__(
        self,
        features: Sequence[str],
        window: int,
        static: StaticThreshold,
        adaptive: AdaptiveThreshold,
        feature_limits: np.ndarray | None = None,
    ) -> None:
        self.features = check_features(features)
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise ValueError(f"window must be an integer ≥ 1, got {window!r}")
        self.window = window
        self.static = static
        """The paper's threshold: a percentile of the training windows' scores."""
        self.adaptive = adaptive
        """The drift-following threshold (see `secmas.analytics.threshold`)."""
        self.feature_limits = (
            None if feature_limits is None else np.asarray(feature_limits, dtype=float)
        )
        """Per feature: the same percentile of its own training errors (explanations)."""
        if self.feature_limits is not None and self.feature_limits.shape != (len(self.features),):
            raise ValueError(f"{len(self.feature_limits)} feature limits for {len(self.features)}")
        self._live: dict[str, LiveThreshold] = {}
        self._last_limit: dict[str, float] = {}

    # -- what a detector plug-in provides ----------------------------------------------------
    @classmethod
    @abstractmethod
    def train(cls, values: np.ndarray, features: Sequence[str], fitting: Fitting) -> Self:
        """Fit on a normal series [T, F] and calibrate both thresholds on its windows;
        ValueError (DetectorInputError for bad data) when it cannot be fitted."""

    @classmethod
    @abstractmethod
    def restore(cls, stored: ModelFile) -> Self:
        """The detector a model file of its `kind` holds; KeyError, TypeError, ValueError or
        AttributeError when the file's content does not rebuild it."""

    # -- what a detector computes ------------------------------------------------------------
    @abstractmethod
    def _errors(self, series: np.ndarray) -> np.ndarray:
        """Errors per feature of every stride-1 window of a checked series [T, F] → [N, F]."""

    def _window_errors(self, window: np.ndarray) -> np.ndarray:
        """Errors per feature of one checked window [window, F] → [F]."""
        return self._errors(window)[0]

    @staticmethod
    def combine(per_feature: np.ndarray) -> np.ndarray:
        """Windows' scores from their errors per feature [N, F] → [N]: the mean."""
        return np.asarray(per_feature, dtype=np.float64).mean(axis=-1)

    def evaluate(self, series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(score [N], errors per feature [N, F]) of every window of a checked series; a
        detector whose score is not made of per-feature errors overrides this."""
        per_feature = self._errors(series)
        return self.combine(per_feature), per_feature

    def evaluate_window(self, window: np.ndarray) -> tuple[float, np.ndarray]:
        """(score, errors per feature [F]) of one checked window."""
        errors = np.asarray(self._window_errors(window), dtype=np.float64)
        return float(self.combine(errors[None])[0]), errors

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """A JSON-able summary: detector, features, sizes, thresholds."""

    @abstractmethod
    def save(self, path: Any) -> None:
        """Write the detector as a model file (ModelFileError)."""

    # -- calibration ---------------------------------------------------------------------------
    def calibrate(
        self,
        per_feature: np.ndarray,
        adaptive: AdaptiveThreshold | None = None,
        scores: np.ndarray | None = None,
        training: np.ndarray | None = None,
    ) -> None:
        """Set both thresholds and the per-feature limits from normal windows' errors [N, F]
        (and their `scores`, by default combined from the errors) at the percentile of the
        static threshold; `adaptive` gives the adaptive rule's window and k. With the raw
        `training` series, a feature that had no variance there (`still_features`) gets
        the limit 0, so `severity` bounds it whatever errors its rounding noise made."""
        percentile = self.static.percentile
        scores = self.combine(per_feature) if scores is None else scores
        self.static = StaticThreshold(percentile).calibrate(scores)
        rule = adaptive if adaptive is not None else AdaptiveThreshold(percentile=percentile)
        self.adaptive = AdaptiveThreshold(rule.window, rule.k, rule.percentile).calibrate(scores)
        limits = np.percentile(per_feature, percentile, axis=0)
        if training is not None:
            limits = np.where(still_features(training), 0.0, limits)
        self.feature_limits = limits
        self.reset_live()

    def thresholds_json(self) -> dict[str, Any]:
        """Both thresholds, JSON-able (what a model file keeps)."""
        return {"static": self.static.to_json(), "adaptive": self.adaptive.to_json()}

    def describe_thresholds(self) -> dict[str, Any]:
        """Both thresholds without the adaptive history (for summaries)."""
        adaptive = {k: v for k, v in self.adaptive.to_json().items() if k != "history"}
        return {"static": self.static.to_json(), "adaptive": adaptive}

    # -- scoring ---------------------------------------------------------------------------------
    def severity(self, per_feature: np.ndarray) -> tuple[tuple[str, float], ...]:
        """Each feature's error over its own limit (the same percentile of its training
        errors), largest first; empty when the model has no per-feature limits.

        A feature that barely varied in training — its own limit under `FLAT_SHARE` of the
        window threshold, e.g. a metric constant in normal behaviour, whose limit is 0 or
        rounding noise, or one whose values moved by rounding noise only (limit 0 by
        `calibrate`) — has no spread to be measured against: it is judged against the
        window threshold instead and its severity is capped at `FLAT_CAP`. It can still
        mark a window strongly out of line, but never outrank a feature that moved
        against a spread it really had (a step of one in a count, or of 477 MB in a
        virtual size the detector saw in raw units, read ×10⁹ over a limit of 0)."""
        if self.feature_limits is None:
            return ()
        reference = max(float(self.static.value), 1e-9)
        flat = self.feature_limits < FLAT_SHARE * reference
        limits = np.where(flat, reference, self.feature_limits)
        ratios = np.asarray(per_feature, dtype=float) / limits
        ratios = np.where(flat, np.minimum(ratios, FLAT_CAP), ratios)
        ranked = sorted(zip(self.features, ratios.tolist(), strict=True), key=lambda fr: -fr[1])
        return tuple(ranked)

    def align(self, values: np.ndarray, columns: Sequence[str]) -> np.ndarray:
        """The columns of `values` (named `columns`) in the model's feature order.

        Raises DetectorInputError naming the missing and unexpected columns.
        """
        columns = tuple(columns)
        missing = [f for f in self.features if f not in columns]
        unexpected = [c for c in columns if c not in self.features]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(repr(f) for f in missing))
            if unexpected:
                parts.append("unexpected " + ", ".join(repr(c) for c in unexpected))
            raise DetectorInputError(
                f"the data's columns do not match the model's features: {'; '.join(parts)}"
            )
        array = np.asarray(values)
        if array.ndim != 2 or array.shape[1] != len(columns):
            raise DetectorInputError(
                f"data of shape {array.shape} does not have the {len(columns)} named columns"
            )
        return array[:, [columns.index(f) for f in self.features]]

    def score(
        self,
        values: np.ndarray,
        *,
        columns: Sequence[str] | None = None,
        threshold: ThresholdName = "static",
    ) -> Scores:
        """Score every window (stride 1) of a series [T, F] in one batched pass.

        With `columns` (the data's column names) the columns are matched to the model's
        features by name; without, they must be the model's features in its order.
        Raises DetectorInputError on a wrong number of columns, too few steps or missing
        values.
        """
        rule = self._threshold(threshold)
        if columns is not None:
            values = self.align(values, columns)
        series = check_series(values, len(self.features), self.window)
        score, per_feature = self.evaluate(series)
        flags, limit = rule.evaluate(score)
        ends = window_ends(series.shape[0], self.window)
        return Scores(self.features, ends, score, per_feature, flags, limit, threshold)

    def score_window(self, window: np.ndarray) -> tuple[float, np.ndarray, dict[str, bool]]:
        """Score one window [window, F] of raw metrics as it arrives (live detection).

        Returns (score, error per feature [F], {"static": flagged, "adaptive": flagged}).
        The adaptive verdict depends on the earlier calls: the detector remembers their
        unflagged scores (`reset_live` forgets them); `threshold_value` gives the limits used.
        """
        array = np.asarray(window, dtype=np.float64)
        if array.shape != (self.window, len(self.features)):
            raise DetectorInputError(
                f"a live window must have shape ({self.window}, {len(self.features)}), "
                f"got {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise DetectorInputError("the live window holds NaN or infinite values")
        score, errors = self.evaluate_window(array)
        if not math.isfinite(score):
            raise DetectorInputError("the live window holds NaN or infinite values")
        flags = {}
        for name in ("static", "adaptive"):
            flags[name], self._last_limit[name] = self._live_rule(name).step(score)
        return score, errors, flags

    def _live_rule(self, name: str) -> LiveThreshold:
        live = self._live.get(name)
        if live is None:
            live = self._live[name] = self._threshold(name).live()
        return live

    def threshold_value(self, threshold: ThresholdName = "static") -> float:
        """The limit the last live window was compared with (before any, the starting one)."""
        if threshold in self._last_limit:
            return self._last_limit[threshold]
        return self._live_rule(threshold).limit()

    def reset_live(self) -> None:
        """Forget the live windows' adaptive history (restart from the calibration one)."""
        self._live.clear()
        self._last_limit.clear()

    def _threshold(self, name: str) -> Threshold:
        if name == "static":
            return self.static
        if name == "adaptive":
            return self.adaptive
        raise ValueError(f"threshold must be 'static' or 'adaptive', got {name!r}")

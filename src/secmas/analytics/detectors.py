"""Baseline anomaly detectors of CNF metrics, beside the LSTM autoencoder of `002_…`.

Every detector learns normal behaviour from a normal series [T, F], scores windows of
`window` steps (stride 1) and is thresholded like the autoencoder: the static threshold is
the 99th percentile of the scores of the training windows (`002_…` Section IV), the
adaptive one follows drift (`secmas.analytics.threshold`). Each names, per window, the
metrics that deviated most. Each is a detector plug-in, registered under the
`secmas.detectors` entry points of secmas's `pyproject.toml` (`secmas.analytics.registry`)
as a package of one's own registers a `BaselineDetector` subclass. The baselines:

* `zscore` — robust z-scores of the levels and of the first differences: per metric, the
  median and the scaled median absolute deviation (1.4826·MAD; the standard deviation where
  the MAD is 0, e.g. a metric idle most of the time) of its values and of its step-to-step
  changes on normal data. A metric's error in a window is the largest |z| of its levels and
  changes there (changes only between the window's own steps); the window's score is the
  largest over the metrics, so one metric out of line is enough. Spikes and level shifts
  show in the levels, sudden changes of a noisy metric in the differences.
* `pca` — PCA reconstruction error: windows standardised per metric and flattened
  (window·F values), projected on the principal components that explain 95 % of the
  variance of the normal windows and back; a metric's error is its mean absolute
  reconstruction error over the window, the score their mean (as for the autoencoder).
* `iforest` — scikit-learn's IsolationForest (100 trees, fixed seed) on the standardised,
  flattened windows plus five statistics per metric (mean, std, min, max, last − first);
  the score is the forest's anomaly score (−`score_samples`, higher is more anomalous). The
  forest gives no per-metric errors, so the explanation is each metric's mean robust |z|
  in the window (how far it sits from its normal level), not the forest's own reasoning.
  The model file keeps the training series and the seed; loading grows the same forest
  again (same data and seed, same trees) rather than pickling scikit-learn objects.
* `discord` — matrix-profile discords (`secmas.analytics.matrixprofile`): per metric, the
  z-normalised Euclidean distance from each window (a subsequence of `window` steps) to its
  nearest neighbour among the normal series' subsequences (an AB-join against the normal
  series); a window unlike anything seen in normal behaviour is a discord.
  Training windows are calibrated by the self-join of the normal series (nearest
  neighbour outside the trivial-match zone). Each metric's distances are divided by the
  99th percentile of its own self-join distances (a noisy metric, whose windows are all far
  apart, would otherwise drown a regular one); the score is the largest over the metrics.
  Z-normalisation makes the distance blind to a window's level and scale: a level shift is
  seen at its edges only. Needs `window` ≥ 3.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import torch

from secmas.analytics.baselines import summary_features
from secmas.analytics.matrixprofile import ab_join, self_join
from secmas.analytics.modelfile import ModelFile, save_model
from secmas.analytics.scoring import (
    Fitting,
    StoredBasics,
    WindowDetector,
    check_features,
    check_series,
    stored_basics,
)
from secmas.analytics.threshold import AdaptiveThreshold, StaticThreshold
from secmas.analytics.windows import Scaler, sliding

__all__ = [
    "BaselineDetector",
    "DiscordDetector",
    "ForestDetector",
    "PCADetector",
    "RobustZDetector",
]

MAD_TO_SIGMA = 1.4826
PCA_VARIANCE = 0.95
FOREST_TREES = 100


def _robust_scale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and 1.4826·MAD of each column of [N, F]; the standard deviation where the MAD
    is 0, and 1 where that is 0 too."""
    median = np.median(values, axis=0)
    scale = MAD_TO_SIGMA * np.median(np.abs(values - median), axis=0)
    tiny = 1e-12 * np.maximum(1.0, np.abs(median))
    std = values.std(axis=0) if len(values) else np.zeros_like(median)
    scale = np.where(scale > tiny, scale, np.where(std > tiny, std, 1.0))
    return median, scale


def _thresholds(fitting: Fitting) -> tuple[StaticThreshold, AdaptiveThreshold]:
    """Both thresholds at the fitting's percentile, to be calibrated."""
    return StaticThreshold(fitting.percentile), AdaptiveThreshold(percentile=fitting.percentile)


def _stored(
    basics: StoredBasics,
) -> tuple[StaticThreshold, AdaptiveThreshold, np.ndarray | None]:
    """A model file's calibrated thresholds and per-feature limits, as constructors take them."""
    return basics.static, basics.adaptive, basics.feature_limits


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))


class BaselineDetector(WindowDetector):
    """A baseline: its parameters are arrays (model-file state) plus JSON settings.

    A plug-in's detector that is fitted without training a network is best one of these
    too: it says how it is fitted (`fit`), what arrays define it (`state`) and how they
    rebuild it (`rebuild`); fitting, calibration, saving and restoring are shared."""

    title: ClassVar[str] = ""
    """What it is, in words (its `describe`)."""
    preparing: ClassVar[str] = ""
    """What its fitting does that takes a while, told to a progress display ('' nothing)."""

    @classmethod
    @abstractmethod
    def fit(cls, series: np.ndarray, features: tuple[str, ...], fitting: Fitting) -> Self:
        """The detector fitted on a checked normal series [T, F], not yet calibrated."""

    @classmethod
    @abstractmethod
    def rebuild(
        cls, basics: StoredBasics, arrays: dict[str, np.ndarray], config: dict[str, Any]
    ) -> Self:
        """The detector a model file's `state` arrays and `config` define."""

    @classmethod
    def train(cls, values: np.ndarray, features: Sequence[str], fitting: Fitting) -> Self:
        names = check_features(features)
        series = check_series(values, len(names), fitting.window)
        if cls.preparing and fitting.note is not None:
            fitting.note(cls.preparing)
        detector = cls.fit(series, names, fitting)
        detector.calibrate_on(series, fitting.adaptive)
        return detector

    def calibrate_on(self, series: np.ndarray, adaptive: AdaptiveThreshold | None) -> None:
        """Calibrate both thresholds on the scores of the normal series' own windows (as
        the autoencoder's)."""
        scores, per_feature = self.evaluate(series)
        self.calibrate(per_feature, adaptive, scores, training=series)

    @classmethod
    def restore(cls, stored: ModelFile) -> Self:
        basics = stored_basics(stored.config, stored.extras)
        arrays = {name: tensor.numpy().astype(np.float64) for name, tensor in stored.state.items()}
        return cls.rebuild(basics, arrays, stored.config)

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """The arrays that define the fitted detector."""

    def settings(self) -> dict[str, Any]:
        """JSON-able settings besides features and window."""
        return {}

    def config(self) -> dict[str, Any]:
        """What rebuilds the detector: features, window and its settings."""
        return {"features": list(self.features), "window": self.window, **self.settings()}

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.title,
            "detector": self.name,
            **self.config(),
            "thresholds": self.describe_thresholds(),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the detector as a model file of its kind (ModelFileError)."""
        state = {name: _tensor(array) for name, array in self.state().items()}
        extras = {"thresholds": self.thresholds_json(), "feature_limits": self._limits()}
        save_model(path, self.kind, self.config(), state, extras)

    def _limits(self) -> list[float] | None:
        return None if self.feature_limits is None else [float(x) for x in self.feature_limits]


class RobustZDetector(BaselineDetector):
    """Robust z-scores of levels and first differences (module docstring)."""

    name = "zscore"
    kind = "zscore"
    standing = 1
    title = "robust z-score of levels and first differences (median/MAD)"

    def __init__(
        self,
        features: Sequence[str],
        window: int,
        level: tuple[np.ndarray, np.ndarray],
        change: tuple[np.ndarray, np.ndarray],
        static: StaticThreshold,
        adaptive: AdaptiveThreshold,
        feature_limits: np.ndarray | None = None,
    ) -> None:
        super().__init__(features, window, static, adaptive, feature_limits)
        self.level = level
        self.change = change

    @classmethod
    def fit(cls, series: np.ndarray, features: tuple[str, ...], fitting: Fitting) -> Self:
        changes = np.diff(series, axis=0)
        level, change = _robust_scale(series), _robust_scale(changes)
        return cls(features, fitting.window, level, change, *_thresholds(fitting))

    @classmethod
    def rebuild(
        cls, basics: StoredBasics, arrays: dict[str, np.ndarray], config: dict[str, Any]
    ) -> Self:
        level = arrays["level_median"], arrays["level_scale"]
        change = arrays["change_median"], arrays["change_scale"]
        return cls(basics.features, basics.window, level, change, *_stored(basics))

    @staticmethod
    def combine(per_feature: np.ndarray) -> np.ndarray:
        return np.asarray(per_feature, dtype=np.float64).max(axis=-1)

    def z_levels(self, series: np.ndarray) -> np.ndarray:
        """|robust z| of every step's levels [T, F]."""
        return np.abs((series - self.level[0]) / self.level[1])

    def _errors(self, series: np.ndarray) -> np.ndarray:
        levels = sliding(self.z_levels(series), self.window).max(axis=1)
        if self.window < 2:
            return levels
        jumps = np.abs((np.diff(series, axis=0) - self.change[0]) / self.change[1])
        return np.maximum(levels, sliding(jumps, self.window - 1).max(axis=1))

    def state(self) -> dict[str, np.ndarray]:
        return {
            "level_median": self.level[0],
            "level_scale": self.level[1],
            "change_median": self.change[0],
            "change_scale": self.change[1],
        }


class PCADetector(BaselineDetector):
    """PCA reconstruction error of standardised, flattened windows (module docstring)."""

    name = "pca"
    kind = "pca"
    standing = 3
    title = "PCA reconstruction error (95 % of the variance of normal windows)"

    def __init__(
        self,
        features: Sequence[str],
        window: int,
        scaler: Scaler,
        centre: np.ndarray,
        components: np.ndarray,
        static: StaticThreshold,
        adaptive: AdaptiveThreshold,
        feature_limits: np.ndarray | None = None,
    ) -> None:
        super().__init__(features, window, static, adaptive, feature_limits)
        width = window * len(self.features)
        if centre.shape != (width,) or components.ndim != 2 or components.shape[1] != width:
            raise ValueError(f"PCA of shape {components.shape} does not fit windows of {width}")
        self.scaler = scaler
        self.centre = centre
        self.components = components

    @classmethod
    def fit(cls, series: np.ndarray, features: tuple[str, ...], fitting: Fitting) -> Self:
        from sklearn.decomposition import PCA

        window = fitting.window
        scaler = Scaler.fit(series)
        flat = sliding(scaler.transform(series), window).reshape(-1, window * series.shape[1])
        if len(flat) < 2:
            raise ValueError("PCA needs at least two training windows")
        pca = PCA(n_components=PCA_VARIANCE, svd_solver="full").fit(flat.astype(np.float64))
        return cls(features, window, scaler, pca.mean_, pca.components_, *_thresholds(fitting))

    @classmethod
    def rebuild(
        cls, basics: StoredBasics, arrays: dict[str, np.ndarray], config: dict[str, Any]
    ) -> Self:
        scaler = Scaler(arrays["scaler_mean"], arrays["scaler_scale"])
        head = basics.features, basics.window, scaler, arrays["centre"], arrays["components"]
        return cls(*head, *_stored(basics))

    def _errors(self, series: np.ndarray) -> np.ndarray:
        windows = sliding(self.scaler.transform(series).astype(np.float64), self.window)
        flat = windows.reshape(len(windows), -1) - self.centre
        rebuilt = (flat @ self.components.T) @ self.components
        errors = np.abs(flat - rebuilt).reshape(windows.shape)
        return errors.mean(axis=1)

    def settings(self) -> dict[str, Any]:
        return {"components": int(self.components.shape[0]), "variance": PCA_VARIANCE}

    def state(self) -> dict[str, np.ndarray]:
        return {
            "scaler_mean": self.scaler.mean,
            "scaler_scale": self.scaler.scale,
            "centre": self.centre,
            "components": self.components,
        }


class ForestDetector(BaselineDetector):
    """IsolationForest on window features (module docstring)."""

    name = "iforest"
    kind = "iforest"
    standing = 4
    title = "IsolationForest (scikit-learn, 100 trees) on window features"
    preparing = f"growing {FOREST_TREES} isolation trees"

    def __init__(
        self,
        features: Sequence[str],
        window: int,
        training: np.ndarray,
        seed: int,
        static: StaticThreshold,
        adaptive: AdaptiveThreshold,
        feature_limits: np.ndarray | None = None,
    ) -> None:
        from sklearn.ensemble import IsolationForest

        super().__init__(features, window, static, adaptive, feature_limits)
        self.training = check_series(training, len(self.features), window)
        self.seed = seed
        self.scaler = Scaler.fit(self.training)
        self.level = _robust_scale(self.training)
        forest = IsolationForest(n_estimators=FOREST_TREES, random_state=seed, n_jobs=1)
        self.forest = forest.fit(self._inputs(self.training))

    @classmethod
    def fit(cls, series: np.ndarray, features: tuple[str, ...], fitting: Fitting) -> Self:
        return cls(features, fitting.window, series, fitting.seed, *_thresholds(fitting))

    @classmethod
    def rebuild(
        cls, basics: StoredBasics, arrays: dict[str, np.ndarray], config: dict[str, Any]
    ) -> Self:
        head = basics.features, basics.window, arrays["training"], int(config["seed"])
        return cls(*head, *_stored(basics))

    def _inputs(self, series: np.ndarray) -> np.ndarray:
        windows = sliding(self.scaler.transform(series), self.window)
        flat = windows.reshape(len(windows), -1)
        return np.concatenate([flat, summary_features(windows)], axis=1).astype(np.float64)

    def _errors(self, series: np.ndarray) -> np.ndarray:
        z = np.abs((series - self.level[0]) / self.level[1])
        return sliding(z, self.window).mean(axis=1)

    def evaluate(self, series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return -self.forest.score_samples(self._inputs(series)), self._errors(series)

    def evaluate_window(self, window: np.ndarray) -> tuple[float, np.ndarray]:
        score, errors = self.evaluate(window)
        return float(score[0]), errors[0]

    def settings(self) -> dict[str, Any]:
        return {"trees": FOREST_TREES, "seed": self.seed}

    def state(self) -> dict[str, np.ndarray]:
        return {"training": self.training}


class DiscordDetector(BaselineDetector):
    """Matrix-profile discords against the normal series (module docstring)."""

    name = "discord"
    kind = "discord"
    standing = 2
    title = "matrix-profile discords (AB-join against normal behaviour)"
    preparing = "matrix profile of the normal series"

    def __init__(
        self,
        features: Sequence[str],
        window: int,
        training: np.ndarray,
        reference: np.ndarray,
        static: StaticThreshold,
        adaptive: AdaptiveThreshold,
        feature_limits: np.ndarray | None = None,
    ) -> None:
        super().__init__(features, window, static, adaptive, feature_limits)
        if window < 3:
            raise ValueError(f"the discord detector needs windows of ≥ 3 steps, not {window}")
        self.training = check_series(training, len(self.features), 2 * window)
        self.reference = np.asarray(reference, dtype=np.float64)
        """Per metric: the percentile of its training windows' nearest-neighbour distances;
        distances are divided by it, so that a noisy metric (whose windows are all far
        from each other) does not drown a regular one."""
        if self.reference.shape != (len(self.features),) or np.any(self.reference <= 0):
            raise ValueError(f"discord reference distances must be {len(self.features)} > 0")

    @classmethod
    def fit(cls, series: np.ndarray, features: tuple[str, ...], fitting: Fitting) -> Self:
        ones = np.ones(series.shape[1])
        detector = cls(features, fitting.window, series, ones, *_thresholds(fitting))
        distances = detector.self_join()
        detector.reference = np.maximum(np.percentile(distances, fitting.percentile, axis=0), 1e-6)
        return detector

    @classmethod
    def rebuild(
        cls, basics: StoredBasics, arrays: dict[str, np.ndarray], config: dict[str, Any]
    ) -> Self:
        head = basics.features, basics.window, arrays["training"], arrays["reference"]
        return cls(*head, *_stored(basics))

    def calibrate_on(self, series: np.ndarray, adaptive: AdaptiveThreshold | None) -> None:
        """Calibrate on the training windows' self-join distances: scored against the
        normal series itself, each would find itself at distance 0."""
        self.calibrate(self.self_join(), adaptive, training=series)

    @staticmethod
    def combine(per_feature: np.ndarray) -> np.ndarray:
        return np.asarray(per_feature, dtype=np.float64).max(axis=-1)

    def self_join(self) -> np.ndarray:
        """Each training window's distance to its nearest non-trivial neighbour, over the
        reference [N, F]."""
        columns = [self_join(self.training[:, j], self.window) for j in self._columns()]
        return self._relative(np.stack(columns, axis=1))

    def _columns(self) -> range:
        return range(len(self.features))

    def _relative(self, distances: np.ndarray) -> np.ndarray:
        finite = np.where(np.isfinite(distances.astype(np.float64)), distances, 0.0)
        return finite.astype(np.float64) / self.reference

    def _errors(self, series: np.ndarray) -> np.ndarray:
        columns = [ab_join(series[:, j], self.training[:, j], self.window) for j in self._columns()]
        return self._relative(np.stack(columns, axis=1))

    def state(self) -> dict[str, np.ndarray]:
        return {"training": self.training, "reference": self.reference}

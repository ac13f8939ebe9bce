"""LSTM autoencoder anomaly detection on multivariate CNF metrics (`002_…`, Section IV).

The analytics service of `002_…` detects anomalies of a CNF with an LSTM autoencoder over
multivariate time series: resource usage (CPU, system load, memory, network I/O) and
performance (HTTP response time) metrics together, so that the correlation between metrics
counts. The model learns to reconstruct windows of *normal* behaviour only — the paper trains
on 2 361 normal samples, holds 20 % out for validation, runs 30 epochs with batches of 50 and
a Mean Absolute Error loss — and a window whose reconstruction error is above a static
threshold, 99 % of the training loss distribution, is an anomaly.

Here:

- `LSTMAutoencoder`: encoder LSTM → its last hidden state → linear map to a latent vector →
  the latent repeated once per time step → decoder LSTM → linear map back to the metrics at
  each step;
- `train_autoencoder`: that training procedure (L1 loss, Adam, chronological hold-out);
- `Detector`: the whole detector: standardisation, windows, model, thresholds
  (`secmas.analytics.threshold`), batch scoring of a series and live scoring of one window,
  and explanation: each window keeps its error per metric, so every alert names the metrics
  that deviated most.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from secmas.analytics.modelfile import ModelFileError, load_model, save_model
from secmas.analytics.threshold import (
    AdaptiveThreshold,
    LiveThreshold,
    StaticThreshold,
    Threshold,
    threshold_from_json,
)
from secmas.analytics.windows import Scaler, sliding, window_ends

__all__ = [
    "KIND",
    "Detector",
    "DetectorInputError",
    "EpochLoss",
    "LSTMAutoencoder",
    "Scores",
    "TrainedAutoencoder",
    "reconstruction_errors",
    "train_autoencoder",
]

KIND = "autoencoder"
"""The model-file kind of a saved `Detector`."""

ThresholdName = Literal["static", "adaptive"]
Progress = Callable[[int, float, float | None], None]
"""Called after each epoch with (epoch from 1, training loss, validation loss or None)."""

INFERENCE_CHUNK = 4096
"""Windows per forward pass in batch scoring (bounds memory on long series)."""


class DetectorInputError(ValueError):
    """Data a detector cannot score: wrong columns, too few steps, missing values."""


class LSTMAutoencoder(nn.Module):
    """Sequence-to-sequence LSTM autoencoder: [B, T, F] windows → their reconstruction.

    The encoder LSTM reads the window; its last hidden state is mapped to a `latent`
    vector, the bottleneck; the decoder LSTM reads that vector once per time step and a
    linear layer turns each of its outputs back into the F metrics.
    """

    def __init__(self, features: int, hidden: int = 32, latent: int = 16) -> None:
        super().__init__()
        for name, size in (("features", features), ("hidden", hidden), ("latent", latent)):
            if not isinstance(size, int) or isinstance(size, bool) or size < 1:
                raise ValueError(f"{name} must be a positive integer, got {size!r}")
        self.features = features
        self.hidden = hidden
        self.latent = latent
        self.encoder = nn.LSTM(features, hidden, batch_first=True)
        self.to_latent = nn.Linear(hidden, latent)
        self.decoder = nn.LSTM(latent, hidden, batch_first=True)
        self.output = nn.Linear(hidden, features)

    def encode(self, windows: torch.Tensor) -> torch.Tensor:
        """The latent vector of each window: [B, T, F] → [B, latent]."""
        _, (last, _) = self.encoder(windows)
        return self.to_latent(last[-1])

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Reconstruct each window: [B, T, F] → [B, T, F]."""
        latent = self.encode(windows)
        repeated = latent.unsqueeze(1).expand(-1, windows.shape[1], -1)
        decoded, _ = self.decoder(repeated)
        return self.output(decoded)


@dataclass(frozen=True)
class EpochLoss:
    """Mean absolute error of one epoch on the training and validation windows."""

    epoch: int
    train: float
    validation: float | None


@dataclass(frozen=True)
class TrainedAutoencoder:
    """A trained model (in eval mode) and its per-epoch losses."""

    model: LSTMAutoencoder
    history: tuple[EpochLoss, ...]


def _check_windows(windows: np.ndarray) -> np.ndarray:
    array = np.asarray(windows, dtype=np.float32)
    if array.ndim != 3 or 0 in array.shape:
        raise ValueError(f"expected windows [N, T, F] with N, T, F ≥ 1, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("windows hold NaN or infinite values")
    return array


def _split(count: int, validation: float, gap: int) -> tuple[int, int]:
    """(training windows, validation windows): the validation ones are the last ones."""
    if not 0 <= validation < 1:
        raise ValueError(f"validation share must be in [0, 1), got {validation!r}")
    if gap < 0:
        raise ValueError(f"gap must be ≥ 0, got {gap}")
    held = math.ceil(count * validation) if validation > 0 else 0
    train = count - held - (gap if held else 0)
    if train < 1:
        raise ValueError(
            f"{count} windows are too few to hold {validation:.0%} out for validation "
            f"(with a gap of {gap}); give more data or a smaller validation share"
        )
    return train, held


def _mean_l1(model: LSTMAutoencoder, windows: torch.Tensor) -> float:
    total = 0.0
    with torch.no_grad():
        for start in range(0, windows.shape[0], INFERENCE_CHUNK):
            chunk = windows[start : start + INFERENCE_CHUNK]
            total += float(nn.functional.l1_loss(model(chunk), chunk, reduction="sum"))
    return total / windows.numel()


def _epoch(
    model: LSTMAutoencoder,
    optimiser: torch.optim.Optimizer,
    windows: torch.Tensor,
    batch: int,
    generator: torch.Generator,
) -> float:
    """One pass over shuffled training windows; their mean absolute error."""
    model.train()
    order = torch.randperm(windows.shape[0], generator=generator)
    total = 0.0
    for start in range(0, windows.shape[0], batch):
        chunk = windows[order[start : start + batch]]
        optimiser.zero_grad()
        loss = nn.functional.l1_loss(model(chunk), chunk)
        loss.backward()
        optimiser.step()
        total += loss.item() * chunk.shape[0]
    model.eval()
    return total / windows.shape[0]


def train_autoencoder(
    windows: np.ndarray,
    *,
    epochs: int = 30,
    batch: int = 50,
    validation: float = 0.2,
    seed: int = 0,
    hidden: int = 32,
    latent: int = 16,
    learning_rate: float = 1e-3,
    gap: int = 0,
    progress: Progress | None = None,
) -> TrainedAutoencoder:
    """Train an `LSTMAutoencoder` to reconstruct scaled windows [N, T, F] (`002_…`: MAE loss,
    30 epochs, batch 50, 20 % held out).

    The validation windows are the last `validation` share, in time order (no shuffling
    across the split); `gap` windows before them are left out of training, so that
    overlapping windows (stride 1: gap = T − 1) do not share steps with the validation ones.
    Training windows are shuffled each epoch. Same data and seed, same model; the global
    torch random state is left as it was.
    """
    data = _check_windows(windows)
    if epochs < 1 or batch < 1:
        raise ValueError(f"epochs and batch must be ≥ 1, got {epochs} and {batch}")
    if not learning_rate > 0:
        raise ValueError(f"learning rate must be positive, got {learning_rate!r}")
    train_count, held = _split(data.shape[0], validation, gap)
    tensor = torch.from_numpy(data)
    train = tensor[:train_count]
    held_out = tensor[tensor.shape[0] - held :] if held else None
    history: list[EpochLoss] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LSTMAutoencoder(data.shape[2], hidden, latent)
        optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
        generator = torch.Generator().manual_seed(seed)
        for epoch in range(1, epochs + 1):
            train_loss = _epoch(model, optimiser, train, batch, generator)
            val_loss = _mean_l1(model, held_out) if held_out is not None else None
            history.append(EpochLoss(epoch, train_loss, val_loss))
            if progress is not None:
                progress(epoch, train_loss, val_loss)
    model.eval()
    return TrainedAutoencoder(model, tuple(history))


def reconstruction_errors(model: LSTMAutoencoder, windows: np.ndarray) -> np.ndarray:
    """Mean absolute reconstruction error of each window per feature: [N, T, F] → [N, F]."""
    data = torch.from_numpy(_check_windows(windows))
    parts = []
    model.eval()
    with torch.no_grad():
        for start in range(0, data.shape[0], INFERENCE_CHUNK):
            chunk = data[start : start + INFERENCE_CHUNK]
            parts.append((model(chunk) - chunk).abs().mean(dim=1))
    return torch.cat(parts).numpy().astype(np.float64)


@dataclass(frozen=True, eq=False)
class Scores:
    """A detector's verdict on a series, one entry per window.

    `score` is the window's mean absolute reconstruction error (in standard deviations of
    the training data), `per_feature` the same per metric [N, F], `limit` the threshold it was
    compared with, `flags` whether it is above, `end` the index of the window's last step.
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


def _check_features(features: Sequence[str]) -> tuple[str, ...]:
    names = tuple(features)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"features must be non-empty names, got {names!r}")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"feature names appear more than once: {', '.join(twice)}")
    return names


class Detector:
    """LSTM-autoencoder anomaly detector of one CNF's metrics (`002_…`, Section IV).

    Fit it on a normal series, then score series (`score`) or live windows
    (`score_window`). A window is flagged under the `static` threshold (the paper's: the 99th
    percentile of the training windows' errors) or the `adaptive` one.
    """

    def __init__(
        self,
        model: LSTMAutoencoder,
        scaler: Scaler,
        features: Sequence[str],
        window: int,
        static: StaticThreshold,
        adaptive: AdaptiveThreshold,
        history: Sequence[EpochLoss] = (),
        feature_limits: np.ndarray | None = None,
    ) -> None:
        self.features = _check_features(features)
        if model.features != len(self.features) or scaler.features != len(self.features):
            raise ValueError(
                f"model ({model.features}), scaler ({scaler.features}) and feature names "
                f"({len(self.features)}) disagree on the number of features"
            )
        if window < 1:
            raise ValueError(f"window must be ≥ 1, got {window}")
        self.model = model.eval()
        self.scaler = scaler
        self.window = window
        self.static = static
        """The paper's threshold: a percentile of the training windows' errors."""
        self.adaptive = adaptive
        """The drift-following threshold (see `secmas.analytics.threshold`)."""
        self.history = tuple(history)
        self.feature_limits = (
            None if feature_limits is None else np.asarray(feature_limits, dtype=float)
        )
        """Per feature: the same percentile of its own training errors (explanations)."""
        if self.feature_limits is not None and self.feature_limits.shape != (len(self.features),):
            raise ValueError(f"{len(self.feature_limits)} feature limits for {len(self.features)}")
        self._mean = scaler.mean.astype(np.float32)
        self._scale = scaler.scale.astype(np.float32)
        self._live: dict[str, LiveThreshold] = {}
        self._last_limit: dict[str, float] = {}

    @classmethod
    def fit(
        cls,
        values: np.ndarray,
        features: Sequence[str],
        *,
        window: int = 10,
        epochs: int = 30,
        batch: int = 50,
        hidden: int = 32,
        latent: int = 16,
        validation: float = 0.2,
        seed: int = 0,
        percentile: float = 99.0,
        adaptive: AdaptiveThreshold | None = None,
        progress: Progress | None = None,
    ) -> Detector:
        """Train on a normal series [T, F]: scaler on the series, windows of `window` steps
        (stride 1), the autoencoder, then both thresholds calibrated on the reconstruction
        errors of the series' windows."""
        names = _check_features(features)
        series = _check_series(values, len(names), window)
        scaler = Scaler.fit(series)
        windows = sliding(scaler.transform(series), window)
        trained = train_autoencoder(
            windows,
            epochs=epochs,
            batch=batch,
            validation=validation,
            seed=seed,
            hidden=hidden,
            latent=latent,
            gap=window - 1,
            progress=progress,
        )
        per_feature = reconstruction_errors(trained.model, windows)
        errors = per_feature.mean(axis=1)
        static = StaticThreshold(percentile).calibrate(errors)
        rule = adaptive if adaptive is not None else AdaptiveThreshold(percentile=percentile)
        rule = AdaptiveThreshold(rule.window, rule.k, rule.percentile).calibrate(errors)
        limits = np.percentile(per_feature, percentile, axis=0)
        return cls(trained.model, scaler, names, window, static, rule, trained.history, limits)

    def severity(self, per_feature: np.ndarray) -> tuple[tuple[str, float], ...]:
        """Each feature's error over its own limit (the same percentile of its training
        errors), largest first; empty when the model has no per-feature limits."""
        if self.feature_limits is None:
            return ()
        limits = np.maximum(self.feature_limits, 1e-9)
        ratios = np.asarray(per_feature, dtype=float) / limits
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

    def _per_feature(self, series: np.ndarray) -> np.ndarray:
        windows = sliding(self.scaler.transform(series), self.window)
        return reconstruction_errors(self.model, windows)

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
        series = _check_series(values, len(self.features), self.window)
        per_feature = self._per_feature(series)
        score = per_feature.mean(axis=1)
        flags, limit = rule.evaluate(score)
        ends = window_ends(series.shape[0], self.window)
        return Scores(self.features, ends, score, per_feature, flags, limit, threshold)

    def score_window(self, window: np.ndarray) -> tuple[float, np.ndarray, dict[str, bool]]:
        """Score one window [window, F] of raw metrics as it arrives (live detection).

        Returns (score, error per feature [F], {"static": flagged, "adaptive": flagged}).
        The adaptive verdict depends on the earlier calls: the detector remembers their
        unflagged scores (`reset_live` forgets them); `threshold_value` gives the limits used.
        """
        array = np.asarray(window, dtype=np.float32)
        if array.shape != (self.window, len(self.features)):
            raise DetectorInputError(
                f"a live window must have shape ({self.window}, {len(self.features)}), "
                f"got {array.shape}"
            )
        scaled = torch.from_numpy((array - self._mean) / self._scale).unsqueeze(0)
        with torch.inference_mode():
            errors = (self.model(scaled) - scaled).abs().mean(dim=1)[0].numpy()
        score = float(errors.mean())
        if not math.isfinite(score):
            raise DetectorInputError("the live window holds NaN or infinite values")
        flags = {}
        for name in ("static", "adaptive"):
            flags[name], self._last_limit[name] = self._live_rule(name).step(score)
        return score, errors.astype(np.float64), flags

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

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary: model, features, sizes, thresholds and training losses."""
        last = self.history[-1] if self.history else None
        return {
            "model": "LSTM autoencoder (002_faee9aca29cce579 Section IV)",
            **self.config(),
            "thresholds": {
                "static": self.static.to_json(),
                "adaptive": {k: v for k, v in self.adaptive.to_json().items() if k != "history"},
            },
            "epochs": len(self.history),
            "train_loss": None if last is None else last.train,
            "validation_loss": None if last is None else last.validation,
        }

    def _threshold(self, name: str) -> Threshold:
        if name == "static":
            return self.static
        if name == "adaptive":
            return self.adaptive
        raise ValueError(f"threshold must be 'static' or 'adaptive', got {name!r}")

    def config(self) -> dict[str, Any]:
        """What rebuilds the network: features, window, sizes."""
        return {
            "features": list(self.features),
            "window": self.window,
            "hidden": self.model.hidden,
            "latent": self.model.latent,
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the detector as a model file of kind "autoencoder" (ModelFileError)."""
        extras = {
            "scaler": self.scaler.to_json(),
            "thresholds": {"static": self.static.to_json(), "adaptive": self.adaptive.to_json()},
            "history": [[h.epoch, h.train, h.validation] for h in self.history],
            "feature_limits": None
            if self.feature_limits is None
            else [float(x) for x in self.feature_limits],
            "source": "002_faee9aca29cce579 Section IV (LSTM autoencoder)",
        }
        save_model(path, KIND, self.config(), self.model.state_dict(), extras)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Detector:
        """Read a detector written by `save`; ModelFileError names the file and problem."""
        stored = load_model(path, KIND)
        try:
            return _rebuild(stored.config, stored.state, stored.extras)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            reason = exc.args[0] if exc.args else type(exc).__name__
            if isinstance(exc, KeyError):
                reason = f"missing field {reason!r}"
            first = str(reason).strip().splitlines()[0]
            raise ModelFileError(f"{path}: malformed autoencoder model ({first})") from None


def _rebuild(
    config: dict[str, Any], state: dict[str, torch.Tensor], extras: dict[str, Any]
) -> Detector:
    features = _check_features(config["features"])
    model = LSTMAutoencoder(len(features), config["hidden"], config["latent"])
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise ValueError("its weights do not match its configuration") from None
    scaler = Scaler.from_json(extras["scaler"])
    static = threshold_from_json(extras["thresholds"]["static"])
    adaptive = threshold_from_json(extras["thresholds"]["adaptive"])
    if not isinstance(static, StaticThreshold) or not isinstance(adaptive, AdaptiveThreshold):
        raise ValueError("thresholds of the wrong kinds")
    if not (static.calibrated and adaptive.calibrated):
        raise ValueError("thresholds not calibrated")
    history = [EpochLoss(int(e), float(t), v) for e, t, v in extras.get("history", [])]
    window = config["window"]
    if not isinstance(window, int) or isinstance(window, bool):
        raise ValueError(f"window {window!r} is not an integer")
    limits = extras.get("feature_limits")
    limits_array = None if limits is None else np.asarray(limits, dtype=float)
    return Detector(model, scaler, features, window, static, adaptive, history, limits_array)


def _check_series(values: np.ndarray, features: int, window: int) -> np.ndarray:
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

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from secmas.analytics.modelfile import ModelFile, load_model, malformed, save_model
from secmas.analytics.scoring import (
    DetectorInputError,
    Fitting,
    Progress,
    Scores,
    WindowDetector,
    check_features,
    check_series,
    stored_basics,
)
from secmas.analytics.threads import limit_torch_threads
from secmas.analytics.threshold import AdaptiveThreshold, StaticThreshold
from secmas.analytics.windows import Scaler, sliding

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

INFERENCE_CHUNK = 4096
"""Windows per forward pass in batch scoring (bounds memory on long series)."""


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
    limit_torch_threads()
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


class Detector(WindowDetector):
    """LSTM-autoencoder anomaly detector of one CNF's metrics (`002_…`, Section IV).

    Fit it on a normal series, then score series (`score`) or live windows
    (`score_window`). A window is flagged under the `static` threshold (the paper's: the 99th
    percentile of the training windows' errors) or the `adaptive` one.
    """

    name = "lstm-ae"
    kind = KIND
    standing = 5

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
        super().__init__(features, window, static, adaptive, feature_limits)
        if model.features != len(self.features) or scaler.features != len(self.features):
            raise ValueError(
                f"model ({model.features}), scaler ({scaler.features}) and feature names "
                f"({len(self.features)}) disagree on the number of features"
            )
        self.model = model.eval()
        self.scaler = scaler
        self.history = tuple(history)
        self._mean = scaler.mean.astype(np.float32)
        self._scale = scaler.scale.astype(np.float32)

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
        names = check_features(features)
        series = check_series(values, len(names), window)
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
        static, rule = StaticThreshold(percentile), AdaptiveThreshold(percentile=percentile)
        detector = cls(trained.model, scaler, names, window, static, rule, trained.history)
        errors = reconstruction_errors(trained.model, windows)
        detector.calibrate(errors, adaptive, training=series)
        return detector

    @classmethod
    def train(cls, values: np.ndarray, features: Sequence[str], fitting: Fitting) -> Detector:
        """`fit` with the fitting's window, threshold, seed and network settings."""
        settings = fitting.lstm
        if fitting.note is not None:
            fitting.note(f"training the LSTM autoencoder ({settings.epochs} epochs)")
        return cls.fit(
            values,
            features,
            window=fitting.window,
            epochs=settings.epochs,
            batch=settings.batch,
            hidden=settings.hidden,
            latent=settings.latent,
            seed=fitting.seed,
            percentile=fitting.percentile,
            adaptive=fitting.adaptive,
            progress=fitting.progress,
        )

    @classmethod
    def restore(cls, stored: ModelFile) -> Detector:
        return _rebuild(stored.config, stored.state, stored.extras)

    def _errors(self, series: np.ndarray) -> np.ndarray:
        windows = sliding(self.scaler.transform(series), self.window)
        return reconstruction_errors(self.model, windows)

    def _window_errors(self, window: np.ndarray) -> np.ndarray:
        scaled = (window.astype(np.float32) - self._mean) / self._scale
        with torch.inference_mode():
            tensor = torch.from_numpy(scaled).unsqueeze(0)
            errors = (self.model(tensor) - tensor).abs().mean(dim=1)[0].numpy()
        return errors.astype(np.float64)

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary: model, features, sizes, thresholds and training losses."""
        last = self.history[-1] if self.history else None
        return {
            "model": "LSTM autoencoder (002_faee9aca29cce579 Section IV)",
            **self.config(),
            "detector": "lstm-ae",
            "thresholds": self.describe_thresholds(),
            "epochs": len(self.history),
            "train_loss": None if last is None else last.train,
            "validation_loss": None if last is None else last.validation,
        }

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
            "thresholds": self.thresholds_json(),
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
            raise malformed(path, "autoencoder", exc) from None


def _rebuild(
    config: dict[str, Any], state: dict[str, torch.Tensor], extras: dict[str, Any]
) -> Detector:
    scaler = Scaler.from_json(extras["scaler"])
    basics = stored_basics(config, extras)
    model = LSTMAutoencoder(len(basics.features), config["hidden"], config["latent"])
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise ValueError("its weights do not match its configuration") from None
    history = [EpochLoss(int(e), float(t), v) for e, t, v in extras.get("history", [])]
    return Detector(
        model,
        scaler,
        basics.features,
        basics.window,
        basics.static,
        basics.adaptive,
        history,
        basics.feature_limits,
    )

"""Sliding windows over multivariate metric series, and their standardisation.

The anomaly detector of `002_…` (Section IV) reads "the metrics values observed in the last
x time steps": a series [T, F] (T time steps, F metrics) becomes overlapping windows
[N, length, F], one per time step once `length` steps have been seen. A window stands for the
time step it ends at: its ground-truth label is the label of its last step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["Scaler", "sliding", "window_count", "window_ends", "window_labels"]


def _check_geometry(steps: int, length: int, stride: int) -> None:
    if length < 1:
        raise ValueError(f"window length must be at least 1, got {length}")
    if stride < 1:
        raise ValueError(f"window stride must be at least 1, got {stride}")
    if steps < length:
        raise ValueError(f"a series of {steps} steps is shorter than one window of {length}")


def window_count(steps: int, length: int, stride: int = 1) -> int:
    """How many windows of `length` steps, every `stride` steps, a series of `steps` has."""
    _check_geometry(steps, length, stride)
    return (steps - length) // stride + 1


def window_ends(steps: int, length: int, stride: int = 1) -> np.ndarray:
    """The index of each window's last step (int64 [N])."""
    count = window_count(steps, length, stride)
    return np.arange(count, dtype=np.int64) * stride + (length - 1)


def sliding(values: np.ndarray, length: int, stride: int = 1) -> np.ndarray:
    """Windows of `length` consecutive steps, every `stride` steps: [T, F] -> [N, length, F].

    The result is a contiguous float32 copy (safe to modify). Raises ValueError when the
    series is not two-dimensional or is shorter than one window.
    """
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"expected a series [steps, features], got shape {array.shape}")
    _check_geometry(array.shape[0], length, stride)
    view = sliding_window_view(array, length, axis=0)[::stride]  # [N, F, length]
    return np.ascontiguousarray(view.transpose(0, 2, 1), dtype=np.float32)


def window_labels(labels: np.ndarray, length: int, stride: int = 1) -> np.ndarray:
    """The label of each window: the label of its last step ([T] -> [N])."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"expected one label per step, got shape {array.shape}")
    return array[window_ends(array.shape[0], length, stride)]


@dataclass(frozen=True, eq=False)
class Scaler:
    """Standardisation per feature: (x − mean) / scale.

    A feature constant over the fitting data (zero variance) gets scale 1, so it passes
    through shifted to 0 rather than dividing by zero.
    """

    mean: np.ndarray
    scale: np.ndarray

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float64)
        scale = np.asarray(self.scale, dtype=np.float64)
        if mean.ndim != 1 or scale.shape != mean.shape:
            raise ValueError(
                f"scaler mean and scale must be two vectors of one length, "
                f"got shapes {mean.shape} and {scale.shape}"
            )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))):
            raise ValueError("scaler mean and scale must be finite")
        if np.any(scale <= 0):
            raise ValueError("scaler scale must be positive")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "scale", scale)

    @property
    def features(self) -> int:
        """How many features the scaler was fitted on."""
        return int(self.mean.shape[0])

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        """Mean and standard deviation of each feature over [N, F] or [N, T, F] data."""
        array = np.asarray(values, dtype=np.float64)
        if array.ndim not in (2, 3) or array.shape[0] == 0:
            raise ValueError(f"expected data [N, F] or [N, T, F] with N ≥ 1, got {array.shape}")
        flat = array.reshape(-1, array.shape[-1])
        if not np.all(np.isfinite(flat)):
            raise ValueError("cannot fit a scaler on data with NaN or infinite values")
        std = flat.std(axis=0)
        # Relative tolerance: a constant column can have a rounding-noise std.
        tiny = std <= 1e-12 * np.maximum(1.0, np.abs(flat.mean(axis=0)))
        return cls(flat.mean(axis=0), np.where(tiny, 1.0, std))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Standardised copy of `values` (any shape whose last axis is the features), float32."""
        array = np.asarray(values)
        if array.ndim == 0 or array.shape[-1] != self.features:
            raise ValueError(
                f"data has {array.shape[-1] if array.ndim else 0} features, "
                f"the scaler was fitted on {self.features}"
            )
        return ((array - self.mean) / self.scale).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form (for model files)."""
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scaler:
        """The scaler `to_json` wrote; ValueError when a field is missing or malformed."""
        try:
            return cls(np.asarray(data["mean"], float), np.asarray(data["scale"], float))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed scaler: {exc!r}") from None

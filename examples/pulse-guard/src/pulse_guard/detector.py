"""`swing`: how far a window's peak rises above its own mean, fitted on normal traffic.

A pulsing flood hides in averages (its mean rate is low) and in thresholds that need a
sustained excess (its bursts are short), but not in a window's peak-to-mean: the crest
factor of signal processing, which burst detectors of pulsing DoS use over windows
about one period long (Luo and Chang, Computer Networks 2005, Section 5). Here it is
taken in the traffic's own units, peak − mean in MB/s: the many clients of normal traffic
swing little around their sum, and one bot alone swings by its whole burst rate, so the
same fitted limit judges the whole traffic towards the server (`sentinel`) and each
source (`scrubber`).

A `BaselineDetector` of secmas (`secmas.analytics.detectors`): fitted on a normal series
[T, F], its static threshold is the 99th percentile of the normal windows' swings, and
`secmas detect fit --model swing` fits it on any telemetry CSV.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from secmas.analytics.detectors import BaselineDetector
from secmas.analytics.scoring import Fitting, StoredBasics
from secmas.analytics.threshold import AdaptiveThreshold, StaticThreshold
from secmas.analytics.windows import sliding


def swing(rates: Sequence[float] | np.ndarray) -> float:
    """Peak − mean of one window of rates (MB/s)."""
    values = np.asarray(rates, dtype=float)
    return float(values.max() - values.mean()) if values.size else 0.0


class Swing(BaselineDetector):
    """Each window's peak − mean per feature; a window's score is the largest."""

    name = "swing"
    kind = "pulse-guard-swing"
    title = "peak − mean of each window (pulsing traffic)"

    def __init__(
        self,
        features: Sequence[str],
        window: int,
        level: np.ndarray,
        static: StaticThreshold,
        adaptive: AdaptiveThreshold,
        feature_limits: np.ndarray | None = None,
    ) -> None:
        super().__init__(features, window, static, adaptive, feature_limits)
        self.level = level
        """The normal mean of each feature (what its swings rode on), kept in its model file."""

    @classmethod
    def fit(cls, series: np.ndarray, features: tuple[str, ...], fitting: Fitting) -> Self:
        rules = (
            StaticThreshold(fitting.percentile),
            AdaptiveThreshold(percentile=fitting.percentile),
        )
        return cls(features, fitting.window, series.mean(axis=0), *rules)

    @classmethod
    def rebuild(
        cls, basics: StoredBasics, arrays: dict[str, np.ndarray], config: dict[str, Any]
    ) -> Self:
        head = basics.features, basics.window, arrays["level"]
        return cls(*head, basics.static, basics.adaptive, basics.feature_limits)

    @staticmethod
    def combine(per_feature: np.ndarray) -> np.ndarray:
        return np.asarray(per_feature, dtype=np.float64).max(axis=-1)

    def _errors(self, series: np.ndarray) -> np.ndarray:
        windows = sliding(series, self.window).astype(np.float64)
        return windows.max(axis=1) - windows.mean(axis=1)

    def state(self) -> dict[str, np.ndarray]:
        return {"level": np.asarray(self.level, dtype=np.float64)}

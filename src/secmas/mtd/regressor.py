"""The ML migration-time regressor (004_… Section 2.1).

"The ML-based regressor is used to estimate the migration time of each container. This
estimation is used to schedule the parallel migration of interdependent CNFs." Ours predicts
both the total migration time and the downtime of a container for a given method, from the
container's loads, the path bandwidth (`dataset.FEATURES`) and the method (one-hot), trained on
every migration of a dataset (6 120 rows by default).

Model: scikit-learn `HistGradientBoostingRegressor` per target on log(seconds) (times span two
orders of magnitude and their noise is multiplicative, so the log makes the error relative and
the loss well conditioned), 300 iterations, leaves of ≥ 10 samples; predictions are mapped back
with exp. A random forest on the same inputs is available (`kind="random_forest"`) for
comparison in `benchmarks/bench_mtd.py`. The regressor implements the planner's `Predictor`
protocol (`predict(method, load, bandwidth) -> Estimate`). `secmas.mtd.calibration` trains it
on measured moves of the emulated engine and a run uses it per method and target only where
its held-out error is below the analytical model's.

Measured migrations (`secmas.mtd.recording`) can have a downtime of 0 (no probe request was
lost): `floor_s` (e.g. half the probe's interval, its resolution) clamps the targets from
below before the log, so such a move counts as "under the resolution".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.metrics import mean_absolute_error, r2_score

from secmas.mtd.dataset import Dataset, features
from secmas.mtd.migration import METHODS, Load, Method

RegressorKind = Literal["gradient_boosting", "random_forest"]
TARGETS: tuple[str, ...] = ("total_s", "downtime_s")


@dataclass(frozen=True)
class Estimate:
    """Predicted seconds of one migration."""

    total_s: float
    downtime_s: float


def method_row(load: Load, bandwidth: float, method: Method) -> list[float]:
    return features(load, bandwidth) + [1.0 if m is method else 0.0 for m in METHODS]


def rows(data: Dataset) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Inputs and targets of every migration of `data`."""
    records = list(data.migrations())
    x = np.array([method_row(r.instance.load, r.instance.bandwidth, r.method) for r in records])
    y = {t: np.array([getattr(r.phases, t) for r in records]) for t in TARGETS}
    return x, y


@dataclass(frozen=True)
class RegressionScore:
    mae_s: float
    r2: float
    mape: float  # mean |error| / actual


class MigrationRegressor:
    """Predicts a migration's total time and downtime for a container, path and method."""

    def __init__(
        self, kind: RegressorKind = "gradient_boosting", seed: int = 0, floor_s: float = 0.0
    ) -> None:
        self.kind = kind
        self.seed = seed
        self.floor_s = floor_s
        self._models = {t: self._make() for t in TARGETS}
        self._fitted = False

    def _make(self) -> HistGradientBoostingRegressor | RandomForestRegressor:
        if self.kind == "gradient_boosting":
            return HistGradientBoostingRegressor(
                max_iter=300, min_samples_leaf=10, learning_rate=0.1, random_state=self.seed
            )
        if self.kind == "random_forest":
            return RandomForestRegressor(
                n_estimators=100, min_samples_leaf=3, random_state=self.seed, n_jobs=1
            )
        raise ValueError(f"unknown regressor {self.kind!r}")

    def fit(self, data: Dataset) -> MigrationRegressor:
        x, y = rows(data)
        for target, model in self._models.items():
            model.fit(x, np.log(np.maximum(y[target], self.floor_s)))
        self._fitted = True
        return self

    def predict_rows(self, x: np.ndarray) -> dict[str, np.ndarray]:
        if not self._fitted:
            raise RuntimeError("MigrationRegressor.fit first")
        return {t: np.exp(m.predict(x)) for t, m in self._models.items()}

    def predict(self, method: Method | str, load: Load, bandwidth: float) -> Estimate:
        out = self.predict_rows(np.array([method_row(load, bandwidth, Method(method))]))
        return Estimate(total_s=float(out["total_s"][0]), downtime_s=float(out["downtime_s"][0]))

    def describe(self) -> dict[str, str]:
        """Which model predicts each method's total time and downtime: this one."""
        return {f"{m.value}/{t}": "learned" for m in METHODS for t in TARGETS}

    def score(self, data: Dataset) -> dict[str, RegressionScore]:
        """MAE, R² and mean relative error per target on held-out migrations."""
        x, y = rows(data)
        pred = self.predict_rows(x)
        return {
            t: RegressionScore(
                mae_s=float(mean_absolute_error(y[t], pred[t])),
                r2=float(r2_score(y[t], pred[t])),
                mape=float(np.mean(np.abs(pred[t] - y[t]) / y[t])),
            )
            for t in TARGETS
        }

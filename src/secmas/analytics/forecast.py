"""CPU / memory forecasting with the lightweight LSTM regression model (004_… 6.1.1, 6.3, Annex A).

Section 6.1.1 of 004_e7e54a2542bcd055.txt forecasts the CPU and memory consumption of
containerised microservices with a lightweight LSTM, for proactive scaling; Section 6.3 trains
it for 30 epochs on 1-second samples and reports, per target, the furthest step ahead whose
forecast still has R² > 0.9 (10 s for CPU usage, 3 s for RSS memory). Annex A gives the
network: a causal Conv1D(32, k3, ReLU) → BatchNorm → Dropout(0.1) → LSTM(64, sequences) →
Dropout(0.2) → LSTM(32) → Dense(32, ReLU) → Dense(16, ReLU) → Dense(h·C), read as h steps ahead
of C targets.

Choices of ours where the source is silent: every input feature feeds the network and the
`targets` are a subset of them (the source trained one network per target; pass one target to
do the same); inputs and targets are standardised with a `Scaler` fitted on the training part of
the series and forecasts are returned in original units; the loss is the mean squared error
(Adam, lr 1e-3); the last `validation` share of the windows (in time order) is held out and the
weights of the epoch with the lowest validation loss are kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from secmas.analytics.metrics import Regression, regression_scores
from secmas.analytics.modelfile import ModelFileError, load_model, save_model
from secmas.analytics.training import fit
from secmas.analytics.windows import Scaler, sliding

KIND = "forecaster"
"""Model-file kind of a saved `Forecaster`."""

Progress = Callable[[int, int, float, float], None]
"""Training progress callback: (epoch (1-based), epochs, training loss, validation loss or nan)."""

Evaluation = dict[str, tuple[Regression, ...]]
"""Scores per target name: element k−1 scores the forecast k steps ahead, in original units."""


def _units(n: int, width: float) -> int:
    return max(1, round(n * width))


class ForecastNet(nn.Module):
    """Annex A "Lightweight LSTM Regression Model": windows [N, T, F] → forecasts [N, h, C].

    With `anchors` (the input column of each target) the head predicts the change from the
    last observed value rather than the value itself (residual forecasting): the network
    starts from the naive forecast, "it stays as it is", and learns what to add. Without
    it, an under-trained network forecasts worse than that naive one at short horizons.
    """

    def __init__(
        self,
        inputs: int,
        targets: int,
        horizon: int,
        width: float = 1.0,
        anchors: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if anchors is not None and len(anchors) != targets:
            raise ValueError(f"{len(anchors)} anchors for {targets} targets")
        self.anchors = None if anchors is None else list(anchors)
        conv, big, small, d1, d2 = (_units(n, width) for n in (32, 64, 32, 32, 16))
        self.targets = targets
        self.horizon = horizon
        self.conv = nn.Conv1d(inputs, conv, 3)  # causal: left padding of kernel − 1 in forward
        self.norm = nn.BatchNorm1d(conv)
        self.drop_in = nn.Dropout(0.1)
        self.lstm1 = nn.LSTM(conv, big, batch_first=True)
        self.drop_mid = nn.Dropout(0.2)
        self.lstm2 = nn.LSTM(big, small, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(small, d1),
            nn.ReLU(),
            nn.Linear(d1, d2),
            nn.ReLU(),
            nn.Linear(d2, horizon * targets),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"expected windows [N, T, F], got shape {tuple(x.shape)}")
        h = functional.pad(x.transpose(1, 2), (2, 0))  # [N, F, T + 2]: sees only the past
        h = self.drop_in(self.norm(torch.relu(self.conv(h)))).transpose(1, 2)  # [N, T, 32]
        h, _ = self.lstm1(h)
        h, _ = self.lstm2(self.drop_mid(h))
        out = self.head(h[:, -1]).reshape(-1, self.horizon, self.targets)
        if self.anchors is not None:
            out = out + x[:, -1, self.anchors].unsqueeze(1)
        return out


class Forecaster:
    """A trained `ForecastNet` with its scaler, window length, horizon and target features."""

    def __init__(self, net: ForecastNet, scaler: Scaler, config: dict[str, Any]) -> None:
        self.net = net.eval()
        self.scaler = scaler
        self.config = dict(config)
        self.history: dict[str, list[float]] = {}

    @property
    def window(self) -> int:
        return int(self.config["window"])

    @property
    def horizon(self) -> int:
        return int(self.config["horizon"])

    @property
    def targets(self) -> tuple[int, ...]:
        """Column index of each target in the series."""
        return tuple(int(i) for i in self.config["targets"])

    @property
    def target_names(self) -> tuple[str, ...]:
        return tuple(self.config["target_names"])

    @classmethod
    def fit(
        cls,
        series: np.ndarray,
        targets: Sequence[int | str],
        *,
        horizon: int = 10,
        window: int = 10,
        features: Sequence[str] | None = None,
        epochs: int = 30,
        batch: int = 64,
        lr: float = 1e-3,
        validation: float = 0.2,
        width: float = 1.0,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> Forecaster:
        """Train on a series [T, F]: each window of `window` steps predicts the next `horizon`.

        `targets` are column indices or, with `features` (one name per column), names such as
        "cpu" and "memory_rss". Deterministic for a given `seed` on one machine.
        """
        values = _series(series)
        if features is not None and len(features) != values.shape[1]:
            raise ValueError(f"{len(features)} feature names for {values.shape[1]} columns")
        if horizon < 1 or window < 1:
            raise ValueError(f"horizon and window must be at least 1, got {horizon}, {window}")
        columns = _resolve(targets, features, values.shape[1])
        names = [features[i] if features is not None else f"f{i}" for i in columns]
        samples = values.shape[0] - window - horizon + 1
        if samples < 2:
            raise ValueError(
                f"a series of {values.shape[0]} steps is too short for window {window} and "
                f"horizon {horizon}"
            )
        # The last `held` pairs validate; `gap` pairs between them are dropped so that no
        # step of a validation pair is part of a training pair.
        held = math.floor(samples * validation)
        gap = window + horizon - 1
        train = samples - held - gap
        if held == 0 or train < 2:
            held, train = 0, samples
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        scaler = Scaler.fit(values[: train + window + horizon - 1])
        x, y = _pairs(scaler.transform(values), window, horizon, columns)
        config: dict[str, Any] = {
            "inputs": int(values.shape[1]),
            "targets": list(columns),
            "target_names": names,
            "features": list(features) if features is not None else None,
            "horizon": int(horizon),
            "window": int(window),
            "width": float(width),
            "residual": True,
        }
        net = ForecastNet(values.shape[1], len(columns), horizon, width, anchors=columns)
        history = _train(
            net,
            (x[:train], y[:train]),
            (x[samples - held :], y[samples - held :]),
            epochs=epochs,
            batch=batch,
            lr=lr,
            generator=generator,
            progress=progress,
        )
        forecaster = cls(net, scaler, config)
        forecaster.history = history
        return forecaster

    def _raw(self, scaled_windows: np.ndarray, batch: int = 1024) -> np.ndarray:
        self.net.eval()
        out = []
        with torch.inference_mode():
            for start in range(0, len(scaled_windows), batch):
                chunk = torch.tensor(scaled_windows[start : start + batch], dtype=torch.float32)
                out.append(self.net(chunk).numpy())
        if not out:
            return np.zeros((0, self.horizon, len(self.targets)), dtype=np.float32)
        columns = list(self.targets)
        scaled = np.concatenate(out).astype(np.float64)
        return scaled * self.scaler.scale[columns] + self.scaler.mean[columns]

    def _check(self, series: np.ndarray) -> np.ndarray:
        values = _series(series)
        if values.shape[1] != self.config["inputs"]:
            raise ValueError(
                f"forecaster expects {self.config['inputs']} features, got {values.shape[1]}"
            )
        return values

    def predict(self, series: np.ndarray) -> np.ndarray:
        """Forecasts [N, h, targets] in original units, one per window of the series [T, F].

        Window i covers steps i … i + window − 1 and forecasts steps i + window … + h − 1
        (N = T − window + 1: the last window forecasts beyond the series).
        """
        values = self._check(series)
        return self._raw(sliding(self.scaler.transform(values), self.window))

    def forecast(self, recent: np.ndarray) -> np.ndarray:
        """The next `horizon` steps [h, targets] after the last `window` steps of `recent`."""
        values = self._check(recent)
        if len(values) < self.window:
            raise ValueError(f"need the last {self.window} steps, got {len(values)}")
        return self.predict(values[-self.window :])[0]

    def peak(self, recent: np.ndarray, target: int | str = 0) -> float:
        """The highest value of one target the forecast expects over the next `horizon`
        steps (004_… Section 4.2: a VNF's predicted resource need over its lifetime, for
        the bid, `secmas.agents.bidding.GoalRequest.predicted_traffic`). `target` is the
        position among the targets or its name."""
        names = self.target_names
        index = names.index(target) if target in names else target
        if not isinstance(index, int) or not 0 <= index < len(names):
            raise ValueError(f"target {target!r} is not one of {names}")
        return float(self.forecast(recent)[:, index].max())

    def evaluate(self, series: np.ndarray) -> Evaluation:
        """R², MAE and RMSE per target at each step 1 … h ahead, over every full window."""
        values = self._check(series)
        if len(values) < self.window + self.horizon:
            raise ValueError(
                f"a series of {len(values)} steps has no window of {self.window} followed by "
                f"{self.horizon} known steps"
            )
        guesses = self.predict(values[: -self.horizon])
        truth = sliding(values, self.horizon)[self.window :][:, :, list(self.targets)]
        return {
            name: tuple(
                regression_scores(truth[:, step, t], guesses[:, step, t])
                for step in range(self.horizon)
            )
            for t, name in enumerate(self.target_names)
        }

    def save(self, path: str | Path) -> None:
        """Write a model file of kind "forecaster"."""
        save_model(
            path,
            KIND,
            self.config,
            dict(self.net.state_dict()),
            {"scaler": self.scaler.to_json()},
        )

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """Read a forecaster model file; ModelFileError (naming the file) when it does not fit."""
        model = load_model(path, KIND)
        try:
            config = dict(model.config)
            net = ForecastNet(
                int(config["inputs"]),
                len(config["targets"]),
                int(config["horizon"]),
                float(config["width"]),
                anchors=[int(i) for i in config["targets"]] if config.get("residual") else None,
            )
            net.load_state_dict(model.state)
            scaler = Scaler.from_json(model.extras["scaler"])
            if scaler.features != int(config["inputs"]):
                raise ValueError(f"scaler has {scaler.features} features")
            return cls(net, scaler, config)
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise ModelFileError(f"{path}: not a usable forecaster ({error})") from error


def metric_forecast(
    model: Forecaster, names: Sequence[str]
) -> Callable[[str, np.ndarray], np.ndarray]:
    """A CNF's forecast from its data-plane samples (columns `names`): the model's first
    target over its horizon, for `secmas.mtd.timing` (plain data out). The model's
    features must be among `names`."""
    features = model.config.get("features")
    if not features or any(f not in names for f in features):
        raise ValueError(
            f"the forecaster's features {features} are not all CNF metrics {list(names)}"
        )
    columns = [list(names).index(f) for f in features]

    def forecast(_cnf: str, series: np.ndarray) -> np.ndarray:
        return model.forecast(np.asarray(series)[:, columns])[:, 0]

    return forecast


def longest_horizon(
    scores: Mapping[str, Sequence[Regression]], target: str, r2_min: float = 0.9
) -> int:
    """The largest step k whose forecast of `target` has R² > `r2_min`; 0 if none does.

    Section 6.3 of 004_… reports this "last period where the prediction has an R² > 0.9"
    (10 s for CPU usage, 3 s for RSS). A later step can pass after an earlier one fails.
    """
    if target not in scores:
        raise ValueError(f"no scores for {target!r}; have {sorted(scores)}")
    passing = [k for k, s in enumerate(scores[target], start=1) if s[0] > r2_min]
    return max(passing, default=0)


def _series(series: np.ndarray) -> np.ndarray:
    values = np.asarray(series, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected a series [steps, features], got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("the series has NaN or infinite values")
    return values


def _resolve(targets: Sequence[int | str], features: Sequence[str] | None, width: int) -> list[int]:
    if isinstance(targets, (str, int)):
        targets = [targets]
    if not targets:
        raise ValueError("no target features given")
    columns: list[int] = []
    for target in targets:
        if isinstance(target, str):
            if features is None or target not in features:
                raise ValueError(f"target {target!r} is not one of the features {features}")
            columns.append(list(features).index(target))
        elif 0 <= int(target) < width:
            columns.append(int(target))
        else:
            raise ValueError(f"target column {target} outside 0 … {width - 1}")
    if len(set(columns)) != len(columns):
        raise ValueError(f"duplicate targets {list(targets)}")
    return columns


def _pairs(
    scaled: np.ndarray, window: int, horizon: int, columns: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs [N, window, F] and targets [N, horizon, C] from a scaled series."""
    both = sliding(scaled, window + horizon)
    return both[:, :window], np.ascontiguousarray(both[:, window:][:, :, columns])


def _train(
    net: ForecastNet,
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch: int,
    lr: float,
    generator: torch.Generator,
    progress: Progress | None,
) -> dict[str, list[float]]:
    """MSE training with Adam, keeping the best validation epoch."""

    def told(epoch: int, loss: float, val: float) -> None:
        if progress is not None:
            progress(epoch, epochs, loss, val)

    losses = fit(
        net,
        nn.MSELoss(),
        torch.optim.Adam(net.parameters(), lr=lr),
        (torch.tensor(train[0]), torch.tensor(train[1])),
        epochs=epochs,
        batch=batch,
        generator=generator,
        validation=(torch.tensor(valid[0]), torch.tensor(valid[1])),
        on_epoch=told,
    )
    return {"loss": losses.train, "val_loss": losses.validation}

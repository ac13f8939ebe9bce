"""Learned or analytical: the migration models a run uses, chosen on held-out measured
migrations (004_… Section 2.1's selector and regressor).

The deliverable trains its method selector and migration-time regressor on measured
migrations. Ours train on the recording of real moves on the emulated engine
(`secmas.mtd.recording`) and are used only where they beat the analytical model
(`MigrationModel.expected`, the planner's default) on migrations they were not trained on.

The rule (`calibrate`): the recording's instances (a CNF moved once by each method) are
split into `folds` groups (seeded); for each, the learned models are trained on the
others and both models predict the held-out group. Then

* regressor: per method and target (total time, downtime), the learned prediction is used
  where its held-out mean absolute error is strictly lower than the analytical model's;
  the analytical one otherwise (`CalibratedPredictor`, trained on every instance);
* selector: the learned classifier is used where its held-out regret (the mean extra
  `Objective.score` of its pick over the best measured method) is strictly lower than that
  of the analytical model's pick (`selector.model_choice`); the analytical pick otherwise.
  Regret rather than accuracy decides because near-ties (three methods within the probe's
  20 ms) make accuracy count misses that cost nothing; both are reported.

The choice is data: `Calibration.to_json` is what a run's report and the benchmark show.
`calibrated()` gives the models of the shipped recording (computed once per process).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_limits

from secmas.mtd.dataset import Dataset
from secmas.mtd.migration import DEFAULT_MODEL, METHODS, Load, Method, MigrationModel
from secmas.mtd.recording import read_recording, to_dataset
from secmas.mtd.regressor import TARGETS, Estimate, MigrationRegressor, rows
from secmas.mtd.selector import MethodSelector, Objective, evaluate, model_choice

FOLDS = 5
FLOOR_S = 0.01
"""Half the probe's 20 ms interval: a measured downtime of 0 means "below this"."""
ANALYTIC, LEARNED = "analytic", "learned"
OBJECTIVE = Objective()


@dataclass(frozen=True)
class TargetChoice:
    """Held-out mean absolute errors of one method's target, and the model chosen."""

    method: Method
    target: str
    migrations: int
    measured_mean_s: float
    learned_mae_s: float
    analytic_mae_s: float

    @property
    def model(self) -> str:
        return LEARNED if self.learned_mae_s < self.analytic_mae_s else ANALYTIC


@dataclass(frozen=True)
class SelectorChoice:
    """Held-out accuracy and regret of both selectors, and the one chosen."""

    instances: int
    learned_accuracy: float
    analytic_accuracy: float
    learned_regret: float
    analytic_regret: float

    @property
    def model(self) -> str:
        return LEARNED if self.learned_regret < self.analytic_regret else ANALYTIC


@dataclass(frozen=True)
class Calibration:
    """Both models' held-out errors on a recording, and what a run uses."""

    instances: int
    folds: int
    targets: tuple[TargetChoice, ...]
    selector: SelectorChoice

    def model_of(self, method: Method, target: str) -> str:
        return next(t.model for t in self.targets if (t.method, t.target) == (method, target))

    def to_json(self) -> dict[str, Any]:
        return {
            "instances": self.instances,
            "folds": self.folds,
            "rule": "learned where its held-out error is strictly lower, else analytic",
            "regressor": [
                {
                    "method": t.method.value,
                    "target": t.target,
                    "migrations": t.migrations,
                    "measured_mean_s": t.measured_mean_s,
                    "learned_mae_s": t.learned_mae_s,
                    "analytic_mae_s": t.analytic_mae_s,
                    "model": t.model,
                }
                for t in self.targets
            ],
            "selector": {
                "instances": self.selector.instances,
                "learned_accuracy": self.selector.learned_accuracy,
                "analytic_accuracy": self.selector.analytic_accuracy,
                "learned_regret": self.selector.learned_regret,
                "analytic_regret": self.selector.analytic_regret,
                "model": self.selector.model,
            },
        }


def subset(data: Dataset, indices: Sequence[int]) -> Dataset:
    """The instances of `data` at `indices`."""
    return Dataset(
        tuple(data.instances[i] for i in indices),
        tuple(data.records[i] for i in indices),
        data.seed,
    )


def folds(count: int, k: int, seed: int) -> list[np.ndarray]:
    """`k` disjoint groups of instance indices covering 0 … count − 1 (seeded)."""
    if not 2 <= k <= count:
        raise ValueError(f"need 2 ≤ folds ≤ instances, got {k} folds of {count} instances")
    return np.array_split(np.random.default_rng(seed).permutation(count), k)


def analytic_rows(data: Dataset, model: MigrationModel) -> dict[str, np.ndarray]:
    """The analytical model's noise-free prediction of every migration of `data`."""
    expected = [
        model.expected(r.method, r.instance.load, r.instance.bandwidth) for r in data.migrations()
    ]
    return {t: np.array([getattr(p, t) for p in expected]) for t in TARGETS}


def regressor_choices(
    data: Dataset,
    measured: dict[str, np.ndarray],
    learned: dict[str, np.ndarray],
    model: MigrationModel,
) -> tuple[TargetChoice, ...]:
    """Per method and target, both models' mean absolute error over the migrations of
    `data` (`measured` and `learned` hold one value per migration, in its order)."""
    methods = np.array([METHODS.index(r.method) for r in data.migrations()])
    analytic = analytic_rows(data, model)
    return tuple(
        TargetChoice(
            method=method,
            target=t,
            migrations=int((methods == m).sum()),
            measured_mean_s=float(np.mean(measured[t][methods == m])),
            learned_mae_s=float(np.mean(np.abs(learned[t] - measured[t])[methods == m])),
            analytic_mae_s=float(np.mean(np.abs(analytic[t] - measured[t])[methods == m])),
        )
        for m, method in enumerate(METHODS)
        for t in TARGETS
    )


def selector_choice(
    data: Dataset, picks: np.ndarray, objective: Objective, model: MigrationModel
) -> SelectorChoice:
    """The learned `picks` (one per instance of `data`) against the analytical model's."""
    analytic = [
        METHODS.index(model_choice(i.load, i.bandwidth, objective, model)) for i in data.instances
    ]
    ours = evaluate(LEARNED, picks, data, objective)
    theirs = evaluate(ANALYTIC, analytic, data, objective)
    return SelectorChoice(
        instances=len(data.instances),
        learned_accuracy=ours.accuracy,
        analytic_accuracy=theirs.accuracy,
        learned_regret=ours.regret_score,
        analytic_regret=theirs.regret_score,
    )


def calibrate(
    data: Dataset,
    k: int = FOLDS,
    seed: int = 0,
    objective: Objective = OBJECTIVE,
    model: MigrationModel = DEFAULT_MODEL,
) -> Calibration:
    """Both models' held-out errors over `k` folds of `data`'s instances (see the module
    docstring)."""
    groups = folds(len(data.instances), k, seed)
    learned: dict[str, list[np.ndarray]] = {t: [] for t in TARGETS}
    picks: list[np.ndarray] = []
    for i, held in enumerate(groups):
        train = subset(data, np.concatenate([g for j, g in enumerate(groups) if j != i]))
        test = subset(data, held)
        predicted = (
            MigrationRegressor(seed=seed, floor_s=FLOOR_S).fit(train).predict_rows(rows(test)[0])
        )
        for t in TARGETS:
            learned[t].append(predicted[t])
        selector = MethodSelector(objective=objective, seed=seed).fit(train)
        picks.append(selector.predict_indices(test.matrix()))
    ordered = subset(data, np.concatenate(groups))
    _, measured = rows(ordered)
    guesses = {t: np.concatenate(learned[t]) for t in TARGETS}
    return Calibration(
        len(data.instances),
        k,
        regressor_choices(ordered, measured, guesses, model),
        selector_choice(ordered, np.concatenate(picks), objective, model),
    )


@functools.cache
def _native_pools() -> ThreadpoolController:
    """This process's native thread pools, found once (finding them costs ~7 ms)."""
    return ThreadpoolController()


def one_thread() -> AbstractContextManager[Any]:
    """Predictions on one OpenMP thread: on 2 busy shared cores, OpenMP's threads made one
    prediction of a migration take up to 0.9 s (3 ms on one), stalling a real-time run's
    event loop (its samples, auctions and attestation steps) for seconds."""
    return _native_pools().limit(limits=1, user_api="openmp")


class CalibratedPredictor:
    """The planner's `Predictor`: per method and target, the model `calibration` chose."""

    def __init__(
        self, calibration: Calibration, learned: MigrationRegressor, model: MigrationModel
    ) -> None:
        self.calibration = calibration
        self.learned = learned
        self.model = model

    def predict(self, method: Method | str, load: Load, bandwidth: float) -> Estimate:
        method = Method(method)
        phases = self.model.expected(method, load, bandwidth)
        with one_thread():
            guess = self.learned.predict(method, load, bandwidth)
        values = {
            t: getattr(guess if self.calibration.model_of(method, t) == LEARNED else phases, t)
            for t in TARGETS
        }
        return Estimate(**values)

    def describe(self) -> dict[str, str]:
        return {f"{t.method.value}/{t.target}": t.model for t in self.calibration.targets}


class CalibratedSelector:
    """The planner's `Selector`: the learned classifier or the analytical model's pick,
    whichever `calibration` chose."""

    def __init__(
        self,
        calibration: Calibration,
        learned: MethodSelector,
        model: MigrationModel,
        objective: Objective,
    ) -> None:
        self.calibration = calibration
        self.learned = learned
        self.analytic = model
        self.objective = objective
        self.model = calibration.selector.model

    def select(self, load: Load, bandwidth: float) -> Method:
        if self.model == LEARNED:
            with one_thread():
                return self.learned.select(load, bandwidth)
        return model_choice(load, bandwidth, self.objective, self.analytic)


@dataclass(frozen=True)
class Calibrated:
    """What a run plans with, and why."""

    calibration: Calibration
    predictor: CalibratedPredictor
    selector: CalibratedSelector


def calibrated_models(
    data: Dataset,
    k: int = FOLDS,
    seed: int = 0,
    objective: Objective = OBJECTIVE,
    model: MigrationModel = DEFAULT_MODEL,
) -> Calibrated:
    """Calibrate on `data`, then train the learned models on all of it (one thread: on a
    few hundred rows OpenMP's threads cost more than they bring, ten times more on busy
    shared cores)."""
    with threadpool_limits(limits=1):
        calibration = calibrate(data, k, seed, objective, model)
        regressor = MigrationRegressor(seed=seed, floor_s=FLOOR_S).fit(data)
        selector = MethodSelector(objective=objective, seed=seed).fit(data)
    return Calibrated(
        calibration,
        CalibratedPredictor(calibration, regressor, model),
        CalibratedSelector(calibration, selector, model, objective),
    )


@functools.cache
def calibrated(path: Path | None = None) -> Calibrated:
    """The calibrated models of the recording at `path` (default: the shipped one)."""
    return calibrated_models(to_dataset(read_recording(path)))

"""The ML live-migration method selector (004_… Section 2.1).

"The ML classifier selects the best LiMi method per container to minimize the migration time
and service downtime of the container." Both count, so a method's `Objective.score` is
downtime + `total_weight`·total time (default 0.1: one second of downtime weighs as much as ten
seconds of migration time, as clients see the former and only the operator the latter). A
container's label is the method of lowest score among its four measured migrations.

`MethodSelector` is a scikit-learn classifier over the container's measured loads and path
bandwidth (`dataset.FEATURES`): a random forest by default (100 trees, leaves of ≥ 2 samples;
300 trees gave the same accuracy at three times the decision time), or gradient boosting. Why a
forest: the classes are separated by thresholds on a few loads and on ratios (memory or traffic
over bandwidth), which trees cut directly without scaling; bagging copes with the label noise
of near-ties (two methods within the measurement spread); it trains in under a second on the
1 530 containers and matched or beat gradient boosting on held-out seeds.
`benchmarks/bench_mtd.py` compares it with gradient boosting, with always-pre-copy (the usual
default), with the noise-free model's choice, and with the oracle (the best measured method of
each held-out container).

Trained on the analytical model's dataset here; `secmas.mtd.calibration` trains it on
measured moves of the emulated engine (`secmas.mtd.recording`) and a run uses it only where
its held-out regret is below the analytical model's pick (`model_choice`).

`evaluate` scores any choice of methods on a held-out dataset: accuracy against the oracle and
the regret in score, total time and downtime (the chosen method's measured value minus the
oracle's, averaged).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

from secmas.mtd.dataset import Dataset, features
from secmas.mtd.migration import DEFAULT_MODEL, METHODS, Load, Method, MigrationModel, Phases

ClassifierKind = Literal["random_forest", "gradient_boosting"]


@dataclass(frozen=True)
class Objective:
    """What "best method" means: downtime + total_weight · total time (seconds)."""

    downtime_weight: float = 1.0
    total_weight: float = 0.1

    def score(self, phases: Phases) -> float:
        return self.downtime_weight * phases.downtime_s + self.total_weight * phases.total_s

    def scores(self, data: Dataset) -> np.ndarray:
        """[instance, method] scores."""
        return self.downtime_weight * data.outcomes("downtime_s") + self.total_weight * (
            data.outcomes("total_s")
        )


def oracle_labels(data: Dataset, objective: Objective) -> np.ndarray:
    """Index (into METHODS) of each instance's best measured method."""
    return objective.scores(data).argmin(axis=1)


def model_choice(
    load: Load,
    bandwidth: float,
    objective: Objective = Objective(),
    model: MigrationModel = DEFAULT_MODEL,
) -> Method:
    """The method the noise-free analytical model ranks best."""
    return min(METHODS, key=lambda m: objective.score(model.expected(m, load, bandwidth)))


class MethodSelector:
    """Classifier from a container's loads and path bandwidth to the best migration method."""

    def __init__(
        self,
        kind: ClassifierKind = "random_forest",
        objective: Objective = Objective(),
        seed: int = 0,
    ) -> None:
        self.kind = kind
        self.objective = objective
        self.seed = seed
        if kind == "random_forest":
            self._clf = RandomForestClassifier(
                n_estimators=100, min_samples_leaf=2, random_state=seed, n_jobs=1
            )
        elif kind == "gradient_boosting":
            self._clf = GradientBoostingClassifier(
                n_estimators=200, max_depth=3, learning_rate=0.1, random_state=seed
            )
        else:
            raise ValueError(f"unknown classifier {kind!r}")
        self._fitted = False

    def fit(self, data: Dataset) -> MethodSelector:
        labels = oracle_labels(data, self.objective)
        self._clf.fit(data.matrix(), labels)
        self._fitted = True
        return self

    def predict_indices(self, matrix: np.ndarray) -> np.ndarray:
        if not self._fitted:
            raise RuntimeError("MethodSelector.fit first")
        return np.asarray(self._clf.predict(matrix), dtype=int)

    def select(self, load: Load, bandwidth: float) -> Method:
        """The method to migrate this container with."""
        return METHODS[int(self.predict_indices(np.array([features(load, bandwidth)]))[0])]


@dataclass(frozen=True)
class SelectionScore:
    """How a choice of methods fares on held-out containers, against the oracle."""

    name: str
    accuracy: float
    mean_score: float
    mean_total_s: float
    mean_downtime_s: float
    regret_score: float
    regret_total_s: float
    regret_downtime_s: float
    chosen: dict[str, int]


def evaluate(
    name: str, choices: Sequence[int] | np.ndarray, data: Dataset, objective: Objective
) -> SelectionScore:
    """Score method `choices` (indices into METHODS, one per instance of `data`)."""
    choices = np.asarray(choices, dtype=int)
    rows = np.arange(len(choices))
    scores = objective.scores(data)
    total, down = data.outcomes("total_s"), data.outcomes("downtime_s")
    best = scores.argmin(axis=1)
    return SelectionScore(
        name=name,
        accuracy=float(np.mean(choices == best)),
        mean_score=float(scores[rows, choices].mean()),
        mean_total_s=float(total[rows, choices].mean()),
        mean_downtime_s=float(down[rows, choices].mean()),
        regret_score=float((scores[rows, choices] - scores[rows, best]).mean()),
        regret_total_s=float((total[rows, choices] - total[rows, best]).mean()),
        regret_downtime_s=float((down[rows, choices] - down[rows, best]).mean()),
        chosen={m.value: int(np.sum(choices == i)) for i, m in enumerate(METHODS)},
    )

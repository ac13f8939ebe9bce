"""The forecaster of a CNF's traffic that the adaptive-defence run schedules with (004_…
Section 4.2, workload prediction for scheduling).

The LSTM forecaster of `secmas.analytics.forecast` (Annex A network, at a quarter of its
width) is trained on the CNFs' metric series of the scenario's own data plane: each moving
CNF simulated for `SECONDS` under `SEEDS` traffic seeds (none of them the scenario's
seed, so the run forecasts traffic it was not trained on). From the last `WINDOW` seconds
of the CNF's traffic, CPU share, resident memory and connections it forecasts the next
`HORIZON` seconds of its traffic: the peak sizes a move's bid and the shape picks a
move's start (`mtd.timing: low-load`). Training is deterministic (one thread, fixed
seeds); the reference run's model file is made by

    python -m secmas.mtd.workload scenarios/adaptive-defence.yaml \
        scenarios/models/adaptive-forecaster.pt
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from secmas.analytics.datasets import simulate
from secmas.analytics.forecast import Forecaster
from secmas.analytics.threads import limit_torch_threads
from secmas.network.dataplane.cnf import METRICS
from secmas.scenario.model import Scenario

FEATURES = ("net_rx", "cpu", "memory_rss", "connections")
"""The forecaster's inputs (CNF metrics); the first, the traffic received, is its target."""
WINDOW, HORIZON = 30, 180
"""Seconds of history read, seconds of traffic forecast (the moved VNF's lifetime)."""
SEEDS = tuple(range(100, 108))
SECONDS = 300.0
EPOCHS, WIDTH = 30, 0.25


def training_series(scenario: Scenario, cnfs: Sequence[str]) -> np.ndarray:
    """The CNFs' `FEATURES` over `SECONDS`, one run per seed, one after the other."""
    columns = [METRICS.index(f) for f in FEATURES]
    return np.concatenate(
        [
            simulate(scenario, SECONDS, seed, cnf).values[:, columns]
            for seed in SEEDS
            for cnf in cnfs
        ]
    )


def train(scenario: Scenario) -> Forecaster:
    """The traffic forecaster of the scenario's moving CNFs (`mtd.targets`)."""
    if scenario.mtd is None:
        raise ValueError(f"scenario {scenario.id!r} has no mtd section: no CNF to forecast")
    limit_torch_threads(1)
    series = training_series(scenario, [t.cnf for t in scenario.mtd.targets])
    return Forecaster.fit(
        series,
        [FEATURES[0]],
        features=FEATURES,
        horizon=HORIZON,
        window=WINDOW,
        epochs=EPOCHS,
        width=WIDTH,
        seed=0,
    )


def main(argv: Sequence[str]) -> int:
    """`python -m secmas.mtd.workload SCENARIO OUT`: train and write the model file."""
    from secmas.scenario.loader import ScenarioError, load_scenario

    if len(argv) != 2:
        print("usage: python -m secmas.mtd.workload SCENARIO OUT", file=sys.stderr)
        return 2
    try:
        model = train(load_scenario(argv[0]))
    except (ScenarioError, ValueError) as exc:
        print(f"{argv[0]}: {exc}", file=sys.stderr)
        return 2
    model.save(argv[1])
    print(f"wrote {argv[1]} (validation loss {min(model.history['val_loss']):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

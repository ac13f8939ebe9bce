"""One agent's answers to the coordinator's tasks, on its own telemetry only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.secagg.test_federated import telemetry

from secmas.analytics.autoencoder import LSTMAutoencoder
from secmas.analytics.windows import Scaler, sliding
from secmas.secagg.learner import LocalLearner, get_parameters
from secmas.secagg.tasks import FederatedPlan, Task, TaskError

torch.set_num_threads(1)
PLAN = FederatedPlan(rounds=1, local_epochs=2, batch=16, window=5, hidden=6, latent=3, clip=0.2)


def setting() -> tuple[LocalLearner, Scaler, np.ndarray]:
    values = telemetry(agents=1)[0]
    torch.manual_seed(0)
    weights = get_parameters(LSTMAutoencoder(3, PLAN.hidden, PLAN.latent))
    return LocalLearner(0, values), Scaler.fit(values), weights


def test_an_update_is_clipped_to_the_bound_and_counts_once() -> None:
    learner, scaler, weights = setting()
    answer = learner.contribute(Task("update", PLAN, 1, scaler=scaler, weights=weights))
    assert answer[-1] == 1.0 and len(answer) == len(weights) + 1
    assert 0 < np.linalg.norm(answer[:-1]) <= PLAN.clip + 1e-9
    loose = FederatedPlan(**{**PLAN.__dict__, "clip": 1e3})
    free = learner.contribute(Task("update", loose, 1, scaler=scaler, weights=weights))
    assert np.linalg.norm(free[:-1]) > PLAN.clip  # the bound did cut it


def test_the_histogram_counts_every_window_and_the_scaler_sums_are_weighted() -> None:
    learner, scaler, weights = setting()
    values = telemetry(agents=1)[0]
    counts = learner.contribute(Task("errors", PLAN, scaler=scaler, weights=weights))
    assert counts.sum() == len(sliding(values, PLAN.window))
    unit = np.ones(3)
    mean = learner.contribute(Task("mean", PLAN, unit=unit))
    assert mean[-1] == pytest.approx(len(values) / PLAN.weight_unit)
    assert np.allclose(mean[:-1] / mean[-1], values.mean(axis=0))


def test_a_task_without_what_it_needs_is_refused() -> None:
    learner, _, _ = setting()
    with pytest.raises(TaskError, match="'update' task without its scaler"):
        learner.contribute(Task("update", PLAN, 1, weights=np.zeros(3)))
    with pytest.raises(TaskError, match="nothing to sum"):
        learner.contribute(Task("stop", PLAN))
    small = FederatedPlan(weight_unit=10)
    with pytest.raises(ValueError, match="above weight_unit"):
        learner.contribute(Task("mean", small, unit=np.ones(3)))

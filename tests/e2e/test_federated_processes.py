"""Federated training with every agent its own OS process over a real nats-server, placed
as a run places them: each process simulates only its own PoP's telemetry, joins with its
one-time credential under keys it made itself, is attested and keyed, and contributes to
every secure sum through the pipeline's secure channel. The global model's F1 is reported
after every round, and the model is the one the same secure FedAvg computes in one
process: nothing was lost or made up between processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from secmas.analytics.autoencoder import Detector
from secmas.api.training import train_among_processes
from secmas.network.dataplane.cnf import METRICS
from secmas.scenario.loader import load_scenario
from secmas.secagg.federated import (
    agent_telemetry,
    attack_runs,
    get_parameters,
    secagg_aggregator,
    train_federated,
    window_f1,
)
from secmas.secagg.tasks import FederatedPlan
from secmas.transport.broker import MISSING_BINARY, find_nats_server

if find_nats_server() is None:
    pytest.skip(f"agent processes need a server: {MISSING_BINARY}", allow_module_level=True)

torch.set_num_threads(1)
SCENARIO = Path(__file__).parents[2] / "scenarios" / "cnf-attack.yaml"
SECONDS = 100.0
TEST_SECONDS = 300.0


def test_agent_processes_train_the_detector_over_the_sealed_bus() -> None:
    scenario = load_scenario(SCENARIO)
    plan = FederatedPlan(
        rounds=3, local_epochs=1, batch=32, window=5, hidden=6, latent=3,
        learning_rate=1e-2, seed=scenario.seed,
    )  # fmt: skip
    runs = attack_runs(scenario, 1, TEST_SECONDS)

    def evaluate(detector: Detector) -> float:
        return window_f1(detector, runs)["f1"]

    said: list[str] = []
    run = train_among_processes(
        SCENARIO, plan, SECONDS, evaluate=evaluate,
        progress=lambda log: said.append(f"{log.round} {log.f1}"),
    )  # fmt: skip
    agents = tuple(range(len(scenario.pops)))
    assert run.agents == [p.id for p in scenario.pops]  # every agent attested, and trained
    assert run.refused == []
    result = run.result
    # one F1 per round, reported as each round ends
    assert len(result.f1) == plan.rounds and len(said) == plan.rounds
    assert all(0.0 <= f1 <= 1.0 for f1 in result.f1)
    assert [r.agents for r in result.rounds] == [agents] * plan.rounds
    assert not any(r.rejected for r in result.rounds)
    assert result.bytes > 0

    # the same secure FedAvg in one process, on the same telemetry the processes made
    # for themselves: the same model and the same F1 round by round
    data = agent_telemetry(scenario, 0, plan.window, SECONDS)
    here = train_federated(data.values, METRICS, secagg_aggregator(), plan, evaluate=evaluate)
    trained = get_parameters(result.detector.model)
    assert np.allclose(trained, get_parameters(here.detector.model), atol=1e-6)
    assert result.f1 == pytest.approx(here.f1)
    assert result.detector.static.value == pytest.approx(here.detector.static.value)
    # training changed the model: it is not the initial one
    untrained = FederatedPlan(**{**plan.__dict__, "rounds": 0})
    start = train_federated(data.values, METRICS, secagg_aggregator(), untrained)
    assert np.linalg.norm(trained - get_parameters(start.detector.model)) > 0.1

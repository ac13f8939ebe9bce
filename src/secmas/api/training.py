"""Federated training among agent processes, with nothing else of a run
(`secmas detect train --federated --processes`).

The agents are a run's own: one `secmas agent` process per PoP on this machine, over the
run's NATS server (TLS, an nkey each) and ledger, each joining under its one-time
credential with keys it made itself, measured, attested on the ledger and keyed by the
MLFO (`secmas.pipeline.processes.run_driver`), exactly as in `secmas run --processes`.
Their only work is the training (`secmas.secagg.fedrun.AgentTraining`: FedAvg whose
every exchange is a secure sum over the pipeline's channel); no data plane runs, and the
agents are stopped, their funds swept back, once it is done.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from secmas.analytics.autoencoder import Detector
from secmas.analytics.reference import TrainingPlan
from secmas.pipeline.processes import RunOptions, RunServers, run_driver
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario
from secmas.scenario.topology import dump_scenario
from secmas.secagg.federated import FederatedResult, RoundLog
from secmas.secagg.fedrun import AgentTraining
from secmas.secagg.neighbours import ThreatModel
from secmas.secagg.tasks import FederatedPlan

__all__ = ["ProcessTraining", "train_among_processes", "training_scenario"]


@dataclass(frozen=True)
class ProcessTraining:
    """What training among agent processes gave: the result (per-round F1 in its
    rounds), the agents that trained, and the envelopes the MLFO refused, with why."""

    result: FederatedResult
    agents: list[str]
    refused: list[str]


def training_scenario(scenario: Scenario, seconds: float) -> Scenario:
    """`scenario` as its agents train: secure (agents train only once attested), on the
    simulator, its closed loop's detector trained federated among the agents (so each
    `secmas agent` serves its part), each agent on `seconds` of its own telemetry (the
    analytics' `samples` windows, spread over the PoPs, `telemetry_seconds`)."""
    assert scenario.traffic is not None
    steps = max(1, round(seconds / scenario.traffic.step))
    per_agent = max(1, steps - TrainingPlan().window + 1)
    analytics = scenario.analytics.model_copy(
        update={"detect": True, "training": "federated", "samples": per_agent * len(scenario.pops)}
    )
    return scenario.model_copy(
        update={
            "analytics": analytics,
            "security": scenario.security.model_copy(update={"enabled": True}),
            "network": scenario.network.model_copy(update={"engine": "simulator"}),
        }
    )


def train_among_processes(
    path: Path,
    plan: FederatedPlan,
    seconds: float,
    *,
    threat: ThreatModel | None = None,
    evaluate: Callable[[Detector], float] | None = None,
    progress: Callable[[RoundLog], None] | None = None,
) -> ProcessTraining:
    """FedAvg among one agent process per PoP of the scenario at `path`, each on
    `seconds` of its own telemetry; `evaluate` scores the global model after every round
    and `progress` is told each (see `run_federated`). Raises `PipelineError` when the
    agents' bring-up or the training fails, OSError without a nats-server (or when it
    cannot be reached), ValueError for a scenario of fewer than two PoPs."""
    scenario = training_scenario(load_scenario(path), seconds)
    training = AgentTraining(
        scenario, None, threat=threat, plan=plan, evaluate=evaluate, progress=progress
    )
    with tempfile.TemporaryDirectory(prefix="secmas-fedavg-") as folder:
        asyncio.run(_train(scenario, training, Path(folder)))
    assert training.result is not None
    agents = [training.agents[i] for i in sorted(training.agents)]
    return ProcessTraining(training.result, agents, list(training.refused))


async def _train(scenario: Scenario, training: AgentTraining, folder: Path) -> None:
    """The run's servers, the agents brought up and given the training, all stopped."""
    scenario_file = folder / "scenario.yaml"
    scenario_file.write_text(dump_scenario(scenario), encoding="utf-8")
    servers = RunServers(folder, scenario)
    try:
        access = await servers.local(None)
        await run_driver(scenario, scenario_file, access, folder, None, RunOptions(work=[training]))
    finally:
        await asyncio.to_thread(servers.stop)

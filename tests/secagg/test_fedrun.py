"""Federated training by a pipeline's attested agents (`secmas.secagg.fedrun`): after
the real bring-up (wrapped, registered on the in-process EVM, attested, keyed), the MLFO
trains the closed loop's detector among the agents over their secure channel, one F1 per
round, every sum checked against the keys the registry holds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import torch

from secmas.analytics.loop import ClosedLoop
from secmas.ledger.ids import pipeline_id
from secmas.network.clock import ScaledClock
from secmas.pipeline.inprocess import bring_up
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario, Security
from secmas.secagg.fedrun import AgentTraining, agent_services, trains_among_agents
from secmas.secagg.learner import get_parameters
from secmas.transport import MemoryBus

torch.set_num_threads(1)
SCENARIO = Path(__file__).parents[2] / "scenarios" / "cnf-attack.yaml"


def small(rounds: int = 2) -> Scenario:
    """cnf-attack with the closed loop trained federated, on few windows and epochs."""
    scenario = load_scenario(SCENARIO)
    analytics = scenario.analytics.model_copy(
        update={"training": "federated", "rounds": rounds, "samples": 120, "epochs": rounds}
    )
    return scenario.model_copy(update={"analytics": analytics})


def test_the_attested_agents_train_the_closed_loops_detector() -> None:
    scenario = small()
    agents = tuple(p.id for p in scenario.pops)

    async def main() -> tuple[AgentTraining, dict[str, bytes], dict[str, bytes]]:
        bus = MemoryBus()
        pipeline = await bring_up("fedrun", agents, bus, ScaledClock(), Security())
        try:
            loop = ClosedLoop(None)
            with pytest.raises(RuntimeError, match="not trained yet"):
                _ = loop.detector
            training = AgentTraining(scenario, loop)
            await training.run(await pipeline.cohort())
            assert loop.detector is training.result.detector  # type: ignore[union-attr]
            registry, pid = pipeline.mlfo.contracts.registry, pipeline_id("fedrun")
            on_chain = {
                a: registry.agent(pid, m.account.address).signing_key
                for a, m in pipeline.members.items()
            }
            own = {a: m.identity.signing_public for a, m in pipeline.members.items()}
            return training, on_chain, own
        finally:
            await pipeline.close()
            await bus.close()

    training, on_chain, own = asyncio.run(main())
    result = training.result
    assert result is not None
    assert len(result.f1) == 2 and all(0.0 <= f1 <= 1.0 for f1 in result.f1)
    assert all(r.agents == tuple(range(len(agents))) and not r.rejected for r in result.rounds)
    assert all(r.moved > 0 for r in result.rounds)  # the global model moved every round
    # the sums were checked against the keys on chain, which are each agent's own
    assert training.signers == {a: k.hex() for a, k in on_chain.items()}
    assert on_chain == own
    report = training.report()["federated_training"]
    assert report["f1"] == result.f1 and [r["round"] for r in report["rounds"]] == [1, 2]
    assert report["agents"] == list(agents) and report["refused"] == []
    weights = get_parameters(result.detector.model)
    assert np.all(np.isfinite(weights))


def test_only_secure_simulator_runs_with_a_federated_closed_loop_train_among_agents() -> None:
    scenario = small()
    assert trains_among_agents(scenario)
    insecure = scenario.model_copy(update={"security": Security(enabled=False)})
    assert not trains_among_agents(insecure)
    central = scenario.model_copy(
        update={"analytics": scenario.analytics.model_copy(update={"training": "central"})}
    )
    assert not trains_among_agents(central) and agent_services(central) == ()


def test_an_agent_process_serves_its_part_without_onednn() -> None:
    """oneDNN's JIT writes code into W+X pages, which the host measurer fails in an agent
    process of its own: an agent that trains must not leave any."""
    enabled = torch.backends.mkldnn.enabled
    try:
        services = agent_services(small())
        assert len(services) == 1 and not torch.backends.mkldnn.enabled
    finally:
        torch.backends.mkldnn.enabled = enabled

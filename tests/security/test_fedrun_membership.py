"""Who may contribute to the federated training of a run's detector
(`secmas.secagg.fedrun`): only the agents the trust layer admits, under the keys the
registry holds for them.

Attacks, each on a real bring-up (wrapped, registered on the in-process EVM, attested,
keyed):
- an agent revoked before training keeps its genuine keys and its old end of the secure
  channel, and runs a training member whose learner boosts every answer a thousandfold;
- a process that never enrolled sits on the bus under the pipeline's subjects: it replays
  every frame the agents send to the MLFO, injects frames of its own and reads what it
  can.
Either way the model must be exactly what FedAvg over the admitted agents' own data
gives, and nothing of the attacker may be summed or learnt.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import torch

from secmas.analytics.loop import ClosedLoop
from secmas.network.clock import ScaledClock
from secmas.network.dataplane.cnf import METRICS
from secmas.pipeline.inprocess import bring_up
from secmas.pipeline.work import sum_prefix, work_subject
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario, Security
from secmas.secagg.envelope import SERVER
from secmas.secagg.fedbus import TrainingMember
from secmas.secagg.federated import (
    own_telemetry,
    plain_aggregator,
    telemetry_seconds,
    train_federated,
)
from secmas.secagg.fedrun import AgentTraining, training_plan
from secmas.secagg.learner import LocalLearner, get_parameters
from secmas.secagg.tasks import FORMAT, Task
from secmas.transport import MemoryBus
from secmas.trust.identity import AgentIdentity

torch.set_num_threads(1)
SCENARIO = Path(__file__).parents[2] / "scenarios" / "cnf-attack.yaml"
PIPELINE = "fedrun-attack"
REVOKED = "pop3"
ROUND_TIMEOUT = 10.0
"""Seconds a round waits for an agent: one that never answers costs no more."""


def small() -> Scenario:
    scenario = load_scenario(SCENARIO)
    analytics = scenario.analytics.model_copy(
        update={"training": "federated", "rounds": 2, "samples": 120, "epochs": 2}
    )
    return scenario.model_copy(update={"analytics": analytics})


def fedavg_over(scenario: Scenario, agents: list[int]) -> np.ndarray:
    """The weights FedAvg over `agents`' own telemetry gives, summed in the clear."""
    seconds = telemetry_seconds(scenario, scenario.analytics.samples, 10)
    telemetry = {i: own_telemetry(scenario, i, seconds)[0] for i in agents}
    plan = training_plan(scenario)
    result = train_federated(telemetry, METRICS, plain_aggregator(), plan)
    return get_parameters(result.detector.model)


class Boosting(LocalLearner):
    """A poisoner's learner: every answer a thousand times what it should be."""

    def contribute(self, task: Task) -> np.ndarray:
        return 1000.0 * super().contribute(task)


def test_an_agent_revoked_before_training_contributes_nothing() -> None:
    scenario = small()
    agents = tuple(p.id for p in scenario.pops)
    revoked = agents.index(REVOKED)

    async def main() -> tuple[AgentTraining, TrainingMember]:
        bus = MemoryBus()
        pipeline = await bring_up(PIPELINE, agents, bus, ScaledClock(), Security())
        try:
            await pipeline.mlfo.remove_agent(REVOKED, "failed attestation")
            cohort = await pipeline.cohort()
            seconds = telemetry_seconds(scenario, scenario.analytics.samples, 10)
            values = own_telemetry(scenario, revoked, seconds)[0]
            attacker = TrainingMember(Boosting(revoked, values))
            member = pipeline.members[REVOKED]
            directory = {agents.index(a): k for a, k in cohort.registered.items()}
            directory[SERVER] = cohort.identity.signing_public
            await attacker.start(
                pipeline.bus_for(REVOKED),  # its old end of the channel, its genuine keys
                member.identity.signing,
                directory,
                work_subject(PIPELINE, REVOKED),
                prefix=sum_prefix(PIPELINE),
                name=REVOKED,
            )
            training = AgentTraining(scenario, ClosedLoop(None), round_timeout=ROUND_TIMEOUT)
            await training.run(cohort)
            await attacker.stop()
            return training, attacker
        finally:
            await pipeline.close()
            await bus.close()

    training, attacker = asyncio.run(asyncio.wait_for(main(), 120))
    result = training.result
    assert result is not None
    admitted = [i for i in range(len(agents)) if i != revoked]
    assert [r.agents for r in result.rounds] == [tuple(admitted)] * 2
    assert all(not r.rejected for r in result.rounds)
    assert REVOKED not in training.signers
    assert attacker.book.answered == 0  # never asked, never summed
    weights = get_parameters(result.detector.model)
    assert np.allclose(weights, fedavg_over(scenario, admitted), atol=1e-4)


def test_a_process_that_never_enrolled_can_neither_read_nor_add_to_the_sums() -> None:
    scenario = small()
    agents = tuple(p.id for p in scenario.pops)
    seen: list[tuple[str, bytes]] = []

    async def main() -> tuple[AgentTraining, int]:
        bus = MemoryBus()
        pipeline = await bring_up(PIPELINE, agents, bus, ScaledClock(), Security())
        intruder = AgentIdentity.generate("pop7")
        try:
            sent: set[bytes] = set()

            async def replay(subject: str, data: bytes) -> None:
                if data in sent:  # its own frames come back to it
                    return
                seen.append((subject, data))
                if subject.endswith(".server"):
                    forged = (data, b"\x01" + data[1:], intruder.signing_public + data)
                    sent.update(forged)
                    for frame in forged:  # the same frame again, altered, prefixed
                        await bus.publish(subject, frame)

            async def read(subject: str, data: bytes) -> None:
                seen.append((subject, data))

            await bus.subscribe(f"{sum_prefix(PIPELINE)}.>", replay)
            await bus.subscribe(f"secmas.work.{PIPELINE}.>", read)
            cohort = await pipeline.cohort()
            training = AgentTraining(scenario, ClosedLoop(None), round_timeout=ROUND_TIMEOUT)
            await training.run(cohort)
            stats = cohort.bus.channel_stats  # type: ignore[attr-defined]
            return training, sum(stats.dropped.values())
        finally:
            await pipeline.close()
            await bus.close()

    training, dropped = asyncio.run(asyncio.wait_for(main(), 120))
    result = training.result
    assert result is not None
    everyone = list(range(len(agents)))
    assert [r.agents for r in result.rounds] == [tuple(everyone)] * 2
    assert dropped > 0  # the MLFO's end of the channel refused what the intruder sent
    weights = get_parameters(result.detector.model)
    assert np.allclose(weights, fedavg_over(scenario, everyone), atol=1e-4)
    # every task and every round travelled sealed: nothing readable on the wire
    assert seen and not any(FORMAT.encode() in data for _, data in seen)
    assert not any(b'"kind"' in data for _, data in seen)

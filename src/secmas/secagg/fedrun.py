"""Federated training of the closed loop's detector by the run's attested agents
(004_… Section 5: secure aggregation as the enabler of federated learning).

In a secure run whose closed loop trains federated (`analytics.training: federated`,
`secmas run --federated`), the autoencoder is not trained before the run. Once the
pipeline is up (steps 0–14 of `001_…`: the agents measured, attested on the ledger,
enrolled, keyed), the MLFO gives the attested agents the training as their first work
(`secmas.pipeline.work`), before the data plane starts:

- each agent's `FederatedSeat` learns from its own PoP's normal telemetry (`own_telemetry`:
  simulated where the agent runs, in its own process with `--processes`; never sent) with
  the same `LocalLearner` and `TrainingMember` as `secmas detect train --federated`;
- the MLFO coordinates FedAvg (`run_federated`) as a `ChannelFederation` over the
  pipeline's secure channel: every task and every round of every secure sum sealed with
  the pairwise link key of its two ends (from the enrolled identities and the epoch
  secret each agent fetched from the secret store), every secure-aggregation envelope
  signed by its sender's Ed25519 identity key, the agents' checked against the keys the
  registry holds for them (read back from the chain);
- a sum's roster is the agents the trust layer admits when training starts: an agent
  revoked before (or a process that never enrolled) is neither asked nor heard;
- after every round the global model is scored on a held-out labelled run of the
  scenario's CNF (window F1, `window_f1`), so the report shows convergence;
- the trained detector goes into the closed loop before it attaches to the run.

`AgentTraining` is the MLFO's side (the run's `AgentWork`, and a step loop that only
reports); `agent_services` is what a `secmas agent` process serves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from secmas.analytics.autoencoder import Detector
from secmas.analytics.reference import TrainingPlan
from secmas.network.dataplane.cnf import METRICS
from secmas.pipeline.errors import PipelineError
from secmas.pipeline.work import Cohort, Seat, SeatService, sum_prefix, work_subject
from secmas.secagg.envelope import SERVER
from secmas.secagg.errors import SecAggError
from secmas.secagg.fedbus import ChannelFederation, TrainingMember
from secmas.secagg.federated import (
    FederatedResult,
    RoundLog,
    attack_runs,
    describe_round,
    own_telemetry,
    run_federated,
    telemetry_seconds,
    window_f1,
)
from secmas.secagg.learner import LocalLearner
from secmas.secagg.neighbours import ThreatModel
from secmas.secagg.tasks import FederatedPlan, TaskError

if TYPE_CHECKING:
    from secmas.analytics.loop import ClosedLoop
    from secmas.scenario.model import Scenario

__all__ = [
    "AgentTraining",
    "FederatedSeat",
    "agent_services",
    "training_plan",
    "trains_among_agents",
]

logger = logging.getLogger(__name__)

THREAT = ThreatModel(corrupt=0.0, dropout=0.2)
"""The secure sums' parameters: no corrupt agent, 20 % may drop out (as before the run)."""
ROUND_TIMEOUT = 120.0
"""Seconds a secure sum's round waits for the agents (they train inside one)."""


def trains_among_agents(scenario: Scenario) -> bool:
    """Whether the run's attested agents train the closed loop's detector: a secure run
    (on the simulator) whose closed loop trains federated."""
    analytics = scenario.analytics
    return (
        analytics.detect
        and analytics.training == "federated"
        and scenario.security.enabled
        and scenario.network.engine == "simulator"
    )


def training_plan(scenario: Scenario) -> FederatedPlan:
    """The scenario's model sizes (`TrainingPlan.for_scenario`) in `analytics.rounds`
    FedAvg rounds of about epochs / rounds local epochs each."""
    plan = TrainingPlan.for_scenario(scenario)
    rounds = scenario.analytics.rounds
    return FederatedPlan.of(plan, rounds, max(1, round(plan.epochs / rounds)), scenario.seed)


def _telemetry(scenario: Scenario, index: int) -> np.ndarray:
    """Agent `index`'s own normal telemetry: the agents together hold the plan's samples."""
    plan = TrainingPlan.for_scenario(scenario)
    seconds = telemetry_seconds(scenario, plan.samples, plan.window)
    return own_telemetry(scenario, index, seconds)[0]


class FederatedSeat:
    """An attested agent's part (a `SeatService`): its `TrainingMember` on its own
    telemetry, answering the MLFO's tasks over its end of the secure channel and signing
    its secure-sum envelopes with its own identity key."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.member: TrainingMember | None = None
        self._told: asyncio.Future[None] | None = None

    async def start(self, seat: Seat) -> None:
        values = await asyncio.to_thread(_telemetry, self.scenario, seat.index)
        self.member = TrainingMember(LocalLearner(seat.index, values))
        registered = seat.registered
        directory = {i: registered[a] for i, a in enumerate(seat.agents) if a in registered}
        directory[SERVER] = seat.mlfo
        await self.member.start(
            seat.bus,
            seat.identity.signing,
            directory,
            work_subject(seat.pipeline, seat.agent),
            prefix=sum_prefix(seat.pipeline),
            name=seat.agent,
        )
        self._told = asyncio.ensure_future(self._tell_when_done(self.member, seat))

    async def stop(self) -> None:
        if self._told is not None:
            self._told.cancel()
        if self.member is not None:
            await self.member.stop()

    async def _tell_when_done(self, member: TrainingMember, seat: Seat) -> None:
        """Log, once the MLFO says training is over, what this agent contributed and
        under which key (its own: the private key never left it)."""
        await member.book.stopped.wait()
        logger.info(
            "federated training: %s contributed to %d secure sums, signed with %s",
            seat.agent,
            member.book.answered,
            seat.identity.signing_public.hex(),
        )
        for reason in member.refused:
            logger.warning("federated training: %s refused %s", seat.agent, reason)


def agent_services(scenario: Scenario) -> tuple[SeatService, ...]:
    """What a `secmas agent` process of `scenario` serves from its seat: its part of the
    federated training when the run's agents train.

    PyTorch then runs on one thread (each agent trains on one core, as deployed) and
    without oneDNN: its JIT writes code into writable and executable pages, which the
    host measurer rightly fails in an agent process of its own (`secmas.trust.measurer`,
    W+X pages are only tolerated in the run's shared process), so the agent would be
    revoked at its next attestation. PyTorch's own kernels leave no such pages."""
    if not trains_among_agents(scenario):
        return ()
    import torch

    from secmas.analytics.threads import limit_torch_threads

    limit_torch_threads(1)
    torch.backends.mkldnn.enabled = False
    return (FederatedSeat(scenario),)


class AgentTraining:
    """The MLFO's side (an `AgentWork`): FedAvg among the cohort's admitted agents, the
    trained detector handed to `loop`; and a step loop that only reports (the rounds,
    F1 per round, who trained and the keys their sums were checked against)."""

    def __init__(
        self,
        scenario: Scenario,
        loop: ClosedLoop | None,
        say: Callable[[str], None] = lambda _text: None,
        *,
        threat: ThreatModel | None = THREAT,
        round_timeout: float = ROUND_TIMEOUT,
        plan: FederatedPlan | None = None,
        evaluate: Callable[[Detector], float] | None = None,
        progress: Callable[[RoundLog], None] | None = None,
    ) -> None:
        if len(scenario.pops) < 2 or not scenario.cnfs or scenario.traffic is None:
            raise ValueError(
                f"scenario {scenario.id!r}: federated training needs two PoPs or more (one "
                "agent each), a CNF whose telemetry to learn and a traffic section"
            )
        self.scenario = scenario
        self.loop = loop
        self.say = say
        self.threat = threat
        self.round_timeout = round_timeout
        self.plan = plan or training_plan(scenario)
        self.evaluate = evaluate
        self.progress = progress
        self.result: FederatedResult | None = None
        self.agents: dict[int, str] = {}
        self.signers: dict[str, str] = {}
        self.refused: list[str] = []

    async def run(self, cohort: Cohort) -> None:
        admitted = [a for a in cohort.admitted if a in cohort.registered]
        if len(admitted) < 2:
            raise ValueError(
                f"federated training needs two attested agents or more, {len(admitted)} admitted"
            )
        self.agents = {cohort.agents.index(a): a for a in admitted}
        self.signers = {a: cohort.registered[a].hex() for a in admitted}
        seats = [FederatedSeat(self.scenario) for _ in cohort.seats]
        for seat, place in zip(seats, cohort.seats.values(), strict=True):
            await seat.start(place)
        federation = ChannelFederation(
            cohort.bus,
            cohort.identity,
            {i: cohort.registered[a] for i, a in self.agents.items()},
            len(METRICS),
            asyncio.get_running_loop(),
            lambda _session, client: work_subject(cohort.pipeline, self.agents[client]),
            prefix=sum_prefix(cohort.pipeline),
            names=self.agents,
            threat=self.threat,
            round_timeout=self.round_timeout,
        )
        self.say(
            f"training the LSTM autoencoder federated among the {len(admitted)} attested "
            f"agents over their secure channel: {self.plan.rounds} FedAvg rounds × "
            f"{self.plan.local_epochs} local epochs, each agent on its own telemetry"
        )
        try:
            self.result = await asyncio.to_thread(self._train, federation)
            await federation.stop(self.plan)
        except (SecAggError, TaskError, TimeoutError) as exc:
            raise PipelineError(f"federated training among the agents: {exc}") from None
        finally:
            for seat in seats:
                await seat.stop()
        self.refused = federation.refused
        if self.loop is not None:
            self.loop.detector = self.result.detector
        self.say(
            f"federated training done: F1 per round {_f1s(self.result)}; the secure sums "
            f"moved {self.result.bytes / 1e6:.1f} MB"
        )

    def _train(self, federation: ChannelFederation) -> FederatedResult:
        """FedAvg, scored after every round by `evaluate` (default: on a held-out labelled
        run as long as the scenario's traffic), each round told to `progress` (default: a
        line said); this thread: the agents answer on the run's event loop."""
        evaluate, progress = self.evaluate, self.progress
        if evaluate is None:
            assert self.scenario.traffic is not None
            held_out = attack_runs(self.scenario, 1, self.scenario.traffic.duration)

            def evaluate(detector: Detector) -> float:
                return window_f1(detector, held_out)["f1"]

        if progress is None:

            def progress(log: RoundLog) -> None:
                self.say(describe_round(log, self.plan.rounds))

        return run_federated(federation, METRICS, self.plan, progress, evaluate)

    # -- StepLoop: the report only -----------------------------------------------------------
    def attach(self, *_args: Any) -> None:
        """Nothing to watch: the training is over before the loops attach."""

    async def start(self, _agents: Sequence[Any]) -> None:
        """Nothing to start."""

    async def after_step(self, _now: float) -> None:
        """Nothing to do per step."""

    def report(self) -> dict[str, Any]:
        if self.result is None:
            return {}
        return {
            "federated_training": {
                "by": "the run's attested agents, over their secure channel",
                "agents": [self.agents[i] for i in sorted(self.agents)],
                "signing_keys": dict(self.signers),
                "plan": asdict(self.plan),
                "evaluation": "window F1 on a held-out labelled run of the scenario's CNF",
                "f1": self.result.f1,
                "rounds": [self._round(log) for log in self.result.rounds],
                "bytes": self.result.bytes,
                "refused": list(self.refused),
            }
        }

    def _round(self, log: RoundLog) -> dict[str, Any]:
        return {
            "round": log.round,
            "agents": [self.agents[i] for i in log.agents],
            "f1": log.f1,
            "threshold": log.threshold,
            "moved": log.moved,
            "aggregate_seconds": round(log.aggregate_seconds, 3),
            "bytes": log.bytes,
            "clipped": log.clipped,
            "rejected": log.rejected,
        }


def _f1s(result: FederatedResult) -> str:
    return " → ".join(f"{f1:.3f}" for f1 in result.f1)

"""Federated training over a secure channel (004_… Section 5): each agent's side
(`TrainingMember`) and the coordinator's (`ChannelFederation`). The run's attested agents
train with these two sides over the pipeline's channel (`secmas.secagg.fedrun`), as
agent tasks of one process or as agent processes; everything goes through the secure
channel (`secmas.transport.channel.SecureBus`: pairwise link keys from the enrolled
identities): the tasks (`secmas.secagg.tasks`), and the secure aggregation's rounds, whose
envelopes are signed by the agents' enrolled Ed25519 keys (`secmas.secagg.agent`). No
agent's telemetry ever travels: only its masked vectors.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.secagg.agent import PREFIX, ClientAgent, Names, aggregate_over_bus
from secmas.secagg.envelope import SERVER
from secmas.secagg.federated import SecureSum
from secmas.secagg.learner import LocalLearner
from secmas.secagg.messages import SESSION_BYTES, Config
from secmas.secagg.neighbours import ThreatModel
from secmas.secagg.quantise import Quantiser
from secmas.secagg.session import make_config
from secmas.secagg.tasks import FederatedPlan, Task, TaskError
from secmas.transport.bus import Bus, Subscription
from secmas.trust.identity import AgentIdentity

__all__ = ["ChannelFederation", "TaskBook", "TrainingMember"]


MAX_TASKS = 64
"""Tasks an agent keeps for sessions not yet asked for an input (the oldest go first)."""


class TaskBook:
    """The tasks an agent received for secure aggregation sessions, taken when a session
    asks it for its masked input."""

    def __init__(self, learner: LocalLearner) -> None:
        self.learner = learner
        self._tasks: dict[bytes, Task] = {}
        self.stopped = asyncio.Event()
        self.refused: list[str] = []
        self.answered = 0
        """Sessions this agent contributed to."""

    async def on_task(self, subject: str, data: bytes) -> None:
        try:
            session, task = Task.from_bytes(data)
        except TaskError as exc:
            self.refused.append(f"task on {subject}: {exc}")
            return
        if task.kind == "stop":
            self.stopped.set()
            return
        if len(self._tasks) >= MAX_TASKS:
            del self._tasks[next(iter(self._tasks))]
        self._tasks[session] = task

    def contribution(self, config: Config) -> np.ndarray:
        """This agent's input to the session of `config`, from the task sent for it."""
        task = self._tasks.pop(config.session, None)
        if task is None:
            raise TaskError(f"no task for session {config.session.hex()}")
        vector = self.learner.contribute(task)
        if len(vector) != config.length:
            raise TaskError(f"a {task.kind!r} answer of {len(vector)} values, not {config.length}")
        self.answered += 1
        return vector


class TrainingMember:
    """One agent's side of federated training over a secure channel: its `LocalLearner`
    answers each task (`TaskBook`) in the secure sum the task names, and its
    `ClientAgent` masks the answer and signs every round's message with the agent's
    enrolled Ed25519 key. The same in an agent process and in this one."""

    def __init__(self, learner: LocalLearner) -> None:
        self.book = TaskBook(learner)
        self.agent: ClientAgent | None = None
        self._subscription: Subscription | None = None

    async def start(
        self,
        bus: Bus,
        identity: Ed25519PrivateKey,
        directory: Mapping[int, bytes],
        tasks: str,
        *,
        prefix: str = PREFIX,
        name: str | None = None,
    ) -> None:
        """Listen for tasks on `tasks` and for the sums' requests; `directory` holds the
        clients' keys by index and the coordinator's under SERVER."""
        me = self.book.learner.agent
        self.agent = ClientAgent(
            bus, me, identity, directory, self.book.contribution, prefix=prefix, name=name
        )
        await self.agent.start()
        self._subscription = await bus.subscribe(tasks, self.book.on_task)
        await bus.flush()

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        if self.agent is not None:
            await self.agent.stop()

    @property
    def refused(self) -> list[str]:
        """What it refused: envelopes that did not open, tasks it could not read."""
        return [*(self.agent.refused if self.agent else []), *self.book.refused]


class ChannelFederation:
    """The coordinator's side over a secure channel, as `run_federated`'s `Federation`:
    each call sends every client its task (`task_subject(session, client)`) and runs the
    secure sum's server (Bonawitz et al., parameters from `threat`), its envelopes signed
    by `identity`, the clients' checked against `keys` (client index → enrolled Ed25519
    key). The bus lives on `loop`; call it from another thread."""

    def __init__(
        self,
        bus: Bus,
        identity: AgentIdentity,
        keys: Mapping[int, bytes],
        features: int,
        loop: asyncio.AbstractEventLoop,
        task_subject: Callable[[bytes, int], str],
        *,
        prefix: str = PREFIX,
        names: Names | None = None,
        threat: ThreatModel | None = None,
        round_timeout: float = 120.0,
    ) -> None:
        self.bus = bus
        self.identity = identity
        self.clients = tuple(sorted(keys))
        self.directory = {**keys, SERVER: identity.signing_public}
        self.features = features
        self.loop = loop
        self.task_subject = task_subject
        self.prefix = prefix
        self.names = names
        self.threat = threat
        self.round_timeout = round_timeout
        self.refused: list[str] = []

    def __call__(self, task: Task, quantiser: Quantiser) -> SecureSum:
        """Every client's contribution to `task`, securely summed over the channel."""
        coroutine = self.sum(task, quantiser)
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(
            5 * self.round_timeout + 30
        )

    async def sum(self, task: Task, quantiser: Quantiser) -> SecureSum:
        config, _ = make_config(
            self.clients, task.length(self.features), threat=self.threat, quantiser=quantiser
        )
        payload = task.to_bytes(config.session)
        for c in self.clients:
            await self.bus.publish(self.task_subject(config.session, c), payload)
        run = await aggregate_over_bus(
            self.bus,
            config,
            self.identity.signing,
            self.directory,
            round_timeout=self.round_timeout,
            prefix=self.prefix,
            names=self.names,
        )
        self.refused += run.refused
        agg = run.aggregate
        sent = run.bytes_sent + run.bytes_received
        # the agents train when asked for their masked input: inside the sum's seconds
        return SecureSum(agg.total, agg.survivors, run.seconds, sent, agg.clipped, 0, None)

    async def stop(self, plan: FederatedPlan) -> None:
        """Tell every client training is over."""
        session = os.urandom(SESSION_BYTES)
        stop = Task("stop", plan).to_bytes(session)
        for c in self.clients:
            await self.bus.publish(self.task_subject(session, c), stop)
        await self.bus.flush()

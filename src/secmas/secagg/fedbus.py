"""Federated training over a secure channel (004_… Section 5): each agent's side
(`TrainingMember`) and the coordinator's (`ChannelFederation`), whoever enrolled the
agents; and, for `secmas detect train --federated --processes`, an enrolment of its own
for agent processes outside any pipeline (`BusFederation`, `secmas.secagg.fedagent`).
The run's attested agents train with the same two sides over the pipeline's channel
(`secmas.secagg.fedrun`).

With `BusFederation` the agents join as the pipeline's agents do
(`secmas.trust.enrolment`): each process gets a one-time credential out of band, makes
its own identity (Ed25519, X25519; the private keys never leave it) and sends a join,
sealed to the coordinator's X25519 key, proving the credential and signed by the key it
registers. The coordinator admits a join once (`Enrolment.admit`), and when every agent
has joined it sends each one the welcome: the roster of enrolled public keys and the
pipeline secret of the key epoch, signed by the coordinator and sealed to the agent's
key. From then on everything goes through the secure channel
(`secmas.transport.channel.SecureBus`: pairwise link keys from those identities,
`secmas.trust.linkkeys`): the tasks (`secmas.secagg.tasks`), and the secure
aggregation's rounds, whose envelopes are signed by the same enrolled Ed25519
keys (`secmas.secagg.agent`). No agent's telemetry ever travels: only its masked vectors.

What this is not: the ledger (registration on chain, the secret store) and attestation
are left out; the coordinator plays the MLFO's enrolment role and hands the epoch secret
over in the welcome instead of the secret store.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

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
from secmas.transport.channel import SecureBus
from secmas.transport.nats import NatsBus
from secmas.trust.enrolment import Credential, Enrolment, EnrolmentError, JoinRequest
from secmas.trust.identity import AgentIdentity, signature_valid
from secmas.trust.linkkeys import EpochKeyring, PeerKeys
from secmas.trust.sealing import SealError, open_sealed, seal

__all__ = [
    "COORDINATOR",
    "BusFederation",
    "ChannelFederation",
    "TaskBook",
    "TrainingMember",
    "Welcome",
    "join_box",
    "member_name",
    "open_welcome",
    "recipient",
    "secure_bus",
    "task_subject",
]

T = TypeVar("T")

COORDINATOR = "fedavg-coordinator"
"""The coordinator's name on the channel (the secure sums' server)."""
JOIN_SUBJECT = "fedavg.join"
JOIN_CONTEXT = b"secmas/fedavg/join/1"
WELCOME_CONTEXT = b"secmas/fedavg/welcome/1"
WELCOME_FORMAT = "secmas.fedavg-welcome/1"
VNI = 4242
EPOCH = 1


MEMBER_PREFIX = "fedavg-"


def member_name(index: int) -> str:
    """Agent `index`'s name on the channel and in its enrolment."""
    return f"{MEMBER_PREFIX}{index}"


def welcome_subject(index: int) -> str:
    """Where agent `index` waits for its welcome (a sealed box, outside the channel)."""
    return f"fedavg.welcome.{index}"


def ready_subject(index: int) -> str:
    """Agent `index` says on it, through the channel, that it listens."""
    return f"fedavg.ready.{index}"


def task_subject(session: bytes | None, index: int) -> str:
    """The task of secure aggregation `session` for agent `index` (None: of any)."""
    return f"fedavg.task.{'*' if session is None else session.hex()}.{index}"


def recipient(subject: str) -> str | None:
    """The member a channel subject addresses: tasks, readiness and the secure sums'
    rounds (`secagg.<session>.<client|server>`)."""
    tokens = subject.split(".")
    if tokens[0] == "secagg" and len(tokens) == 3:
        return COORDINATOR if tokens[2] == "server" else _member(tokens[2])
    if tokens[:2] == ["fedavg", "task"] and len(tokens) == 4:
        return _member(tokens[3])
    if tokens[:2] == ["fedavg", "ready"] and len(tokens) == 3:
        return COORDINATOR
    return None


def _member(token: str) -> str | None:
    return member_name(int(token)) if token.isdigit() else None


def join_box(join: JoinRequest, credential: Credential) -> bytes:
    """An agent's join, sealed to the coordinator's key from its credential."""
    return seal(join.encode(), credential.mlfo_key, JOIN_CONTEXT)


@dataclass(frozen=True)
class Welcome:
    """What an admitted agent needs to take part: the roster of enrolled keys (name →
    `PeerKeys`), the pipeline, segment, key epoch and its secret."""

    pipeline: str
    roster: dict[str, PeerKeys]
    secret: bytes
    vni: int = VNI
    epoch: int = EPOCH

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": WELCOME_FORMAT,
                "pipeline": self.pipeline,
                "vni": self.vni,
                "epoch": self.epoch,
                "secret": self.secret.hex(),
                "roster": {
                    n: {"sealing": k.sealing.hex(), "signing": k.signing.hex()}
                    for n, k in self.roster.items()
                },
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Welcome:
        try:
            data = json.loads(raw)
            if data["format"] != WELCOME_FORMAT:
                raise ValueError(f"format {data['format']!r}")
            roster = {
                str(n): PeerKeys(bytes.fromhex(k["sealing"]), bytes.fromhex(k["signing"]))
                for n, k in data["roster"].items()
            }
            return cls(
                str(data["pipeline"]),
                roster,
                bytes.fromhex(data["secret"]),
                int(data["vni"]),
                int(data["epoch"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EnrolmentError(f"an unreadable welcome: {exc}") from None

    def sealed_to(self, coordinator: AgentIdentity, sealing_key: bytes) -> bytes:
        """Signed by the coordinator, sealed to the agent's X25519 key."""
        payload = self.encode()
        signature = coordinator.sign(WELCOME_CONTEXT + payload)
        return seal(signature + payload, sealing_key, WELCOME_CONTEXT)

    @property
    def directory(self) -> dict[int, bytes]:
        """The secure sums' envelope keys: each agent's enrolled Ed25519 key by index,
        the coordinator's under SERVER."""
        out = {
            int(n.removeprefix(MEMBER_PREFIX)): k.signing
            for n, k in self.roster.items()
            if n.removeprefix(MEMBER_PREFIX).isdigit()
        }
        out[SERVER] = self.roster[COORDINATOR].signing
        return out


def open_welcome(box: bytes, identity: AgentIdentity, credential: Credential) -> Welcome:
    """The welcome sealed to `identity`, checked against the coordinator's signing key
    from the credential (EnrolmentError otherwise)."""
    try:
        plain = open_sealed(box, identity.sealing, WELCOME_CONTEXT)
    except SealError as exc:
        raise EnrolmentError(f"welcome: {exc}") from None
    signature, payload = plain[:64], plain[64:]
    if not signature_valid(credential.mlfo_signing_key, signature, WELCOME_CONTEXT + payload):
        raise EnrolmentError("the welcome is not signed by the coordinator of the credential")
    return Welcome.decode(payload)


def secure_bus(inner: Bus, identity: AgentIdentity, welcome: Welcome) -> SecureBus:
    """`identity`'s end of the pipeline's secure channel, keyed from the roster."""
    keys = EpochKeyring(identity, welcome.pipeline, welcome.vni, welcome.roster)
    keys.install(welcome.epoch, welcome.secret)
    return SecureBus(inner, identity.name, welcome.vni, keys, recipient)


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


class BusFederation:
    """The coordinator: enrols `agents` agent processes over the NATS server at `url`,
    then serves as `run_federated`'s `Federation`: each call sends every agent its task
    through the channel and runs the secure sum's server over it (Bonawitz et al., the
    parameters from `threat`). Use it as a context manager; `credentials` are what the
    launcher hands the processes."""

    def __init__(
        self,
        url: str,
        agents: int,
        features: int,
        *,
        threat: ThreatModel | None = None,
        pipeline: str = "fedavg",
        round_timeout: float = 120.0,
    ) -> None:
        self.url = url
        self.clients = tuple(range(agents))
        self.features = features
        self.threat = threat
        self.round_timeout = round_timeout
        self.identity = AgentIdentity.generate(COORDINATOR)
        self.enrolment = Enrolment(pipeline, self.identity, self.identity)
        self.credentials = self.enrolment.issue_all(member_name(c) for c in self.clients)
        self._joins_refused: list[str] = []
        self._federation: ChannelFederation | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._nats: NatsBus | None = None
        self._bus: SecureBus | None = None

    def __enter__(self) -> BusFederation:
        self._thread.start()
        self._nats = self._call(NatsBus.connect(self.url, name=COORDINATOR), 30.0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def enrol(self, timeout: float = 120.0) -> Welcome:
        """Admit one join per agent (refusing the rest, with the reason in `refused`),
        welcome each, and wait until every one listens on the channel."""
        welcome = self._call(self._enrol(timeout), timeout + 5)
        assert self._bus is not None
        keys = {c: k for c, k in welcome.directory.items() if c != SERVER}
        self._federation = ChannelFederation(
            self._bus,
            self.identity,
            keys,
            self.features,
            self._loop,
            task_subject,
            threat=self.threat,
            round_timeout=self.round_timeout,
        )
        return welcome

    async def _enrol(self, timeout: float) -> Welcome:
        assert self._nats is not None
        joined: dict[str, JoinRequest] = {}
        all_joined = asyncio.Event()

        async def on_join(subject: str, data: bytes) -> None:
            try:
                join = JoinRequest.decode(open_sealed(data, self.identity.sealing, JOIN_CONTEXT))
                joined[join.agent] = self.enrolment.admit(join, join.agent, join.sealing_key)
            except (SealError, EnrolmentError) as exc:
                self._joins_refused.append(f"join refused: {exc}")
                return
            if len(joined) == len(self.clients):
                all_joined.set()

        subscription = await self._nats.subscribe(JOIN_SUBJECT, on_join)
        try:
            await asyncio.wait_for(all_joined.wait(), timeout)
        except TimeoutError:
            missing = sorted(set(self.credentials) - set(joined))
            raise EnrolmentError(f"no join from {', '.join(missing)} in {timeout:g} s") from None
        finally:
            await subscription.unsubscribe()
        roster = {n: PeerKeys(j.sealing_key, j.signing_key) for n, j in joined.items()}
        roster[COORDINATOR] = PeerKeys.of(self.identity)
        welcome = Welcome(self.enrolment.pipeline, roster, os.urandom(32))
        self._bus = secure_bus(self._nats, self.identity, welcome)
        ready: set[int] = set()
        all_ready = asyncio.Event()

        async def on_ready(subject: str, data: bytes) -> None:
            index = subject.rsplit(".", 1)[1]
            ready.update([int(index)] if index.isdigit() else [])
            if ready >= set(self.clients):
                all_ready.set()

        listening = await self._bus.subscribe("fedavg.ready.*", on_ready)
        await self._bus.flush()
        for c in self.clients:
            box = welcome.sealed_to(self.identity, joined[member_name(c)].sealing_key)
            await self._nats.publish(welcome_subject(c), box)
        try:
            await asyncio.wait_for(all_ready.wait(), timeout)
        except TimeoutError:
            raise EnrolmentError(
                f"agents {sorted(set(self.clients) - ready)} did not listen in {timeout:g} s"
            ) from None
        finally:
            await listening.unsubscribe()
        return welcome

    def __call__(self, task: Task, quantiser: Quantiser) -> SecureSum:
        """Every agent's contribution to `task`, securely summed over the channel."""
        if self._federation is None:
            raise RuntimeError("enrol the agents first")
        return self._federation(task, quantiser)

    def stop(self, plan: FederatedPlan) -> None:
        """Tell every agent training is over."""
        if self._federation is not None:
            self._call(self._federation.stop(plan), 30.0)

    @property
    def refused(self) -> list[str]:
        """Joins and envelopes the coordinator refused, with the reasons."""
        sums = self._federation.refused if self._federation is not None else []
        return [*self._joins_refused, *sums]

    def close(self) -> None:
        """Close the bus and the coordinator's event loop."""
        if self._thread.is_alive():
            for bus in (self._bus, self._nats):
                if bus is not None:
                    self._call(bus.close(), 30.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30.0)
        self._loop.close()

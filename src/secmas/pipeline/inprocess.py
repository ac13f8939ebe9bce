"""The in-process IML driver: each agent's membership a task of this process.

Agents in one process are a placement like the others (`secmas.pipeline.iml`): the MLFO
(`secmas.pipeline.orchestrator`) hands each a one-time credential in a file, and each
agent, with keys and an account of its own, joins over the in-memory bus, is welcomed,
attested and keyed exactly as an agent process is over NATS. What differs is only where
they run: here, every wait and every piece of blocking work goes through the run's
virtual clock, which waits for it before it moves, so an in-process run stays
deterministic; and the agents' BDI parts share one world (`secmas.agents.ddos.agent`).

A run measured from outside starts this process's measurer before anything else, so that
it measures ahead while the bring-up runs (`secmas.trust.measurer_service`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.agents.journal import Journal
from secmas.ledger.accounts import Account
from secmas.ledger.connection import Ledger
from secmas.ledger.keyfile import LEDGER_OWN, LedgerKeys
from secmas.network.clock import Clock, Offload, VirtualClock
from secmas.pipeline.images import WrappedImage
from secmas.pipeline.iml import AgentLaunch, OutsideCheck
from secmas.pipeline.membership import Membership
from secmas.pipeline.orchestrator import Orchestrator, measurer_deadlines
from secmas.pipeline.work import Cohort
from secmas.pipeline.workflow import Workflow
from secmas.scenario.model import Security
from secmas.transport.bus import Bus
from secmas.trust.attestation import Measurement
from secmas.trust.deadlines import Deadlines
from secmas.trust.enrolment import Credential
from secmas.trust.identity import AgentIdentity
from secmas.trust.measurer_service import ExternalAttestation, HostMeasurer
from secmas.trust.repository import ReferenceRepository

logger = logging.getLogger(__name__)

Halt = Callable[[str], Awaitable[None]]
"""Stops an agent of this process for good, told why (`PoPAgent.revoke`)."""

DEFAULT_RUN_S = 3600.0
"""The run length the agents' funding is sized for when the caller names none."""


def warm(image: WrappedImage) -> threading.Thread:
    """Warm `image`'s measurement (`RuntimeImage.warm`) in a thread, beside bring-up steps
    5–8: the agents of this process share its modules and their measurement's caches.
    Taken by the first challenges, those walks made the initial attestation's round trip
    0.75 s against a median of 30 ms; taken now, while the bring-up waits on the ledger,
    the first challenge pays what later ones do (it waits on the image's lock if the
    walks are not done). The reference SECaaS expects of the image is computed there too
    (0.4 s, once per image, that step 8 waited for). A walk that fails leaves the caches
    cold: the first challenge measures in full, as before. The thread, started."""

    def measure() -> None:
        try:
            image.runtime.warm()
            image.reference  # noqa: B018 (computed and kept: what SECaaS expects of it)
        except Exception as exc:  # the challenge measures again and reports it
            logger.debug("warming the agents' measurement failed: %s", exc)

    thread = threading.Thread(target=measure, name="secmas-warm-measurement", daemon=True)
    thread.start()
    return thread


@dataclass
class InProcessAgents:
    """The memberships of a pipeline's agents as tasks on this event loop, over `bus`."""

    pipeline: str
    bus: Bus
    clock: Clock
    security: Security
    name: str = "in process"
    members: dict[str, Membership] = field(default_factory=dict)
    halts: dict[str, Halt] = field(default_factory=dict)
    """How each agent's BDI part is stopped when it is revoked (registered by the run
    once the agents exist)."""
    mlfo: Orchestrator | None = None
    measurer: HostMeasurer | None = None
    """This process's measurer, launched ahead of the bring-up (None: not measured)."""
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="secmas-run-")))
    _joins: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    _killed: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _handed: bool = False

    # -- the IML driver ----------------------------------------------------------------------
    def start(self, launch: AgentLaunch) -> None:
        """The agent of `launch.pop` joins, holding the credential handed in its file."""
        assert launch.enrolment is not None, "agents in this process join the trust layer"
        self._joins[launch.pop] = asyncio.ensure_future(self._join(launch.pop, launch.enrolment))

    async def _join(self, pop: str, enrolment: Path) -> None:
        credential = Credential.take(enrolment)
        simulated = isinstance(self.clock, VirtualClock)
        timeout = self.security.attestation.challenge_timeout
        member = Membership(
            self.pipeline,
            AgentIdentity.generate(pop),
            self.bus,
            credential,
            _Placed(self, pop),
            self._reach,
            offload=self.clock.run_blocking,
            deadlines=Deadlines.run_clock(timeout, self.clock.now) if simulated else None,
        )
        self.members[pop] = member
        assert self.mlfo is not None  # the MLFO's own patience for its N agents
        await member.join(self.mlfo.arrival.ceiling(len(self.mlfo.pops)))

    def _reach(self, account: Account) -> Ledger:
        """The MLFO's chain, with `account` signing (one in-process node for the run)."""
        assert self.mlfo is not None and self.mlfo.ledger is not None
        return Ledger(self.mlfo.ledger.chain, account, account)

    @property
    def repository(self) -> ReferenceRepository:
        """Where SECaaS keeps the references it signed."""
        assert self.mlfo is not None
        return self.mlfo.repository

    def image(self, agent: str) -> WrappedImage:
        """What `agent` runs, as the MLFO placed it."""
        assert self.mlfo is not None
        return self.mlfo.images[agent]

    def dead(self) -> list[str]:
        """Agents whose join failed (their task ended with an error)."""
        failed = [
            pop
            for pop, task in self._joins.items()
            if task.done() and not task.cancelled() and task.exception() is not None
        ]
        return [*failed, *self._killed]

    def log_tail(self, agent: str, size: int = 800) -> str:
        task = self._joins.get(agent)
        if task is None or not task.done() or task.cancelled():
            return ""
        return repr(task.exception())[-size:]

    def kill(self, agent: str) -> None:
        """As a crash would: its membership stops answering at once."""
        self._joins[agent].cancel()
        self._killed[agent] = asyncio.ensure_future(self.members[agent].close())

    def stop_all(self) -> None:
        for task in self._joins.values():
            task.cancel()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        return {"driver": self.name, "pids": dict.fromkeys(self.members, os.getpid())}

    async def halt(self, agent: str, reason: str) -> str:
        """A revoked agent takes no further action: what it works on is withdrawn."""
        halt = self.halts.pop(agent, None)
        if halt is None:
            return "not running"
        await halt(reason)
        return "halted"

    # -- measured from outside ---------------------------------------------------------------
    def outside(self, image: WrappedImage) -> OutsideCheck | None:
        """This process's measurer, begun once the image is wrapped: SECaaS hashes the
        host's files for the platform reference while the bring-up goes on. The agents'
        own first measurement begins then too (`warm`)."""
        warm(image)
        if self.measurer is None:
            return None
        external = ExternalAttestation.begin(
            Ed25519PrivateKey.generate(),
            image.manifest,
            self.measurer,
            shared=True,
            deadlines=measurer_deadlines(self.security),
        )
        self._handed = True
        external.pids.update(dict.fromkeys(self.members, os.getpid()))
        return external

    # -- the run -----------------------------------------------------------------------------
    def bus_for(self, agent: str) -> Bus:
        """The bus `agent` talks to the others through: its end of the secure channel."""
        return self.members[agent].bus

    def beat(self, clock: Clock) -> None:
        for member in self.members.values():
            member.beat(clock)

    async def cohort(self) -> Cohort:
        """The cohort with each admitted agent's seat in this process."""
        assert self.mlfo is not None
        agents = self.mlfo.pops
        return await self.mlfo.cohort({a: m.seat(agents) for a, m in self.members.items()})

    def states(self) -> dict[str, dict[str, Any]]:
        """Each agent's part of the final state the trust report reads."""
        return {a: m.state() for a, m in self.members.items()}

    def round_trips(self) -> list[float]:
        """Challenge → evidence round trips of the agents as elected verifiers."""
        roles = [m.role for m in self.members.values() if m.role is not None]
        return [t for r in roles if r.deadlines is not None for t in r.deadlines.answers]

    def report(self, now: float) -> dict[str, Any]:
        """report.json's trust section."""
        assert self.mlfo is not None
        return self.mlfo.report(self.states(), now, round_trips=self.round_trips())

    async def close(self) -> None:
        """The background attestation, each member's account swept back and its
        endpoints stopped, the MLFO's endpoints, the measurer, the credentials' folder."""
        try:
            if self.mlfo is not None:
                await self.mlfo.stop_background()
            for member in self.members.values():
                await self.clock.run_blocking(member.sweep)
                await member.close()
            if self.mlfo is not None:
                await self.mlfo.close()
        finally:
            self.stop_all()
            if self.measurer is not None and not self._handed:
                self.measurer.stop()


async def bring_up(
    name: str,
    agents: Sequence[str],
    bus: Bus,
    clock: Clock,
    security: Security,
    *,
    images: Mapping[str, WrappedImage] | None = None,
    workflow: Workflow | None = None,
    journal: Journal | None = None,
    measure_from_outside: bool = False,
    keys: LedgerKeys = LEDGER_OWN,
    duration: float = DEFAULT_RUN_S,
) -> InProcessAgents:
    """Steps 2–14 for `agents` as tasks of this process; `images` gives an agent another
    image than `secmas` (tests use it to compromise one agent only). With
    `measure_from_outside`, a measurer process of the run's own measures this process
    (every agent's) before the chain acts on a pass. `keys`: the MLFO's and SECaaS's
    ledger accounts (default the ledger's own); the agents are funded for `duration`
    simulated seconds of attestation steps. A step that fails revokes the agents
    registered by then, and everything started is stopped."""
    placement = InProcessAgents(name, bus, clock, security)
    if measure_from_outside:  # started now, it measures this process during bring-up
        placement.measurer = HostMeasurer.launch(ahead=os.getpid())
    mlfo_key, secaas_key = keys.hex()
    mlfo = Orchestrator(
        name,
        security,
        bus,
        placement,
        lambda pop, enrolment: AgentLaunch(pop, Path(), "memory", name, enrolment=enrolment),
        tuple(agents),
        clock,
        ledger_keys=(mlfo_key, secaas_key),
        duration=duration,
        simulated=isinstance(clock, VirtualClock),
        images=dict(images or {}),
        outside=placement.outside,
        workflow=workflow or Workflow(),
        journal=journal or Journal(),
        workdir=placement.workdir,
    )
    placement.mlfo = mlfo
    try:
        await mlfo.bring_up("the in-memory bus", {})
    except BaseException:
        await placement.close()
        raise
    placement.beat(clock)
    mlfo.watch_liveness(clock)
    return placement


@dataclass(frozen=True)
class _Placed:
    """The image the MLFO placed an agent on, as it is when measured: it is placed at
    step 5, after the agent joined."""

    agents: InProcessAgents
    pop: str

    def measure(self) -> Measurement:
        return self.agents.image(self.pop).runtime.measure()

    async def measured(self, offload: Offload) -> Measurement:
        return await self.agents.image(self.pop).runtime.measured(offload)

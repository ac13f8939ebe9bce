"""One agent in its own OS process (`secmas agent`), joined to a pipeline over NATS.

The process is what the IML's local-process driver starts for each PoP, and what an
operator starts by hand on another host. In order:
1. it creates its identity (Ed25519, X25519) and ledger account, starts its attester
   (measuring this very process: its live modules and files) and asks the MLFO to join,
   proving the one-time enrolment credential the IML driver handed it out of band (a
   file named by `SECMAS_ENROLMENT`, removed once read; `secmas.trust.enrolment`);
2. once the MLFO registered every member, it serves its verifier role (the chain may
   elect it) and fetches the pipeline secret of each key epoch the MLFO announces;
   then it serves its parts of the run's work from its seat (`secmas.pipeline.work`: the
   federated training of the closed loop's detector, `secmas.secagg.fedrun`, which the
   MLFO runs once every agent is attested and keyed);
3. on the MLFO's start message (origin and speed of the shared scaled clock) it runs its
   BDI agent: NFV-A over its secure channel, VNFs acting through the remote controller,
   journal relayed to the driver, one observation per data-plane tick (subscribed before
   it says it is ready, so that the ticks of the seconds it takes to build its agent on a
   busy machine wait for it rather than being lost);
4. on the stop request it answers its final state and exits.

Subjects (`<p>` the pipeline): join, welcome, rekey, challenges, evidence, verdicts and
heartbeats are envelopes between identity keys (`secmas.trust.control`; the join sealed
to the MLFO's key from the credential); the rest goes through the secure channel:
`secmas.start.<p>` and `secmas.tick.<p>` from the MLFO to all, `secmas.controller.<p>`
and `secmas.journal.<p>` to the MLFO, `secmas.stop.<p>.<agent>` to one agent, and what
the MLFO's step loops exchange with the agents (`secmas.pipeline.agentcontrol`). Only
the empty `secmas.ready.<p>.<agent>` goes in clear.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import secmas
from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.world import World
from secmas.agents.journal import RelayJournal
from secmas.agents.linksync import LinkSync
from secmas.agents.nfva.settings import AuctionSettings, paced
from secmas.agents.nfva.subjects import SPACE
from secmas.ledger.accounts import Account
from secmas.ledger.connection import Ledger, connect
from secmas.network.clock import ScaledClock
from secmas.network.dataplane.controller import RemoteController
from secmas.network.dataplane.traffic import server_ip
from secmas.network.infrastructure import Infrastructure
from secmas.pipeline.agentcontrol import (
    AgentControl,
    LoopExclusions,
    remote_decline,
    ticked_subject,
)
from secmas.pipeline.agentwatch import watch_agent
from secmas.pipeline.bringup import BringUp
from secmas.pipeline.heap import long_lived
from secmas.pipeline.membership import Membership, stop_subject
from secmas.pipeline.tamper import infect_agent
from secmas.pipeline.work import SeatService
from secmas.scenario.loader import load_scenario
from secmas.transport.address import BusAddress
from secmas.transport.bus import Bus
from secmas.transport.nats import NatsBus
from secmas.trust.distribution import installed_plugins
from secmas.trust.enrolment import CREDENTIAL_ENV, Credential, EnrolmentError
from secmas.trust.identity import AgentIdentity
from secmas.trust.image import RuntimeImage
from secmas.trust.wrap import wrap

logger = logging.getLogger(__name__)


def start_subject(pipeline: str) -> str:
    return f"secmas.start.{pipeline}"


def tick_subject(pipeline: str) -> str:
    return f"secmas.tick.{pipeline}"


def ready_subject(pipeline: str, agent: str) -> str:
    return f"secmas.ready.{pipeline}.{agent}"


CONNECT_TIMEOUT_S = 15.0
"""How long a client of a run waits for its first connection. The run's server is up (the
driver started it, or the user's was named), so a slow TLS handshake and nkey exchange
while six agent processes start on two busy cores is no dead server: NatsBus's own 2 s
default failed a run's MLFO beside a test suite."""


@dataclass(frozen=True)
class AgentConfig:
    """Everything `secmas agent` is told on its command line."""

    pop: str
    scenario: Path
    bus: str
    pipeline: str
    ledger: str | None = None  # None: the pipeline runs without the trust layer
    join_timeout: float | None = None
    """How long to wait for the MLFO's welcome (None: as long as the MLFO may wait for N
    agents to come up on this host's cores, `BringUp.ceiling`): the welcome comes once
    every agent joined, which on a busy host is minutes, not a fixed time."""
    tamper_at: float | None = None
    """Demonstrations and tests: patch this agent in memory at this simulated second."""
    bus_ca: Path | None = None
    """The CA the bus servers' certificates chain to (TLS)."""
    bus_nkey: Path | None = None
    """This agent's nkey seed file (mode 0600)."""
    bus_auth: str | None = field(default=None, repr=False)
    """Credentials for the bus servers (`user:password` or a token), from the environment."""
    ledger_ca: Path | None = None
    """The CA the ledger's HTTPS certificate chains to."""
    ledger_token: str | None = field(default=None, repr=False)
    """The ledger's bearer token (None: the one in `SECMAS_LEDGER_TOKEN`, if any)."""


def self_image() -> RuntimeImage:
    """What this process measures when challenged: the `secmas` package it runs and the
    plug-in distributions installed beside it. The layout (which modules and functions,
    which plug-in files) comes from the files; the digests SECaaS compares with come from
    SECaaS's own wrapping, never from here."""
    root = Path(secmas.__file__).parent
    plugins = tuple(installed_plugins().values())
    return RuntimeImage.of(wrap(root, Ed25519PrivateKey.generate()), root, plugins)


@dataclass
class AgentProcess:
    """The parts of one agent process, from joining to its final state."""

    config: AgentConfig
    raw: Bus
    identity: AgentIdentity
    credential: Credential | None = None
    """The one-time enrolment credential (None: the pipeline runs without trust layer)."""
    member: Membership | None = None
    """Its side of the pipeline's trust life (None without the trust layer)."""
    agent: PoPAgent | None = None
    image: RuntimeImage | None = None
    """What the attester measures (None without the trust layer): the agent and its parts
    are watched once built, as in one process."""
    clock: ScaledClock | None = None
    peak_use: float = 0.0
    violations: list[str] = field(default_factory=list)
    loops: LoopExclusions | None = None
    """Whom the MLFO's step loops keep out of auctions (their trust rule)."""
    declines: bool = False
    """Whether the MLFO's step loops hold decline policies (asked on every CFP)."""
    barrier: bool = False
    """Whether the MLFO's step loops wait for each tick to be perceived (reported)."""
    services: tuple[SeatService, ...] = ()
    """This agent's parts of the run's work (`secmas.pipeline.work`), served once it is
    keyed: federated training, say."""
    _done: asyncio.Event = field(default_factory=asyncio.Event)
    _started: asyncio.Event = field(default_factory=asyncio.Event)
    _built: asyncio.Event = field(default_factory=asyncio.Event)
    _closing: list[Any] = field(default_factory=list)

    async def run(self) -> None:
        cfg = self.config
        scenario = load_scenario(cfg.scenario)
        if cfg.ledger is not None:
            await self._join(len(scenario.pops))
        bus = self.raw if self.member is None else self.member.bus
        await bus.subscribe(start_subject(cfg.pipeline), self._on_start)
        await bus.subscribe(stop_subject(cfg.pipeline, cfg.pop), self._on_stop)
        self.loops = LoopExclusions(bus, cfg.pipeline)
        await self.loops.start()
        await self._serve_work(tuple(p.id for p in scenario.pops))
        # ticks queue from the start: one that comes while the agent is built waits for it
        await bus.subscribe(tick_subject(cfg.pipeline), self._on_tick)
        await self.raw.publish(ready_subject(cfg.pipeline, cfg.pop), b"{}")
        if not await self._begins():  # stopped first: a run of work only, or a failed one
            await self._close()
            return
        assert self.clock is not None
        world = World(
            scenario=scenario,
            infra=Infrastructure.from_scenario(scenario),
            plane=None,
            controller=RemoteController(bus, cfg.pipeline, server_ip(scenario), _step(scenario)),
            bus=bus,
            clock=self.clock,
            journal=RelayJournal(bus, cfg.pipeline),
            settings=paced(
                AuctionSettings(serialised=bool(scenario.defence and scenario.defence.serialised)),
                self.clock.speed,
            ),
            directory=tuple(p.id for p in scenario.pops),
            space=f"{SPACE}.{cfg.pipeline}",
            admits=self._admits,
        )
        if self.declines:
            world.declines.append(remote_decline(bus, cfg.pipeline))
        assert isinstance(world.journal, RelayJournal)
        world.journal.start()
        links = LinkSync(world.infra, bus, cfg.pipeline, cfg.pop)
        await links.start()
        self._closing.insert(0, links.stop)
        self.agent = PoPAgent(cfg.pop, world, seed=scenario.seed, announce=links.announce)
        if self.image is not None:
            watch_agent(self.image, self.agent, self.member)
        await self.agent.start()
        control = AgentControl(self.agent, bus, cfg.pipeline)
        await control.start()
        self._closing.insert(0, control.stop)
        self._built.set()
        with long_lived():  # the agent as deployed lives until it is stopped
            await self._done.wait()
        await self.agent.stop()
        await world.journal.stop()
        await self._close()

    async def _begins(self) -> bool:
        """Wait for the run's start; False when the MLFO stops this agent before it (a
        run whose agents only do work, such as federated training, or one that failed
        between bring-up and start): the process then ends instead of waiting for ever."""
        started = asyncio.ensure_future(self._started.wait())
        stopped = asyncio.ensure_future(self._done.wait())
        await asyncio.wait({started, stopped}, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        stopped.cancel()
        return self._started.is_set()

    async def _close(self) -> None:
        for closing in self._closing:
            await closing()

    # -- joining -----------------------------------------------------------------------------
    async def _join(self, agents: int) -> None:
        """Attester up (measuring this very process), sealed join under the enrolment
        credential, then verifier and key service (`secmas.pipeline.membership`). The
        welcome is waited for as long as the MLFO may wait for the run's `agents`."""
        cfg, credential = self.config, self.credential
        if credential is None:
            raise EnrolmentError(f"no enrolment credential: {CREDENTIAL_ENV} names none")
        image = self.image = await asyncio.to_thread(self_image)
        await asyncio.to_thread(image.warm)  # ahead of any challenge
        ledger = cfg.ledger
        assert ledger is not None

        def reach(account: Account) -> Ledger:
            key = account.key
            return connect(
                ledger, mlfo_key=key, secaas_key=key, ca_file=cfg.ledger_ca, token=cfg.ledger_token
            )

        self.member = Membership(cfg.pipeline, self.identity, self.raw, credential, image, reach)
        self._closing.append(self.member.close)
        await self.member.join(cfg.join_timeout or BringUp().ceiling(agents))

    async def _serve_work(self, agents: tuple[str, ...]) -> None:
        """Start this agent's parts of the run's work from its seat: its identity, its end
        of the secure channel, the keys the registry holds (no trust layer: no work)."""
        if not self.services or self.member is None:
            return
        seat = self.member.seat(agents)
        for service in self.services:
            await service.start(seat)
            self._closing.insert(0, service.stop)

    def _admits(self, agent: str) -> bool:
        """The trust layer's view (every agent without one), narrowed by the MLFO's loops."""
        trusted = self.member is None or self.member.view.admits(agent)
        return trusted and (self.loops is None or self.loops.admits(agent))

    # -- operation ---------------------------------------------------------------------------
    async def _on_start(self, _subject: str, data: bytes) -> None:
        message = json.loads(data)
        self.clock = ScaledClock(float(message["speed"]), float(message["origin"]))
        self.declines = bool(message.get("declines", False))
        self.barrier = bool(message.get("barrier", False))
        if self.member is not None:
            self.member.beat(self.clock)
        self._started.set()

    async def _on_tick(self, _subject: str, data: bytes) -> None:
        """Perceive a data-plane step. A tick published while the agent is still being
        built (on a busy machine, seconds after the start) waits for it: it is perceived
        late, and its report says so, instead of being lost."""
        await self._built.wait()
        assert self.agent is not None
        at = self.config.tamper_at
        if at is not None and self.clock is not None and self.clock.now() >= at:
            infect_agent(self.agent)
            self.config = replace(self.config, tamper_at=None)
        await self.agent.observe()
        state = self.agent.world.infra.pops[self.config.pop]
        used = max(u / t for u, t in zip(state.used, state.total, strict=True))
        self.peak_use = max(self.peak_use, used)
        if used > 1.0 + 1e-9:
            self.violations.append(f"{self.config.pop} at {used:.0%} of a resource")
        if not self.barrier:  # no loop waits for it: no report on the wire
            return
        try:  # perceived: the MLFO's loops may look at the step
            now = float(json.loads(data)["now"])
        except (ValueError, KeyError, TypeError):
            return
        ticked = json.dumps({"pop": self.config.pop, "now": now}).encode()
        await self.agent.world.bus.publish(ticked_subject(self.config.pipeline), ticked)

    async def _on_stop(self, _subject: str, _data: bytes) -> bytes:
        """Final state for the report; the process then winds down."""
        infra = self.agent.world.infra if self.agent else None
        instances = [
            {"id": i.id, "vnf": i.vnf, "pop": i.pop, "units": i.units}
            for i in (infra.instances.values() if infra else ())
            if i.pop == self.config.pop
        ]
        member = self.member
        if member is not None:
            await asyncio.to_thread(member.sweep)
        state = {
            "instances": instances,
            "peak_use": self.peak_use,
            "violations": self.violations,
            "channel": None,
            "excluded": self.agent.mailbox.excluded if self.agent else 0,
            "published": self.raw.stats.messages_published + 1,  # this answer included
            **({} if member is None else member.state()),
        }
        asyncio.get_running_loop().call_later(0.05, self._done.set)
        return json.dumps(state).encode()


def _step(scenario: Any) -> float:
    return scenario.traffic.step if scenario.traffic else 1.0


def handed_credential(config: AgentConfig) -> Credential | None:
    """The enrolment credential the IML driver handed over (`SECMAS_ENROLMENT` names its
    file, which is removed once read); None without a trust layer."""
    if config.ledger is None:
        return None
    path = os.environ.pop(CREDENTIAL_ENV, None)
    if not path:
        raise EnrolmentError(
            f"{config.pop}: no enrolment credential; the IML driver hands one over in a file "
            f"named by {CREDENTIAL_ENV}"
        )
    credential = Credential.take(Path(path))
    if (credential.pipeline, credential.agent) != (config.pipeline, config.pop):
        raise EnrolmentError(
            f"{path}: a credential for {credential.agent} in {credential.pipeline}, "
            f"not {config.pop} in {config.pipeline}"
        )
    return credential


async def run_agent(config: AgentConfig, services: tuple[SeatService, ...] = ()) -> None:
    """The body of `secmas agent`; `services` are its parts of the run's work."""
    credential = handed_credential(config)
    raw = await NatsBus.connect(
        BusAddress.parse(config.bus, userinfo=config.bus_auth),
        ca_file=config.bus_ca,
        nkey_file=config.bus_nkey,
        name=f"secmas-agent-{config.pop}",
        connect_timeout=CONNECT_TIMEOUT_S,
    )
    try:
        identity = AgentIdentity.generate(config.pop)
        process = AgentProcess(config, raw, identity, credential, services=services)
        await process.run()
    finally:
        await raw.close()

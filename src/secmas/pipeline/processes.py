"""The multi-process workflow: every agent its own process, over a real NATS server.

`operate_processes` (`secmas.pipeline.outside`, which picks the engine) is `operate` for
agents that share nothing but the bus and the ledger. It starts a `nats-server` (unless
given one) and, for the in-process EVM, a JSON-RPC ledger server; it runs the MLFO and
SECaaS (contracts, registration of the agents that join, initial and mutual attestation
through the agents' own verifier roles, key epochs) and the network (its controller
served on the bus, one tick per step to every agent, `Ticks`, in the one run loop of
`secmas.pipeline.runloop`: the simulator on a scaled wall clock, or a real emulated network
in real time with the agents inside their PoPs, `secmas.pipeline.emulated_processes`); an
IML driver
(`secmas.pipeline.iml`, by default one `secmas agent` process per PoP on this machine)
starts the agents, and their journals and final state make the same report as an
in-process run. A killed agent process stays dead: it is withdrawn from auctions once
silent for its window (`secmas.trust.liveness`), its auctions time out and are
re-auctioned, and it fails its attestation once the chain stops waiting for it
(`AttestationChain.silent`). A revoked agent (a failed attestation, the SSLA manager's
REVOKE) takes no further action: the IML driver stops its process (SIGTERM, then SIGKILL
after a grace), the MLFO journals it, and its goals go to the others as a killed agent's
do. Work the run gives its attested agents (`secmas.pipeline.work`: federated training)
runs after bring-up, before the data plane starts, with each agent process serving its
part from its seat.

The run's step loops (closed loop, SSLA manager, CTI hygiene, moving target defence) run
here, in the MLFO's process, where the data plane and its controller are: after each
tick every live agent reports it perceived it, then the loops look at the step. They
reach the agents only over the bus (`secmas.pipeline.agentcontrol`): goals posted and
followed, beliefs asked, instances listed and stopped, the agents' calls for proposals
checked against the loops' decline policies, and whom the loops' trust rule excludes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.agents.ddos.world import World
from secmas.agents.journal import ActionEvent, Journal, apply_json, journal_subject
from secmas.agents.linksync import LinkSync
from secmas.agents.nfva.hooks import Admits
from secmas.agents.nfva.settings import AuctionSettings, paced
from secmas.agents.nfva.subjects import SPACE
from secmas.interrupt import uninterrupted
from secmas.ledger.rpcnode import LEDGER_TOKEN_ENV
from secmas.ledger.rpcserver import LedgerServer
from secmas.network.clock import ScaledClock
from secmas.network.dataplane import Telemetry
from secmas.network.dataplane.controller import ControllerService
from secmas.network.infrastructure import Infrastructure
from secmas.pipeline.agent_process import ready_subject, start_subject, tick_subject
from secmas.pipeline.agentcontrol import (
    Admission,
    DeclineService,
    GoalTickets,
    RemoteAgent,
    TickBarrier,
)
from secmas.pipeline.bringup import BringUp
from secmas.pipeline.busaccess import BUS_FOLDER, BusAccess, discard_secrets, issue_run_bus
from secmas.pipeline.errors import RunError
from secmas.pipeline.heap import long_lived
from secmas.pipeline.hosts import HostProcesses
from secmas.pipeline.images import WrappedImage, secmas_image
from secmas.pipeline.iml import (
    AgentLaunch,
    ChecksItsAgents,
    IMLDriver,
    LocalProcesses,
    OutsideCheck,
)
from secmas.pipeline.membership import stop_subject
from secmas.pipeline.mlfo import pipeline_name, plan_service
from secmas.pipeline.operate import CapacityCheck, OperateResult, _merged, give_work
from secmas.pipeline.orchestrator import ImageWrap, Orchestrator, measurer_deadlines, vni_of
from secmas.pipeline.runloop import Progress, StepLoop, SteppedNetwork, run_steps
from secmas.pipeline.ticklatency import TickLatency
from secmas.pipeline.work import AgentWork
from secmas.pipeline.workflow import Told, Workflow
from secmas.scenario.model import Scenario
from secmas.transport.address import BusAddress
from secmas.transport.broker import NatsServer
from secmas.transport.bus import Bus
from secmas.transport.tls import issue_run_pki
from secmas.trust.control import MLFO
from secmas.trust.measurer_service import ExternalAttestation
from secmas.trust.sitelist import held

logger = logging.getLogger(__name__)

LEDGER_FOLDER = "ledger-tls"
"""Where a run keeps its ledger server's certificate (its key removed when the run ends)."""


@dataclass(frozen=True)
class KillCue:
    """Kill an agent `after` simulated seconds once the run's journal shows it did
    `action` (resilience tests that must hit one stage of the mitigation, whenever a
    loaded machine makes it come)."""

    action: str
    after: float = 0.0


Kill = float | KillCue
"""When an agent process is killed: at a simulated second, or on a cue."""


def kill_due(pop: str, when: Kill, actions: Iterable[ActionEvent]) -> float | None:
    """The simulated second `pop` is due to be killed: `when` itself, or `after` seconds
    past the first of its `actions` its cue names (None while there is none)."""
    if not isinstance(when, KillCue):
        return when
    cued = next((a.time for a in actions if a.agent == pop and a.action == when.action), None)
    return None if cued is None else cued + when.after


TICK_WAIT = 2.0
"""Wall seconds the loops wait for the agents to perceive a step before looking at it."""


@dataclass
class Beside:
    """The step loops' world in the MLFO's process and their bus services."""

    world: World
    links: LinkSync
    tickets: GoalTickets
    barrier: TickBarrier
    admission: Admission = field(init=False)

    @property
    def declines(self) -> bool:
        """Whether a loop holds a decline policy the agents must ask about."""
        return bool(self.world.declines)


@dataclass(frozen=True)
class Members:
    """The agents of a run and the MLFO's rule for them, for an `Admission` of its own."""

    directory: tuple[str, ...]
    admits: Admits


@dataclass
class Driver:
    """The network and the step loops of one multi-process run, beside its MLFO
    (`secmas.pipeline.orchestrator`), which brings the agents up and keeps them honest."""

    scenario: Scenario
    scenario_file: Path
    bus: BusAccess
    ledger_url: str | None
    ledger_keys: tuple[str | None, str | None] | None
    """The MLFO's and SECaaS's keys on the ledger (None: the node's own accounts)."""
    raw: Bus
    workdir: Path
    steps: Told | None = None
    tamper: Mapping[str, float] = field(default_factory=dict)
    journal: Journal = field(default_factory=Journal)
    iml: IMLDriver | None = None
    """Where the agents run (default: `LocalProcesses` on this machine)."""
    ledger_ca: Path | None = None
    """The CA the ledger's HTTPS certificate chains to (None: plain HTTP or system CAs)."""
    ledger_token: str | None = field(default=None, repr=False)
    """The bearer token of the ledger the run serves, handed to the agents as a secret."""
    agent_bus: BusAddress | None = None
    """Where the agents reach the bus (None: where the MLFO does)."""
    agent_ledger: str | None = None
    """Where the agents reach the ledger (None: where the MLFO does)."""
    perceived: TickLatency | None = None
    """Measures how long each agent takes to perceive a tick (None: not measured)."""
    wrap_image: ImageWrap = secmas_image
    """What the agents run, wrapped (default: this machine's secmas package; agents in an
    OCI image: `secmas.deploy.imagewrap`)."""
    arrival: BringUp = field(default_factory=BringUp)
    """How long the agents may take to join and be ready (`secmas.pipeline.bringup`)."""
    killed: dict[str, float] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each live agent's final state, once collected."""
    step_walls: dict[float, float] = field(default_factory=dict)
    """Each tick's run time → Unix time it was taken (`runloop.run_steps`)."""
    name: str = field(init=False)
    mlfo: Orchestrator = field(init=False)
    _all_ready: asyncio.Event = field(default_factory=asyncio.Event)
    _platform: Path | None = None

    def __post_init__(self) -> None:
        self.name = pipeline_name(self.scenario.id)
        if self.iml is None:
            self.iml = LocalProcesses(self.workdir)
        assert self.scenario.traffic is not None
        self.mlfo = Orchestrator(
            self.name,
            self.scenario.security,
            self.raw,
            self.iml,
            self._launch,
            tuple(self.pops),
            ScaledClock(held=True),
            ledger_url=self.ledger_url,
            ledger_keys=self.ledger_keys,
            ledger_ca=self.ledger_ca,
            ledger_token=self.ledger_token,
            duration=self.scenario.traffic.duration,
            wrap_image=self.wrap_image,
            outside=self._outside,
            workflow=Workflow(self.steps),
            journal=self.journal,
            arrival=self.arrival,
            workdir=self.workdir,
            on_stopped=lambda _agent: self._check_ready(),
        )

    @property
    def pops(self) -> list[str]:
        return [p.id for p in self.scenario.pops]

    @property
    def workflow(self) -> Workflow:
        return self.mlfo.workflow

    # -- bring-up ----------------------------------------------------------------------------
    async def bring_up(self) -> None:
        """Steps 2–14 (the MLFO's), then every agent built and ready to perceive ticks."""
        await self.raw.subscribe(ready_subject(self.name, "*"), self._on_ready)
        address = (self.agent_bus or self.bus.address).redacted
        await self.mlfo.bring_up(self.bus.address.redacted, {"bus": address})
        stopped = self.mlfo.stopped
        await self.mlfo.wait(self._all_ready, "agents ready", lambda: self.ready | stopped.keys())

    async def _on_ready(self, subject: str, _data: bytes) -> None:
        self.ready.add(subject.rsplit(".", 1)[1])
        self._check_ready()

    def _check_ready(self) -> None:
        """Every agent is ready, but those stopped for good (revoked during bring-up)."""
        if self.ready | self.mlfo.stopped.keys() >= set(self.pops):
            self._all_ready.set()

    def _launch(self, pop: str, enrolment: Path | None) -> AgentLaunch:
        """Step 2: one `secmas agent` process per PoP, spread over a cluster's nodes;
        with the trust layer, it asks to join holding its credential."""
        security = self.scenario.security
        ledger = (self.agent_ledger or self.ledger_url) if security.enabled else None
        address = self.agent_bus or self.bus.address
        return AgentLaunch(
            pop,
            self.scenario_file,
            address.rotated(self.pops.index(pop) if pop in self.pops else 0),
            self.name,
            ledger,
            self.tamper.get(pop),
            bus_ca=self.bus.ca_file,
            bus_nkey=self.bus.nkey(pop),
            bus_auth=self.bus.address.userinfo,
            enrolment=enrolment,
            ledger_ca=self.ledger_ca,
            ledger_token=self.ledger_token if security.enabled else None,
            platform=self._hand_platform() if security.enabled else None,
        )

    def _hand_platform(self) -> Path | None:
        """The release's signed platform allow-list (`secmas.trust.sitelist`), for agents
        that run this host's install and may not read its release store (another user);
        none for a driver whose agents run files of their own (an image: theirs)."""
        if isinstance(self.iml, ChecksItsAgents):
            return None
        if self._platform is None:
            self._platform = self.workdir / "platform.json"
            self._platform.write_text(held().encode(), encoding="utf-8")
        return self._platform

    def _outside(self, image: WrappedImage) -> OutsideCheck | None:
        """The agents checked from outside: a driver whose agents run an image of their
        own checks them itself; remote hosts' measurers; else this host's measurer (own
        process, own key) measuring the agents' processes it knows."""
        if isinstance(self.iml, ChecksItsAgents):
            return self.iml.outside()
        deadlines = measurer_deadlines(self.scenario.security)
        if isinstance(self.iml, HostProcesses):
            remote = self.iml.measure_hosts(image.manifest, deadlines)
            if remote is not None:  # a measurer on each remote host, one here for the local
                return remote
        pids = self.iml.describe().get("pids")
        if not pids:
            return None
        secaas = Ed25519PrivateKey.generate()  # signs this host's platform reference
        host = ExternalAttestation.start(None, secaas, image.manifest, deadlines=deadlines)
        host.pids.update(pids)
        return host

    def discard_credentials(self) -> None:
        self.mlfo.discard_credentials()

    def stop_measurer(self) -> None:
        self.mlfo.stop_measurer()

    # -- operation ---------------------------------------------------------------------------
    async def operate(
        self,
        progress: Progress | None,
        kill: Mapping[str, Kill],
        network: SteppedNetwork,
        loops: Sequence[StepLoop] = (),
    ) -> None:
        """Serve `network`'s controller to the agents, start the shared clock and run the
        run loop to the network's end, one tick to every agent per step (`Ticks`)."""
        bus = self.mlfo.bus
        await network.begin()
        clock = network.clock
        assert isinstance(clock, ScaledClock)
        service = ControllerService(network.controller, bus, self.name)
        await service.start()
        await bus.subscribe(journal_subject(self.name), self._on_journal)
        beside = await self._attach(loops, network, clock) if loops else None
        if self.perceived is not None:
            await self.perceived.start(bus)
        start = {
            "origin": clock.origin,
            "speed": clock.speed,
            "declines": bool(beside and beside.declines),
            "barrier": beside is not None or self.perceived is not None,
        }
        await bus.publish(start_subject(self.name), json.dumps(start).encode())
        ticks = Ticks(self, dict(kill), beside, self._admission(beside, bus))
        if beside is not None:
            handles = [RemoteAgent(pop, bus, self.name, beside.tickets) for pop in self.pops]
            for loop in loops:
                await loop.start(handles)
        if self.mlfo.chain is not None:  # the agents beat from the start message on
            self.mlfo.watch_liveness(clock)
            self.mlfo.attest_in_background(clock, self.scenario.seed)
        try:
            await run_steps(network, ticks, loops, progress, walls=self.step_walls)
        finally:
            await self.mlfo.stop_background()
        await asyncio.sleep(0.5 / clock.speed + 0.2)  # the last tick's effects arrive
        await service.stop()
        if beside is not None:
            await beside.links.stop()

    def _admission(self, beside: Beside | None, bus: Bus) -> Admission | None:
        """What tells the agents whom the MLFO keeps out of auctions: the step loops' (whose
        rule narrows `_admits`), or one of its own (None without the trust layer)."""
        if beside is not None:
            return beside.admission
        if self.mlfo.chain is None:
            return None
        return Admission(Members(tuple(self.pops), self.mlfo.admits), bus, self.name)

    async def _attach(
        self, loops: Sequence[StepLoop], network: SteppedNetwork, clock: ScaledClock
    ) -> Beside:
        """The loops' world in this process (the network and its controller, a copy of
        the infrastructure the agents' link announcements keep in step, the journal the
        agents relay) and the bus services that carry what they need of the agents."""
        bus = self.mlfo.bus
        infra = Infrastructure.from_scenario(self.scenario)
        links = LinkSync(infra, bus, self.name, MLFO)
        await links.start()
        defence = self.scenario.defence
        world = World(
            scenario=self.scenario,
            infra=infra,
            plane=network.plane,
            controller=network.controller,
            bus=self.raw,  # the wire as the agents' frames cross it (taps see them sealed)
            clock=clock,
            journal=self.journal,
            settings=paced(
                AuctionSettings(serialised=bool(defence and defence.serialised)), clock.speed
            ),
            directory=tuple(self.pops),
            space=f"{SPACE}.{self.name}",
            admits=self.mlfo.admits if self.mlfo.chain is not None else None,
        )
        mlfo = self.mlfo if self.mlfo.chain is not None else None
        for loop in loops:
            loop.attach(world, (lambda: mlfo.entries) if mlfo else list, mlfo)
        beside = Beside(world, links, GoalTickets(bus, self.name), TickBarrier(bus, self.name))
        beside.admission = Admission(world, bus, self.name)
        await beside.tickets.start()
        await beside.barrier.start()
        if beside.declines:
            await DeclineService(world, bus, self.name).start()
        await beside.admission.publish()
        return beside

    async def _on_journal(self, _subject: str, data: bytes) -> None:
        try:
            apply_json(self.journal, json.loads(data))
        except ValueError as exc:
            logger.warning("dropped a journal event: %s", exc)

    async def collect(self) -> dict[str, dict[str, Any]]:
        """Each live agent's final state (its instances, capacity, channel counters)."""
        bus = self.mlfo.bus
        states: dict[str, dict[str, Any]] = {}
        for pop in self.pops:
            if pop in self.killed or pop in self.mlfo.stopped:
                continue
            try:
                answer = await bus.request(stop_subject(self.name, pop), b"{}", 10.0)
                states[pop] = json.loads(answer)
            except (TimeoutError, ValueError) as exc:
                logger.warning("no final state from %s: %s", pop, exc)
        return states

    def result(
        self, telemetry: list[Telemetry], now: float, started: float, loops: Sequence[StepLoop]
    ) -> OperateResult:
        """The run's result from the agents' final states (their instances, initial ones
        included, and capacity) and the network's telemetry up to `now`."""
        infra = Infrastructure.from_scenario(self.scenario)
        infra.instances.clear()  # the agents report every instance, initial ones included
        capacity = CapacityCheck(steps=len(telemetry))
        for pop, state in self.states.items():
            capacity.peak_use[pop] = float(state["peak_use"])
            capacity.violations.extend(state["violations"])
            for inst in state["instances"]:
                infra.adopt(pop, inst["vnf"], int(inst["units"]))
        trust = None
        if self.mlfo.chain is not None:
            killed = {p: {"killed_at": self.killed.get(p)} for p in self.pops}
            trust = self.mlfo.report(self.states, now, killed)
        return OperateResult(
            scenario=self.scenario,
            journal=self.journal,
            telemetry=telemetry,
            capacity=capacity,
            infra=infra,
            messages=bus_messages(self.raw.stats.messages_published, self.states.values()),
            wall_seconds=time.perf_counter() - started,
            trust=trust,
            workflow=self.workflow.to_json(),
            analytics=_merged([loop.report() for loop in loops]),
            step_walls=self.step_walls,
        )


@dataclass
class Ticks:
    """How a step reaches agent processes (`runloop.Perception`): a tick over the bus;
    the agents due to be killed then are; with step loops, a wait until every live agent
    reported it perceived the tick (at most `TICK_WAIT`). Once the loops looked, the agents
    hear whom the MLFO keeps out of auctions, if that changed."""

    driver: Driver
    kills: dict[str, Kill]
    beside: Beside | None
    admission: Admission | None

    async def perceive(self, now: float) -> None:
        driver = self.driver
        if driver.perceived is not None:
            driver.perceived.sent(now)
        tick = json.dumps({"now": now}).encode()
        await driver.mlfo.bus.publish(tick_subject(driver.name), tick)
        for pop, when in list(self.kills.items()):
            at = kill_due(pop, when, driver.journal.actions)
            if at is not None and now >= at:
                driver.iml.kill(pop)
                driver.killed[pop] = now
                del self.kills[pop]
        if self.beside is not None:
            dead = set(driver.iml.dead())
            live = [p for p in driver.pops if p not in driver.killed and p not in dead]
            late = await self.beside.barrier.wait(now, lambda: live, TICK_WAIT)
            if late:
                logger.warning("t=%gs: %s did not perceive the step in time", now, ", ".join(late))

    async def looked(self, now: float) -> None:
        if self.admission is not None:
            await self.admission.publish()


@dataclass(frozen=True)
class RunOptions:
    """What the caller asks of a multi-process run besides its scenario, handed down
    unchanged to the MLFO's part (`run_driver`) on either engine (`operate_processes`
    says what each means)."""

    progress: Progress | None = None
    steps: Told | None = None
    kill: Mapping[str, Kill] | None = None
    tamper: Mapping[str, float] | None = None
    loops: Sequence[StepLoop] = ()
    work: Sequence[AgentWork] = ()
    arrival: BringUp = field(default_factory=BringUp)


@dataclass(frozen=True)
class ControlAccess:
    """Where the run's clients reach its bus and ledger: the MLFO at `bus` and `ledger`,
    the agents at `agent_bus` and `agent_ledger` (None: where the MLFO does)."""

    bus: BusAccess
    ledger: str | None = None
    ledger_keys: tuple[str | None, str | None] | None = None
    """The MLFO's and SECaaS's keys on the ledger (None: the node's own accounts)."""
    ledger_ca: Path | None = None
    ledger_token: str | None = field(default=None, repr=False)
    """The bearer token of the ledger the run serves (None: an outside ledger's own way)."""
    agent_bus: BusAddress | None = None
    agent_ledger: str | None = None


def bus_messages(own: int, states: Iterable[Mapping[str, Any]]) -> int:
    """Every message published on the bus in a run: the MLFO's own (`own`) and what each
    agent process counted it published, its final answer included (the MLFO's alone were
    620 of at least 2 279). A killed agent's count is lost with it."""
    return own + sum(int(state.get("published", 0)) for state in states)


def _here(call: Callable[[], Any]) -> Any:
    return call()


@dataclass
class RunServers:
    """The bus and ledger a run starts for itself: a `nats-server` with TLS (a CA of the
    run's own, its certificate naming `addresses`) and an nkey per client, and, for the
    in-process EVM, the JSON-RPC ledger over HTTPS. `within` runs each server's start
    where it must listen (default: here; a namespace of the emulated network for agents
    in their PoPs). `stop` stops both and removes their private keys and seeds."""

    workdir: Path
    scenario: Scenario
    addresses: tuple[str, ...] = ("127.0.0.1", "localhost")
    bind: str = "127.0.0.1"
    within: Callable[[Callable[[], Any]], Any] = _here
    bus_server: NatsServer | None = None
    ledger_server: LedgerServer | None = None
    ledger_ca: Path | None = None
    """The CA of the ledger's certificate (its calls go over HTTPS)."""
    bus_folder: Path | None = None

    async def start_bus(self, port: int | None = None, monitor: bool = False) -> BusAccess:
        """The run's own server on `port` (free if None); its access without an address."""
        pops = [p.id for p in self.scenario.pops]
        self.bus_folder = self.workdir / BUS_FOLDER
        name = pipeline_name(self.scenario.id)
        run_bus = issue_run_bus(self.bus_folder, name, pops, self.addresses)
        server = NatsServer(
            port, host=self.bind, tls=run_bus.certificate, users=run_bus.users, monitor=monitor
        )
        self.bus_server = server
        await uninterrupted(lambda: self.within(server.start))  # a stop meanwhile: `stop` after
        return run_bus.access

    def start_ledger(self, port: int = 0) -> LedgerServer:
        """The in-process EVM served over HTTPS on `port` (free if 0)."""
        tls = issue_run_pki(self.workdir / LEDGER_FOLDER, ["ledger"], self.addresses)["ledger"]
        server = LedgerServer(self.bind, port, cert_file=tls.cert_file, key_file=tls.key_file)
        self.ledger_server, self.ledger_ca = server, tls.ca_file
        self.within(server.start)
        return server

    async def local(self, bus: BusAccess | None) -> ControlAccess:
        """The bus (`bus`, else the run's own server) and ledger on this machine's
        loopback, as every client reaches them."""
        if bus is None:
            bus = await self.start_bus()
            assert self.bus_server is not None
            bus = replace(bus, address=BusAddress.parse(self.bus_server.url))
        security = self.scenario.security
        if not security.enabled:
            return ControlAccess(bus)
        if security.ledger != "memory":  # its token, if it asks one, from the environment
            token = os.environ.get(LEDGER_TOKEN_ENV) or None
            return ControlAccess(bus, security.ledger, ledger_token=token)
        ledger = self.start_ledger()
        keys = (ledger.mlfo_key, ledger.secaas_key)
        return ControlAccess(bus, ledger.url, keys, self.ledger_ca, ledger.token)

    def stop(self) -> None:
        ledger, self.ledger_server = self.ledger_server, None
        if ledger is not None:
            ledger.stop()
            discard_secrets(self.workdir / LEDGER_FOLDER)
        server, self.bus_server = self.bus_server, None
        if server is not None:
            server.stop()
        if self.bus_folder is not None:
            discard_secrets(self.bus_folder)


async def run_driver(
    scenario: Scenario,
    scenario_file: Path,
    access: ControlAccess,
    workdir: Path,
    network: SteppedNetwork | None,
    options: RunOptions,
    *,
    iml: IMLDriver | None = None,
    perceived: TickLatency | None = None,
    wrap_image: ImageWrap = secmas_image,
) -> Driver:
    """The MLFO's part of a multi-process run over `access`: plan, bring-up, the agents'
    work, operation on `network` (None: the work only, no data plane), their final
    states, as `options` ask; the agents are stopped, the measurer too and untaken
    credentials removed, however it ends."""
    raw = await access.bus.connect(MLFO, name="secmas-mlfo")
    driver = Driver(
        scenario,
        scenario_file,
        access.bus,
        access.ledger,
        access.ledger_keys,
        raw,
        workdir,
        options.steps,
        tamper=dict(options.tamper or {}),
        iml=iml,
        ledger_ca=access.ledger_ca,
        ledger_token=access.ledger_token,
        agent_bus=access.agent_bus,
        agent_ledger=access.agent_ledger,
        perceived=perceived,
        wrap_image=wrap_image,
        arrival=options.arrival,
    )
    async with AsyncExitStack() as teardown:  # each runs, last first, if another fails
        teardown.push_async_callback(raw.close)
        teardown.callback(driver.discard_credentials)
        teardown.callback(driver.stop_measurer)
        teardown.callback(driver.iml.stop_all)
        vni = vni_of(driver.name, scenario.security)
        await plan_service(driver.workflow, scenario, driver.name, vni)
        await driver.bring_up()
        if options.work and driver.mlfo.chain is None:
            raise RunError("work for the attested agents needs the trust layer: it is off")
        await give_work(driver.mlfo.cohort, options.work)
        if network is not None:
            with long_lived():  # what the MLFO built lives for the run
                await driver.operate(options.progress, options.kill or {}, network, options.loops)
        driver.states = await driver.collect()
    return driver

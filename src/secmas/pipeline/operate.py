"""Agents in this process: one task per PoP over the in-memory bus, on either engine.

`operate` deploys them (the MLFO's plan; unless security is off, the trust layer's
bring-up, `secmas.pipeline.inprocess`) and runs the one run loop
(`secmas.pipeline.runloop`) with them: after each step every agent perceives it in turn
(`AgentsHere`). On the simulator's virtual clock a 240 s scenario runs in about a second,
the same way for a given seed; on an emulated network (`secmas.pipeline.emulated`) in
real time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.world import World
from secmas.agents.journal import Journal
from secmas.agents.nfva.settings import AuctionSettings
from secmas.agents.workload import add_synthetic_load
from secmas.ledger.keyfile import LEDGER_OWN, LedgerKeys
from secmas.network.dataplane import Telemetry
from secmas.network.infrastructure import Infrastructure
from secmas.pipeline.agentwatch import watch_agent
from secmas.pipeline.errors import RunError, check_runnable
from secmas.pipeline.heap import hold, long_lived, release
from secmas.pipeline.inprocess import InProcessAgents, bring_up
from secmas.pipeline.mlfo import pipeline_name, plan_service
from secmas.pipeline.orchestrator import vni_of
from secmas.pipeline.reputation import record_reputation
from secmas.pipeline.runloop import Progress, StepLoop, SteppedNetwork, run_steps
from secmas.pipeline.simulated import Simulator
from secmas.pipeline.tamper import infect_due
from secmas.pipeline.work import AgentWork, Cohort
from secmas.pipeline.workflow import Told, Workflow
from secmas.scenario.model import Scenario
from secmas.transport.memory import MemoryBus
from secmas.trust.image import RuntimeImage
from secmas.trust.vnfimages import image_refusal


@dataclass
class CapacityCheck:
    """PoP allocations checked after every step (they must never exceed capacity)."""

    steps: int = 0
    violations: list[str] = field(default_factory=list)
    peak_use: dict[str, float] = field(default_factory=dict)

    def check(self, now: float, infra: Infrastructure) -> None:
        """Record the step's allocation of every PoP and any excess."""
        self.steps += 1
        for pop, state in infra.pops.items():
            used = max(u / t for u, t in zip(state.used, state.total, strict=True))
            self.peak_use[pop] = max(self.peak_use.get(pop, 0.0), used)
            if used > 1.0 + 1e-9:
                self.violations.append(f"t={now:g}s {pop} at {used:.0%} of a resource")
        for link in infra.links:
            if link.reserved > link.bandwidth + 1e-9:
                self.violations.append(f"t={now:g}s link {link.a}–{link.b} over-reserved")

    @property
    def ok(self) -> bool:
        """No PoP and no link was ever allocated beyond capacity."""
        return not self.violations


@dataclass
class OperateResult:
    """Everything the operate phase produced, for the report."""

    scenario: Scenario
    journal: Journal
    telemetry: list[Telemetry]
    capacity: CapacityCheck
    infra: Infrastructure
    messages: int
    wall_seconds: float
    trust: dict[str, Any] | None = None
    """The trust layer's report (attestation records, keys, liveness); None when off."""
    workflow: list[dict[str, Any]] = field(default_factory=list)
    """The deployment steps as they ran (number, name, seconds, outcome, in/out)."""
    analytics: dict[str, Any] | None = None
    """The closed loops' report (alerts, decisions, detection quality); None when off."""
    reputation_ledger: dict[str, Any] | None = None
    """Where the promises judged in the run are recorded on the ledger
    (`secmas.pipeline.reputation`); None without the trust layer."""
    step_walls: dict[float, float] = field(default_factory=dict)
    """Each data-plane step's run time → Unix time it was taken (`runloop.run_steps`)."""


async def operate(
    scenario: Scenario,
    *,
    network: SteppedNetwork | None = None,
    settings: AuctionSettings | None = None,
    progress: Progress | None = None,
    until: float | None = None,
    steps: Told | None = None,
    loops: Sequence[StepLoop] = (),
    tamper: Mapping[str, float] | None = None,
    work: Sequence[AgentWork] = (),
    ledger_keys: LedgerKeys = LEDGER_OWN,
) -> OperateResult:
    """Run the scenario's traffic and attack with one agent per PoP on an in-memory bus,
    on `network` (default: the simulator on the virtual clock), to its end or to run time
    `until` if sooner.

    Unless the scenario turns security off, the agents are first wrapped, registered,
    attested and keyed (`secmas.pipeline.inprocess`), only attested agents take part in
    auctions, and mutual attestation goes on in the background. `steps` is told each bring-up step;
    `work` is given to the attested agents once they are keyed, before the loops attach
    (`secmas.pipeline.work`: federated training); `loops` run after every step (closed
    loops of `secmas.analytics`); `tamper` maps PoPs to the second of the run their agent
    object is patched in memory (`--tamper`); `ledger_keys` the MLFO's and SECaaS's
    ledger accounts (default the ledger's own).
    """
    check_runnable(scenario)
    started = time.perf_counter()
    network = network or Simulator(scenario)
    world = world_on(scenario, network, settings)
    clock, bus = world.clock, world.bus
    deployed = None
    walls: dict[float, float] = {}
    try:  # what went up is taken down, however the run ends
        deployed = await deploy(scenario, world, steps, loops, work, ledger_keys)
        secure = deployed.secure
        here = AgentsHere(deployed.agents, dict(tamper or {}), network, world.infra)
        with long_lived():  # the imports, the EVM and the agents live for the run
            await network.begin()
            await run_steps(network, here, loops, progress, until, walls)
            recorded = None
            if secure is not None:
                book = world.journal.reputation
                recorded = await clock.run_blocking(record_reputation, secure, book)
    finally:
        if deployed is not None:
            await take_down(deployed.agents, deployed.secure)
        await bus.close()
        await asyncio.sleep(0)
    return OperateResult(
        scenario=scenario,
        journal=world.journal,
        telemetry=network.telemetry(),
        capacity=here.capacity,
        infra=world.infra,
        messages=bus.stats.messages_published,
        wall_seconds=time.perf_counter() - started,
        trust=None if secure is None else secure.report(clock.now()),
        workflow=deployed.workflow.to_json(),
        analytics=_merged([loop.report() for loop in loops]),
        reputation_ledger=recorded,
        step_walls=walls,
    )


def world_on(
    scenario: Scenario, network: SteppedNetwork, settings: AuctionSettings | None
) -> World:
    """The world the agents of this process share on `network`: its controller and clock,
    an in-memory bus, one agent per PoP in the directory."""
    defence = scenario.defence
    return World(
        scenario=scenario,
        infra=Infrastructure.from_scenario(scenario),
        plane=network.plane,
        controller=network.controller,
        bus=MemoryBus(),
        clock=network.clock,
        journal=Journal(),
        settings=settings or AuctionSettings(serialised=bool(defence and defence.serialised)),
        directory=tuple(p.id for p in scenario.pops),
    )


@dataclass
class AgentsHere:
    """How a step reaches the agents of this process (`runloop.Perception`): each
    perceives it in turn (an agent due for `infections` patched just before); once the
    loops looked, the PoPs' allocations are checked against their capacity."""

    agents: Sequence[PoPAgent]
    infections: dict[str, float]
    network: SteppedNetwork
    infra: Infrastructure
    capacity: CapacityCheck = field(default_factory=CapacityCheck)

    async def perceive(self, now: float) -> None:
        for agent in self.agents:
            infect_due(self.infections, agent, now)
            await agent.observe()
        await self.network.quiet()

    async def looked(self, now: float) -> None:
        await self.network.quiet()
        self.capacity.check(now, self.infra)


@dataclass
class Deployed:
    """The agents of a run in this process, one per PoP, with the trust layer that let
    them in (None when security is off) and the deployment's steps as they ran."""

    agents: list[PoPAgent]
    secure: InProcessAgents | None
    workflow: Workflow


async def deploy(
    scenario: Scenario,
    world: World,
    steps: Told | None,
    loops: Sequence[StepLoop],
    work: Sequence[AgentWork] = (),
    ledger_keys: LedgerKeys = LEDGER_OWN,
) -> Deployed:
    """The MLFO's plan; unless security is off, the trust layer's bring-up (wrapped,
    registered, attested and keyed agents, measured by a measurer process of the run's
    own, mutual attestation in the background) and `work` for the attested agents; the
    loops attached; one agent per PoP started; the loops started. The same on either
    engine; if any of it fails (a loop may refuse the run), what went up is taken down."""
    flow = Workflow(steps)
    name = pipeline_name(scenario.id)
    await plan_service(flow, scenario, name, vni_of(name, scenario.security))
    secure = None
    running: list[PoPAgent] = []
    try:
        if scenario.security.enabled:
            hold()  # the imports live for the run: bring-up's collections skip them
            secure = await bring_up(
                name,
                world.directory,
                world.bus,
                world.clock,
                scenario.security,
                workflow=flow,
                journal=world.journal,
                measure_from_outside=True,  # a measurer process of the run's own
                keys=ledger_keys,
                duration=scenario.traffic.duration,
            )
            mlfo = secure.mlfo
            world.admits = mlfo.admits
            world.image_check = partial(image_refusal, secure.repository)  # an update's image
            await give_work(secure.cohort, work)
            mlfo.attest_in_background(world.clock, seed=scenario.seed)
        elif work:
            raise RunError("work for the attested agents needs the trust layer: security is off")
        mlfo = secure.mlfo if secure is not None else None
        for loop in loops:
            loop.attach(world, (lambda: mlfo.entries) if mlfo else list, mlfo)
        if mlfo is not None and world.admits == mlfo.admits:  # no loop's rule narrowed it
            world.admission_changes = mlfo.view.changed
        agents = await start_agents(scenario, world, secure, running)
        if scenario.load is not None:  # unrelated work on one agent (003 Figure 5.5)
            add_synthetic_load(scenario.load, agents, world)
        for loop in loops:
            await loop.start(agents)
    except BaseException:
        await take_down(running, secure)
        release()
        raise
    hold()  # the agents as deployed live for the run
    return Deployed(agents, secure, flow)


async def give_work(cohort: Callable[[], Awaitable[Cohort]], work: Sequence[AgentWork]) -> None:
    """The run's work, in order, for the cohort of attested agents (made when there is some)."""
    if not work:
        return
    agents = await cohort()
    for job in work:
        await job.run(agents)


async def start_agents(
    scenario: Scenario, world: World, secure: InProcessAgents | None, running: list[PoPAgent]
) -> list[PoPAgent]:
    """One agent per PoP, on its channel of the trust layer when there is one (whose
    attesters then measure the agents' objects too); each joins `running` once started,
    so that a run failing midway stops those (`take_down`)."""
    agents = [
        PoPAgent(pop, world, seed=scenario.seed, bus=secure.bus_for(pop) if secure else None)
        for pop in world.directory
    ]
    if secure is not None:
        _watch_agents(secure, agents)
    for agent in agents:
        await agent.start()
        running.append(agent)
    return agents


async def take_down(agents: Sequence[PoPAgent], secure: InProcessAgents | None) -> None:
    """Stop the agents that started, then the trust layer (its attesters, its measurer
    process, the agents' funds back): at a run's end, or when it fails midway."""
    for agent in agents:
        await agent.stop()
    if secure is not None:
        await secure.close()


def _watch_agents(secure: InProcessAgents, agents: Sequence[PoPAgent]) -> None:
    """Each agent's attester also measures its own agent object and its parts
    (`secmas.pipeline.agentwatch`). A revoked agent is stopped (`InProcessAgents.halts`)."""
    for agent in agents:
        secure.halts[agent.pop] = agent.revoke
        runtime = secure.image(agent.pop).runtime
        if isinstance(runtime, RuntimeImage):
            own = replace(runtime, watched=[])
            member = secure.members[agent.pop]
            watch_agent(own, agent, member)
            member.image = own


def _merged(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The loops' reports as one section (None without loops)."""
    if not reports:
        return None
    merged: dict[str, Any] = {}
    for report in reports:
        merged.update(report)
    return merged

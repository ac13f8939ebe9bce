"""The operate phase on the emulated data plane: the same agents, in real time.

The scenario becomes a real network (`secmas.network.emulation`); the agents come up as
in `operate` (the MLFO's plan, the trust layer, the in-memory bus and its secure channel,
the closed loops), with an `EmulatedController` instead of the simulator's, while the
run's clock holds at 0 as the virtual clock does; then the HTTP server (a real nginx as
the CNF a closed loop watches, `network.emulation.cnfservice`) and the clients start at
t = 0, the network is sampled every `traffic.step` wall seconds from then on and the
agents perceive every step; the attack starts and stops at its times. However slow the
bring-up (a busy machine), the scenario's time is the agents' whole. A
VNF's download still takes the bid's T, now in wall seconds. As on the simulator, a
measurer process of the run's own measures this process, each attester its own agent
object, and `--tamper` patches an agent in memory at its second of the run. Whatever
happens — the run ends, fails, is interrupted or terminated — the network is taken down.

With a `HiddenAttacker` the scenario's attack and incidents do not run: an attacker
process of its own (`network.emulation.attacker_process`) attacks the CNF on a schedule it
draws from its seed, which nothing in this process holds; once the run is over it is
stopped, and the closed loop's alerts and mitigations are scored against what it did
(`realcnf.score_against`, issue 39 item 1).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from secmas.agents.auction import AuctionSettings
from secmas.agents.ddos.agent import World
from secmas.agents.journal import Journal
from secmas.interrupt import terminate_as_interrupt
from secmas.network.clock import WallClock
from secmas.network.emulation.attacker_process import AttackerProcess, HiddenAttacker
from secmas.network.emulation.cnfservice import RUNS_INSIDE
from secmas.network.emulation.controller import EmulatedController
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import EmulationPlan, emulation_plan
from secmas.network.emulation.workload import Request, Workload, served_cnf
from secmas.network.infrastructure import Infrastructure
from secmas.pipeline.errors import RunError, check_runnable
from secmas.pipeline.heap import release
from secmas.pipeline.operate import (
    CapacityCheck,
    Deployed,
    OperateResult,
    Progress,
    StepLoop,
    _merged,
    deploy,
    take_down,
)
from secmas.pipeline.realcnf import score_against
from secmas.pipeline.tamper import infect_due
from secmas.pipeline.workflow import Told
from secmas.scenario.model import Attack, Scenario
from secmas.transport.memory import MemoryBus


@dataclass
class EmulatedResult(OperateResult):
    """An operate result whose telemetry came from a real network's counters."""

    engine: str = "emulated"
    emulation: dict[str, Any] = field(default_factory=dict)
    """What was built and the real counters (see `emulation_report`)."""


@dataclass(frozen=True)
class RequestWindow:
    """Legitimate requests started in one phase of the run and how many succeeded."""

    phase: str
    start: float
    end: float
    requests: int
    succeeded: int
    bytes_per_second: float

    @property
    def success(self) -> float | None:
        return self.succeeded / self.requests if self.requests else None


def request_windows(
    requests: Sequence[Request], origin: float, attack: tuple[float, float] | None, end: float
) -> list[RequestWindow]:
    """Requests before the attack, during it, and in the run's last 20 s (`origin` is the
    Unix time of run time 0; a request counts in the window it started in)."""
    tail = max(0.0, end - 20.0)
    if attack is None:
        phases = [("whole run", 0.0, end), ("end window", tail, end)]
    else:
        phases = [
            ("before attack", 0.0, attack[0]),
            ("during attack", attack[0], min(attack[1], end)),
            ("end window", tail, end),
        ]
    windows = []
    for phase, start, stop in phases:
        chosen = [r for r in requests if start <= r.t - origin < stop]
        seconds = max(stop - start, 1e-9)
        windows.append(
            RequestWindow(
                phase,
                start,
                stop,
                len(chosen),
                sum(r.ok for r in chosen),
                sum(r.bytes for r in chosen if r.ok) / seconds,
            )
        )
    return windows


def emulation_report(
    plan: EmulationPlan,
    controller: EmulatedController,
    windows: list[RequestWindow],
    build_seconds: float,
) -> dict[str, Any]:
    """report.json's `emulation` section: what was built and the real counters."""
    return {
        "prefix": plan.prefix,
        "scale": plan.scale,
        "namespaces": len(plan.namespaces),
        "routers": len(plan.routers),
        "bridges": len(plan.bridges),
        "links": len(plan.links),
        "client_addresses": sum(len(g.clients) for g in plan.groups),
        "attacker_addresses": len(plan.attack_sources),
        "build_seconds": build_seconds,
        "requests": [asdict(w) | {"success": w.success} for w in windows],
        "server_packets": [asdict(s) for s in controller.server],
    }


async def operate_emulated(
    scenario: Scenario,
    *,
    settings: AuctionSettings | None = None,
    progress: Progress | None = None,
    until: float | None = None,
    steps: Told | None = None,
    loops: Sequence[StepLoop] = (),
    workdir: Path | None = None,
    tamper: Mapping[str, float] | None = None,
    attacker: HiddenAttacker | None = None,
) -> EmulatedResult:
    """Run the scenario on a real emulated network with one agent per PoP (`tamper`: PoPs
    whose agent object is patched in memory at that second of the run, as `operate`;
    `attacker`: the attacks come from it, not from the scenario, module docstring).

    Raises `EmulationUnavailable` when the machine cannot build it, `PlanError` when the
    scenario cannot be emulated, `RunError` when it cannot run at all.
    """
    check_runnable(scenario)
    started = time.perf_counter()
    plan = emulation_plan(scenario)
    assert scenario.traffic is not None and scenario.defence is not None
    step = scenario.traffic.step
    duration = min(until, scenario.traffic.duration) if until else scenario.traffic.duration
    folder = workdir or Path(tempfile.mkdtemp(prefix="secmas-emulated-"))
    network = EmulatedNetwork(plan)
    with terminate_as_interrupt():
        network.start()
        try:
            build_seconds = time.perf_counter() - started
            cnf = served_cnf(scenario)
            incidents = scenario.incidents if attacker is None else ()
            workload = Workload(network, folder, step, scenario.seed, cnf, incidents)
            hidden = None if attacker is None else _Hidden(attacker, folder, duration)
            try:
                result, controller, origin = await _operate(
                    scenario,
                    network,
                    workload,
                    settings,
                    progress,
                    steps,
                    loops,
                    duration,
                    dict(tamper or {}),
                    hidden,
                )
            finally:
                if hidden is not None:
                    hidden.stop()
                workload.stop()
            attack = None if attacker is not None else scenario.attack
            window = None if attack is None else (attack.start, attack.stop or duration)
            windows = request_windows(workload.requests(), origin, window, duration)
        finally:
            network.stop()
    result.emulation = emulation_report(plan, controller, windows, build_seconds)
    if hidden is not None:
        episodes = hidden.done()
        result.emulation["attacker"] = {"seed": hidden.attacker.seed, "episodes": episodes}
    else:
        episodes = scenario_episodes(scenario, duration)
    if result.analytics is not None and "real_cnf" in result.analytics:
        result.analytics |= score_against(result.analytics, episodes, step)
    result.wall_seconds = time.perf_counter() - started
    return result


def scenario_episodes(scenario: Scenario, end: float) -> list[dict[str, object]]:
    """What the scenario's timeline ran (without a hidden attacker): its attack and the
    incidents inside its CNF, as an attacker's episodes, to score the loop after the run."""
    found: list[dict[str, object]] = []
    if scenario.attack is not None:
        attack = scenario.attack
        found.append({"kind": attack.kind, "start": attack.start, "stop": attack.stop or end})
    found += [
        {"kind": i.kind, "start": i.start, "stop": i.stop or end}
        for i in scenario.incidents
        if i.kind in RUNS_INSIDE
    ]
    return found


@dataclass
class _Hidden:
    """The run's hidden attacker: launched once the CNF serves, stopped whatever happens."""

    attacker: HiddenAttacker
    folder: Path
    end: float
    process: AttackerProcess | None = None
    episodes: list[dict[str, object]] | None = None
    problem: str = "the run ended before the hidden attacker started"

    def launch(self, network: EmulatedNetwork, workload: Workload, origin: float) -> None:
        cnf = workload.cnf
        if cnf is None or cnf.group is None:
            raise RunError("the hidden attacker needs the run's real CNF")
        where = self.attacker.places(network, str(cnf.group.path), cnf.ports[0], origin, self.end)
        self.process = self.attacker.launch(where, self.folder / "attacker")
        network.record(self.process.process.pid)  # killed with the run's record if it dies

    def stop(self) -> None:
        """Stop it, if it runs, and keep what it did (never raises: the run's own error,
        if any, comes first)."""
        if self.process is None:
            return
        try:
            self.episodes = self.process.stop()
        except ValueError as exc:
            self.problem = str(exc)

    def done(self) -> list[dict[str, object]]:
        """What it did (RunError when it said nothing)."""
        if self.episodes is None:
            raise RunError(self.problem)
        return self.episodes


def follow_attack(attack: Attack | None, workload: Workload, now: float) -> None:
    """Start the scenario's attack once run time `now` reaches its start, and stop it at
    its stop (if it has one)."""
    if attack is None:
        return
    stopped = attack.stop is not None and now >= attack.stop
    if not workload.attacking and attack.start <= now and not stopped:
        workload.start_attack()
    elif workload.attacking and stopped:
        workload.stop_attack()


async def _operate(
    scenario: Scenario,
    network: EmulatedNetwork,
    workload: Workload,
    settings: AuctionSettings | None,
    progress: Progress | None,
    steps: Told | None,
    loops: Sequence[StepLoop],
    duration: float,
    infections: dict[str, float],
    hidden: _Hidden | None = None,
) -> tuple[EmulatedResult, EmulatedController, float]:
    """Deploy the agents with the clock held at 0; then start the traffic and sample the
    network every step from t = 0 (the counters' history starts with the traffic), the
    agents perceiving every step (an agent due for `infections` is patched just before)."""
    defence = scenario.defence
    assert defence is not None and scenario.traffic is not None
    step = scenario.traffic.step
    clock = WallClock(held=True)
    controller = EmulatedController(network, clock, step, workload.cnfs)
    controller.watch(*defence.monitor.link)
    bus = MemoryBus()
    world = World(
        scenario=scenario,
        infra=Infrastructure.from_scenario(scenario),
        plane=None,
        controller=controller,
        bus=bus,
        clock=clock,
        journal=Journal(),
        settings=settings or AuctionSettings(serialised=defence.serialised),
        directory=tuple(p.id for p in scenario.pops),
    )
    deployed: Deployed | None = None
    capacity = CapacityCheck()
    try:
        deployed = await deploy(scenario, world, steps, loops)  # taken down if it fails
        workload.start_service()
        clock.begin()
        origin = time.time()
        if hidden is not None:
            hidden.launch(network, workload, origin)
        await controller.sample()
        boundary = step
        while boundary <= duration + 1e-9:
            await asyncio.sleep(max(0.0, boundary - clock.now()))
            await controller.sample()
            now = clock.now()
            follow_attack(None if hidden else scenario.attack, workload, now)
            for agent in deployed.agents:
                infect_due(infections, agent, now)
                await agent.observe()
            for loop in loops:
                await loop.after_step(now)
            capacity.check(now, world.infra)
            if progress is not None:
                progress(min(now, duration), duration)
            boundary = (int(now / step) + 1) * step
    finally:
        release()
        if deployed is not None:
            await take_down(deployed.agents, deployed.secure)
        await bus.close()
        await asyncio.sleep(0)
    secure = deployed.secure
    result = EmulatedResult(
        scenario=scenario,
        journal=world.journal,
        telemetry=list(controller.telemetry),
        capacity=capacity,
        infra=world.infra,
        messages=bus.stats.messages_published,
        wall_seconds=0.0,
        trust=None if secure is None else secure.report(clock.now()),
        workflow=deployed.workflow.to_json(),
        analytics=_merged([loop.report() for loop in loops]),
    )
    return result, controller, origin

"""The emulated data plane as the run loop's engine: a real network, in real time.

The scenario becomes a real network (`secmas.network.emulation`, `emulated_run`), with a
control host when the agents run inside their PoPs. `EmulatedSteps` is the engine the run
loop (`secmas.pipeline.runloop`) steps, wherever the agents are: the run's clock holds at
0 while they come up, as the virtual clock does; then the HTTP server (a real nginx as
the CNF a closed loop watches, `network.emulation.cnfservice`) and the clients start at
t = 0, the network is sampled every `traffic.step` wall seconds from then on and the
agents perceive every step; the attack starts and stops at its times. However slow the
bring-up (a busy machine), the scenario's time is the agents' whole. A VNF's download
still takes the bid's T, now in wall seconds. Whatever happens — the run ends, fails, is
interrupted or terminated — the network is taken down.

With a `HiddenAttacker` the scenario's attack and incidents do not run: an attacker
process of its own (`network.emulation.attacker_process`) attacks the CNF on a schedule it
draws from its seed, which nothing in this process holds; once the run is over it is
stopped, and the closed loop's alerts and mitigations are scored against what it did
(`realcnf.score_against`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from secmas.agents.nfva.settings import AuctionSettings
from secmas.deploy.image import ImageError
from secmas.deploy.podman import PodmanError
from secmas.deploy.podman import available as podman_available
from secmas.deploy.vnfimages import VNFRegistry, layer_bytes, prepare_registry
from secmas.deploy.vnfworkloads import VNFWorkloads
from secmas.interrupt import terminate_as_interrupt
from secmas.network.clock import ScaledClock
from secmas.network.dataplane import Telemetry
from secmas.network.emulation.attacker_process import AttackerProcess, HiddenAttacker
from secmas.network.emulation.controller import EmulatedController
from secmas.network.emulation.errors import VNFFailed
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import EmulationPlan, emulation_plan
from secmas.network.emulation.workload import Request, Workload, served_cnf
from secmas.network.incident import inside_kinds
from secmas.network.infrastructure import Infrastructure
from secmas.pipeline.errors import RunError, check_runnable
from secmas.pipeline.operate import OperateResult, operate
from secmas.pipeline.runloop import Progress, StepLoop
from secmas.pipeline.workflow import Told
from secmas.scenario.model import Attack, Scenario

logger = logging.getLogger(__name__)

CONNECTION_FIELDS = ("ip", "port", "in_msgs", "out_msgs", "in_bytes", "out_bytes")
"""What the report keeps of the bus server's view of a client's connection."""


@dataclass
class EmulatedResult(OperateResult):
    """An operate result whose telemetry came from a real network's counters."""

    engine: str = "emulated"
    emulation: dict[str, Any] = field(default_factory=dict)
    """What was built and the real counters (see `emulation_report`)."""

    @property
    def hidden_attacks(self) -> list[tuple[float, float]] | None:
        """The (start, stop) run seconds of the network attacks a hidden attacker ran, from
        its own record after the run (None: the run had no hidden attacker). Its attacks
        inside the CNF load no link and offer no attack traffic."""
        attacker = self.emulation.get("attacker")
        if attacker is None:
            return None
        inside = inside_kinds()
        return [
            (float(e["start"]), float(e["stop"]))
            for e in attacker["episodes"]
            if e["kind"] not in inside
        ]


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
    network: EmulatedNetwork,
    controller: EmulatedController,
    windows: list[RequestWindow],
    build_seconds: float,
    vnfs: VNFReport,
) -> dict[str, Any]:
    """report.json's `emulation` section: what was built (its links' latency emulated or
    not), the VNF instances as they ran, and the real counters."""
    plan = network.plan
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
        "link_latency": network.latency.describe(),
        "vnf_instances": vnfs.rows,
        "vnf_workloads": vnfs.said,
        "requests": [asdict(w) | {"success": w.success} for w in windows],
        "server_packets": [asdict(s) for s in controller.server],
    }


async def operate_emulated(
    scenario: Scenario,
    *,
    settings: AuctionSettings | None = None,
    progress: Progress | None = None,
    steps: Told | None = None,
    loops: Sequence[StepLoop] = (),
    workdir: Path | None = None,
    tamper: Mapping[str, float] | None = None,
    attacker: HiddenAttacker | None = None,
) -> EmulatedResult:
    """Run the scenario on a real emulated network with one agent per PoP in this process
    (`operate` on `EmulatedSteps`; `tamper`: PoPs whose agent object is patched in memory
    at that second of the run; `attacker`: the attacks come from it, not from the
    scenario, module docstring).

    Raises `EmulationUnavailable` when the machine cannot build it, `PlanError` when the
    scenario cannot be emulated, `RunError` when it cannot run at all.
    """
    check_runnable(scenario)
    started = time.perf_counter()
    folder = workdir or Path(tempfile.mkdtemp(prefix="secmas-emulated-"))
    async with emulated_run(scenario, folder, attacker=attacker) as run:
        operated = await operate(
            scenario,
            network=run.steps,
            settings=settings,
            progress=progress,
            steps=steps,
            loops=loops,
            tamper=tamper,
        )
    return run.result(operated, started)


@dataclass
class BusClients:
    """The run's clients as the bus server sees them (its `/connz` monitoring page)."""

    url: str
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Client name → where it connected from, its messages and bytes (as last read: a
    client gone since keeps what was read before)."""

    def look(self) -> None:
        """Read the server's connections now (a failed read changes nothing)."""
        try:
            with urllib.request.urlopen(f"{self.url}/connz", timeout=2.0) as page:
                connections = json.load(page).get("connections") or []
        except (OSError, ValueError):
            return
        for entry in connections:
            name = str(entry.get("name", ""))
            self.seen[name] = {key: entry.get(key) for key in CONNECTION_FIELDS}


@dataclass
class EmulatedSteps:
    """The emulated network as the run loop steps it (`runloop.SteppedNetwork`): the clock
    held at 0 while the agents come up; run time 0 when the service starts; a sample of
    the real counters every step on the wall clock; the scenario's attack started and
    stopped at its times (none with a hidden attacker, launched at time 0 instead).
    `clients`: the bus server's view of the agent processes, read at the start and end."""

    scenario: Scenario
    network: EmulatedNetwork
    workload: Workload
    hidden: _Hidden | None = None
    clients: BusClients | None = None
    clock: ScaledClock = field(default_factory=lambda: ScaledClock(1.0, held=True))
    controller: EmulatedController = field(init=False)
    plane: None = None

    def __post_init__(self) -> None:
        defence, traffic = self.scenario.defence, self.scenario.traffic
        assert defence is not None and traffic is not None
        self.controller = EmulatedController(
            self.network, self.clock, traffic.step, self.workload.cnfs
        )
        self.controller.watch(*defence.monitor.link)

    @property
    def duration(self) -> float:
        assert self.scenario.traffic is not None
        return self.scenario.traffic.duration

    async def begin(self) -> None:
        if self.clients is not None:
            await asyncio.to_thread(self.clients.look)  # every agent is connected by now
        self.workload.start_service()
        self.clock.begin()
        if self.hidden is not None:
            self.hidden.launch(self.network, self.workload, self.clock.origin)
        await self.controller.sample()

    async def step(self) -> float:
        assert self.scenario.traffic is not None
        step = self.scenario.traffic.step
        boundary = (int(self.clock.now() / step) + 1) * step
        await asyncio.sleep(max(0.0, boundary - self.clock.now()))
        await self.controller.sample()
        now = self.clock.now()
        follow_attack(None if self.hidden else self.scenario.attack, self.workload, now)
        if self.clients is not None and now >= self.duration - 1e-9:
            await asyncio.to_thread(self.clients.look)  # the agents' traffic, whole run
        return now

    async def quiet(self) -> None:
        await asyncio.sleep(0)

    def telemetry(self) -> list[Telemetry]:
        return list(self.controller.telemetry)


@dataclass
class VNFReport:
    """How the run's VNF instances ran: as workloads (a row each) or modelled (why)."""

    said: str
    rows: list[dict[str, object]] = field(default_factory=list)


@dataclass
class EmulatedRun:
    """A run's emulated network, its workload and the engine stepping it; once the run is
    over, the legitimate requests' windows (`request_windows`) and its VNF instances."""

    scenario: Scenario
    plan: EmulationPlan
    network: EmulatedNetwork
    workload: Workload
    steps: EmulatedSteps
    build_seconds: float
    windows: list[RequestWindow] = field(default_factory=list)
    vnfs: VNFReport = field(default_factory=lambda: VNFReport(""))

    def result(self, operated: OperateResult, started: float) -> EmulatedResult:
        """`operated` with the emulation's report; the closed loop on a real CNF scored
        against what the attacker (or the scenario's timeline) did."""
        result = EmulatedResult(
            **{f.name: getattr(operated, f.name) for f in fields(OperateResult)}
        )
        controller, hidden = self.steps.controller, self.steps.hidden
        result.emulation = emulation_report(
            self.network, controller, self.windows, self.build_seconds, self.vnfs
        )
        if hidden is not None:
            episodes = hidden.done()
            result.emulation["attacker"] = {"seed": hidden.attacker.seed, "episodes": episodes}
        else:
            episodes = scenario_episodes(self.scenario, self.steps.duration)
        if result.analytics is not None and "real_cnf" in result.analytics:
            # only a real CNF's loop (its detectors need the `ml` extra) is scored here
            from secmas.pipeline.realcnf import score_against

            step = self.steps.controller.step_seconds
            result.analytics |= score_against(result.analytics, episodes, step)
        result.wall_seconds = time.perf_counter() - started
        return result


@asynccontextmanager
async def emulated_run(
    scenario: Scenario,
    folder: Path,
    *,
    control: bool = False,
    attacker: HiddenAttacker | None = None,
) -> AsyncIterator[EmulatedRun]:
    """The scenario's real network (with a control host for agents in their PoPs,
    `control`), built and, whatever happens (the run ends, fails, is interrupted or
    terminated), taken down; the workload's clients and the hidden attacker stopped first."""
    started = time.perf_counter()
    plan = emulation_plan(scenario, control=control)
    assert scenario.traffic is not None
    duration = scenario.traffic.duration
    network = EmulatedNetwork(plan)
    with terminate_as_interrupt():
        registry = await asyncio.to_thread(vnf_registry, scenario)
        network.start()
        try:
            built = time.perf_counter() - started
            cnf = served_cnf(scenario)
            incidents = scenario.incidents if attacker is None else ()
            workload = Workload(
                network, folder, scenario.traffic.step, scenario.seed, cnf, incidents
            )
            hidden = None if attacker is None else _Hidden(attacker, folder, duration)
            steps = EmulatedSteps(scenario, network, workload, hidden)
            run = EmulatedRun(scenario, plan, network, workload, steps, built)
            vnfs = await asyncio.to_thread(start_vnfs, registry, run, folder / "vnfs")
            try:
                yield run
            finally:
                if hidden is not None:
                    hidden.stop()
                if vnfs is not None:
                    run.vnfs.rows = vnfs.close()
                workload.stop()
            attack = None if attacker is not None else scenario.attack
            window = None if attack is None else (attack.start, attack.stop or duration)
            run.windows = request_windows(workload.requests(), steps.clock.origin, window, duration)
        finally:
            network.stop()


def vnf_registry(scenario: Scenario) -> VNFRegistry | str:
    """The registry folder with an image of each VNF of the catalogue, sized for the run's
    scale (made on first use: `secmas.deploy.vnfimages`); or why the VNFs are modelled."""
    if not podman_available():
        return "podman is not installed (./scripts/setup --emulated installs it)"
    scale = scenario.network.scale
    sizes = {vnf.id: layer_bytes(vnf.image_size, scale) for vnf in scenario.vnfs}
    try:
        return prepare_registry(sizes, lambda line: logger.info("%s", line))
    except (ImageError, PodmanError, OSError) as exc:
        return f"the VNF images could not be made: {exc}"


def start_vnfs(registry: VNFRegistry | str, run: EmulatedRun, folder: Path) -> VNFWorkloads | None:
    """The run's VNF workloads, serving from the repository's PoP and handed to the
    controller; None (the reason in the run's report) where the VNFs stay modelled."""
    repository = run.scenario.repository.attach
    if isinstance(registry, str):
        run.vnfs.said = f"VNF instances modelled (rules only, downloads take T): {registry}"
        return None
    vnfs = VNFWorkloads(run.network, registry, repository, folder, run.steps.clock.now)
    try:
        vnfs.start()
    except VNFFailed as exc:
        vnfs.close()
        run.vnfs.said = f"VNF instances modelled (rules only, downloads take T): {exc}"
        return None
    try:  # the scenario's own placements run from the start, pulled at bring-up
        for instance in Infrastructure.from_scenario(run.scenario).instances.values():
            vnfs.run(instance.id, instance.pop, instance.vnf)
    except VNFFailed:
        vnfs.close()
        raise
    run.steps.controller.vnfs = vnfs
    run.vnfs.said = (
        f"VNF instances run as containers in their PoPs, images pulled from the registry in "
        f"{repository} over the emulated links"
    )
    return vnfs


def scenario_episodes(scenario: Scenario, end: float) -> list[dict[str, object]]:
    """What the scenario's timeline ran (without a hidden attacker): its attack and the
    incidents inside its CNF, as an attacker's episodes, to score the loop after the run."""
    found: list[dict[str, object]] = []
    if scenario.attack is not None:
        attack = scenario.attack
        found.append({"kind": attack.kind, "start": attack.start, "stop": attack.stop or end})
    inside = inside_kinds()
    found += [
        {"kind": i.kind, "start": i.start, "stop": i.stop or end}
        for i in scenario.incidents
        if i.kind in inside
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

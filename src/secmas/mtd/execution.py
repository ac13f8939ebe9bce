"""Moving target defence in a run (004_… Section 2.2, "execution"): the planner's
migrations become goals for the agents, and the plan follows the world.

At the start the scenario's `mtd` section is planned (`secmas.mtd.planner.plan`: the
MOMDP's course within each unit's quota, a service's members timed to arrive together).
The plan's inputs, and where they come from:

* vulnerabilities: the CTI the run's subscriber received, matched on the CPEs each CNF
  runs (`secmas.mtd.exposure`); the scenario's typed list only without a `cti` section;
* exposure: the seconds the CNF has spent on its current PoP (`Residence`), so a CNF back
  on a PoP it ran on resumes there with the attacker's progress, not at 0;
* migration path: the widest path from the CNF's PoP to a PoP that may host it (not the
  CNF's own, not one CTI excludes), over the links' unreserved bandwidth;
* load: the scenario's `load` until the CNF has been measured on the data plane, then its
  mean over the last decision step (CPU share of its cores, resident MB, disk writes and
  its traffic, MB/s);
* cost (004_… Section 2.2, `secmas.mtd.cost`): β + α1·cpu + α2·ram + α3·storage $/h with
  the CNF's `cores` and the target's `memory_gb` and `storage_gb`, held twice for the
  migration's total time. A CNF below the regression's range (a negative price) is refused
  rather than priced at 0.

`lead` seconds before a migration is to start, the agent of the PoP the CNF runs on is
handed the goal cnfMoved(cnf, k). Its payload predicts the move on the path to every PoP
that may take it (`destinations`: the migration model on that path's bandwidth, and the
start that makes the service's members arrive together, on the slowest path any of them
may take); a PoP without a path, whose path would take more downtime than the CNF's budget
has left, or where the attacker's progress would leave the ASP no lower than staying,
declines, as does the PoP the CNF leaves. The winner starts the migration at its own
destination's time with its own path's transfer and downtime, and that path's prediction
is what the move is charged (`predicted_*`; what the plan assumed stays in `planned_*`).

A planned move that would arrive after the run's end (its start plus its predicted total
time) is not queued: posted, it would hold its budget and an auction for nothing, and on the
emulated engine its real migration would be cut off when the run stops.

The plan is made again, from the current state over the rest of the run, when the world
changes: a move's auction fails (every PoP refused it), the path a CNF's next move would
take changes or disappears, or a move arrives (new PoP, new exposure, budget spent).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from secmas.agents.bdi import Belief, Goal, GoalKind, GoalStatus
from secmas.agents.bidding import GoalRequest
from secmas.mtd.attack import AttackModel, Vulnerability
from secmas.mtd.cost import migration_cost, resource_cost
from secmas.mtd.exposure import CTIFinding, Residence, cnf_vulnerabilities
from secmas.mtd.migration import Load, Method
from secmas.mtd.planner import (
    SLA,
    AnalyticPredictor,
    CNFProfile,
    Horizon,
    Plan,
    Predictor,
    Selector,
    plan,
)
from secmas.mtd.strategy import Weights
from secmas.mtd.timing import LoadForecast, quietest_start
from secmas.network.dataplane.cnf import METRICS
from secmas.network.infrastructure import Infrastructure
from secmas.network.paths import widest_path
from secmas.scenario.adaptive import MovingTarget, MovingTargetDefence
from secmas.scenario.model import CNF, MOVE_GOAL, Scenario

if TYPE_CHECKING:
    from secmas.agents.ddos.world import World
    from secmas.agents.handle import AgentHandle, GoalTicket

MOVE_PRIORITY = 3.0
"""Deliberation priority of a proactive move: after protecting (10) and diagnosing (5)."""

PATH_TOLERANCE = 1e-6
"""Relative change of a path's bandwidth that counts as the path changing."""


@dataclass
class Move:
    """One planned move and what became of it (a `mtd.moves[]` record of the report)."""

    k: int
    cnf: str
    method: str
    planned_at: float
    """When the migration is to start (a service's members: so that they arrive together)."""
    planned_total_s: float
    planned_downtime_s: float
    planned_bandwidth_mbps: float
    """What the plan assumed: the widest path to a PoP that may host the CNF."""
    predicted_total_s: float
    predicted_downtime_s: float
    """The migration model on the path to the destination the auction chose (what the move
    is charged); the plan's figures until the move arrives."""
    bandwidth_mbps: float | None = None
    path: list[str] = field(default_factory=list)
    load: dict[str, float] | None = None
    """The CNF's load the predictions took (measured when posted)."""
    predicted_traffic_mbps: float | None = None
    """The traffic peak the forecast expected when the move was posted (the bid is sized
    for it); None without a forecast."""
    traffic_while_moving_mbps: float | None = None
    """The CNF's mean measured traffic from the migration's start to its arrival (what a
    low-load timing tries to keep low)."""
    cost_usd: float | None = None
    asp_before: float | None = None
    """ASP on the PoP it left, at arrival; `asp_after`: on the destination, with the
    exposure the CNF had already had there."""
    asp_after: float | None = None
    measured_downtime_s: float | None = None
    """Not measured on the simulator (the emulated data plane measures it)."""
    measured_total_s: float | None = None
    source: str = ""
    destination: str = ""
    posted_at: float | None = None
    started_at: float | None = None
    arrived_at: float | None = None
    """The step at whose end the CNF ran at its destination (its downtime follows)."""
    outcome: str = "planned"
    """planned → posted → moved | failed | skipped (quota); at the end of the run, still
    planned → not due, still posted → under way at the end; replaced by a new plan."""
    reason: str = ""
    destinations: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)


# -- the plan's inputs ----------------------------------------------------------------------
def move_bandwidth(
    infra: Infrastructure, source: str, eligible: Collection[str]
) -> tuple[float, str | None]:
    """Widest path from `source` to any PoP of `eligible`: (MB/s, that PoP), (0, None)
    when none is reachable."""
    best: tuple[float, str | None] = (0.0, None)
    for pop in sorted(eligible):
        if pop == source:
            continue
        width, _nodes = widest_path(infra, source, pop)
        if width > best[0]:
            best = (width, pop)
    return best


def load_of(target: MovingTarget) -> Load:
    """The load the scenario assumes for a CNF."""
    load = target.load
    return Load(load.cpu, load.memory, load.disk, load.network)


def measured_load(series: np.ndarray, names: Sequence[str], cores: float) -> Load:
    """The CNF's mean load over `series` (data-plane samples, columns `names`): CPU share
    of its cores, resident MB, disk writes MB/s, and the service traffic it receives MB/s."""
    mean = dict(zip(names, series.mean(axis=0), strict=True))
    return Load(
        cpu=float(min(1.0, max(0.0, mean["cpu"] / cores))),
        memory_mb=float(max(0.0, mean["memory_rss"])),
        disk_mbps=float(max(0.0, mean["disk_write"])),
        net_mbps=float(max(0.0, mean["net_rx"])),
    )


LOAD_DRIFT = 0.25
"""Relative change of a CNF's measured traffic or memory that makes the plan be redone."""


def drifted(assumed: Load, measured: Load) -> bool:
    """Whether the measured load is far enough from the plan's to plan again."""
    pairs = ((assumed.net_mbps, measured.net_mbps), (assumed.memory_mb, measured.memory_mb))
    return any(abs(b - a) > LOAD_DRIFT * max(a, 1.0) for a, b in pairs)


def hourly_price(scenario: Scenario, target: MovingTarget) -> float:
    """$/h of the CNF's resources (004_… cost regression); ValueError below its range."""
    cores = _cnf(scenario, target.cnf).cores
    price = resource_cost(cores, target.memory_gb, target.storage_gb)
    if price <= 0:
        raise ValueError(
            f"target {target.cnf}: {cores:g} vCPU, {target.memory_gb:g} GB RAM and "
            f"{target.storage_gb:g} GB storage price at {price:.4f} $/h in 004's regression "
            "(β = −0.082, below the VM offers it was fitted on): give the CNF's real size so "
            "that the cost objective is not zero"
        )
    return price


def _cnf(scenario: Scenario, cnf: str) -> CNF:
    return next(c for c in scenario.cnfs if c.id == cnf)


def target_vulnerabilities(
    targets: Sequence[MovingTarget], cti: Sequence[CTIFinding] | None
) -> tuple[dict[str, tuple[Vulnerability, ...]], dict[str, tuple[str, ...]]]:
    """Per CNF its vulnerabilities (from the CTI when it names software, else typed) and
    the CVEs that applied but could not be scored."""
    vulns: dict[str, tuple[Vulnerability, ...]] = {}
    unscored: dict[str, tuple[str, ...]] = {}
    for target in targets:
        if target.software and cti is not None:
            matched = cnf_vulnerabilities(target.software, cti)
            if not matched.vulnerabilities:
                raise ValueError(
                    f"target {target.cnf}: the CTI has no scored vulnerability of "
                    f"{', '.join(target.software)}: nothing for MTD to defend against"
                )
            vulns[target.cnf], unscored[target.cnf] = matched.vulnerabilities, matched.unscored
        elif target.vulnerabilities:
            vulns[target.cnf] = tuple(
                Vulnerability.from_vector(v.cvss, v.id) for v in target.vulnerabilities
            )
            unscored[target.cnf] = ()
        else:
            raise ValueError(
                f"target {target.cnf}: its software is matched in the CTI, and the scenario "
                "has no cti section (or give its vulnerabilities)"
            )
    return vulns, unscored


@dataclass(frozen=True)
class UnitState:
    """What a re-plan starts from, per member CNF."""

    loads: Mapping[str, Load]
    bandwidths: Mapping[str, float]
    exposure_s: Mapping[str, float]
    spent_s: Mapping[str, float]


def plan_unit(
    scenario: Scenario,
    settings: MovingTargetDefence,
    members: Sequence[MovingTarget],
    vulns: Mapping[str, tuple[Vulnerability, ...]],
    state: UnitState,
    span: tuple[float, float],
    predictor: Predictor | None = None,
    selector: Selector | None = None,
) -> Plan:
    """One unit's plan over `span` (simulated seconds, from ≥ `settings.start` to the end
    of the run) within the SLA window that starts at `settings.start`."""
    start, end = span
    duration = scenario.traffic.duration if scenario.traffic is not None else 0.0
    window = settings.window or duration - settings.start
    profiles = [
        CNFProfile(
            id=t.cnf,
            load=state.loads[t.cnf],
            bandwidth=state.bandwidths[t.cnf],
            cpu=_cnf(scenario, t.cnf).cores,
            ram_gb=t.memory_gb,
            storage_gb=t.storage_gb,
            vulnerabilities=vulns[t.cnf],
            since_last_move_s=state.exposure_s[t.cnf],
            service=t.service,
        )
        for t in members
    ]
    weights = settings.weights
    return plan(
        profiles,
        SLA(settings.availability, window, max(state.spent_s[t.cnf] for t in members)),
        Horizon(duration_s=min(end - start, window), step_s=settings.step),
        Weights(weights.security, weights.cost, weights.qos),
        predictor=predictor,
        selector=selector,
        attack=AttackModel(settings.attack_rate),
    )


def plan_scenario(
    scenario: Scenario,
    settings: MovingTargetDefence,
    cti: Sequence[CTIFinding] | None = None,
    excluded: Collection[str] = (),
) -> list[Plan]:
    """The first plan of every unit, from `settings.start` to the end of the run (the
    CNFs exposed on their PoPs since the run began)."""
    duration = scenario.traffic.duration if scenario.traffic is not None else 0.0
    if duration - settings.start <= 0:
        raise ValueError(f"mtd.start {settings.start:g} s is not before the run's end")
    vulns, _ = target_vulnerabilities(settings.targets, cti)
    infra = Infrastructure.from_scenario(scenario)
    eligible = {p.id for p in scenario.pops} - set(excluded)
    plans = []
    for members in _units(settings.targets):
        state = UnitState(
            loads={t.cnf: load_of(t) for t in members},
            bandwidths={t.cnf: _assumed(infra, scenario, t, eligible) for t in members},
            exposure_s=dict.fromkeys((t.cnf for t in members), settings.start),
            spent_s=dict.fromkeys((t.cnf for t in members), 0.0),
        )
        plans.append(
            plan_unit(scenario, settings, members, vulns, state, (settings.start, duration))
        )
    return plans


def _assumed(
    infra: Infrastructure, scenario: Scenario, target: MovingTarget, eligible: Collection[str]
) -> float:
    if target.bandwidth is not None:
        return target.bandwidth
    pop = _cnf(scenario, target.cnf).pop
    width, _ = move_bandwidth(infra, pop, eligible)
    if width <= 0:
        raise ValueError(f"target {target.cnf}: no path from {pop} to a PoP that may host it")
    return width


def _units(targets: Sequence[MovingTarget]) -> list[list[MovingTarget]]:
    groups: dict[str, list[MovingTarget]] = {}
    for t in targets:
        groups.setdefault(t.service or f"cnf:{t.cnf}", []).append(t)
    return list(groups.values())


# -- the loop -------------------------------------------------------------------------------
@dataclass
class Unit:
    """A CNF, or a service's CNFs, moved as one, and its current plan."""

    name: str
    members: tuple[str, ...]
    plan: Plan
    start: float
    """Simulated second the plan's step 0 starts at."""
    assumed: dict[str, float]
    """Per member, the path bandwidth the plan assumed."""


class MovingTargetLoop:
    """Hands the plan's moves to the agents, keeps each CNF within its quota and re-plans
    when the world changes."""

    def __init__(
        self,
        scenario: Scenario,
        settings: MovingTargetDefence,
        *,
        cti: Sequence[CTIFinding] | None = None,
        excluded: Collection[str] = (),
        predictor: Predictor | None = None,
        selector: Selector | None = None,
        forecast: LoadForecast | None = None,
    ) -> None:
        """`cti`: the findings the run's CTI subscriber received (None without CTI);
        `excluded`: PoPs that may not host the CNFs (CTI hygiene); `predictor`: the
        migration times (the analytical model by default); `selector`: picks each CNF's
        method (None: the strategy weighs every method); `forecast`: the CNFs' predicted
        traffic, for `timing: low-load`."""
        if settings.timing == "low-load" and forecast is None:
            raise ValueError("timing low-load needs a forecast of the CNFs' traffic")
        self.scenario = scenario
        self.settings = settings
        self.predictor = predictor or AnalyticPredictor()
        self.selector = selector
        self.forecast = forecast
        self.targets = {t.cnf: t for t in settings.targets}
        self.prices = {t.cnf: hourly_price(scenario, t) for t in settings.targets}
        self.vulns, self.unscored = target_vulnerabilities(settings.targets, cti)
        self.vuln_source = {
            t.cnf: "cti" if t.software and cti is not None else "scenario" for t in settings.targets
        }
        self.attack = AttackModel(settings.attack_rate)
        self.eligible = {p.id for p in scenario.pops} - set(excluded)
        self.residence = {c: Residence(_cnf(scenario, c).pop) for c in self.targets}
        self.loads = {c: load_of(t) for c, t in self.targets.items()}
        self.spent = dict.fromkeys(self.targets, 0.0)
        self.moves: list[Move] = []
        self.replans: list[dict[str, Any]] = []
        self.units: list[Unit] = []
        self._infra = Infrastructure.from_scenario(scenario)
        duration = scenario.traffic.duration if scenario.traffic is not None else 0.0
        if duration - settings.start <= 0:
            raise ValueError(f"mtd.start {settings.start:g} s is not before the run's end")
        self.end = duration
        for members in _units(settings.targets):
            names = tuple(t.cnf for t in members)
            name = members[0].service or members[0].cnf
            self.units.append(self._plan(name, names, settings.start))
        self.budget = {m: u.plan.units[0].budget_s for u in self.units for m in u.members}
        self._world: World | None = None
        self._agents: dict[str, AgentHandle] = {}
        self._goals: dict[tuple[str, int], GoalTicket] = {}
        self._homes: dict[str, tuple[str, str]] = {}
        """CNF → (PoP, instance) it runs in after its last move (the cnfMoved goal's VNF)."""
        self._arrivals: dict[tuple[str, int], float] = {}
        """(unit, k) → when the unit's k-th move is to arrive (every member)."""
        self._shifts: dict[tuple[str, int], float] = {}
        """(unit, k) → seconds a low-load timing moved the unit's k-th move by."""

    # -- planning -----------------------------------------------------------------------------
    def _plan(self, name: str, members: tuple[str, ...], start: float) -> Unit:
        """Plan `members` from `start` to the end of the run and queue its moves."""
        now = start
        targets = [self.targets[c] for c in members]
        assumed = {c: self._bandwidth(c) for c in members}
        state = UnitState(
            loads={c: self.loads[c] for c in members},
            bandwidths=assumed,
            exposure_s={c: self.residence[c].exposure(self.residence[c].pop, now) for c in members},
            spent_s={c: self.spent[c] for c in members},
        )
        unit_plan = plan_unit(
            self.scenario,
            self.settings,
            targets,
            self.vulns,
            state,
            (start, self.end),
            self.predictor,
            self.selector,
        )
        counts = {c: max((m.k for m in self.moves if m.cnf == c), default=0) for c in members}
        for step in unit_plan.steps:
            if start + step.time + step.predicted_total > self.end + 1e-9:
                continue  # it would arrive after the run: posted, cut off when the run stops
            counts[step.cnf] += 1
            self.moves.append(
                Move(
                    k=counts[step.cnf],
                    cnf=step.cnf,
                    method=step.method.value,
                    planned_at=start + step.time,
                    planned_total_s=step.predicted_total,
                    planned_downtime_s=step.predicted_downtime,
                    planned_bandwidth_mbps=assumed[step.cnf],
                    predicted_total_s=step.predicted_total,
                    predicted_downtime_s=step.predicted_downtime,
                )
            )
        self.moves.sort(key=lambda m: (m.planned_at, m.cnf))
        return Unit(name, members, unit_plan, start, assumed)

    def _bandwidth(self, cnf: str) -> float:
        """The path bandwidth a plan assumes for the CNF's next move."""
        target = self.targets[cnf]
        if target.bandwidth is not None:
            return target.bandwidth
        width, _ = move_bandwidth(self._infra, self.residence[cnf].pop, self.eligible)
        return width

    def _replan(self, unit: Unit, now: float, reason: str, back_off: float = 0.0) -> None:
        """Drop the unit's moves not yet posted and plan again from the earliest start a
        new move can have (its goal is posted `lead` seconds before), `back_off` later."""
        dropped = [m for m in self.moves if m.cnf in unit.members and m.outcome == "planned"]
        for move in dropped:
            move.outcome, move.reason = "replaced", f"re-planned at {now:g} s: {reason}"
        self.moves = [m for m in self.moves if m.outcome != "replaced"]
        start = max(self.settings.start, now + self.settings.lead + back_off)
        record: dict[str, Any] = {
            "at": now,
            "unit": unit.name,
            "reason": reason,
            "dropped": len(dropped),
        }
        if start + self.settings.step > self.end or any(
            self._bandwidth(c) <= 0 for c in unit.members
        ):
            unit.assumed = {c: self._bandwidth(c) for c in unit.members}
            record["planned"] = 0
            self.replans.append(record)
            return
        fresh = self._plan(unit.name, unit.members, start)
        self.units[self.units.index(unit)] = fresh
        record["planned"] = sum(m.cnf in unit.members for m in self.moves if m.outcome == "planned")
        self.replans.append(record)

    # -- the run ----------------------------------------------------------------------------
    def attach(
        self, world: World, _attestations: Callable[[], Sequence[Any]], _layer: Any = None
    ) -> None:
        if world.plane is None:
            raise ValueError("moving target defence needs the data plane in this process")
        self._world = world
        self._infra = world.infra
        world.declines.append(self.decline)

    async def start(self, agents: Sequence[AgentHandle]) -> None:
        self._agents = {agent.pop: agent for agent in agents}

    def decline(self, pop: str, request: GoalRequest) -> str | None:
        """The PoP a moving CNF leaves does not bid to host it again; nor does a PoP
        without a path from it or whose path would take more downtime than is left."""
        if request.goal != MOVE_GOAL or len(request.args) < 2 or request.args[0] not in self.spent:
            return None
        cnf = request.args[0]
        move = next((m for m in self.moves if (m.cnf, str(m.k)) == request.args[:2]), None)
        if move is None or move.outcome != "posted":
            return None
        if pop == move.source:
            return f"MTD: {cnf} is moving away from {pop}"
        offer = move.destinations.get(pop)
        if offer is None:
            return f"MTD: {pop} may not host {cnf}"
        return offer.get("refused")

    async def after_step(self, now: float) -> None:
        for move in self.moves:
            if move.outcome == "posted":
                await self._check(move, now)
        self._follow_paths(now)
        for move in list(self.moves):
            due = move.planned_at - self.settings.lead
            if move.outcome == "planned" and due <= now + 1e-9:
                await self._post(move, now)

    def _follow_paths(self, now: float) -> None:
        """Re-plan a unit whose next move's path is not the one its plan assumed."""
        for unit in list(self.units):
            if any(m.outcome == "posted" for m in self.moves if m.cnf in unit.members):
                continue
            for cnf in unit.members:
                old, new = unit.assumed[cnf], self._bandwidth(cnf)
                if abs(new - old) > PATH_TOLERANCE * max(old, 1.0):
                    pop = self.residence[cnf].pop
                    what = "disappeared" if new <= 0 else f"now {new:g} MB/s"
                    self._replan(
                        unit, now, f"the widest path of {cnf} from {pop} was {old:g} MB/s, {what}"
                    )
                    break

    def _unit_of(self, cnf: str) -> Unit:
        return next(u for u in self.units if cnf in u.members)

    async def _post(self, move: Move, now: float) -> None:
        world = self._require_world()
        plane = world.plane
        assert plane is not None
        if any(m.cnf == move.cnf and m.outcome == "posted" for m in self.moves):
            move.outcome, move.reason = "skipped", "the previous move is still under way"
            return
        left = self.budget[move.cnf] - self.spent[move.cnf]
        move.source = plane.cnf_placement(move.cnf).pop
        assumed, measured = self.loads[move.cnf], self._measure(move.cnf, plane)
        self.loads[move.cnf] = measured
        if drifted(assumed, measured):
            self._replan(
                self._unit_of(move.cnf),
                now,
                f"{move.cnf}'s measured traffic {measured.net_mbps:.2f} MB/s and memory "
                f"{measured.memory_mb:.0f} MB differ from the plan's "
                f"{assumed.net_mbps:.2f} MB/s and {assumed.memory_mb:.0f} MB",
            )
            return
        move.load = asdict(measured)
        move.destinations = self._destinations(move, now, left)
        if not any("refused" not in o for o in move.destinations.values()):
            move.outcome = "skipped"
            move.reason = (
                "; ".join(o["refused"] for o in move.destinations.values())
                or f"no PoP that may host {move.cnf} is reachable from {move.source}"
            )
            return
        agent = self._agents.get(move.source)
        if agent is None:
            move.outcome, move.reason = "failed", f"no agent on {move.source}"
            return
        move.predicted_traffic_mbps = self._peak(move.cnf, plane)
        goal = Goal(
            Belief(MOVE_GOAL, (move.cnf, str(move.k))),
            GoalKind.ACHIEVE,
            priority=MOVE_PRIORITY,
            payload=self._payload(move, now),
        )
        # posted before the agent has it: its auction's bidders ask `decline` at once
        move.posted_at, move.outcome = now, "posted"
        self._goals[(move.cnf, move.k)] = await agent.post(goal)

    def _payload(self, move: Move, now: float) -> dict[str, Any]:
        """The cnfMoved goal's payload: the CNF, the plan's move and the predicted move to
        each PoP that may take it."""
        world = self._require_world()
        plane = world.plane
        assert plane is not None
        spec = _cnf(world.scenario, move.cnf)
        ips = {host.id: host.ip for host in world.scenario.hosts}
        payload = {
            "cnf": move.cnf,
            "host": spec.host,
            "ip": ips.get(spec.host) or plane.server_ip,
            "method": move.method,
            "start_at": move.planned_at,
            "downtime": move.planned_downtime_s,
            "transfer": max(0.0, move.planned_total_s - move.planned_downtime_s),
            "destinations": {
                pop: {k: offer[k] for k in ("start_at", "transfer", "downtime", "total")}
                for pop, offer in move.destinations.items()
                if "refused" not in offer
            },
            "since": now,
        }
        if move.predicted_traffic_mbps is not None:
            payload["predicted_traffic"] = move.predicted_traffic_mbps
        return payload

    def _peak(self, cnf: str, plane: Any) -> float | None:
        """The CNF's traffic peak the forecast expects over its horizon (004_… Section
        4.2: the moved VNF's predicted need over its lifetime, which sizes the bid,
        `GoalRequest.predicted_traffic`); None without a forecast or before the CNF has
        been measured long enough for one."""
        if self.forecast is None:
            return None
        try:
            predicted = np.asarray(self.forecast(cnf, plane.cnf_series(cnf)), dtype=float)
        except ValueError:  # fewer samples than the forecaster's window
            return None
        return float(predicted.max()) if predicted.size else None

    def _measure(self, cnf: str, plane: Any) -> Load:
        """The CNF's load over the last decision step, or what was assumed before."""
        series = plane.cnf_series(cnf)
        steps = max(1, round(self.settings.step / plane.step_seconds))
        if len(series) == 0:
            return self.loads[cnf]
        cores = _cnf(self.scenario, cnf).cores * len(plane.cnf_placement(cnf).replicas or (1,))
        return measured_load(series[-steps:], METRICS, cores)

    def _destinations(self, move: Move, now: float, left: float) -> dict[str, dict[str, Any]]:
        """Per PoP that may host the CNF: the move predicted on the path to it and when to
        start it there so that it arrives with the service's other members; with
        "refused" where it may not take it."""
        offers = self._offers(move.cnf, move.source, move.method, self.loads[move.cnf], left, now)
        arrival = self._arrival(move, now)
        for offer in offers.values():
            if "total" in offer:
                offer["start_at"] = max(now, arrival - offer["total"])
        return offers

    def _offers(
        self, cnf: str, source: str, method: str, load: Load, left: float, now: float
    ) -> dict[str, dict[str, Any]]:
        """The move of `cnf` from `source` predicted on the widest path to each PoP that
        may host it, refused where there is no path, its downtime exceeds `left`, or the
        attacker's progress there would leave the ASP no lower than staying."""
        residence, vulns = self.residence[cnf], self.vulns[cnf]
        here = residence.asp(source, now, vulns, self.attack)
        offers: dict[str, dict[str, Any]] = {}
        for pop in sorted(self.eligible - {source}):
            width, nodes = widest_path(self._infra, source, pop)
            if width <= 0:
                offers[pop] = {"refused": f"MTD: no path from {source} to {pop}"}
                continue
            there = residence.asp(pop, now, vulns, self.attack)
            if there >= here and residence.exposure(pop, now) > 0:
                offers[pop] = {
                    "refused": f"MTD: on {pop} the attacker's {residence.exposure(pop, now):.0f} s "
                    f"there leave {cnf}'s ASP at {there:.3f}, not below {here:.3f} on {source}"
                }
                continue
            estimate = self.predictor.predict(Method(method), load, width)
            offer: dict[str, Any] = {
                "bandwidth": width,
                "path": list(nodes),
                "total": estimate.total_s,
                "downtime": estimate.downtime_s,
                "transfer": max(0.0, estimate.total_s - estimate.downtime_s),
            }
            if estimate.downtime_s > left + 1e-9:
                offer["refused"] = (
                    f"MTD: quota: on the path {source}→{pop} ({width:g} MB/s) the "
                    f"{method} move's {estimate.downtime_s:.2f} s of downtime exceed the "
                    f"{left:.2f} s left of {cnf}'s {self.budget[cnf]:.2f} s budget"
                )
            offers[pop] = offer
        return offers

    def _arrival(self, move: Move, now: float) -> float:
        """When the unit's k-th move arrives (004_… Section 2.1, synchronised parallel
        migration, on the paths the moves may really take): when the plan has it arrive,
        or later if a member's slowest path it may take needs longer from the unit's first
        start, so that the members arrive together wherever their auctions send them;
        then shifted by a low-load timing. Decided once per unit and move."""
        unit = self._unit_of(move.cnf)
        key = (unit.name, move.k)
        if key not in self._arrivals:
            plane = self._require_world().plane
            assert plane is not None
            members = [m for m in self.moves if m.cnf in unit.members and m.k == move.k]
            begin = min(m.planned_at for m in members)
            latest = move.planned_at + move.planned_total_s
            for member in members:
                load = (
                    self.loads[member.cnf] if member is move else self._measure(member.cnf, plane)
                )
                source = plane.cnf_placement(member.cnf).pop
                left = self.budget[member.cnf] - self.spent[member.cnf]
                offers = self._offers(member.cnf, source, member.method, load, left, now)
                for offer in offers.values():
                    if "refused" not in offer:
                        latest = max(latest, begin + offer["total"])
            self._arrivals[key] = latest + self._shift(move, now)
        return self._arrivals[key]

    def _shift(self, move: Move, now: float) -> float:
        """With `timing: low-load`, how much later than planned the unit's k-th move
        starts: within one decision step, where the CNFs' forecast traffic is lowest
        (decided once per unit and move, so the members stay aligned)."""
        if self.forecast is None or self.settings.timing != "low-load":
            return 0.0
        unit = self._unit_of(move.cnf)
        key = (unit.name, move.k)
        if key not in self._shifts:
            world = self._require_world()
            assert world.plane is not None
            ahead = move.planned_at - now
            predicted = sum(
                np.asarray(self.forecast(c, world.plane.cnf_series(c)), dtype=float)
                for c in unit.members
            )
            self._shifts[key] = (
                quietest_start(
                    predicted,
                    world.plane.step_seconds,
                    earliest=ahead,
                    latest=ahead + self.settings.step,
                    duration=move.planned_total_s,
                )
                - ahead
            )
        return self._shifts[key]

    async def _check(self, move: Move, now: float) -> None:
        world = self._require_world()
        assert world.plane is not None
        here = world.plane.cnf_placement(move.cnf).pop
        if here != move.source:
            await self._arrive(move, here, now)
            unit = self._unit_of(move.cnf)
            if not any(m.outcome == "posted" for m in self.moves if m.cnf in unit.members):
                self._replan(unit, now, f"move {move.k} arrived on {here}")
            return
        goal = self._goals[(move.cnf, move.k)]
        if goal.status is GoalStatus.FAILED:
            move.outcome, move.reason = "failed", goal.reason or "the auction found no PoP"
            # the PoPs that refused may still refuse: try again a decision step later
            self._replan(
                self._unit_of(move.cnf),
                now,
                f"move {move.k} of {move.cnf} failed: {move.reason}",
                back_off=self.settings.step,
            )

    async def _arrive(self, move: Move, here: str, now: float) -> None:
        """Charge the move on the path to where it went, and move its exposure there."""
        offer = move.destinations.get(here, {})
        move.destination, move.arrived_at, move.outcome = here, now, "moved"
        if "downtime" in offer:
            move.predicted_total_s, move.predicted_downtime_s = offer["total"], offer["downtime"]
            move.bandwidth_mbps, move.path = offer["bandwidth"], offer["path"]
            move.started_at = offer["start_at"]
        move.cost_usd = migration_cost(
            _cnf(self.scenario, move.cnf).cores,
            self.targets[move.cnf].memory_gb,
            self.targets[move.cnf].storage_gb,
            move.predicted_total_s,
        )
        move.traffic_while_moving_mbps = self._traffic_since(move.cnf, move.started_at, now)
        residence = self.residence[move.cnf]
        vulns = self.vulns[move.cnf]
        move.asp_before = residence.asp(move.source, now, vulns, self.attack)
        move.asp_after = residence.asp(here, now, vulns, self.attack)
        residence.move(here, now)
        self.spent[move.cnf] += move.predicted_downtime_s
        await self._rehome(move)

    def _traffic_since(self, cnf: str, start: float | None, now: float) -> float | None:
        """The CNF's mean measured traffic (MB/s) over the data-plane steps in [start, now]."""
        plane = self._require_world().plane
        if start is None or plane is None:
            return None
        series = plane.cnf_series(cnf)
        first = max(0, int(start // plane.step_seconds))
        last = min(len(series), int(now // plane.step_seconds) + 1)
        if last <= first:
            return None
        return float(series[first:last, METRICS.index("net_rx")].mean())

    async def _rehome(self, move: Move) -> None:
        """The CNF now runs in an instance at its destination; the one it left stops
        (each asked of the agent of its PoP)."""
        world = self._require_world()
        vnfs = set(world.scenario.goal(MOVE_GOAL).vnfs)
        taken = {instance for _pop, instance in self._homes.values()}
        there = self._agents.get(move.destination)
        running = await there.instances() if there is not None else []
        new = next((i.id for i in running if i.vnf in vnfs and i.id not in taken), None)
        old = self._homes.pop(move.cnf, None)
        if old is not None and old[0] in self._agents:
            await self._agents[old[0]].terminate(old[1], f"{MOVE_GOAL}({move.cnf},{move.k})")
        if new is not None:
            self._homes[move.cnf] = (move.destination, new)

    def _spread(self, members: Sequence[str]) -> dict[str, float]:
        """Per k-th move of a service: latest minus earliest arrival of its members (at the
        data plane's step resolution); only moves every member made."""
        if len(members) < 2:
            return {}
        arrivals: dict[int, list[float]] = {}
        for move in self.moves:
            if move.cnf in members and move.arrived_at is not None:
                arrivals.setdefault(move.k, []).append(move.arrived_at)
        return {
            str(k): max(times) - min(times)
            for k, times in sorted(arrivals.items())
            if len(times) == len(members)
        }

    def _require_world(self) -> World:
        if self._world is None:
            raise RuntimeError("the MTD loop is not attached to a run")
        return self._world

    # -- what is reported -------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        for move in self.moves:
            if move.outcome == "planned":
                move.outcome = "not due"
            elif move.outcome == "posted":
                move.outcome = "under way at the end"
        settings = self.settings
        moved = [m for m in self.moves if m.outcome == "moved"]
        return {
            "mtd": {
                "availability": settings.availability,
                "attack_rate_per_hour": settings.attack_rate,
                "weights": settings.weights.model_dump(),
                "step_s": settings.step,
                "timing": settings.timing,
                "cost_inputs": {
                    cnf: {
                        "cpu": _cnf(self.scenario, cnf).cores,
                        "ram_gb": t.memory_gb,
                        "storage_gb": t.storage_gb,
                        "usd_per_hour": self.prices[cnf],
                    }
                    for cnf, t in self.targets.items()
                },
                "vulnerabilities": {
                    cnf: {
                        "cves": [v.id for v in vulns],
                        "source": self.vuln_source[cnf],
                        "unscored": list(self.unscored.get(cnf, ())),
                    }
                    for cnf, vulns in self.vulns.items()
                },
                "units": [
                    {
                        "name": unit.name,
                        "members": list(unit.members),
                        "budget_s": self.budget[unit.members[0]],
                        "quotas": unit.plan.units[0].quotas,
                        "downtime_spent_s": {m: self.spent[m] for m in unit.members},
                        "arrival_spread_s": self._spread(unit.members),
                    }
                    for unit in self.units
                ],
                "moves": [
                    {k: v for k, v in asdict(m).items() if k != "destinations"} for m in self.moves
                ],
                "replans": self.replans,
                "cost_usd": sum(m.cost_usd or 0.0 for m in moved),
                "within_quota": all(self.spent[c] <= self.budget[c] + 1e-9 for c in self.budget),
                "quota_judged_on": "predicted",
                "models": {
                    "predictor": self.predictor.describe(),
                    "selector": None if self.selector is None else self.selector.model,
                    "selected": {
                        cnf: method.value
                        for unit in self.units
                        for cnf, method in unit.plan.units[0].selected.items()
                    },
                },
            }
        }

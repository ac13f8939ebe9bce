"""Moving target defence in a run (004_… Section 2.2, "execution"): the planner's
migrations become goals for the agents.

At the start the scenario's `mtd` section is planned (`secmas.mtd.planner.plan`: the
MOMDP's course within each CNF's quota, a service's members timed to arrive together).
`lead` seconds before a migration is to start, the agent of the PoP the CNF runs on is
handed the goal cnfMoved(cnf, k) with the method, the start time and the predicted
transfer time and downtime; it auctions it like any goal, the PoP the CNF leaves
declines (so the auction re-places it elsewhere), and the winner, once its instance is
up, starts the migration on time: the CNF serves from the old PoP while its state is
copied, then its requests fail for the downtime in the data plane. Before posting, the
downtime already spent is checked against the CNF's budget, so the run never exceeds the
quota whatever the plan says. The instance a CNF leaves is terminated once it has
arrived, so its resources return to that PoP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from secmas.agents.bdi import Belief, Goal, GoalKind, GoalStatus
from secmas.agents.bidding import GoalRequest
from secmas.agents.journal import PlacementEvent
from secmas.mtd.attack import AttackModel, Vulnerability
from secmas.mtd.migration import Load
from secmas.mtd.planner import SLA, CNFProfile, Horizon, MigrationStep, Plan, plan
from secmas.mtd.strategy import Weights
from secmas.scenario.adaptive import MovingTarget, MovingTargetDefence
from secmas.scenario.model import MOVE_GOAL, Scenario

if TYPE_CHECKING:
    from secmas.agents.ddos.agent import PoPAgent, World

MOVE_PRIORITY = 3.0
"""Deliberation priority of a proactive move: after protecting (10) and diagnosing (5)."""


@dataclass
class Move:
    """One planned move and what became of it."""

    k: int
    cnf: str
    method: str
    planned_at: float
    """When the migration is to start (a service's members: so that they arrive together)."""
    predicted_total_s: float
    predicted_downtime_s: float
    source: str = ""
    destination: str = ""
    posted_at: float | None = None
    arrived_at: float | None = None
    """The step at whose end the CNF ran at its destination (its downtime follows)."""
    outcome: str = "planned"
    """planned → posted → moved | failed | skipped (quota); at the end of the run, still
    planned → not due, still posted → under way at the end."""
    reason: str = ""


def widest_link(scenario: Scenario, pop: str) -> float:
    """Bandwidth (MB/s) of the widest link from `pop` to another PoP or switch: the
    default migration path."""
    nodes = {p.id for p in scenario.pops} | {s.id for s in scenario.switches}
    widths = [
        link.bandwidth
        for link in scenario.links
        if pop in (link.a, link.b) and {link.a, link.b} <= nodes
    ]
    if not widths:
        raise ValueError(f"PoP {pop!r} has no link to migrate a CNF over")
    return max(widths)


def profile(scenario: Scenario, target: MovingTarget) -> CNFProfile:
    """The planner's view of a moving target."""
    cnf = next(c for c in scenario.cnfs if c.id == target.cnf)
    load = target.load
    vulns = tuple(Vulnerability.from_vector(v.cvss, v.id) for v in target.vulnerabilities)
    return CNFProfile(
        id=target.cnf,
        load=Load(load.cpu, load.memory, load.disk, load.network),
        bandwidth=target.bandwidth or widest_link(scenario, cnf.pop),
        cpu=cnf.cores,
        ram_gb=target.memory_gb,
        storage_gb=target.storage_gb,
        vulnerabilities=vulns,
        service=target.service,
    )


def plan_scenario(scenario: Scenario, settings: MovingTargetDefence) -> Plan:
    """Plan the run's moves: horizon from `start` to the end of the run (at most one SLA
    window; the window defaults to that span)."""
    duration = scenario.traffic.duration if scenario.traffic is not None else 0.0
    span = duration - settings.start
    if span <= 0:
        raise ValueError(f"mtd.start {settings.start:g} s is not before the run's end")
    window = settings.window or span
    weights = settings.weights
    return plan(
        [profile(scenario, target) for target in settings.targets],
        SLA(availability=settings.availability, window_s=window),
        Horizon(duration_s=min(span, window), step_s=settings.step),
        Weights(weights.security, weights.cost, weights.qos),
        attack=AttackModel(settings.attack_rate),
    )


class MovingTargetLoop:
    """Hands the plan's moves to the agents and keeps each CNF within its quota."""

    def __init__(self, scenario: Scenario, settings: MovingTargetDefence) -> None:
        self.settings = settings
        self.plan = plan_scenario(scenario, settings)
        self.budget = {m: u.budget_s for u in self.plan.units for m in u.members}
        self.spent = dict.fromkeys(self.budget, 0.0)
        counts: dict[str, int] = {}
        self.moves: list[Move] = []
        for step in self.plan.steps:
            counts[step.cnf] = counts.get(step.cnf, 0) + 1
            self.moves.append(_move(step, counts[step.cnf], settings.start))
        self._world: World | None = None
        self._agents: dict[str, PoPAgent] = {}
        self._goals: dict[tuple[str, int], Goal] = {}
        self._homes: dict[str, str] = {}
        """CNF → the instance (VNF of the cnfMoved goal) it runs in after its last move."""

    # -- the run ----------------------------------------------------------------------------
    def attach(
        self, world: World, _attestations: Callable[[], Sequence[Any]], _layer: Any = None
    ) -> None:
        if world.plane is None:
            raise ValueError("moving target defence needs the data plane in this process")
        self._world = world
        world.declines.append(self.decline)

    async def start(self, agents: Sequence[PoPAgent]) -> None:
        self._agents = {agent.pop: agent for agent in agents}

    def decline(self, pop: str, request: GoalRequest) -> str | None:
        """The PoP a moving CNF leaves does not bid to host it again."""
        if request.goal != MOVE_GOAL or not request.args or request.args[0] not in self.budget:
            return None
        if self._world is None or self._world.plane is None:
            return None
        here = self._world.plane.cnf_placement(request.args[0]).pop
        return f"MTD: {request.args[0]} is moving away from {pop}" if pop == here else None

    async def after_step(self, now: float) -> None:
        for move in self.moves:
            if move.outcome == "posted":
                self._check(move, now)
        for move in self.moves:
            due = move.planned_at - self.settings.lead
            if move.outcome == "planned" and due <= now + 1e-9:
                self._post(move, now)

    def _post(self, move: Move, now: float) -> None:
        world = self._require_world()
        plane = world.plane
        assert plane is not None
        if any(m.cnf == move.cnf and m.outcome == "posted" for m in self.moves):
            move.outcome, move.reason = "skipped", "the previous move is still under way"
            return
        left = self.budget[move.cnf] - self.spent[move.cnf]
        if move.predicted_downtime_s > left + 1e-9:
            move.outcome = "skipped"
            move.reason = (
                f"quota: {move.predicted_downtime_s:.2f} s of downtime would exceed the "
                f"{left:.2f} s left of the {self.budget[move.cnf]:.2f} s budget"
            )
            return
        move.source = plane.cnf_placement(move.cnf).pop
        agent = self._agents.get(move.source)
        if agent is None:
            move.outcome, move.reason = "failed", f"no agent on {move.source}"
            return
        spec = next(c for c in world.scenario.cnfs if c.id == move.cnf)
        ips = {host.id: host.ip for host in world.scenario.hosts}
        payload = {
            "cnf": move.cnf,
            "host": spec.host,
            "ip": ips.get(spec.host) or plane.server_ip,
            "method": move.method,
            "start_at": move.planned_at,
            "downtime": move.predicted_downtime_s,
            "transfer": max(0.0, move.predicted_total_s - move.predicted_downtime_s),
            "since": now,
        }
        goal = Goal(
            Belief(MOVE_GOAL, (move.cnf, str(move.k))),
            GoalKind.ACHIEVE,
            priority=MOVE_PRIORITY,
            payload=payload,
        )
        agent.bdi.post_goal(goal)
        move.posted_at, move.outcome = now, "posted"
        self._goals[(move.cnf, move.k)] = goal

    def _check(self, move: Move, now: float) -> None:
        world = self._require_world()
        assert world.plane is not None
        here = world.plane.cnf_placement(move.cnf).pop
        if here != move.source:
            move.destination, move.arrived_at, move.outcome = here, now, "moved"
            self.spent[move.cnf] += move.predicted_downtime_s
            self._rehome(move)
            return
        goal = self._goals[(move.cnf, move.k)]
        if goal.status is GoalStatus.FAILED:
            move.outcome, move.reason = "failed", goal.reason or "the auction found no PoP"

    def _rehome(self, move: Move) -> None:
        """The CNF now runs in an instance at its destination; the one it left stops."""
        world = self._require_world()
        vnfs = set(world.scenario.goal(MOVE_GOAL).vnfs)
        taken = set(self._homes.values())
        new = next(
            (
                i.id
                for i in world.infra.instances.values()
                if i.pop == move.destination and i.vnf in vnfs and i.id not in taken
            ),
            None,
        )
        old = self._homes.pop(move.cnf, None)
        if old is not None and old in world.infra.instances:
            gone = world.infra.instances[old]
            world.infra.terminate(old)
            world.journal.placement(
                PlacementEvent(
                    world.clock.now(),
                    "terminate",
                    gone.pop,
                    gone.vnf,
                    gone.units,
                    gone.id,
                    f"{MOVE_GOAL}({move.cnf},{move.k})",
                )
            )
        if new is not None:
            self._homes[move.cnf] = new

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
        return {
            "mtd": {
                "availability": settings.availability,
                "attack_rate_per_hour": settings.attack_rate,
                "weights": settings.weights.model_dump(),
                "step_s": settings.step,
                "units": [
                    {
                        "name": unit.name,
                        "members": list(unit.members),
                        "budget_s": unit.budget_s,
                        "quotas": unit.quotas,
                        "downtime_spent_s": {m: self.spent[m] for m in unit.members},
                        "arrival_spread_s": self._spread(unit.members),
                    }
                    for unit in self.plan.units
                ],
                "moves": [asdict(m) for m in self.moves],
                "within_quota": all(self.spent[c] <= self.budget[c] + 1e-9 for c in self.budget),
            }
        }


def _move(step: MigrationStep, k: int, start: float) -> Move:
    return Move(
        k=k,
        cnf=step.cnf,
        method=step.method.value,
        planned_at=start + step.time,
        predicted_total_s=step.predicted_total,
        predicted_downtime_s=step.predicted_downtime,
    )

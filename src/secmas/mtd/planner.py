"""The MTD planning API: when to migrate which CNF, with which method (004_… Section 2).

Pure computation (no agents, no network, no I/O): the caller gives the CNFs' profiles, the
availability SLA, the planning horizon and the weights of security, cost and QoS, and gets the
migrations to make. Per planning unit (a CNF, or the CNFs sharing a `service`, which move
together as 004_… Section 2.1 requires of a network service):

1. predicted total time and downtime of each method (`Predictor`: the analytical model's
   expected values by default, a trained `MigrationRegressor`, or the `CalibratedPredictor`
   of `secmas.mtd.calibration`, learned where it beat the analytical model on held-out
   measured migrations); with a `Selector`, the methods are only those it picks for the
   unit's members (the deliverable's classifier picks the method, the strategy the time);
2. a downtime budget for the horizon from the SLA: (1 − A)·H − downtime already used in the
   window (H must not exceed the window), and the quota per method, floor(budget / downtime);
3. the moves' cost (resources held twice for the migration, `secmas.mtd.cost`) and the ASP curve
   of the unit's vulnerabilities (`secmas.mtd.attack`; a service's members pooled: it is
   compromised when any of them is);
4. the MOMDP solved for the weights (`secmas.mtd.strategy`), its course from the current state
   (the time since the unit's last move);
5. a service's members start their migration so that they arrive together
   (`secmas.mtd.schedule`: start_i = max_j d_j − d_i within the step).

A service moves all its members with one method per move; its move's downtime is the longest
member's (their arrivals coincide), its time the longest member's, its cost the members' sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from secmas.mtd.attack import DEFAULT_ATTACK, AttackModel, Vulnerability
from secmas.mtd.cost import migration_cost
from secmas.mtd.migration import DEFAULT_MODEL, METHODS, Load, Method, MigrationModel
from secmas.mtd.quota import downtime_budget, migrations_within
from secmas.mtd.regressor import TARGETS, Estimate
from secmas.mtd.schedule import align
from secmas.mtd.strategy import MAX_AGE, MAX_UNITS, MoveOption, Strategy, StrategyProblem, Weights


class Predictor(Protocol):
    """Predicts one migration's total time and downtime (seconds)."""

    def predict(self, method: Method | str, load: Load, bandwidth: float) -> Estimate: ...

    def describe(self) -> dict[str, str]:
        """Which model predicts each method's target, keyed "method/target": "analytic"
        or "learned"."""
        ...


class Selector(Protocol):
    """Picks the migration method of a CNF (004_… Section 2.1's classifier)."""

    model: str
    """Which model picks: "analytic" or "learned"."""

    def select(self, load: Load, bandwidth: float) -> Method: ...


@dataclass(frozen=True)
class AnalyticPredictor:
    """The analytical model's noise-free expectation."""

    model: MigrationModel = DEFAULT_MODEL

    def predict(self, method: Method | str, load: Load, bandwidth: float) -> Estimate:
        phases = self.model.expected(method, load, bandwidth)
        return Estimate(total_s=phases.total_s, downtime_s=phases.downtime_s)

    def describe(self) -> dict[str, str]:
        return {f"{m.value}/{t}": "analytic" for m in METHODS for t in TARGETS}


@dataclass(frozen=True)
class CNFProfile:
    """What the planner needs to know about a CNF."""

    id: str
    load: Load
    bandwidth: float  # MB/s of the path to its destination
    cpu: float = 2.0  # vCPUs
    ram_gb: float = 4.0
    storage_gb: float = 20.0
    vulnerabilities: tuple[Vulnerability, ...] = ()
    since_last_move_s: float = 0.0
    service: str | None = None  # CNFs of one service move together


@dataclass(frozen=True)
class SLA:
    """Availability over a window, and downtime already spent in it."""

    availability: float = 0.9995
    window_s: float = 30 * 86400.0
    downtime_used_s: float = 0.0


@dataclass(frozen=True)
class Horizon:
    """Planning horizon, in decision steps."""

    duration_s: float
    step_s: float

    @property
    def steps(self) -> int:
        return max(1, round(self.duration_s / self.step_s))


@dataclass(frozen=True)
class MigrationStep:
    """One planned migration: start `time` (seconds from the plan's start)."""

    time: float
    cnf: str
    method: Method
    predicted_total: float
    predicted_downtime: float


@dataclass(frozen=True)
class UnitPlan:
    """The solved strategy of one CNF or service."""

    name: str
    members: tuple[str, ...]
    budget_s: float
    quotas: dict[str, int]  # per method: floor(budget / predicted downtime)
    strategy: Strategy
    estimates: dict[str, dict[str, Estimate]] = field(repr=False)  # member → method → estimate
    selected: dict[str, Method] = field(default_factory=dict)  # member → selector's method


@dataclass(frozen=True)
class Plan:
    steps: tuple[MigrationStep, ...]
    units: tuple[UnitPlan, ...]
    predictor: dict[str, str] = field(default_factory=dict)
    """Which model predicted each method's target, keyed "method/target": "analytic" or
    "learned"."""
    selector: str | None = None
    """The model that picked the methods ("analytic" or "learned"; None: no selector)."""


def _units(cnfs: Sequence[CNFProfile]) -> list[tuple[str, list[CNFProfile]]]:
    seen: set[str] = set()
    groups: dict[str, list[CNFProfile]] = {}
    for c in cnfs:
        if c.id in seen:
            raise ValueError(f"CNF {c.id!r} listed twice")
        seen.add(c.id)
        groups.setdefault(c.service or f"cnf:{c.id}", []).append(c)
    return [(name.removeprefix("cnf:"), members) for name, members in groups.items()]


def plan(
    cnfs: Sequence[CNFProfile],
    sla: SLA,
    horizon: Horizon,
    weights: Weights,
    *,
    predictor: Predictor | None = None,
    selector: Selector | None = None,
    methods: Sequence[Method] = METHODS,
    attack: AttackModel = DEFAULT_ATTACK,
    max_age: int = MAX_AGE,
    max_units: int = MAX_UNITS,
) -> Plan:
    """Solve every unit's strategy and lay out its migrations (see the module docstring)."""
    if horizon.duration_s > sla.window_s:
        raise ValueError("plan one SLA window at a time: the horizon exceeds the SLA window")
    predictor = predictor or AnalyticPredictor()
    allowed = tuple(Method(m) for m in methods)
    budget = downtime_budget(sla.availability, horizon.duration_s, sla.downtime_used_s)
    units, steps = [], []
    for name, members in _units(cnfs):
        selected = (
            {}
            if selector is None
            else {c.id: selector.select(c.load, c.bandwidth) for c in members}
        )
        methods = tuple(m for m in allowed if not selected or m in selected.values()) or allowed
        est = {
            c.id: {m.value: predictor.predict(m, c.load, c.bandwidth) for m in methods}
            for c in members
        }
        options = tuple(
            MoveOption(
                method=m,
                total_s=max(est[c.id][m.value].total_s for c in members),
                downtime_s=max(est[c.id][m.value].downtime_s for c in members),
                cost=sum(
                    migration_cost(c.cpu, c.ram_gb, c.storage_gb, est[c.id][m.value].total_s)
                    for c in members
                ),
            )
            for m in methods
        )
        problem = StrategyProblem.build(
            vulns=[v for c in members for v in c.vulnerabilities],
            options=options,
            budget_s=budget,
            step_s=horizon.step_s,
            steps=horizon.steps,
            since_move_s=max(c.since_last_move_s for c in members),
            attack=attack,
            max_age=max_age,
            max_units=max_units,
        )
        strategy = problem.solve(weights)
        quotas = {o.method.value: migrations_within(budget, o.downtime_s) for o in options}
        units.append(
            UnitPlan(name, tuple(c.id for c in members), budget, quotas, strategy, est, selected)
        )
        for move in strategy.moves():
            m = move.method.value
            slots = align({c.id: est[c.id][m].total_s for c in members})
            for c in members:
                e = est[c.id][m]
                steps.append(
                    MigrationStep(
                        time=float(move.step * horizon.step_s + slots[c.id].start_s),
                        cnf=c.id,
                        method=move.method,
                        predicted_total=float(e.total_s),
                        predicted_downtime=float(e.downtime_s),
                    )
                )
    steps.sort(key=lambda s: (s.time, s.cnf))
    return Plan(
        tuple(steps),
        tuple(units),
        predictor.describe(),
        None if selector is None else selector.model,
    )


def plan_mtd(
    cnfs: Sequence[CNFProfile],
    sla: SLA,
    horizon: Horizon,
    weights: Weights,
    *,
    predictor: Predictor | None = None,
    methods: Sequence[Method] = METHODS,
    attack: AttackModel = DEFAULT_ATTACK,
) -> list[MigrationStep]:
    """The migrations to make over `horizon`, in time order, within every CNF's quota."""
    return list(
        plan(cnfs, sla, horizon, weights, predictor=predictor, methods=methods, attack=attack).steps
    )

"""The proactive MTD strategy of one CNF (or one service moved as a unit) as a multi-objective
MDP over an SLA window (004_… Section 2.2).

"The problem in this case is to optimize the periods of MTD actions in such a way that the
security is maximized while the quota is not exceeded", trading three objectives: security
(attack success probability, `secmas.mtd.attack`), operational cost (`secmas.mtd.cost`) and QoS
overhead (the downtime migrations cause, `secmas.mtd.migration`).

Time runs in steps of `step_s` over `steps` steps (the window: a day, a week, a month). State:

* k: whole steps since the last move, 0 … K − 1 (K − 1 stands for "K − 1 or more");
* q: remaining downtime budget, in units of `unit_s`. The SLA's budget (`secmas.mtd.quota`) is
  counted in units of the smallest expected downtime among the methods (coarser if that would
  need more than `max_units` units), and a migration with method m takes ceil(d_m / unit)
  units, so any mix of methods keeps within the SLA; with a single method this is exactly the
  quota floor(budget / d_m).

Actions: 0 = stay; i ≥ 1 = migrate now with `options[i − 1]` (a method with its predicted total
time, downtime and cost), allowed while q covers its units. The step's cost vector:

* security: the mean ASP over the step: risk[k] staying (then k + 1), risk[0] migrating (the
  move happens at the step's start; then k = 1);
* cost: the option's dollars (0 staying);
* QoS: the option's downtime in seconds (0 staying).

Transitions are deterministic (expected values), the MDP is solved by backward induction over
the window (`mdp.finite_horizon`) for a scalarisation w·(objective / scale), the scales making
each objective a share in [0, 1] over the window: mean ASP; cost over the most the budget could
buy (the costliest option, as often as the budget allows); downtime over the budget. A weight
of 10⁻⁶ is added to each objective so that ties go to the policy that is better in the others
(every optimum of strictly positive weights is Pareto-optimal).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from secmas.mtd.attack import DEFAULT_ATTACK, AttackModel, Vulnerability, mean_asp
from secmas.mtd.mdp import MOMDP, evaluate, finite_horizon
from secmas.mtd.migration import Method

OBJECTIVES: tuple[str, ...] = ("security", "cost", "qos")
TIE_WEIGHT = 1e-6
MAX_AGE = 192
MAX_UNITS = 200


@dataclass(frozen=True)
class MoveOption:
    """Migrating with `method`: predicted seconds and dollars of one move."""

    method: Method
    total_s: float
    downtime_s: float
    cost: float


@dataclass(frozen=True)
class Weights:
    """Scalarisation weights of security, cost and QoS (normalised to sum 1)."""

    security: float = 0.6
    cost: float = 0.2
    qos: float = 0.2

    def vector(self) -> np.ndarray:
        w = np.array([self.security, self.cost, self.qos], dtype=float)
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be ≥ 0 and not all 0, got {self}")
        return w / w.sum()


def risk_curve(
    vulns: Sequence[Vulnerability], step_s: float, buckets: int, attack: AttackModel
) -> np.ndarray:
    """risk[k]: mean ASP over a step starting k steps after the last move."""
    return np.array([mean_asp(vulns, k * step_s, (k + 1) * step_s, attack) for k in range(buckets)])


@dataclass(frozen=True)
class StrategyProblem:
    """One unit's MTD decision problem over a window."""

    risk: np.ndarray  # [K]
    options: tuple[MoveOption, ...]
    budget_s: float
    step_s: float
    steps: int
    initial_age: int = 0
    max_units: int = MAX_UNITS

    def __post_init__(self) -> None:
        if self.steps < 1 or self.step_s <= 0:
            raise ValueError("need at least one step of positive length")
        if len(self.risk) < 2:
            raise ValueError("need at least two age buckets")
        if not 0 <= self.initial_age < len(self.risk):
            raise ValueError("initial age outside the buckets")
        for o in self.options:
            if not (o.downtime_s > 0 and o.total_s >= 0 and o.cost >= 0):
                raise ValueError(f"option {o} needs downtime > 0, total ≥ 0 and cost ≥ 0")

    @classmethod
    def build(
        cls,
        vulns: Sequence[Vulnerability],
        options: Sequence[MoveOption],
        budget_s: float,
        step_s: float,
        steps: int,
        since_move_s: float = 0.0,
        attack: AttackModel = DEFAULT_ATTACK,
        max_age: int = MAX_AGE,
        max_units: int = MAX_UNITS,
    ) -> StrategyProblem:
        age = min(int(since_move_s // step_s), max_age - 1)
        buckets = max(2, min(max_age, age + steps + 1))
        return cls(
            risk=risk_curve(vulns, step_s, buckets, attack),
            options=tuple(options),
            budget_s=budget_s,
            step_s=step_s,
            steps=steps,
            initial_age=age,
            max_units=max_units,
        )

    # -- quota discretisation -------------------------------------------------------------
    @cached_property
    def unit_s(self) -> float:
        if not self.options or self.budget_s <= 0:
            return 1.0
        return max(min(o.downtime_s for o in self.options), self.budget_s / self.max_units)

    @cached_property
    def units(self) -> tuple[int, ...]:
        """Budget units one move with each option takes."""
        return tuple(max(1, math.ceil(o.downtime_s / self.unit_s - 1e-9)) for o in self.options)

    @cached_property
    def budget_units(self) -> int:
        return max(0, math.floor(self.budget_s / self.unit_s + 1e-9))

    def quota(self, option: int) -> int:
        """Moves the budget allows with `options[option]` alone."""
        return self.budget_units // self.units[option]

    # -- the MDP ------------------------------------------------------------------------------
    @property
    def ages(self) -> int:
        return len(self.risk)

    def state(self, age: int, units: int) -> int:
        return min(age, self.ages - 1) * (self.budget_units + 1) + units

    def decode(self, state: int) -> tuple[int, int]:
        return divmod(state, self.budget_units + 1)

    @cached_property
    def scales(self) -> np.ndarray:
        """Per objective, what the window's total is divided by before weighting."""
        most = max(
            (o.cost * self.quota(i) for i, o in enumerate(self.options)),
            default=0.0,
        )
        # below one unit of budget no move is possible and the QoS scale does not matter
        return np.array(
            [float(self.steps), most if most > 0 else 1.0, max(self.budget_s, self.unit_s)]
        )

    @cached_property
    def successors(self) -> np.ndarray:
        """[A, S] next state of each action (the state itself where not allowed)."""
        q_max = self.budget_units
        ages, units = np.divmod(np.arange(self.ages * (q_max + 1)), q_max + 1)
        succ = [np.minimum(ages + 1, self.ages - 1) * (q_max + 1) + units]
        for u in self.units:
            ok = units >= u
            moved = min(1, self.ages - 1) * (q_max + 1) + np.where(ok, units - u, units)
            succ.append(np.where(ok, moved, np.arange(len(ages))))
        return np.stack(succ)

    @cached_property
    def mdp(self) -> MOMDP:
        q_max = self.budget_units
        n = self.ages * (q_max + 1)
        ages, units = np.divmod(np.arange(n), q_max + 1)
        costs = np.zeros((1 + len(self.options), n, len(OBJECTIVES)))
        allowed = np.ones((1 + len(self.options), n), dtype=bool)
        costs[0, :, 0] = self.risk[ages]
        for i, (o, u) in enumerate(zip(self.options, self.units, strict=True), start=1):
            costs[i, :, 0] = self.risk[0]
            costs[i, :, 1] = o.cost
            costs[i, :, 2] = o.downtime_s
            allowed[i] = units >= u
        rows = np.arange(n)
        transitions = tuple(
            sparse.csr_array((np.ones(n), (rows, succ)), shape=(n, n)) for succ in self.successors
        )
        return MOMDP(transitions, costs, allowed, self.successors)

    @property
    def start(self) -> int:
        return self.state(self.initial_age, self.budget_units)

    def solve(self, weights: Weights | Sequence[float]) -> Strategy:
        """The optimal policy for `weights` and its objectives over the window."""
        w = weights.vector() if isinstance(weights, Weights) else np.asarray(weights, float)
        w = w / w.sum()
        effective = (w + TIE_WEIGHT) / self.scales
        solution = finite_horizon(self.mdp.dynamics, self.mdp.rewards(effective), self.steps)
        totals = evaluate(self.mdp, solution.policy, self.start)
        return Strategy(self, tuple(float(x) for x in w), solution.policy, totals)

    def fixed_interval(self, interval: int, option: int) -> Strategy:
        """The static baseline: migrate with `options[option]` whenever `interval` steps have
        passed since the last move and the budget covers it."""
        if interval < 1:
            raise ValueError("interval must be ≥ 1 step")
        ages, units = np.divmod(np.arange(self.mdp.states), self.budget_units + 1)
        due = (ages >= min(interval, self.ages - 1)) & (units >= self.units[option])
        row = np.where(due, option + 1, 0).astype(np.int8)
        policy = np.broadcast_to(row, (self.steps, len(row)))
        return Strategy(self, (), policy, evaluate(self.mdp, policy, self.start))


@dataclass(frozen=True)
class Move:
    """A planned migration: at the start of `step`, with `options[option]`."""

    step: int
    option: int
    method: Method


@dataclass(frozen=True)
class Strategy:
    """A solved policy: per step and state, stay (0) or the option to migrate with (i ≥ 1)."""

    problem: StrategyProblem
    weights: tuple[float, ...]  # () for a baseline that is not a scalarised optimum
    policy: np.ndarray  # [H, S]
    totals: np.ndarray  # [K] summed over the window: Σ ASP per step, $, downtime s

    @property
    def mean_asp(self) -> float:
        return float(self.totals[0] / self.problem.steps)

    @property
    def cost(self) -> float:
        return float(self.totals[1])

    @property
    def downtime_s(self) -> float:
        return float(self.totals[2])

    @property
    def objectives(self) -> tuple[float, float, float]:
        """(mean ASP over the window, dollars, seconds of downtime)."""
        return (self.mean_asp, self.cost, self.downtime_s)

    def action(self, step: int, age: int, units: int) -> int:
        return int(self.policy[step, self.problem.state(age, units)])

    def moves(self) -> list[Move]:
        """The migrations the policy makes from the start state (transitions are
        deterministic, so this is the policy's whole course)."""
        p, s, out = self.problem, self.problem.start, []
        for t in range(p.steps):
            a = int(self.policy[t, s])
            if a:
                out.append(Move(t, a - 1, p.options[a - 1].method))
            s = int(p.successors[a, s])
        return out

"""The Pareto front of MTD policies over security, cost and QoS (004_… Section 2.2).

The MOMDP has three objectives, all minimised here: mean attack success probability over the
window, dollars spent on migrations, seconds of downtime. Each weight vector on the simplex
(`simplex`) gives one optimal policy (`StrategyProblem.solve`); `non_dominated` marks the
policies no other one beats in every objective. Linear scalarisation only reaches the supported
points (the convex hull) of the front; the deliverable's MORL algorithms are one way to reach
the rest, a finer weight grid another.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from secmas.mtd.strategy import Strategy, StrategyProblem


def simplex(step: float = 0.1, dims: int = 3) -> list[tuple[float, ...]]:
    """Every weight vector of `dims` components that are multiples of `step` and sum to 1."""
    n = round(1 / step)
    if not np.isclose(n * step, 1.0):
        raise ValueError("step must divide 1")
    return [
        tuple(c / n for c in combo)
        for combo in itertools.product(range(n + 1), repeat=dims)
        if sum(combo) == n
    ]


def dominates(a: Sequence[float], b: Sequence[float], tol: float = 1e-12) -> bool:
    """a is no worse than b in every objective and better in one (minimisation)."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    return bool(np.all(x <= y + tol) and np.any(x < y - tol))


def non_dominated(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Boolean mask of the rows no other row dominates."""
    pts = np.asarray(points, dtype=float)
    return np.array(
        [
            not any(dominates(pts[j], pts[i]) for j in range(len(pts)) if j != i)
            for i in range(len(pts))
        ],
        dtype=bool,
    )


@dataclass(frozen=True)
class PolicyPoint:
    """One policy and where it lands (mean ASP, dollars, seconds of downtime)."""

    label: str
    weights: tuple[float, ...]
    mean_asp: float
    cost: float
    downtime_s: float
    migrations: int
    methods: dict[str, int]
    pareto: bool


def points(strategies: Sequence[Strategy], labels: Sequence[str]) -> list[PolicyPoint]:
    """Place every strategy and mark those no other one of the set dominates."""
    mask = non_dominated(np.array([s.objectives for s in strategies]))
    out = []
    for s, label, keep in zip(strategies, labels, mask, strict=True):
        moves = s.moves()
        counts: dict[str, int] = {}
        for m in moves:
            counts[m.method.value] = counts.get(m.method.value, 0) + 1
        out.append(
            PolicyPoint(
                label=label,
                weights=s.weights,
                mean_asp=s.mean_asp,
                cost=s.cost,
                downtime_s=s.downtime_s,
                migrations=len(moves),
                methods=counts,
                pareto=bool(keep),
            )
        )
    return out


def weight_label(weights: Sequence[float]) -> str:
    return "w=(" + ", ".join(f"{x:.2f}" for x in weights) + ")"


def front(problem: StrategyProblem, weights: Sequence[Sequence[float]]) -> list[PolicyPoint]:
    """Solve `problem` for every weight vector and mark the non-dominated policies."""
    return points([problem.solve(w) for w in weights], [weight_label(w) for w in weights])

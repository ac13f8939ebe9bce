"""Pareto non-dominance over (mean ASP, cost, downtime)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from secmas.mtd.attack import Vulnerability
from secmas.mtd.migration import Method
from secmas.mtd.pareto import dominates, front, non_dominated, points, simplex
from secmas.mtd.strategy import MoveOption, StrategyProblem


def test_dominance_by_hand() -> None:
    assert dominates((1, 1, 1), (1, 2, 1))
    assert not dominates((1, 1, 1), (1, 1, 1))
    assert not dominates((0, 2, 1), (1, 1, 1))
    pts = [(0.1, 5.0, 10.0), (0.2, 1.0, 10.0), (0.2, 5.0, 10.0), (0.1, 5.0, 10.0), (0.5, 0, 0)]
    assert list(non_dominated(pts)) == [True, True, False, True, True]


def test_simplex() -> None:
    grid = simplex(0.1)
    assert len(grid) == 66 and all(abs(sum(w) - 1) < 1e-12 for w in grid)
    assert (1.0, 0.0, 0.0) in grid and len(simplex(0.5)) == 6


@given(st.lists(st.tuples(*[st.integers(0, 6)] * 3), min_size=1, max_size=25))
def test_front_is_exactly_the_undominated_points(pts) -> None:
    mask = non_dominated(pts)
    arr = np.array(pts, dtype=float)
    for i, keep in enumerate(mask):
        beaten = any(dominates(arr[j], arr[i]) for j in range(len(arr)))
        assert keep == (not beaten)
    assert mask.any()  # a finite set always has a non-dominated point
    for i in np.flatnonzero(~mask):  # every dominated point has a dominator on the front
        assert any(dominates(arr[j], arr[i]) for j in np.flatnonzero(mask))


def problem() -> StrategyProblem:
    options = (
        MoveOption(Method.HYBRID, 20.0, 2.0, 0.0010),
        MoveOption(Method.COLD, 12.0, 8.0, 0.0006),
    )
    vulns = (Vulnerability(9.8, 3.887), Vulnerability(7.5, 2.2))
    return StrategyProblem.build(vulns, options, budget_s=43.2, step_s=900.0, steps=96)


def test_scalarised_optima_are_never_dominated_by_fixed_schedules() -> None:
    p = problem()
    optima = [p.solve(w) for w in simplex(0.25)]
    baselines = [p.fixed_interval(k, o) for k in (4, 8, 16, 32) for o in (0, 1)]
    labels = [f"o{i}" for i in range(len(optima))] + [f"b{i}" for i in range(len(baselines))]
    placed = points(optima + baselines, labels)
    assert all(pt.pareto for pt in placed[: len(optima)])
    assert any(not pt.pareto for pt in placed[len(optima) :])
    assert placed[0].label == "o0" and placed[-1].label.startswith("b")


def test_front_spans_the_trade_off() -> None:
    pts = front(problem(), simplex(0.25))
    risks = [p.mean_asp for p in pts]
    assert min(risks) < max(risks)
    idle = next(p for p in pts if p.weights[0] == 0)
    assert idle.migrations == 0 and idle.cost == 0 and idle.downtime_s == 0
    busiest = max(pts, key=lambda p: p.migrations)
    assert busiest.downtime_s <= 43.2 + 1e-9
    assert sum(busiest.methods.values()) == busiest.migrations

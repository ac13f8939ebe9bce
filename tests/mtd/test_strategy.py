"""The MTD MOMDP: quota, timing of moves, method choice."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.mtd.attack import DEFAULT_ATTACK, Vulnerability, mean_asp
from secmas.mtd.migration import Method
from secmas.mtd.strategy import MoveOption, StrategyProblem, Weights, risk_curve

HYBRID = MoveOption(Method.HYBRID, total_s=20.0, downtime_s=2.0, cost=0.001)
COLD = MoveOption(Method.COLD, total_s=12.0, downtime_s=8.0, cost=0.0006)
VULNS = (Vulnerability(9.8, 3.887), Vulnerability(6.5, 1.8))


def tiny(budget_s: float = 2.0, steps: int = 3) -> StrategyProblem:
    return StrategyProblem(
        risk=np.array([0.0, 0.1, 0.2, 0.3]),
        options=(HYBRID,),
        budget_s=budget_s,
        step_s=3600.0,
        steps=steps,
        initial_age=3,
    )


def test_one_move_goes_where_it_saves_most_by_hand() -> None:
    # never: 0.3·3 = 0.9; move at t0: 0 + 0.1 + 0.2 = 0.3; t1: 0.3 + 0 + 0.1 = 0.4;
    # t2: 0.3 + 0.3 + 0 = 0.6 → move at once.
    s = tiny().solve(Weights(1.0, 0.0, 0.0))
    assert [(m.step, m.method) for m in s.moves()] == [(0, Method.HYBRID)]
    assert s.mean_asp == pytest.approx(0.3 / 3)
    assert s.cost == pytest.approx(0.001) and s.downtime_s == pytest.approx(2.0)


def test_no_budget_no_move_and_no_security_weight_no_move() -> None:
    assert tiny(budget_s=1.0).solve(Weights(1, 0, 0)).moves() == []
    assert tiny(budget_s=100.0).solve(Weights(0, 0.5, 0.5)).moves() == []
    assert tiny(budget_s=100.0).solve(Weights(0, 0.5, 0.5)).mean_asp == pytest.approx(0.3)


def test_security_only_moves_as_often_as_useful_within_quota() -> None:
    p = tiny(budget_s=100.0, steps=6)
    s = p.solve(Weights(1, 0, 0))
    assert len(s.moves()) == 6  # risk[0] = 0 < any other: move every step
    assert s.mean_asp == pytest.approx(0.0)


def test_units_and_quota() -> None:
    p = StrategyProblem(
        risk=np.array([0.0, 0.1]), options=(HYBRID, COLD), budget_s=43.2, step_s=900, steps=96
    )
    assert p.unit_s == 2.0 and p.units == (1, 4) and p.budget_units == 21
    assert (p.quota(0), p.quota(1)) == (21, 5)
    coarse = StrategyProblem(
        risk=np.array([0.0, 0.1]),
        options=(HYBRID,),
        budget_s=1296.0,
        step_s=3600,
        steps=10,
        max_units=200,
    )
    assert coarse.unit_s == pytest.approx(6.48) and coarse.budget_units == 200


@settings(max_examples=25)
@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 60), st.integers(0, 20))
def test_every_policy_respects_the_sla_budget(ws, wc, wq, budget, age) -> None:
    if ws + wc + wq == 0:
        ws = 1.0
    p = StrategyProblem.build(
        VULNS, (HYBRID, COLD), budget_s=budget, step_s=1800, steps=48, since_move_s=age * 1800.0
    )
    s = p.solve(Weights(ws, wc, wq))
    moves = s.moves()
    assert sum(p.options[m.option].downtime_s for m in moves) <= budget + 1e-9
    assert s.downtime_s == pytest.approx(sum(p.options[m.option].downtime_s for m in moves))
    assert [m.step for m in moves] == sorted({m.step for m in moves})


def test_risk_curve_is_the_mean_asp_per_step() -> None:
    curve = risk_curve(VULNS, 3600.0, 5, DEFAULT_ATTACK)
    assert curve[2] == pytest.approx(mean_asp(VULNS, 7200.0, 10800.0))
    assert list(curve) == sorted(curve)


def test_fixed_interval_baseline() -> None:
    p = StrategyProblem.build(VULNS, (HYBRID,), budget_s=10.0, step_s=3600, steps=24)
    s = p.fixed_interval(4, 0)
    steps = [m.step for m in s.moves()]
    assert steps == [4, 8, 12, 16, 20]  # every 4 steps; the budget (10 s / 2 s) stops it at 5
    assert s.downtime_s == pytest.approx(2.0 * len(steps))
    best = p.solve(Weights(1, 0, 0))
    assert best.mean_asp <= s.mean_asp


def test_bad_problems() -> None:
    with pytest.raises(ValueError):
        StrategyProblem(np.array([0.0]), (HYBRID,), 1.0, 60.0, 3)
    with pytest.raises(ValueError):
        StrategyProblem(np.array([0.0, 0.1]), (HYBRID,), 1.0, 60.0, 0)
    with pytest.raises(ValueError):
        Weights(0, 0, 0).vector()

"""The pure planning API: plan_mtd and downtime."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict

import pytest

from secmas.mtd import (
    METHODS,
    SLA,
    CNFProfile,
    Horizon,
    Load,
    Method,
    MigrationRegressor,
    Vulnerability,
    Weights,
    downtime,
    plan,
    plan_mtd,
)
from secmas.mtd.dataset import generate

DAY = 86400.0
CRIT = (Vulnerability(9.8, 3.887, "CVE-a"), Vulnerability(7.5, 2.2, "CVE-b"))


def cnfs() -> list[CNFProfile]:
    return [
        CNFProfile("amf", Load(0.5, 450.0, 3.0, 10.0), 60.0, 4, 8, 40, CRIT),
        CNFProfile("smf", Load(0.8, 1500.0, 0.3, 1.0), 60.0, 4, 16, 40, CRIT[:1], service="core"),
        CNFProfile("upf", Load(0.6, 200.0, 0.2, 40.0), 60.0, 8, 4, 20, CRIT[1:], service="core"),
        CNFProfile("nrf", Load(0.1, 80.0, 0.1, 0.5), 100.0, 1, 1, 10, ()),
    ]


def test_plan_respects_every_quota_and_orders_steps() -> None:
    sla = SLA(availability=0.9995, window_s=7 * DAY)
    steps = plan_mtd(cnfs(), sla, Horizon(DAY, 900.0), Weights(0.7, 0.1, 0.2))
    assert steps and [s.time for s in steps] == sorted(s.time for s in steps)
    budget = (1 - 0.9995) * DAY
    spent: dict[str, float] = defaultdict(float)
    for s in steps:
        spent[s.cnf] += s.predicted_downtime
        assert 0 <= s.time < DAY and isinstance(s.method, Method)
        assert s.predicted_total >= s.predicted_downtime > 0
    assert all(v <= budget + 1e-9 for v in spent.values())
    assert "nrf" not in spent  # no vulnerabilities: nothing to gain from moving it


def test_service_members_move_together_and_arrive_together() -> None:
    result = plan(cnfs(), SLA(0.9995, 7 * DAY), Horizon(DAY, 900.0), Weights(0.7, 0.1, 0.2))
    core = [s for s in result.steps if s.cnf in ("smf", "upf")]
    assert core
    by_move: dict[int, list] = defaultdict(list)
    for s in core:
        by_move[int(s.time // 900.0)].append(s)
    for group in by_move.values():
        assert {s.cnf for s in group} == {"smf", "upf"}
        assert len({s.method for s in group}) == 1
        arrivals = [s.time + s.predicted_total for s in group]
        assert max(arrivals) - min(arrivals) < 1e-6
    unit = next(u for u in result.units if u.name == "core")
    assert unit.members == ("smf", "upf")
    assert unit.budget_s == pytest.approx(43.2)
    assert set(unit.quotas) == {m.value for m in Method}


def test_weights_steer_the_plan() -> None:
    sla, horizon = SLA(0.9995, 7 * DAY), Horizon(DAY, 900.0)
    secure = plan_mtd(cnfs(), sla, horizon, Weights(1.0, 0.0, 0.0))
    calm = plan_mtd(cnfs(), sla, horizon, Weights(0.0, 0.5, 0.5))
    assert calm == [] and len(secure) > 0


def test_a_trained_regressor_can_predict() -> None:
    reg = MigrationRegressor().fit(generate(seed=30, repeats=6))
    steps = plan_mtd(
        cnfs()[:1],
        SLA(0.9995, DAY),
        Horizon(DAY, 1800.0),
        Weights(),
        predictor=reg,
        methods=[Method.PRECOPY, Method.HYBRID],
    )
    assert steps and {s.method for s in steps} <= {Method.PRECOPY, Method.HYBRID}


def test_bad_requests() -> None:
    with pytest.raises(ValueError):
        plan_mtd(cnfs(), SLA(0.9995, DAY), Horizon(2 * DAY, 900.0), Weights())
    with pytest.raises(ValueError):
        plan_mtd(cnfs() + cnfs()[:1], SLA(0.9995, DAY), Horizon(DAY, 900.0), Weights())


def test_downtime_for_the_simulator() -> None:
    load = Load(0.5, 450.0, 3.0, 10.0)
    assert downtime("hybrid", load, 60.0) < downtime("cold", load, 60.0)


def test_the_package_is_pure() -> None:
    code = (
        "import sys, secmas.mtd, secmas.mtd.planner, secmas.mtd.pareto;"
        "bad = [m for m in sys.modules if m.startswith(('secmas.agents', 'secmas.network',"
        " 'secmas.transport', 'secmas.pipeline', 'secmas.ledger'))];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_spent_budget_allows_no_move() -> None:
    sla = SLA(availability=0.9995, window_s=DAY, downtime_used_s=43.2)
    assert plan_mtd(cnfs(), sla, Horizon(DAY, 900.0), Weights(1.0, 0.0, 0.0)) == []


class FixedSelector:
    """Picks cold for memory-heavy CNFs, hybrid otherwise (a stand-in classifier)."""

    model = "learned"

    def select(self, load: Load, bandwidth: float) -> Method:
        return Method.COLD if load.memory_mb > 1000 else Method.HYBRID


def test_a_selector_picks_the_methods_and_the_plan_says_which_models_it_used() -> None:
    sla, horizon = SLA(0.9995, 7 * DAY), Horizon(DAY, 900.0)
    chosen = plan(cnfs(), sla, horizon, Weights(1.0, 0.0, 0.0), selector=FixedSelector())
    assert chosen.selector == "learned"
    assert set(chosen.predictor.values()) == {"analytic"}
    assert len(chosen.predictor) == 2 * len(METHODS)
    selected = {c: m for u in chosen.units for c, m in u.selected.items()}
    assert selected["smf"] is Method.COLD and selected["amf"] is Method.HYBRID
    core = next(u for u in chosen.units if u.name == "core")
    assert set(core.quotas) == {"cold", "hybrid"}  # the members' picks, nothing else
    by_cnf = defaultdict(set)
    for step in chosen.steps:
        by_cnf[step.cnf].add(step.method)
    assert by_cnf["amf"] <= {Method.HYBRID} and by_cnf["smf"] <= {Method.COLD, Method.HYBRID}
    free = plan(cnfs(), sla, horizon, Weights(1.0, 0.0, 0.0))
    assert free.selector is None and all(u.selected == {} for u in free.units)
    assert all(len(u.quotas) == len(METHODS) for u in free.units)


def test_a_trained_regressor_says_it_predicted() -> None:
    reg = MigrationRegressor().fit(generate(seed=30, repeats=2))
    chosen = plan(cnfs()[:1], SLA(0.9995, DAY), Horizon(DAY, 1800.0), Weights(), predictor=reg)
    assert set(chosen.predictor.values()) == {"learned"}

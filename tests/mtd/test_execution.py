"""MTD in a run: the plan's moves become cnfMoved goals, auctioned away from the PoP the
CNF leaves, executed within the quota, a service's members arriving together."""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from secmas.agents.ddos.agent import World
from secmas.cti.placement import HygieneFilter
from secmas.mtd.execution import MovingTargetLoop, plan_scenario, profile, widest_link
from secmas.pipeline.operate import OperateResult, operate
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


def scenario() -> Scenario:
    loaded = load_scenario(SCENARIOS / "adaptive-defence.yaml")
    security = loaded.security.model_copy(update={"enabled": False})
    return loaded.model_copy(update={"security": security})


@cache
def run(with_cti: bool) -> tuple[OperateResult, MovingTargetLoop]:
    loaded = scenario()
    assert loaded.mtd is not None and loaded.cti is not None
    mtd = MovingTargetLoop(loaded, loaded.mtd)
    loops: list[object] = [mtd]
    if with_cti:
        loops.insert(0, HygieneFilter.prepare(loaded, SCENARIOS, loaded.cti))
    return asyncio.run(operate(loaded, loops=loops)), mtd  # type: ignore[arg-type]


def test_profile_reads_the_vectors_and_the_widest_link_to_another_node() -> None:
    loaded = scenario()
    assert loaded.mtd is not None
    web = profile(loaded, loaded.mtd.targets[0])
    # pop6's links: pop5 (8 MB/s), pop4 (5 MB/s); the 10 MB/s links to hosts do not count
    assert widest_link(loaded, "pop6") == web.bandwidth == 8.0
    # CVE-2021-23017 AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H: base 8.1, exploitability 2.2
    first = web.vulnerabilities[0]
    assert (first.id, first.base, round(first.exploitability, 1)) == ("CVE-2021-23017", 8.1, 2.2)
    assert web.service == "shop" and web.cpu == 2.0


def test_the_budget_is_the_downtime_the_availability_sla_allows_over_the_horizon() -> None:
    loaded = scenario()
    assert loaded.mtd is not None
    plan = plan_scenario(loaded, loaded.mtd)
    [unit] = plan.units
    # (1 − 0.98) × (300 − 60) s
    assert unit.budget_s == pytest.approx(4.8)
    for step in plan.steps:
        assert unit.quotas[step.method.value] >= 1
    per_cnf: dict[str, float] = {}
    for step in plan.steps:
        per_cnf[step.cnf] = per_cnf.get(step.cnf, 0.0) + step.predicted_downtime
    assert all(spent <= unit.budget_s for spent in per_cnf.values())


def test_a_start_after_the_run_is_refused() -> None:
    loaded = scenario()
    assert loaded.mtd is not None
    late = loaded.mtd.model_copy(update={"start": 400.0})
    with pytest.raises(ValueError, match="not before the run's end"):
        plan_scenario(loaded, late)


def test_moves_leave_the_current_pop_avoid_low_hygiene_and_stay_in_quota() -> None:
    result, mtd = run(with_cti=True)
    moves = mtd.moves
    assert moves and all(m.outcome == "moved" for m in moves)
    for move in moves:
        assert move.destination not in (move.source, "pop5")  # pop5: core-c, hygiene 0.011
        assert move.arrived_at is not None and move.arrived_at >= move.planned_at
    report = mtd.report()["mtd"]
    assert report["within_quota"]
    [unit] = report["units"]
    for cnf, spent in unit["downtime_spent_s"].items():
        assert 0 < spent <= unit["budget_s"]
        assert spent == pytest.approx(sum(m.predicted_downtime_s for m in moves if m.cnf == cnf))
    # the service's two CNFs, started apart, arrive in the same step
    assert unit["arrival_spread_s"] and all(s <= 1.0 for s in unit["arrival_spread_s"].values())
    # every auction of a move: the PoP the CNF leaves declined it
    for _, record in result.journal.auctions:
        request = record.outcome.request
        if request.goal == "cnfMoved":
            move = next(m for m in moves if (m.cnf, str(m.k)) == request.args)
            reasons = {r.bidder: r.reason for r in record.outcome.refusals}
            assert reasons[move.source].startswith("MTD: ")
            assert reasons["pop5"].startswith("CTI: domain core-c hygiene 0.011")


def test_the_instance_a_cnf_leaves_is_terminated() -> None:
    result, mtd = run(with_cti=True)
    replicas = [i for i in result.infra.instances.values() if i.vnf == "web_replica"]
    last = {m.cnf: m.destination for m in mtd.moves}
    assert sorted(i.pop for i in replicas) == sorted(last.values())
    stopped = [p for p in result.journal.placements if p.kind == "terminate"]
    # the first move's instances stop when the second move arrives
    assert sorted(p.pop for p in stopped) == sorted(m.destination for m in mtd.moves if m.k == 1)


class ErrorRates:
    """Records the web CNF's error rate after every step (read from the data plane)."""

    def __init__(self) -> None:
        self.rates: dict[float, float] = {}
        self.world: World | None = None

    def attach(self, world: World, *_: Any) -> None:
        self.world = world

    async def start(self, _agents: Any) -> None:
        return None

    async def after_step(self, now: float) -> None:
        assert self.world is not None and self.world.plane is not None
        self.rates[now] = self.world.plane.cnf_metrics("web")["error_rate"]

    def report(self) -> dict[str, Any]:
        return {}


def test_requests_fail_while_the_cnf_is_down() -> None:
    loaded = scenario()
    assert loaded.mtd is not None
    mtd, rates = MovingTargetLoop(loaded, loaded.mtd), ErrorRates()
    asyncio.run(operate(loaded, loops=[mtd, rates], until=170.0))
    web = next(m for m in mtd.moves if m.cnf == "web")
    assert web.outcome == "moved" and web.arrived_at is not None
    before = [r for t, r in rates.rates.items() if t < web.planned_at]
    after = [r for t, r in rates.rates.items() if web.arrived_at < t <= web.arrived_at + 3]
    baseline = max(before)
    assert baseline < 0.01
    # the switch-over's downtime, seen as failed requests in the next steps (1-s steps)
    assert sum(r - baseline for r in after) == pytest.approx(web.predicted_downtime_s, abs=0.05)


def test_without_cti_the_core_pop_would_have_taken_the_cnf() -> None:
    _result, mtd = run(with_cti=False)
    assert mtd.moves[0].destination == "pop5"


def test_a_spent_budget_skips_the_move_with_the_reason() -> None:
    loaded = scenario()
    assert loaded.mtd is not None
    mtd = MovingTargetLoop(loaded, loaded.mtd)
    mtd.spent = dict(mtd.budget)
    asyncio.run(operate(loaded, loops=[mtd], until=200.0))
    first = mtd.moves[0]
    assert first.outcome == "skipped" and first.reason.startswith("quota: ")
    assert first.source == ""

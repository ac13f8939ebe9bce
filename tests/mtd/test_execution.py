"""MTD in a run: the plan's moves become cnfMoved goals, auctioned away from the PoP the
CNF leaves, executed within the quota, a service's members arriving together."""

from __future__ import annotations

import asyncio
import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from secmas.agents.bidding import GoalRequest
from secmas.agents.ddos.world import World
from secmas.analytics.forecast import Forecaster, metric_forecast
from secmas.cti.placement import HygieneFilter
from secmas.mtd.calibration import calibrated
from secmas.mtd.execution import MovingTargetLoop, drifted, hourly_price, plan_scenario
from secmas.mtd.exposure import Residence, findings_of
from secmas.mtd.migration import Load
from secmas.mtd.planner import AnalyticPredictor
from secmas.network.dataplane.cnf import METRICS
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
def cti() -> HygieneFilter:
    loaded = scenario()
    assert loaded.cti is not None
    return HygieneFilter.prepare(loaded, SCENARIOS, loaded.cti)


def loop(loaded: Scenario, with_cti: bool = True) -> MovingTargetLoop:
    assert loaded.mtd is not None
    shared = cti()
    findings = findings_of(r for got in shared.exchanged.received for r in got.reports)
    excluded = tuple(shared.excluded) if with_cti else ()
    return MovingTargetLoop(loaded, loaded.mtd, cti=findings, excluded=excluded)


@cache
def run(with_cti: bool) -> tuple[OperateResult, MovingTargetLoop]:
    loaded = scenario()
    mtd = loop(loaded, with_cti)
    loops: list[object] = [mtd]
    if with_cti:
        loops.insert(0, cti())
    return asyncio.run(operate(loaded, loops=loops)), mtd  # type: ignore[arg-type]


def test_the_vulnerabilities_come_from_the_cti_the_subscriber_received() -> None:
    mtd = loop(scenario())
    # web runs nginx 1.22.0 and OpenSSL 3.0.7: edge-b's findings on nginx 1.22.0, and its
    # OpenSSL finding whose version was generalised (it may be 3.0.7); api runs nginx
    # 1.24.0: edge-a's Rapid Reset (its CVSS 4.0 finding cannot be scored)
    assert [v.id for v in mtd.vulns["web"]] == ["CVE-2023-44487", "CVE-2022-41741", "CVE-2023-0286"]
    assert [v.id for v in mtd.vulns["api"]] == ["CVE-2023-44487"]
    assert mtd.unscored["api"] == ("CVE-2024-7347",)
    assert mtd.report()["mtd"]["vulnerabilities"]["web"]["source"] == "cti"


def test_the_cost_inputs_are_priced_and_a_cnf_below_the_regression_is_refused() -> None:
    loaded = scenario()
    assert loaded.mtd is not None
    web, api = loaded.mtd.targets
    # −0.082 + 0.031·4 + 0.004·8 + 0.00006·40 $/h
    assert hourly_price(loaded, web) == pytest.approx(0.0764)
    tiny = api.model_copy(update={"memory_gb": 1.0, "storage_gb": 2.0})
    # 2 vCPU (api's cores), 1 GB, 2 GB: −0.082 + 0.062 + 0.004 + 0.00012 $/h
    with pytest.raises(ValueError, match=r"price at -0.0159 \$/h"):
        hourly_price(loaded, tiny)


def test_the_budget_is_the_downtime_the_availability_sla_allows_over_the_horizon() -> None:
    loaded = scenario()
    assert loaded.mtd is not None
    shared = cti()
    findings = findings_of(r for got in shared.exchanged.received for r in got.reports)
    [plan] = plan_scenario(loaded, loaded.mtd, findings, shared.excluded)
    [unit] = plan.units
    # (1 − 0.98) × (300 − 60) s
    assert unit.budget_s == pytest.approx(4.8)
    assert plan.steps and unit.strategy.cost > 0  # the cost objective is not zero
    per_cnf: dict[str, float] = {}
    for step in plan.steps:
        per_cnf[step.cnf] = per_cnf.get(step.cnf, 0.0) + step.predicted_downtime
    assert all(spent <= unit.budget_s for spent in per_cnf.values())


def test_a_start_after_the_run_is_refused() -> None:
    loaded = scenario()
    assert loaded.mtd is not None
    late = loaded.mtd.model_copy(update={"start": 400.0})
    with pytest.raises(ValueError, match="not before the run's end"):
        plan_scenario(loaded, late, None)


# Widest paths over the scenario's links (MB/s): pop6–pop4 5, pop4–pop3 5, pop6–pop5 8,
# pop5–pop1 10, pop5–pop2 9 (pop5 may carry the transfer, not host the CNF).
PATH_WIDTH = {"pop4": 5.0, "pop3": 5.0, "pop1": 8.0, "pop2": 8.0}


def test_each_move_is_charged_the_model_on_the_path_to_the_pop_the_auction_chose() -> None:
    _result, mtd = run(with_cti=True)
    moved = [m for m in mtd.moves if m.outcome == "moved"]
    assert moved and {m.source for m in moved} == {"pop6"}
    predictor = AnalyticPredictor()
    for move in moved:
        assert move.destination not in (move.source, "pop5")  # pop5: core-c, hygiene 0.011
        assert move.bandwidth_mbps == PATH_WIDTH[move.destination]
        assert move.load is not None
        expected = predictor.predict(move.method, Load(**move.load), PATH_WIDTH[move.destination])
        assert move.predicted_downtime_s == pytest.approx(expected.downtime_s)
        assert move.predicted_total_s == pytest.approx(expected.total_s)
        assert move.cost_usd is not None and move.cost_usd > 0
    # the plan assumed pop6's widest path to a PoP that may host the CNF (8 MB/s, over
    # pop5); the web CNF's auction chose pop4 (5 MB/s), and the charge follows it
    web = next(m for m in moved if m.cnf == "web")
    assert web.planned_bandwidth_mbps == 8.0 and web.destination == "pop4"
    assert web.predicted_downtime_s > web.planned_downtime_s
    report = mtd.report()["mtd"]
    assert report["within_quota"] and report["cost_usd"] > 0
    [unit] = report["units"]
    for cnf, spent in unit["downtime_spent_s"].items():
        assert 0 < spent <= unit["budget_s"]
        assert spent == pytest.approx(sum(m.predicted_downtime_s for m in moved if m.cnf == cnf))
    assert all(m["measured_downtime_s"] is None for m in report["moves"])
    # the members went to PoPs with different paths and still arrive together: their
    # switch-overs (the downtime's start) differ by their downtimes, at 1-s steps
    ends = {m.cnf: m for m in moved if m.k == 1}
    spread = unit["arrival_spread_s"]["1"]
    assert spread <= abs(ends["web"].predicted_downtime_s - ends["api"].predicted_downtime_s) + 1


def test_every_move_auction_was_declined_by_the_pop_left_and_the_excluded_one() -> None:
    result, mtd = run(with_cti=True)
    for _, record in result.journal.auctions:
        request = record.outcome.request
        if request.goal == "cnfMoved":
            move = next(m for m in mtd.moves if (m.cnf, str(m.k)) == request.args)
            reasons = {r.bidder: r.reason for r in record.outcome.refusals}
            assert reasons[move.source].startswith("MTD: ")
            assert reasons["pop5"].startswith("CTI: domain core-c hygiene 0.011")


def test_the_instance_a_cnf_leaves_is_terminated() -> None:
    result, mtd = run(with_cti=True)
    replicas = [i for i in result.infra.instances.values() if i.vnf == "web_replica"]
    moved = [m for m in mtd.moves if m.outcome == "moved"]
    last = {m.cnf: m.destination for m in moved}
    assert sorted(i.pop for i in replicas) == sorted(last.values())
    stopped = [p for p in result.journal.placements if p.kind == "terminate"]
    assert len(stopped) == len(moved) - len(last)


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
    mtd, rates = loop(loaded), ErrorRates()
    asyncio.run(operate(loaded, loops=[mtd, rates], until=260.0))
    web = next(m for m in mtd.moves if m.cnf == "web")
    assert web.outcome == "moved" and web.arrived_at is not None
    before = [r for t, r in rates.rates.items() if t < web.planned_at]
    after = [r for t, r in rates.rates.items() if web.arrived_at < t <= web.arrived_at + 6]
    baseline = max(before)
    assert baseline < 0.01
    # the switch-over's downtime, seen as failed requests in the next steps (1-s steps)
    assert sum(r - baseline for r in after) == pytest.approx(web.predicted_downtime_s, rel=0.05)


def test_without_cti_the_core_pop_would_have_taken_a_cnf() -> None:
    _result, mtd = run(with_cti=False)
    assert "pop5" in {m.destination for m in mtd.moves}


def test_a_spent_budget_skips_the_move_with_the_reason() -> None:
    loaded = scenario()
    assert loaded.mtd is not None
    mtd = loop(loaded)
    mtd.spent = dict(mtd.budget)
    asyncio.run(operate(loaded, loops=[mtd], until=200.0))
    first = mtd.moves[0]
    assert first.outcome == "skipped" and first.reason.startswith("MTD: quota: on the path pop6→")
    # every path was weighed: the narrow ones by pop4 and pop3 too
    assert "pop6→pop4 (5 MB/s)" in first.reason and first.source == "pop6"


class WorldChange:
    """Changes the world at `at` (simulated seconds): every PoP refuses moves until
    `refuse_until`, and the links `reserve` lose that much bandwidth for good."""

    def __init__(self, at: float, refuse_until: float, reserve: dict[tuple[str, str], float]):
        self.at, self.refuse_until, self.reserve = at, refuse_until, reserve
        self.world: World | None = None
        self.now = 0.0

    def attach(self, world: World, *_: Any) -> None:
        self.world = world
        world.declines.insert(0, self.refuse)

    def refuse(self, pop: str, request: GoalRequest) -> str | None:
        if request.goal == "cnfMoved" and self.now < self.refuse_until:
            return f"{pop} is being serviced"
        return None

    async def start(self, _agents: Any) -> None:
        return None

    async def after_step(self, now: float) -> None:
        self.now = now
        if now == self.at:
            assert self.world is not None
            for (a, b), mbps in self.reserve.items():
                self.world.infra.reserve_path([a, b], mbps)

    def report(self) -> dict[str, Any]:
        return {}


def test_a_refused_move_is_replanned_and_made_later() -> None:
    loaded = scenario()
    mtd, change = loop(loaded), WorldChange(at=-1.0, refuse_until=100.0, reserve={})
    asyncio.run(operate(loaded, loops=[change, mtd]))
    failed = [m for m in mtd.moves if m.outcome == "failed"]
    assert failed, [(m.cnf, m.outcome, m.reason) for m in mtd.moves]
    replans = [r for r in mtd.replans if "failed" in r["reason"]]
    assert replans and replans[0]["planned"] > 0
    # the new plan's moves start after the failure (posted `lead` seconds before)
    later = [m for m in mtd.moves if m.outcome == "moved"]
    assert later and all(m.planned_at >= replans[0]["at"] + 60 for m in later)


def test_a_path_that_narrows_then_disappears_is_replanned() -> None:
    loaded = scenario()
    mtd = loop(loaded)
    assert {u.assumed["web"] for u in mtd.units} == {8.0}
    # at 10 s the 8 MB/s link towards pop5 keeps 2 MB/s: pop6's widest path to a PoP that
    # may host the CNFs is now 5 MB/s (pop4)
    narrow = WorldChange(at=10.0, refuse_until=0.0, reserve={("pop6", "pop5"): 6.0})
    asyncio.run(operate(loaded, loops=[narrow, mtd], until=12.0))
    [replan] = mtd.replans
    assert replan["at"] == 10.0 and "was 8 MB/s, now 5 MB/s" in replan["reason"]
    assert {u.assumed["web"] for u in mtd.units} == {5.0}
    assert all(m.planned_bandwidth_mbps == 5.0 for m in mtd.moves)
    # then every link out of pop6 is taken: no move can be planned
    mtd = loop(loaded)
    gone = WorldChange(
        at=10.0, refuse_until=0.0, reserve={("pop6", "pop5"): 8.0, ("pop6", "pop4"): 5.0}
    )
    asyncio.run(operate(loaded, loops=[gone, mtd], until=12.0))
    [replan] = mtd.replans
    assert "disappeared" in replan["reason"] and replan["planned"] == 0
    assert not mtd.moves


def test_low_load_timing_starts_the_move_in_the_forecast_valley() -> None:
    loaded = scenario()
    assert loaded.mtd is not None
    settings = loaded.mtd.model_copy(update={"timing": "low-load"})
    shared = cti()
    findings = findings_of(r for got in shared.exchanged.received for r in got.reports)
    calls: list[str] = []

    def valley(cnf: str, series: Any) -> list[float]:
        # asked when the goal is posted, `lead` (60 s) before the planned start: traffic
        # drops 70 s from then, for 40 s
        calls.append(cnf)
        return [2.2] * 70 + [0.2] * 40 + [2.2] * 60

    plain = MovingTargetLoop(loaded, loaded.mtd, cti=findings, excluded=tuple(shared.excluded))
    timed = MovingTargetLoop(
        loaded, settings, cti=findings, excluded=tuple(shared.excluded), forecast=valley
    )
    asyncio.run(operate(loaded, loops=[timed], until=120.0))
    first = next(m for m in timed.moves if m.posted_at is not None)
    planned = next(m for m in plain.moves if (m.cnf, m.k) == (first.cnf, first.k))
    shift = timed._shifts[("shop", 1)]
    # within one decision step (15 s) after the planned start, into the valley
    assert 0 < shift <= settings.step and set(calls) == {"web", "api"}
    # the members arrive together on the slowest path one may take, then shifted
    arrival = timed._arrivals[("shop", 1)]
    assert arrival >= planned.planned_at + planned.planned_total_s + shift
    for offer in first.destinations.values():
        if "refused" not in offer:
            assert offer["start_at"] == pytest.approx(arrival - offer["total"])
    with pytest.raises(ValueError, match="needs a forecast"):
        MovingTargetLoop(loaded, settings, cti=findings)


def test_a_plan_is_redone_when_the_measured_traffic_or_memory_drifts() -> None:
    plan = Load(0.1, 180.0, 0.06, 2.2)
    assert not drifted(plan, Load(0.9, 200.0, 1.0, 2.6))  # within 25 %; CPU and disk do not count
    assert drifted(plan, Load(0.1, 180.0, 0.06, 2.8))
    assert drifted(plan, Load(0.1, 240.0, 0.06, 2.2))


def test_a_pop_where_the_attacker_got_further_is_refused_as_destination() -> None:
    mtd = loop(scenario())
    # web ran 150 s on pop6, then moved to pop4 10 s ago
    mtd.residence["web"] = Residence("pop4", since=150.0, spent={"pop6": 150.0})
    offers = mtd._offers("web", "pop4", "hybrid", mtd.loads["web"], 4.8, 160.0)
    assert offers["pop6"]["refused"].startswith("MTD: on pop6 the attacker's 150 s there")
    assert "refused" not in offers["pop3"] and offers["pop3"]["bandwidth"] == 5.0
    # after long enough on pop4, going back to pop6 lowers the ASP again
    later = mtd._offers("web", "pop4", "hybrid", mtd.loads["web"], 4.8, 400.0)
    assert "refused" not in later["pop6"]


def test_the_shipped_forecaster_sizes_each_move_and_its_bids_are_timed_on_their_paths() -> None:
    loaded = scenario()
    assert loaded.mtd is not None and loaded.mtd.forecaster is not None
    forecast = metric_forecast(Forecaster.load(SCENARIOS / loaded.mtd.forecaster), METRICS)
    shared = cti()
    findings = findings_of(r for got in shared.exchanged.received for r in got.reports)
    mtd = MovingTargetLoop(
        loaded, loaded.mtd, cti=findings, excluded=tuple(shared.excluded), forecast=forecast
    )
    result = asyncio.run(operate(loaded, loops=[shared, mtd], until=140.0))
    # image download (200 MB over the widest path from the repository on pop5)
    download = {"pop1": 200 / 10, "pop2": 200 / 9, "pop3": 200 / 5, "pop4": 200 / 5}
    auctions = [
        r.outcome for _, r in result.journal.auctions if r.outcome.request.goal == "cnfMoved"
    ]
    assert len(auctions) == 2
    for outcome in auctions:
        move = next(m for m in mtd.moves if (m.cnf, str(m.k)) == outcome.request.args)
        # the CFP carries the forecast's traffic peak; a 2 MB/s replica unit is sized for it
        peak = move.predicted_traffic_mbps
        assert peak is not None and 1.5 < peak < 3.0
        assert outcome.request.predicted_traffic == peak
        assert outcome.bids and all(b.units == math.ceil(peak / 2) for b in outcome.bids)
        # T: the download, then the migration predicted on the path to that bidder
        for bid in outcome.bids:
            total = move.destinations[bid.bidder]["total"]
            assert abs(bid.T - (download[bid.bidder] + total)) < 1e-6


def test_no_move_is_queued_that_would_arrive_after_the_run() -> None:
    # adaptive-emulated (28 s) with the calibrated selector, re-planned as in a demo run
    # when the shop's first move arrived on pop4 at 16.03 s: pop4's widest path takes
    # 5 MB/s, so a web move planned from 25.03 s needs 3.4 s and would arrive after the
    # run: posted, its real migration under way when the run stops, never made
    loaded = load_scenario(SCENARIOS / "adaptive-emulated.yaml")
    assert loaded.mtd is not None
    models = calibrated()
    mtd = MovingTargetLoop(
        loaded,
        loaded.mtd,
        excluded=("pop5",),
        predictor=models.predictor,
        selector=models.selector,
    )
    [unit] = mtd.units
    for cnf in unit.members:
        mtd.residence[cnf].move("pop4", 16.03)
    mtd._replan(unit, 16.03, "move 1 arrived on pop4")
    late = [
        (m.cnf, m.k, m.planned_at, m.planned_total_s)
        for m in mtd.moves
        if m.planned_at + m.planned_total_s > mtd.end
    ]
    assert not late
    assert mtd.replans[-1]["planned"] == len(mtd.moves)

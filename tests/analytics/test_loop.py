"""The closed loop live beside the agents (secmas.analytics.loop): real data plane,
real agents and auctions on the in-memory bus, a small real LSTM autoencoder."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch

from secmas.analytics.autoencoder import Detector
from secmas.analytics.datasets import normal_series
from secmas.analytics.loop import ClosedLoop, LoopSettings, ProfileWatch
from secmas.pipeline.operate import operate
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def insecure(name: str) -> Scenario:
    scenario = load_scenario(SCENARIOS / name)
    security = scenario.security.model_copy(update={"enabled": False})
    return scenario.model_copy(update={"security": security})


@pytest.fixture(scope="module")
def detector() -> Detector:
    torch.manual_seed(0)
    series = normal_series(insecure("cnf-attack.yaml"), 400, seed=99)
    return Detector.fit(series.values, series.features, window=10, epochs=3, hidden=8, seed=0)


def run(scenario: Scenario, loop: ClosedLoop, until: float):
    return asyncio.run(operate(scenario, until=until, loops=[loop]))


def test_http_flood_is_detected_and_guarded_through_an_auction(detector):
    loop = ClosedLoop(detector, None, LoopSettings(cooldown=30.0))
    result = run(insecure("cnf-attack.yaml"), loop, until=80)
    first = loop.alerts[0]
    assert first.cnf == "web" and 60 <= first.time <= 65
    goals = [d.mitigation.label for d in loop.decisions]
    assert "cnfGuarded(web,1)" in goals
    guard = [r for _, r in result.journal.auctions if r.outcome.request.goal == "cnfGuarded"]
    assert guard and len({bid.bidder for bid in guard[0].outcome.bids}) > 1
    blocked = {a.detail.split(">")[0] for a in result.journal.actions if a.action == "blockFlow"}
    assert blocked == {f"10.66.0.{i}" for i in range(1, 5)}  # the four HTTP-flood sources
    report = result.analytics
    assert report is not None
    assert report["detection"]["web"]["per_label"]["http_flood"] == [1, 1]
    assert report["alerts"][0]["features"]  # every alert carries its explanation
    assert set(report["trust"]["scores"]) == {f"pop{i}" for i in range(1, 7)}
    assert loop.collector.series("web")[-1][0] == pytest.approx(80.0)  # end of the last step


def test_ddos_goals_decided_by_the_loop_are_not_auctioned_twice(detector):
    scenario = insecure("ddos-6pop.yaml")
    loop = ClosedLoop(detector, None, LoopSettings())
    result = run(scenario, loop, until=40)
    assert loop.alerts and loop.alerts[0].link_over
    limits = [r for _, r in result.journal.auctions if r.outcome.request.goal == "linkRateLimited"]
    assert len(limits) == 1


def test_trust_manager_below_threshold_excludes_bidders(detector):
    loop = ClosedLoop(detector, None, LoopSettings(trust_threshold=0.6))
    result = run(insecure("cnf-attack.yaml"), loop, until=80)
    # no attestation evidence: every agent scores the prior 0.5 < 0.6, so no other agent's
    # bid counts; only the initiator's own (an agent always admits itself) remains
    guard = [r for _, r in result.journal.auctions if r.outcome.request.goal == "cnfGuarded"]
    assert guard
    assert {bid.bidder for r in guard for bid in r.outcome.bids} == {"pop6"}
    scores = result.analytics["trust"]["scores"]
    assert not any(scores[f"pop{i}"]["admitted"] for i in range(1, 6))
    assert scores["pop6"]["detection"][0] > 0  # quiet periods of its CNF count for pop6


def test_metrics_are_served_while_the_run_is_live(detector):
    loop = ClosedLoop(detector, None, LoopSettings(metrics_port=0))
    result = run(insecure("cnf-attack.yaml"), loop, until=5)
    assert result.analytics["metrics_served"] > 0
    assert loop.exporter is None  # closed with the run


def test_profile_watch_alerts_on_a_confirmed_known_anomaly():
    watch = ProfileWatch(confirm=2)
    assert watch.look("high_memory") is None
    assert watch.look("high_memory") == "high_memory"
    assert watch.look("high_memory") is None  # starts over after an alert
    assert watch.look("high_cpu") is None
    assert watch.look("normal") is None
    assert watch.look("high_cpu") is None  # "normal" in between: not consecutive
    assert watch.look("unknown") is None
    assert watch.look("") is None

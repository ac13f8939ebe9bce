"""The CNF mitigation plans (secmas.agents.ddos.cnf) on a real World of the cnf-attack
scenario: each runs as the winner of its auction would, and changes the simulated CNF."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from secmas.agents.bidding import Bid, GoalRequest, compute_bid, move_time, utilities, winner
from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.world import World
from secmas.agents.nfva.settings import AuctionSettings
from secmas.network.clock import settle
from secmas.network.dataplane import FlowBlock
from secmas.network.dataplane.detectors import abusive_sources
from secmas.network.infrastructure import Infrastructure
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "cnf-attack.yaml")
PAYLOAD = {"cnf": "web", "host": "server", "ip": "10.0.0.100", "since": 60.0}
VNF_FOR = {g.name: g.vnfs[0] for g in SCENARIO.goals}


def world_at(seconds: int) -> tuple[World, dict[str, PoPAgent]]:
    world = World.simulated(SCENARIO, settings=AuctionSettings())
    agents = {pop: PoPAgent(pop, world, seed=SCENARIO.seed) for pop in world.directory}
    assert world.plane is not None
    world.plane.run_until(seconds)
    return world, agents


def execute(agent: PoPAgent, goal: str, args: tuple[str, ...]) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        request = GoalRequest.for_goal(SCENARIO.goal(goal), agent.pop, args=args)
        bid = Bid(bidder=agent.pop, vnf=VNF_FOR[goal], T=0.0, C=0.0, D=0.0)
        result = await agent._execute(request, bid, dict(PAYLOAD))
        await settle()
        return result

    return asyncio.run(main())


def test_scale_out_adds_a_replica_on_the_winners_pop():
    world, agents = world_at(10)
    result = execute(agents["pop2"], "cnfScaledOut", ("web", "2"))
    assert world.plane.cnf_placement("web").replicas == ("pop6", "pop2")
    assert result["beliefs"] == [["cnfScaledOut", ["web", "2"], True]]
    assert [a.action for a in world.journal.actions] == ["scaleOut"]


def test_migrate_and_isolate_move_the_instance():
    world, agents = world_at(10)
    execute(agents["pop3"], "cnfMigrated", ("web",))
    assert world.plane.cnf_placement("web").pop == "pop3"
    execute(agents["pop4"], "cnfIsolated", ("web",))
    placement = world.plane.cnf_placement("web")
    assert placement.pop == "pop4" and "pop3" in placement.isolated


def test_guard_blocks_the_http_flood_sources_and_no_client():
    world, agents = world_at(70)  # the HTTP flood runs since t = 60
    flood = {f.src_ip for f, attack in world.plane.ground_truth().items() if attack}
    execute(agents["pop5"], "cnfGuarded", ("web",))
    blocks = [r for r in world.plane.rules.values() if isinstance(r, FlowBlock)]
    assert {r.src_ip for r in blocks} == flood
    assert world.plane.cnf_placement("web").guarded


def test_abusive_sources_are_the_attackers_of_each_kind():
    for kind in ("http_flood", "slowloris", "syn_flood"):
        attack = SCENARIO.attack.model_copy(update={"kind": kind})
        if kind == "slowloris":
            attack = attack.model_copy(update={"rate": 0.005, "attackers": 3})
        if kind == "syn_flood":
            attack = attack.model_copy(update={"rate": 0.5, "attackers": 8})
        scenario = SCENARIO.model_copy(update={"attack": attack, "incidents": ()})
        world = World.simulated(scenario, settings=AuctionSettings())
        world.plane.run_until(75)
        truth = {f.src_ip for f, bad in world.plane.ground_truth().items() if bad}
        found = {s.flow.src_ip for s in abusive_sources(world.plane.flows_via("server"))}
        assert found == truth, kind


# -- cnfMoved bids: T is the download and the migration on the bidder's own path -----------
def two_pop_scenario() -> Scenario:
    """A hub (the auctioneer, with the repository) and two PoPs alike in every respect:
    same resources, same 10 MB/s, 10 ms links to the hub."""
    link = {"bandwidth": 10, "latency": 10, "loss": 0.5}
    return Scenario.model_validate(
        {
            "id": "two-pops",
            "pops": [
                {"id": p, "cpu": 4, "memory": 6, "disk": 100} for p in ("hub", "popa", "popb")
            ],
            "links": [{"a": "hub", "b": p, **link} for p in ("popa", "popb")],
            "repository": {"attach": "hub"},
            "vnfs": [
                {
                    "id": "web_replica",
                    "requirements": {"cpu": 1, "memory": 1, "disk": 2},
                    "image_size": 200,
                }
            ],
            "goals": [
                {
                    "name": "cnfMoved",
                    "preferences": {"T": 0.4, "C": 0.6, "D": 0.0},
                    "vnfs": ["web_replica"],
                }
            ],
        }
    )


def test_a_move_goes_to_the_pop_whose_migration_path_is_faster() -> None:
    scenario = two_pop_scenario()
    infra = Infrastructure.from_scenario(scenario)
    request = GoalRequest.for_goal(scenario.goal("cnfMoved"), "hub", args=("web", "1"))
    # the MTD loop's predictions (hybrid move of the reference web CNF): 40.42 s on an
    # 8 MB/s path to popb, 88.33 s on a 5 MB/s path to popa
    payload = {"destinations": {"popa": {"total": 88.33}, "popb": {"total": 40.42}}}
    plain = [compute_bid(infra, p, request) for p in ("popa", "popb")]
    moved = [compute_bid(infra, p, request, move_s=move_time(payload, p)) for p in ("popa", "popb")]
    assert all(isinstance(b, Bid) for b in plain + moved)
    # download: 200 MB over the 10 MB/s link from the hub = 20 s, alike; C and D alike,
    # so without the migration the tie goes to popa (bidder order)
    assert [b.T for b in plain] == [20.0, 20.0] and winner(
        plain, request.preferences
    ).bidder == "popa"
    # Eq. 3.1 with T = 20 + migration: popa 108.33, popb 60.42; T̂ popa 1, popb 0; Ĉ = 0
    # (equal C): U(popa) = 0.4·1 = 0.4, U(popb) = 0 → popb wins, T = 60.42
    assert [b.T for b in moved] == [pytest.approx(108.33), pytest.approx(60.42)]
    assert moved[0].C == moved[1].C and moved[0].D == moved[1].D
    won = winner(moved, request.preferences)
    assert won is not None and won.bidder == "popb"
    assert (won.T, won.download_s) == pytest.approx((60.42, 20.0))  # download: waited for
    assert utilities(moved, request.preferences) == [pytest.approx(0.4), pytest.approx(0.0)]


def test_a_payload_without_a_valid_prediction_for_the_bidder_adds_nothing() -> None:
    assert move_time({}, "popa") is None
    assert move_time({"destinations": {"popb": {"total": 3.0}}}, "popa") is None
    for bad in ("3", True, -1.0, float("nan"), float("inf"), None):
        assert move_time({"destinations": {"popa": {"total": bad}}}, "popa") is None
    assert move_time({"destinations": ["popa"]}, "popa") is None
    assert move_time({"destinations": {"popa": 7}}, "popa") is None

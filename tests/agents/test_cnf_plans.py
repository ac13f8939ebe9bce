"""The CNF mitigation plans (secmas.agents.ddos.cnf) on a real World of the cnf-attack
scenario: each runs as the winner of its auction would, and changes the simulated CNF."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from secmas.agents.auction import AuctionSettings
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.ddos.agent import PoPAgent, World
from secmas.network.clock import settle
from secmas.network.dataplane import FlowBlock
from secmas.network.dataplane.detectors import abusive_sources
from secmas.scenario.loader import load_scenario

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

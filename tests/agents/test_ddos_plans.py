"""The plans of Tables 5.1–5.5 and the Link Monitor's functions (Table 5.2) on a real
DataPlane of the ddos-6pop scenario.

Each plan runs the way a won auction runs it (the GoalResponse side, `PoPAgent._execute`,
with the winning bid), on agents of a real `World`: MemoryBus, VirtualClock advanced with
`drive_clock`, Infrastructure and DataPlane. Goals a plan posts are inspected while the
agent's reasoning cycle is stopped, or followed through auctions once it runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from secmas.agents.auction import AuctionSettings
from secmas.agents.bdi import Belief, BeliefBase, Forget, Goal, GoalKind, GoalStatus
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.ddos.agent import PoPAgent, World
from secmas.agents.ddos.facts import DIAGNOSE, PROTECT, flow_name
from secmas.agents.ddos.link_monitor import LinkMonitorCapability
from secmas.agents.ddos.vnfs import LinkMonitorVNF
from secmas.network.clock import drive_clock, settle
from secmas.network.dataplane import (
    DataPlane,
    FlowBlock,
    IpRateLimit,
    LinkRateLimit,
    Steer,
    TrafficSplit,
    UsageEvent,
    split_part,
)
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")
LINK = "pop6~server"
IP = "10.0.0.100"
RATE = SCENARIO.defence.rate
PAYLOAD = {"node": "pop6", "link": ["pop6", "server"], "since": 20.0}
VNF_FOR = {g.name: g.vnfs[0] for g in SCENARIO.goals}
QUERIES = {"anomalousUsage"}
"""Goals asked as g(?b): the auctioneer's request says so (its payload's `kind`)."""
UNPLACED = {
    "splitTrafficLink": "anomalousUsage",
    "splitTrafficTowardsIp": "flowRecord",
}
"""Table 5.5: a split is asked for once the analysing goal's auction failed, and the
auctioneer shares that belief with the request."""


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 300))


@dataclass
class Rig:
    """A World of the ddos-6pop scenario with one PoPAgent per PoP (not started)."""

    world: World
    agents: dict[str, PoPAgent]

    @classmethod
    async def at(cls, seconds: int) -> Rig:
        """The data plane stepped `seconds` steps with no agent acting yet."""
        world = World.simulated(SCENARIO, settings=AuctionSettings())
        agents = {pop: PoPAgent(pop, world, seed=SCENARIO.seed) for pop in world.directory}
        rig = cls(world, agents)
        for _ in range(seconds):
            rig.plane.step()
        world.clock.advance(rig.plane.now)
        return rig

    @property
    def plane(self) -> DataPlane:
        assert self.world.plane is not None
        return self.world.plane

    async def start(self) -> None:
        for agent in self.agents.values():
            await agent.start()

    async def stop(self) -> None:
        for agent in self.agents.values():
            await agent.stop()
        await self.world.bus.close()

    async def advance(self, steps: int = 1) -> None:
        """What `operate` does per step, without the Link Monitor's perception."""
        for _ in range(steps):
            self.plane.step()
            await drive_clock(self.world.clock, self.plane.now)
            await settle()

    async def execute(
        self, pop: str, goal: str, args: tuple[str, ...], payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run the plan for `goal` on `pop` as the winner of its auction would, stepping the
        network while the plan waits (an analysis waits for traffic steered to it). The
        payload is the auctioneer's: the goal's form, and the failed auction a split needs."""
        request = GoalRequest.for_goal(SCENARIO.goal(goal), pop, args=args)
        bid = Bid(bidder=pop, vnf=VNF_FOR[goal], T=0.0, C=0.0, D=0.0)
        sent = dict(payload or PAYLOAD) | {"kind": "query" if goal in QUERIES else "achieve"}
        if goal in UNPLACED:
            sent["beliefs"] = [["unplaced", [UNPLACED[goal], *args], True]]
        plan = asyncio.ensure_future(self.agents[pop]._execute(request, bid, sent))
        await settle()
        while not plan.done():
            await self.advance()
        return plan.result()

    def rules(self, kind: type) -> list[Any]:
        return [r for r in self.plane.rules.values() if isinstance(r, kind)]

    def actions(self, name: str) -> list[tuple[str, str]]:
        return [(a.agent, a.detail) for a in self.world.journal.actions if a.action == name]

    def server_rate(self) -> float:
        return self.plane.rate("pop6", "server")

    def delivered_from(self, src_ip: str) -> float:
        """MB/s that reached the server from `src_ip` in the last step."""
        return sum(
            s.last.rate for s in self.plane.flows_via("server", IP) if s.flow.src_ip == src_ip
        )


def attackers(plane: DataPlane) -> set[str]:
    return {flow.src_ip for flow, attack in plane.ground_truth().items() if attack}


def goals_of(agent: PoPAgent, name: str) -> list[Goal]:
    return [g for g in agent.bdi.goals if g.predicate.name == name]


# -- Table 5.1: Rate Limiter ------------------------------------------------------------------


def test_LL_on_the_links_own_PoP_limits_the_link_to_RATE_of_its_current_rate():
    async def main() -> None:
        rig = await Rig.at(30)  # the attack runs since t = 20: about 6 MB/s to the server
        before = rig.server_rate()
        assert before > 5.0
        result = await rig.execute("pop6", "linkRateLimited", (LINK,))
        [rule] = rig.rules(LinkRateLimit)
        assert (rule.a, rule.b) == ("pop6", "server")
        assert rule.rate == pytest.approx(RATE * before)
        assert rig.rules(Steer) == []  # the link's traffic crosses pop6 already
        assert result == {"beliefs": [["linkRateLimited", [LINK], True]], "holder": "pop6"}
        pop6 = rig.agents["pop6"]
        assert pop6.bdi.beliefs.holds(Belief("linkRateLimited", (LINK,)))
        assert any(c.name == "rate_limiter" for c in pop6.bdi.capabilities)
        await rig.advance()
        assert rig.server_rate() == pytest.approx(RATE * before, rel=0.02)
        detail = f"{LINK} to {RATE * before:.2f} MB/s at pop6"
        assert rig.actions("limitLink") == [("pop6", detail)]
        await rig.stop()

    run(main())


def test_LL_off_the_path_steers_the_link_traffic_to_its_PoP_first():
    """Only pop1 and pop2 reach the server over pop5; a limiter there caps the link only
    once pop6 sends the rest (pop3 and pop4's traffic) over the bid's path to pop5."""

    async def main() -> None:
        rig = await Rig.at(30)
        before = rig.server_rate()
        over_pop5 = {s.flow for s in rig.plane.flows_via("pop5", IP)}
        detour = sum(
            s.last.rate for s in rig.plane.flows_via("pop6", IP) if s.flow not in over_pop5
        )
        assert 0 < detour < before
        result = await rig.execute("pop5", "linkRateLimited", (LINK,))
        assert result["beliefs"] == [["linkRateLimited", [LINK], True]]
        [steer] = rig.rules(Steer)
        assert steer == Steer("pop6", IP, ("pop6", "pop5"))
        [rule] = rig.rules(IpRateLimit)
        assert (rule.node, rule.dst_ip) == ("pop5", IP)
        assert rule.rate == pytest.approx(RATE * before)
        # the steered traffic's bandwidth is reserved on the virtual path pop6–pop5
        assert rig.world.infra.link("pop6", "pop5").reserved == pytest.approx(detour)
        await rig.advance()
        assert rig.server_rate() == pytest.approx(RATE * before, rel=0.02)
        assert rig.plane.rate("pop6", "pop5") > 0  # pop3 and pop4's traffic goes round
        assert rig.actions("steer") == [("pop5", f"{IP} at pop6 over pop6→pop5")]
        assert rig.actions("unsteer") == []  # held for as long as the limit
        await rig.stop()

    run(main())


def test_UL_lifts_the_link_limit_only_on_the_agent_that_holds_it():
    async def main() -> None:
        rig = await Rig.at(30)
        await rig.execute("pop5", "linkRateLimited", (LINK,))
        rig.agents["pop1"]._activate("rate_limiter")  # pop1 has the plan, not the belief
        await rig.start()
        await rig.advance()
        limited = rig.server_rate()

        unlimit = Goal(~Belief("linkRateLimited", (LINK,)))
        assert not await rig.agents["pop1"].bdi.achieve(unlimit)  # precondition fails
        assert unlimit.status is GoalStatus.FAILED
        assert len(rig.rules(IpRateLimit)) == len(rig.rules(Steer)) == 1

        unlimit = Goal(~Belief("linkRateLimited", (LINK,)))
        assert await rig.agents["pop5"].bdi.achieve(unlimit)
        assert unlimit.status is GoalStatus.ACHIEVED and unlimit.reason == "plan UL"
        # the limit goes, and with it the steering and its reserved bandwidth
        assert rig.rules(IpRateLimit) == rig.rules(Steer) == []
        assert rig.world.infra.link("pop6", "pop5").reserved == 0.0
        assert rig.agents["pop5"].bdi.beliefs.holds(~Belief("linkRateLimited", (LINK,)))
        assert rig.actions("unlinkRateLimited") == [("pop5", LINK)]
        # the steering's end is journalled, named as its start was
        assert (
            rig.actions("unsteer")
            == rig.actions("steer")
            == [("pop5", f"{IP} at pop6 over pop6→pop5")]
        )
        names = [a.action for a in rig.world.journal.actions if a.agent == "pop5"]
        assert names.index("unsteer") < names.index("unlinkRateLimited")
        await rig.advance()
        assert rig.server_rate() > 1.5 * limited  # the attack floods the link again
        await rig.stop()

    run(main())


def test_LIP_limits_the_ip_and_asks_the_link_limit_holder_to_lift_it():
    async def main() -> None:
        rig = await Rig.at(30)
        await rig.start()
        await rig.execute("pop5", "linkRateLimited", (LINK,))
        await rig.advance()
        link_rate = rig.server_rate()

        holders = {f"linkRateLimited({LINK})": "pop5"}
        result = await rig.execute("pop1", "ipRateLimited", (IP,), PAYLOAD | {"holders": holders})
        assert result["beliefs"] == [["ipRateLimited", [IP], True]]
        [rule] = [r for r in rig.rules(IpRateLimit) if r.node == "pop1"]
        assert rule.dst_ip == IP
        assert rule.rate == pytest.approx(RATE * link_rate)
        # pop1 sent a REQUEST for ¬linkRateLimited to pop5, whose UL plan lifted the limit.
        await drive_clock(rig.world.clock, rig.plane.now)
        assert rig.rules(IpRateLimit) == [rule]
        assert rig.agents["pop5"].bdi.beliefs.holds(~Belief("linkRateLimited", (LINK,)))
        assert rig.agents["pop1"].bdi.beliefs.holds(Belief("ipRateLimited", (IP,)))
        names = [(a.agent, a.action) for a in rig.world.journal.actions]
        assert names.index(("pop1", "limitIP")) < names.index(("pop5", "unlinkRateLimited"))
        await rig.advance()
        assert rig.server_rate() == pytest.approx(RATE * link_rate, rel=0.02)
        await rig.stop()

    run(main())


def test_LIP_on_the_holder_itself_lifts_its_own_link_limit():
    async def main() -> None:
        rig = await Rig.at(30)
        await rig.start()
        await rig.execute("pop5", "linkRateLimited", (LINK,))
        holders = {f"linkRateLimited({LINK})": "pop5"}
        await rig.execute("pop5", "ipRateLimited", (IP,), PAYLOAD | {"holders": holders})
        await drive_clock(rig.world.clock, rig.plane.now)
        pop5 = rig.agents["pop5"]
        assert list(pop5.rules) == [Belief("ipRateLimited", (IP,))]
        assert len(rig.rules(IpRateLimit)) == 1
        # both limits needed the same steering: it stays, held once
        assert rig.rules(Steer) == [Steer("pop6", IP, ("pop6", "pop5"))]
        assert len(pop5.chains.held) == 1
        await rig.stop()

    run(main())


def test_UIP_lifts_the_ip_limit_only_on_its_holder():
    async def main() -> None:
        rig = await Rig.at(30)
        await rig.execute("pop1", "ipRateLimited", (IP,))
        rig.agents["pop5"]._activate("rate_limiter")
        await rig.start()
        unlimit = Goal(~Belief("ipRateLimited", (IP,)))
        assert not await rig.agents["pop5"].bdi.achieve(unlimit)
        assert len(rig.rules(IpRateLimit)) == 1
        unlimit = Goal(~Belief("ipRateLimited", (IP,)))
        assert await rig.agents["pop1"].bdi.achieve(unlimit)
        assert unlimit.reason == "plan UIP"
        assert rig.rules(IpRateLimit) == []
        assert rig.agents["pop1"].bdi.beliefs.holds(~Belief("ipRateLimited", (IP,)))
        assert rig.actions("unipRateLimited") == [("pop1", IP)]
        await rig.stop()

    run(main())


def test_LF_blocks_one_flow_and_nothing_else():
    async def main() -> None:
        rig = await Rig.at(30)
        bad = sorted(attackers(rig.plane))
        assert len(bad) == SCENARIO.attack.attackers
        victim, others = bad[0], bad[1:]
        assert rig.delivered_from(victim) > 0
        flow = flow_name(victim, IP)
        result = await rig.execute("pop5", "flowRateLimited", (flow,))
        assert result["beliefs"] == [["flowRateLimited", [flow], True]]
        [rule] = rig.rules(FlowBlock)
        assert (rule.node, rule.src_ip, rule.dst_ip) == ("pop5", victim, IP)
        assert rig.agents["pop5"].bdi.beliefs.holds(Belief("flowRateLimited", (flow,)))
        [(agent, detail)] = rig.actions("blockFlow")
        assert agent == "pop5" and detail.split()[0] == flow
        await rig.advance()
        assert rig.delivered_from(victim) == 0.0
        assert all(rig.delivered_from(src) > 0 for src in others)
        await rig.stop()

    run(main())


# -- Table 5.3: Anomaly Detector --------------------------------------------------------------


def test_ALS_finds_the_attacked_ip_then_posts_ipRateLimited_before_flowRecord():
    async def main() -> None:
        rig = await Rig.at(30)
        pop5 = rig.agents["pop5"]
        result = await rig.execute("pop5", "anomalousUsage", (LINK,))
        assert result["beliefs"] == [["anomalousUsage", [LINK], True]]
        assert pop5.bdi.beliefs.holds(Belief("anomalous", (IP,)))
        assert rig.actions("detectIntrusion") == [("pop5", f"{LINK}: {IP}")]
        # The reasoning cycle is stopped: both goals are posted, flowRecord after the limit.
        [limit] = goals_of(pop5, "ipRateLimited")
        assert limit.predicate == Belief("ipRateLimited", (IP,))
        assert limit.priority == PROTECT
        [record] = goals_of(pop5, "flowRecord")
        assert record.after is limit and record.priority == DIAGNOSE

        await rig.start()
        await rig.advance(4)
        auctions = [(who, r.outcome.label, r) for who, r in rig.world.journal.auctions]
        labels = [label for _, label, _ in auctions]
        assert labels[:2] == [f"ipRateLimited({IP})", f"flowRecord({IP})"]
        assert auctions[0][0] == auctions[1][0] == "pop5"
        assert auctions[0][2].status == "done"
        assert auctions[1][2].started >= auctions[0][2].ended
        assert auctions[1][2].outcome.request.preferences == SCENARIO.goal("flowRecord").preferences
        await rig.stop()

    run(main())


def test_ALS_without_an_attack_believes_the_usage_is_not_anomalous():
    async def main() -> None:
        rig = await Rig.at(14)  # the analysis ends 3 steps later, still before the attack
        payload = PAYLOAD | {"since": 10.0}
        result = await rig.execute("pop5", "anomalousUsage", (LINK,), payload)
        assert result["beliefs"] == [["anomalousUsage", [LINK], False]]
        pop5 = rig.agents["pop5"]
        assert pop5.bdi.beliefs.holds(~Belief("anomalousUsage", (LINK,)))
        assert pop5.bdi.beliefs.query("anomalous") == []
        assert pop5.bdi.goals == ()
        assert rig.actions("detectIntrusion") == [("pop5", f"{LINK}: no outlier")]
        await rig.stop()

    run(main())


# -- Table 5.4: Classifier --------------------------------------------------------------------


@pytest.mark.parametrize("part", [0, 1])
def test_AIPF_finds_exactly_the_attackers_of_its_part_and_they_get_blocked(part: int):
    async def main() -> None:
        rig = await Rig.at(40)
        rig.plane.add_rule(TrafficSplit("pop6", IP, 2))
        expected = {src for src in attackers(rig.plane) if split_part(src, 2) == part}
        assert 0 < len(expected) < SCENARIO.attack.attackers
        payload = PAYLOAD | {"part": part, "parts": 2}
        result = await rig.execute("pop3", "flowRecord", (IP, str(part)), payload)
        assert result["beliefs"] == [["flowRecord", [IP, str(part)], True]]
        pop3 = rig.agents["pop3"]
        threats = {b.args[0] for b in pop3.bdi.beliefs.query("threat")}
        assert threats == {flow_name(src, IP) for src in expected}
        assert rig.actions("classifyFlows") == [
            ("pop3", f"{IP} part {part}: {len(expected)} malicious at pop3")
        ]
        # the part was steered to pop3 for the analysis only
        assert rig.rules(Steer) == [] and rig.agents["pop3"].chains.held == {}
        # Each threat becomes a flowRateLimited goal, auctioned and achieved one by one.
        await rig.start()
        await rig.advance(3 * len(expected) + 2)
        limited = {
            r.outcome.request.args[0]
            for _, r in rig.world.journal.auctions
            if r.outcome.request.goal == "flowRateLimited" and r.achieved
        }
        assert limited == threats
        blocked = {rule.src_ip for rule in rig.rules(FlowBlock)}
        assert blocked == expected
        for src in attackers(rig.plane):
            assert (rig.delivered_from(src) == 0.0) == (src in expected)
        await rig.stop()

    run(main())


def test_AIPF_without_a_split_finds_every_attacker_and_no_legitimate_host():
    async def main() -> None:
        rig = await Rig.at(40)
        await rig.execute("pop3", "flowRecord", (IP,), PAYLOAD)
        threats = {b.args[0] for b in rig.agents["pop3"].bdi.beliefs.query("threat")}
        assert threats == {flow_name(src, IP) for src in attackers(rig.plane)}
        await rig.stop()

    run(main())


# -- Table 5.5: Load Balancer -----------------------------------------------------------------


def test_LBIP_splits_the_ip_traffic_and_posts_one_flowRecord_goal_per_part():
    async def main() -> None:
        rig = await Rig.at(30)
        result = await rig.execute("pop5", "splitTrafficTowardsIp", (IP,))
        assert result["beliefs"] == [["splitTrafficTowardsIp", [IP], True]]
        assert rig.rules(TrafficSplit) == [TrafficSplit("pop5", IP, SCENARIO.defence.split_parts)]
        assert rig.rules(Steer) == [Steer("pop6", IP, ("pop6", "pop5"))]
        goals = goals_of(rig.agents["pop5"], "flowRecord")
        assert [g.predicate.args for g in goals] == [(IP, "0"), (IP, "1")]
        for part, goal in enumerate(goals):
            assert goal.kind is GoalKind.ACHIEVE and goal.priority == DIAGNOSE
            assert goal.payload["part"] == part and goal.payload["parts"] == 2
            assert goal.payload["node"] == "pop6" and goal.payload["at"] == "pop5"
        # Once steered to pop5, the parts partition every flow towards the server.
        await rig.advance(SCENARIO.defence.split_parts)
        whole = {s.flow for s in rig.plane.flows_via("server", IP)}
        assert {s.flow for s in rig.plane.flows_via("pop5", IP)} == whole
        halves = [{s.flow for s in rig.plane.flows_via("pop5", IP, p)} for p in (0, 1)]
        assert halves[0] and halves[1] and not halves[0] & halves[1]
        assert halves[0] | halves[1] == whole
        await rig.stop()

    run(main())


def test_a_load_balancer_plan_is_not_applicable_unless_the_analysers_auction_failed():
    """Table 5.5's precondition: a split only when no Classifier (or Anomaly Detector) fit,
    which the auctioneer shares with the request; without it no plan is applicable."""

    async def main() -> None:
        rig = await Rig.at(30)
        request = GoalRequest.for_goal(SCENARIO.goal("splitTrafficTowardsIp"), "pop5", args=(IP,))
        bid = Bid(bidder="pop5", vnf="load_balancer", T=0.0, C=0.0, D=0.0)
        with pytest.raises(RuntimeError, match="no applicable plan of load_balancer"):
            await rig.agents["pop5"]._execute(request, bid, dict(PAYLOAD))
        assert rig.rules(TrafficSplit) == [] and rig.rules(Steer) == []
        assert goals_of(rig.agents["pop5"], "flowRecord") == []
        await rig.stop()

    run(main())


def test_plan_selection_falls_back_to_splitting_once_the_auction_left_the_goal_unplaced():
    """GoalRequest first (less time); SplitIP is applicable only after the Classifier's
    auction failed, and a part's goal never falls back (it is split already)."""
    rig = asyncio.run(Rig.at(0))
    agent = rig.agents["pop5"].bdi
    whole = Goal(Belief("flowRecord", (IP,)))
    part = Goal(Belief("flowRecord", (IP, "0")))
    assert agent.plan_for(whole).plan.name == "GoalRequest"
    agent.beliefs.add(Belief("unplaced", ("flowRecord", IP)))
    tried = [(c.capability, c.plan) for c in [agent.plan_for(whole)]]
    assert agent.plan_for(whole, tried).plan.name == "SplitIP"
    agent.beliefs.add(Belief("unplaced", ("flowRecord", IP, "0")))
    tried = [(c.capability, c.plan) for c in [agent.plan_for(part)]]
    assert agent.plan_for(part, tried) is None
    query = Goal(Belief("anomalousUsage", (LINK,)), GoalKind.QUERY)
    agent.beliefs.add(Belief("unplaced", ("anomalousUsage", LINK)))
    tried = [(c.capability, c.plan) for c in [agent.plan_for(query)]]
    assert agent.plan_for(query, tried).plan.name == "SplitLink"


def test_LBIP_lets_its_steering_go_once_both_parts_are_diagnosed():
    """pop5's split needs pop6's traffic steered to it only while the parts' classifiers
    work; the blocks they lead to steer each attacker on its own and outlast it."""

    async def main() -> None:
        rig = await Rig.at(30)
        await rig.start()
        # the story's limits first, on pop6 (no steering), so that a part fits a classifier
        await rig.execute("pop6", "linkRateLimited", (LINK,))
        await rig.advance()
        await rig.execute("pop6", "ipRateLimited", (IP,))
        await rig.advance()
        await rig.execute("pop5", "splitTrafficTowardsIp", (IP,))
        to_pop5 = Steer("pop6", IP, ("pop6", "pop5"))
        assert to_pop5 in rig.rules(Steer)
        parts = goals_of(rig.agents["pop5"], "flowRecord")
        while not all(goal.status.final for goal in parts):
            await rig.advance()
        await rig.advance(5)
        assert to_pop5 not in rig.rules(Steer)
        assert all(steer.src_ip for steer in rig.agents["pop5"].chains.held)  # blocks' only
        for _ in range(150):  # the blocks' rate limiters are still downloading
            if {rule.src_ip for rule in rig.rules(FlowBlock)} == attackers(rig.plane):
                break
            await rig.advance()
        await rig.advance()
        assert all(rig.delivered_from(src) == 0.0 for src in attackers(rig.plane))
        await rig.stop()

    run(main())


def test_LBL_splits_the_link_and_posts_one_anomalousUsage_query_per_part():
    async def main() -> None:
        rig = await Rig.at(30)
        result = await rig.execute("pop5", "splitTrafficLink", (LINK,))
        assert result["beliefs"] == [["splitTrafficLink", [LINK], True]]
        assert rig.rules(TrafficSplit) == [TrafficSplit("pop5", IP, SCENARIO.defence.split_parts)]
        goals = goals_of(rig.agents["pop5"], "anomalousUsage")
        assert [g.predicate.args for g in goals] == [(LINK, "0"), (LINK, "1")]
        for part, goal in enumerate(goals):
            assert goal.kind is GoalKind.QUERY and goal.priority == DIAGNOSE
            assert goal.payload["part"] == part and goal.payload["parts"] == 2
        # Each part's detector sees the flood in its share of the traffic.
        for goal in goals:
            out = await rig.execute("pop1", "anomalousUsage", goal.predicate.args, goal.payload)
            assert out["beliefs"][0][2] is True
        assert rig.actions("detectIntrusion") == [("pop1", f"{LINK}: {IP}")] * 2
        await rig.stop()

    run(main())


@pytest.mark.parametrize(("over", "found"), [([], "no outlier"), ([[20.0, 60.0]], IP)])
def test_ALS_leaves_earlier_over_usage_out_of_its_baseline(over, found):
    """A flood that comes back after a partial mitigation is a second over-usage: with
    the first episode in its baseline the detector sees nothing new; without, the flood."""

    async def main() -> None:
        rig = await Rig.at(60)
        payload = PAYLOAD | {"since": 60.0, "over": over}
        await rig.execute("pop5", "anomalousUsage", (LINK,), payload)
        assert rig.actions("detectIntrusion") == [("pop5", f"{LINK}: {found}")]
        await rig.stop()

    run(main())


def test_ALS_on_a_split_part_answers_the_query_of_that_part():
    """Table 5.5 posts ?anomalousUsage(virtualLink) per part and Table 5.3 answers with
    anomalousUsage(virtualLink): the answer must satisfy the goal that asked for it, and
    the parts' answers must not overwrite each other (or the physical link's)."""

    async def main() -> None:
        rig = await Rig.at(30)
        await rig.execute("pop5", "splitTrafficLink", (LINK,))
        for goal in goals_of(rig.agents["pop5"], "anomalousUsage"):
            out = await rig.execute("pop1", "anomalousUsage", goal.predicate.args, goal.payload)
            learnt = Belief(out["beliefs"][0][0], tuple(out["beliefs"][0][1]))
            assert learnt == goal.predicate
        await rig.stop()

    run(main())


# -- Table 5.2: Link Monitor ------------------------------------------------------------------


def test_link_monitor_revision_and_goal_generation_once_per_over_usage_episode():
    async def main() -> None:
        rig = await Rig.at(0)
        monitor = LinkMonitorVNF(rig.world.controller, SCENARIO.defence.monitor)
        capability = LinkMonitorCapability(monitor)
        beliefs = BeliefBase()
        over = Belief("overUsage", (LINK,))
        events = []
        for _ in range(40):
            rig.plane.step()
            event = await monitor.observe()
            if event is not None:
                events.append((rig.plane.now, event))
        assert events and events[0][1] is UsageEvent.OVER
        onset_seen = events[0][0]
        assert SCENARIO.attack.start < onset_seen <= SCENARIO.attack.start + 5
        assert monitor.onset <= onset_seen

        assert capability.options(beliefs, ()) == ()  # nothing before over-usage
        beliefs.add(Belief("anomalousUsage", (LINK,)))  # stale from an earlier episode
        updates = list(capability.revise(UsageEvent.OVER, beliefs))
        assert updates == [over, Forget("anomalousUsage", (LINK,))]
        for update in updates:
            beliefs.apply(update)
        assert beliefs.holds(over) and not beliefs.known(Belief("anomalousUsage", (LINK,)))

        limit, query = capability.options(beliefs, ())
        assert limit.predicate == Belief("linkRateLimited", (LINK,))
        assert limit.kind is GoalKind.ACHIEVE
        assert query.predicate == Belief("anomalousUsage", (LINK,))
        assert query.kind is GoalKind.QUERY
        assert limit.priority > query.priority  # protect before diagnosing
        assert (
            limit.payload
            == query.payload
            == {
                "node": "pop6",
                "link": ["pop6", "server"],
                "since": monitor.onset,
                "over": [],
            }
        )
        assert capability.options(beliefs, ()) == ()  # once per episode

        for update in capability.revise(UsageEvent.NORMAL, beliefs):
            beliefs.apply(update)
        assert not beliefs.known(over)
        assert capability.options(beliefs, ()) == ()
        for update in capability.revise(UsageEvent.OVER, beliefs):
            beliefs.apply(update)
        monitor.episodes.append((monitor.onset, monitor.onset + 20.0))
        again = capability.options(beliefs, ())
        assert len(again) == 2  # a new episode, new goals
        # whose Anomaly Detector leaves the earlier episode out of its baseline
        assert again[0].payload["over"] == [[monitor.onset, monitor.onset + 20.0]]

        # Known anomalousUsage (answered by an Anomaly Detector): no goals.
        fresh = LinkMonitorCapability(monitor)
        beliefs.add(~Belief("anomalousUsage", (LINK,)))
        assert fresh.options(beliefs, ()) == ()
        await rig.stop()

    run(main())


def test_link_monitor_on_its_agent_auctions_the_two_goals_once():
    async def main() -> None:
        rig = await Rig.at(0)
        await rig.start()
        pop6 = rig.agents["pop6"]
        assert pop6.plugins["link_monitor"].monitor is not None  # it watches the link
        for _ in range(60):
            rig.plane.step()
            await drive_clock(rig.world.clock, rig.plane.now)
            for agent in rig.agents.values():
                await agent.observe()
            await settle()
        mine = [r for who, r in rig.world.journal.auctions if who == "pop6"]
        labels = [r.outcome.label for r in mine]
        assert labels.count(f"linkRateLimited({LINK})") == 1
        assert labels.count(f"anomalousUsage({LINK})") == 1
        first = {r.outcome.label: r for r in mine}
        assert first[f"linkRateLimited({LINK})"].started <= first[f"anomalousUsage({LINK})"].started
        assert pop6.bdi.beliefs.known(Belief("anomalousUsage", (LINK,)))
        await rig.stop()

    run(main())

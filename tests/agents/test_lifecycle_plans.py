"""Resize and update as plans of the Orchestrator capability (003_… §7.2).

Agents of the ddos-6pop scenario on one World (MemoryBus, VirtualClock, Infrastructure):
a goal resized(instance, units) or updated(instance, image) runs in place when the PoP has
room, else it is auctioned with NFV-A, the winner starts the larger instance (the updated
copy, re-attested), and only then the old instance stops. The network is not stepped: the
clock alone moves (downloads, bid deadlines), seconds of wall time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from secmas.agents.auction import AuctionSettings
from secmas.agents.bdi import Goal
from secmas.agents.bidding import GoalRequest
from secmas.agents.ddos.agent import PoPAgent, World
from secmas.network.clock import VirtualClock, drive_clock, settle
from secmas.network.resources import Amount
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")
AD, RL = "anomaly_detector", "rate_limiter"


def world() -> World:
    """pop1 4 cores / 6 GB, pop3 2 / 4, the repository at pop5 (T = 0 there)."""
    return World.simulated(SCENARIO, settings=AuctionSettings())


@asynccontextmanager
async def running(w: World) -> Any:
    agents = {pop: PoPAgent(pop, w, seed=SCENARIO.seed) for pop in w.directory}
    for agent in agents.values():
        await agent.start()
    try:
        yield agents
    finally:
        for agent in agents.values():
            await agent.stop()
        await w.bus.close()


async def until_over(w: World, agent: PoPAgent, goal: Goal) -> bool:
    """Move the virtual clock until `goal` is final (at most 300 simulated s)."""
    clock = w.clock
    assert isinstance(clock, VirtualClock)
    waiting = asyncio.ensure_future(agent.bdi.wait_goal(goal))
    while not waiting.done() and clock.now() < 300:
        await drive_clock(clock, clock.now() + 1.0)
    assert waiting.done(), f"{goal} still open at {clock.now()} s"
    return waiting.result()


def actions(w: World, name: str) -> list[tuple[str, str]]:
    return [(a.agent, a.detail) for a in w.journal.actions if a.action == name]


def placements(w: World) -> list[tuple[str, str, str]]:
    return [(p.kind, p.pop, p.instance) for p in w.journal.placements]


def mine(w: World, vnf: str) -> Iterator[tuple[str, int, str]]:
    for i in w.infra.instances.values():
        if i.vnf == vnf:
            yield i.pop, i.units, i.image


def test_a_resize_with_room_grows_the_instance_where_it_runs() -> None:
    async def scenario() -> None:
        w = world()
        old = w.infra.deploy("pop1", AD, 1)
        async with running(w) as agents:
            goal = agents["pop1"].fit(old.id, 5.0)  # ceil(5 / 2) = 3 units: 3c/6G fit
            assert goal is not None and await until_over(w, agents["pop1"], goal)
        assert list(mine(w, AD)) == [("pop1", 3, "")]
        assert w.infra.free("pop1") == Amount(1, 0, 70)
        assert actions(w, "resizeInstance") == [("pop1", f"{old.id} 1→3 units at pop1 (5.00 MB/s)")]
        assert not w.journal.auctions  # nobody else was asked

    asyncio.run(scenario())


def test_a_resize_down_frees_units_and_an_unchanged_one_posts_nothing() -> None:
    async def scenario() -> None:
        w = world()
        old = w.infra.deploy("pop1", AD, 3)
        async with running(w) as agents:
            assert agents["pop1"].fit(old.id, 6.0) is None  # 3 units fit 6 MB/s
            goal = agents["pop1"].fit(old.id, 1.0)
            assert goal is not None and await until_over(w, agents["pop1"], goal)
        assert list(mine(w, AD)) == [("pop1", 1, "")]
        assert w.infra.free("pop1") == Amount(3, 4, 90)

    asyncio.run(scenario())


def test_a_resize_without_room_is_auctioned_and_the_old_instance_stops_after() -> None:
    async def scenario() -> None:
        w = world()
        old = w.infra.deploy("pop3", AD, 1)  # pop3: 2 cores, 4 GB; 3 units need 3c/6G
        async with running(w) as agents:
            goal = agents["pop3"].fit(old.id, 5.0)  # the path to pop3 carries 5 MB/s at most
            assert goal is not None and await until_over(w, agents["pop3"], goal)
        [(initiator, record)] = w.journal.auctions
        winner = record.outcome.winner
        assert initiator == "pop3" and record.status == "done" and winner is not None
        assert winner.bidder != "pop3" and winner.units == 3
        assert list(mine(w, AD)) == [(winner.bidder, 3, "")]
        assert w.infra.free("pop3") == Amount(2, 4, 50)
        [(kind_start, at, new), (kind_stop, was, gone)] = placements(w)
        assert (kind_start, at, kind_stop, was, gone) == (
            "start",
            winner.bidder,
            "terminate",
            "pop3",
            old.id,
        )
        [(who, detail)] = actions(w, "resizeInstance")
        assert (
            who == "pop3"
            and detail == f"{old.id} 1→3 units at pop3: {new} at {winner.bidder} (5.00 MB/s)"
        )

    asyncio.run(scenario())


def test_a_rolling_update_in_place_starts_attests_then_stops_the_old_one() -> None:
    checked: list[tuple[str, str]] = []

    def reference(vnf: str, image: str) -> str | None:
        checked.append((vnf, image))
        return None

    async def scenario() -> None:
        w = world()
        w.image_check = reference
        old = w.infra.deploy("pop1", RL, 1)
        async with running(w) as agents:
            goal = agents["pop1"].update(old.id, "rl-2.0")
            assert await until_over(w, agents["pop1"], goal)
        [(pop, units, image)] = list(mine(w, RL))
        assert (pop, units, image) == ("pop1", 1, "rl-2.0")
        assert checked == [(RL, "rl-2.0")]
        [(start, _, new), (stop, _, gone)] = placements(w)
        assert (start, stop, gone) == ("start", "terminate", old.id)
        times = [p.time for p in w.journal.placements]
        assert times == [50.0, 50.0]  # the copy downloaded for pop1's T of 50 s first
        assert actions(w, "updateInstance") == [("pop1", f"{old.id} to rl-2.0: {new} at pop1")]

    asyncio.run(scenario())


def test_an_image_the_reference_check_refuses_never_replaces_the_old_one() -> None:
    async def scenario() -> None:
        w = world()
        w.image_check = lambda vnf, image: f"no signed reference for {vnf} {image}"
        old = w.infra.deploy("pop1", RL, 1)
        async with running(w) as agents:
            goal = agents["pop1"].update(old.id, "rl-evil")
            assert not await until_over(w, agents["pop1"], goal)
        assert list(mine(w, RL)) == [("pop1", 1, "")] and old.id in w.infra.instances
        assert w.infra.free("pop1") == Amount(3, 5, 98)
        [(_, detail)] = actions(w, "updateInstance")
        assert detail.endswith("refused: no signed reference for rate_limiter rl-evil")

    asyncio.run(scenario())


def test_an_update_without_room_for_the_copy_moves_to_the_auctions_winner() -> None:
    async def scenario() -> None:
        w = world()
        w.infra.deploy("pop3", AD, 1)
        old = w.infra.deploy("pop3", RL, 1)  # pop3 full: no core left for a copy
        async with running(w) as agents:
            goal = agents["pop3"].update(old.id, "rl-2.0")
            assert await until_over(w, agents["pop3"], goal)
        [(initiator, record)] = w.journal.auctions
        winner = record.outcome.winner
        assert (
            initiator == "pop3"
            and record.status == "done"
            and winner is not None
            and winner.bidder != "pop3"
        )
        assert list(mine(w, RL)) == [(winner.bidder, 1, "rl-2.0")]
        assert old.id not in w.infra.instances
        [(who, detail)] = actions(w, "updateInstance")
        assert who == "pop3" and detail.startswith(f"{old.id} to rl-2.0: ")
        assert detail.endswith(f" at {winner.bidder}")

    asyncio.run(scenario())


def test_a_won_plan_whose_traffic_grew_during_the_download_resizes_its_instance() -> None:
    """The automatic trigger: the goal's traffic measured again when its plan starts on the
    instance (after the download) needs more units than the bid sized it for."""

    async def scenario() -> None:
        w = world()
        assert w.plane is not None
        for _ in range(60):  # the attack is on by 60 s: pop6~server carries over 2 MB/s
            w.plane.step()
        w.clock.advance(w.plane.now)
        rate = w.plane.rate("pop6", "server")
        async with running(w) as agents:
            agent = agents["pop1"]
            small = w.infra.deploy("pop1", AD, 1)
            request = GoalRequest.for_goal(
                SCENARIO.goal("anomalousUsage"), "pop6", 2.0, ("pop6~server",)
            )
            await agent.orchestrator.fit_served(small.id, request, {"link": ["pop6", "server"]})
            await settle()
            await drive_clock(w.clock, w.clock.now() + 1.0)
        assert rate > 2.0
        [(who, detail)] = actions(w, "resizeInstance")
        assert who == "pop1" and detail.startswith(f"{small.id} 1→")

    asyncio.run(scenario())

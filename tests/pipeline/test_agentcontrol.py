"""The step loops' handle of an agent in another process, over a real (in-memory) bus:
the same answers as the agent object gives in one process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from secmas.agents.bdi import Belief, Goal, GoalKind, GoalStatus
from secmas.agents.bidding import GoalRequest
from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.world import World
from secmas.network.clock import settle
from secmas.pipeline.agentcontrol import (
    Admission,
    AgentControl,
    DeclineService,
    GoalTickets,
    LoopExclusions,
    RemoteAgent,
    remote_decline,
)
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")


def test_a_remote_handle_answers_as_the_agent_does() -> None:
    async def scenario() -> None:
        world = World.simulated(SCENARIO)
        agent = PoPAgent("pop6", world)
        await agent.start()
        control = AgentControl(agent, world.bus, "p")
        await control.start()
        tickets = GoalTickets(world.bus, "p")
        await tickets.start()
        remote = RemoteAgent("pop6", world.bus, "p", tickets)

        assert [i.id for i in await remote.instances()] == [i.id for i in await agent.instances()]
        [monitor] = await remote.instances()
        believed = Belief("linkMonitored", ("pop6-server",))
        assert await remote.in_hand(believed, False) == await agent.in_hand(believed, False)
        # a goal no plan achieves fails (at its first deliberation: no plan of any
        # capability, the Auction's included, is relevant); the ticket hears it
        nothing = Belief("nothingToDo", ("x",))
        ticket = await remote.post(Goal(nothing, GoalKind.ACHIEVE))
        assert ticket.status is GoalStatus.PENDING
        for _ in range(50):
            await settle()
            await asyncio.sleep(0)
            if ticket.status.final:
                break
        assert ticket.status is GoalStatus.FAILED
        assert await remote.in_hand(nothing, False) is await agent.in_hand(nothing, False) is False
        gone = await remote.terminate(monitor.id, "test")
        assert gone is not None and gone.id == monitor.id
        assert await remote.instances() == []
        assert world.journal.placements[-1].kind == "terminate"
        assert await remote.terminate(monitor.id, "test") is None
        await control.stop()
        await agent.stop()

    asyncio.run(scenario())


def test_declines_and_exclusions_reach_the_agents() -> None:
    async def scenario() -> None:
        world = World.simulated(SCENARIO)
        world.declines.append(lambda pop, r: "kept out" if pop == "pop5" else None)
        await DeclineService(world, world.bus, "p").start()
        ask = remote_decline(world.bus, "p")
        request = GoalRequest.for_goal(SCENARIO.goal("linkRateLimited"), "pop6", 1.0, ("l",))
        assert await ask("pop5", request) == "kept out"
        assert await ask("pop4", request) is None

        copy = LoopExclusions(world.bus, "p")
        await copy.start()
        world.admits = lambda agent: agent != "pop3"
        await Admission(world, world.bus, "p").publish()
        await settle()
        assert not copy.admits("pop3") and copy.admits("pop4")

    asyncio.run(scenario())

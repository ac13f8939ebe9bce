"""Reconfiguring a running pipeline: an agent added (attested, keyed, then bidding) and
an agent removed (revoked, a new key epoch, no longer asked)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from secmas.agents.bdi import Belief, Goal, GoalStatus
from secmas.agents.bidding import GoalRequest
from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.world import World
from secmas.agents.nfva.records import AuctionRecord
from secmas.ledger.ids import pipeline_id
from secmas.network.clock import drive_clock
from secmas.pipeline.inprocess import bring_up
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")


async def auction(agent: PoPAgent, world: World) -> AuctionRecord:
    spec = SCENARIO.goal("linkRateLimited")
    request = GoalRequest.for_goal(spec, agent.pop, 0.0, ("pop6~server",))
    task = asyncio.ensure_future(agent.mailbox.auction(request, {}, world.directory))
    await drive_clock(world.clock, world.clock.now() + 5)  # type: ignore[arg-type]
    return await task


def test_add_then_remove_an_agent() -> None:
    async def main() -> None:
        world = World.simulated(SCENARIO)
        first = [p for p in world.directory if p != "pop2"]
        pipeline = await bring_up("reconf", first, world.bus, world.clock, SCENARIO.security)
        world.admits = pipeline.mlfo.view.admits
        agents = {p: PoPAgent(p, world, bus=pipeline.bus_for(p)) for p in first}
        for agent in agents.values():
            await agent.start()
        before = await auction(agents["pop1"], world)
        assert "pop2" not in {b.bidder for b in before.outcome.bids}
        assert "pop2" not in {r.bidder for r in before.outcome.refusals}

        entry = await pipeline.mlfo.add_agent("pop2")
        assert entry.passed and entry.measured == "pop2"
        pid, registry = pipeline_id("reconf"), pipeline.mlfo.contracts.registry
        newcomer = pipeline.members["pop2"]
        assert registry.is_trusted(pid, newcomer.account.address)
        assert newcomer.secret is not None and newcomer.secret.epoch == 1
        assert newcomer.secret.secret == pipeline.members["pop1"].secret.secret  # type: ignore[union-attr]
        agents["pop2"] = PoPAgent("pop2", world, bus=pipeline.bus_for("pop2"))
        await agents["pop2"].start()
        after = await auction(agents["pop1"], world)
        assert "pop2" in {b.bidder for b in after.outcome.bids}

        world.infra.deploy("pop3", "rate_limiter")  # something to release
        retired = await agents.pop("pop3").retire()
        assert retired and not any(i.pop == "pop3" for i in world.infra.instances.values())
        assert all(u == 0 for u in world.infra.pops["pop3"].used)
        await pipeline.mlfo.remove_agent("pop3")
        assert not registry.is_active(pid, pipeline.members["pop3"].account.address)
        assert registry.key_epoch(pid) == 2
        assert pipeline.members["pop1"].secret.epoch == 2  # type: ignore[union-attr]
        gone = await auction(agents["pop1"], world)
        assert "pop3" not in {b.bidder for b in gone.outcome.bids}
        assert "pop3" not in {r.bidder for r in gone.outcome.refusals}
        for agent in agents.values():
            await agent.stop()
        await pipeline.close()
        await world.bus.close()

    asyncio.run(asyncio.wait_for(main(), 300))


def test_a_removed_agent_is_halted_and_removing_it_again_changes_nothing() -> None:
    """The agents the run registered with the pipeline (`halts`) are stopped when it
    revokes them: the removed one takes no goal any more and perceives nothing; a second
    removal (the SSLA manager after a failed attestation) is no error and no new epoch."""

    async def main() -> None:
        world = World.simulated(SCENARIO)
        members = ["pop1", "pop3", "pop5"]
        pipeline = await bring_up("halts", members, world.bus, world.clock, SCENARIO.security)
        world.admits = pipeline.mlfo.view.admits
        agents = {p: PoPAgent(p, world, bus=pipeline.bus_for(p)) for p in members}
        for agent in agents.values():
            pipeline.halts[agent.pop] = agent.revoke
            await agent.start()
        await pipeline.mlfo.remove_agent("pop3", "SSLA breached")
        epoch = pipeline.mlfo.contracts.registry.key_epoch(pipeline_id("halts"))
        removed = agents["pop3"]
        assert removed.bdi.halted == "revoked: SSLA breached" and not removed.bdi.running
        assert "pop3" not in pipeline.halts
        goal = await removed.post(Goal(Belief("linkRateLimited", ("pop6~server",))))
        assert goal.status is GoalStatus.FAILED
        await pipeline.mlfo.remove_agent("pop3", "again")
        assert pipeline.mlfo.contracts.registry.key_epoch(pipeline_id("halts")) == epoch
        assert pipeline.mlfo.view.excluded["pop3"] == "SSLA breached"
        for agent in agents.values():
            await agent.stop()  # the run's teardown: the halted one too
        await pipeline.close()
        await world.bus.close()

    asyncio.run(asyncio.wait_for(main(), 300))

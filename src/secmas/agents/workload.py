"""Synthetic goals: unrelated work given to one agent (Section 5.4.3 of `003_…`, Figure 5.5).

003 measured how an agent that "performs multiple tasks" slows the resilience strategy: N
goals unrelated to it, each pursued by a plan that takes a random 0–100 ms, are added to an
agent when the strategy starts. Here they are posted on the scenario's `load.pop` agent at
the moment the Link Monitor's agent comes to believe overUsage(link) — before that agent
generates linkRateLimited in the same reasoning step — so on the monitor's own agent they
come first among goals of the same priority and hold its intention slots, as in 003, and on
any other agent they compete only for that agent's slots. The plans sleep on the run's
clock (simulated time), so the delay they cause is deterministic for a seed.

The moment they are posted is journalled as the action `syntheticGoals`; the report's
auctions then give when linkRateLimited was achieved, so the delay to the throttling
strategy is computed from report.json alone (`secmas.experiment.metrics`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from secmas.agents.bdi import Belief, BeliefChange, Capability, Goal, Plan, PlanContext, Var
from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.facts import link_name
from secmas.agents.ddos.world import World
from secmas.agents.journal import ActionEvent
from secmas.network.clock import Clock
from secmas.scenario.model import Load

SYNTHETIC = "synthetic"
"""Name of the synthetic goals' predicate and of the capability whose plan pursues them."""
ACTION = "syntheticGoals"
"""The journal action that marks when the synthetic goals were posted."""


def synthetic_capability(clock: Clock) -> Capability:
    """One plan for every synthetic(i) goal: sleep the goal's drawn time, then believe it."""

    async def body(ctx: PlanContext) -> bool:
        await clock.sleep(ctx.goal.payload["seconds"])
        ctx.believe(ctx.goal.predicate)
        return True

    plan = Plan("SYNTHETIC", Belief(SYNTHETIC, (Var("i"),)), body, time=0.05)
    return Capability(SYNTHETIC, plans=(plan,))


def synthetic_goals(load: Load, rng: random.Random) -> list[Goal]:
    """The load's goals, each with its plan's duration drawn from U(0, plan_seconds)."""
    return [
        Goal(
            Belief(SYNTHETIC, (str(index),)),
            priority=load.priority,
            payload={"seconds": rng.uniform(0.0, load.plan_seconds)},
        )
        for index in range(load.synthetic_goals)
    ]


def add_synthetic_load(load: Load, agents: Sequence[PoPAgent], world: World) -> None:
    """Give `load.pop`'s agent the synthetic capability and post its goals (once) when the
    Link Monitor's agent first comes to believe overUsage of the monitored link."""
    target = _agent(agents, load.pop)
    monitor = world.defence.monitor
    watcher = _agent(agents, monitor.pop)
    over = Belief("overUsage", (link_name(*monitor.link),))
    rng = random.Random(f"{world.scenario.seed}:{load.pop}:{SYNTHETIC}")
    target.bdi.add_capability(synthetic_capability(world.clock))

    def on_change(change: BeliefChange) -> None:
        if change.after != over:
            return
        stop()
        for goal in synthetic_goals(load, rng):
            target.bdi.post_goal(goal)
        detail = f"{load.synthetic_goals} goals, plans U(0, {load.plan_seconds:g}) s"
        world.journal.action(ActionEvent(world.clock.now(), load.pop, ACTION, detail))

    stop = watcher.bdi.beliefs.subscribe(on_change)


def _agent(agents: Sequence[PoPAgent], pop: str) -> PoPAgent:
    for agent in agents:
        if agent.pop == pop:
            return agent
    raise ValueError(f"no agent runs PoP {pop!r}")

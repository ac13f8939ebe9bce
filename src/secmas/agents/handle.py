"""What the run's step loops may ask of an agent, wherever the agent runs.

The closed loop, the SSLA manager and moving target defence (`002_…` II.A–B: node-level
loops hand their decisions to the agent of the managed entity) never reach into an agent
object: they hold an `AgentHandle` per PoP. In one process the handle is the `PoPAgent`
itself (its methods below run on its BDI engine and its copy of the infrastructure);
with agents as OS processes it is a stub that asks the agent over the bus, sealed like
every control message (`secmas.pipeline.agentcontrol`).
"""

from __future__ import annotations

from typing import Protocol

from secmas.agents.bdi import Belief, Goal, GoalStatus
from secmas.network.infrastructure import Instance


class GoalTicket(Protocol):
    """A goal handed to an agent, as its poster follows it: the `Goal` itself in one
    process, its last reported status across processes."""

    @property
    def status(self) -> GoalStatus: ...

    @property
    def reason(self) -> str: ...


class AgentHandle(Protocol):
    """The agent of one PoP, as the loops beside the agents see it."""

    @property
    def pop(self) -> str: ...

    async def post(self, goal: Goal) -> GoalTicket:
        """Hand the agent a goal (it deliberates and auctions it like its own)."""
        ...

    async def in_hand(self, predicate: Belief, query: bool) -> bool:
        """Whether the agent already pursues a goal of `predicate`'s kind for its first
        argument, or already believes it (knows its truth value, for a query)."""
        ...

    async def instances(self) -> list[Instance]:
        """The VNF instances running on the agent's PoP, oldest first."""
        ...

    async def terminate(self, instance: str, cause: str) -> Instance | None:
        """Stop one of the PoP's instances (its resources return to the PoP) and journal
        it, `cause` naming the goal it served; None when no such instance runs there."""
        ...

"""What an agent's attester measures of its own objects, the same in every placement.

In one process all agents share the code, so only their objects tell an infected agent
from the others; in an agent's own process an implant need not touch the code either: a
method bound on a live object does the same work. So the attester measures the agent
object and what it acts through (its mailbox, where every call for proposals, bid and
award passes; its goal board; its BDI engine; its Auction and Orchestrator capabilities;
its VNF plug-ins, whose plans act on the network; its end of the bus: its own, or in an
agent process its world's) and its trust side (its membership, its attester, its control plane),
in one process and in an agent process alike (`RuntimeImage.watch`,
`Bindings.instance_problems`).
"""

from __future__ import annotations

from secmas.agents.ddos.agent import PoPAgent
from secmas.pipeline.membership import Membership
from secmas.trust.image import RuntimeImage


def watched_parts(agent: PoPAgent, member: Membership | None = None) -> tuple[object, ...]:
    """The agent object, the objects it acts through and its trust side (`member`)."""
    own = (agent.mailbox, agent.board, agent.bdi, agent.auctioneer, agent.orchestrator)
    parts = (agent, *own, *agent.plugins.values(), agent.bus or agent.world.bus)
    return parts if member is None else (*parts, member, member.endpoint, member.control)


def watch_agent(image: RuntimeImage, agent: PoPAgent, member: Membership | None = None) -> None:
    """Have `image`'s measurements include `agent`, its parts and its trust side (held
    weakly)."""
    image.watch(*watched_parts(agent, member))

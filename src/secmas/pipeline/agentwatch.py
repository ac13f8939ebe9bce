"""What an agent's attester measures of its own objects, the same in every placement.

In one process all agents share the code, so only their objects tell an infected agent
from the others; in an agent's own process an implant need not touch the code either: a
method bound on a live object does the same work. So the attester measures the agent
object and what it acts through (its mailbox, where every call for proposals, bid and
award passes; its goal board; its BDI engine; its bus end), in one process and in an
agent process alike (`RuntimeImage.watch`, `Bindings.instance_problems`).
"""

from __future__ import annotations

from secmas.agents.ddos.agent import PoPAgent
from secmas.trust.image import RuntimeImage


def watched_parts(agent: PoPAgent) -> tuple[object, ...]:
    """The agent object and the objects it acts through."""
    parts: tuple[object, ...] = (agent, agent.mailbox, agent.board, agent.bdi)
    return parts if agent.bus is None else (*parts, agent.bus)


def watch_agent(image: RuntimeImage, agent: PoPAgent) -> None:
    """Have `image`'s measurements include `agent` and its parts (held weakly)."""
    image.watch(*watched_parts(agent))

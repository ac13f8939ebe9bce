"""An agent's NFV-A endpoint as both roles share it: who it is, how it sends (one frame per
receiver's inbox), whom it admits, whom it knows to be silent or gone, the conversations it
waits for answers in, and the tasks it runs (cancelled when the agent stops)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from secmas.agents.acl import ACLMessage
from secmas.agents.nfva.hooks import Hooks
from secmas.agents.nfva.settings import AuctionSettings
from secmas.agents.nfva.subjects import inbox
from secmas.agents.senders import RefusedMessage
from secmas.network.clock import Clock
from secmas.network.infrastructure import Infrastructure
from secmas.transport.bus import Bus

logger = logging.getLogger(__name__)


class Endpoint:
    """One agent's side of every NFV-A conversation, whichever role it plays in it."""

    def __init__(
        self,
        name: str,
        infra: Infrastructure,
        bus: Bus,
        clock: Clock,
        settings: AuctionSettings,
        hooks: Hooks,
        space: str,
    ) -> None:
        self.name = name
        self.infra = infra
        self.bus = bus
        self.clock = clock
        self.settings = settings
        self.hooks = hooks
        self.space = space
        self.malformed = 0
        self.silent: dict[str, float] = {}
        """Agents that stopped answering, with when: left out of calls for proposals."""
        self.departed: set[str] = set()
        """Agents known to be gone (until heard from again)."""
        self.waiting: dict[str, asyncio.Queue[ACLMessage]] = {}
        """Conversation → the queue its answers go to, while this agent waits for them."""
        self.parties: dict[str, frozenset[str]] = {}
        """Conversation → the agents whose answers it waits for (`waiting`)."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, message: ACLMessage) -> None:
        """Publish `message` to each receiver's inbox, naming that receiver alone: a call
        for proposals to N agents is then N small frames, not N copies of a frame that
        lists all N (each of which every receiver would parse: O(N²) per auction)."""
        if len(message.receivers) == 1:
            await self.bus.publish(inbox(message.receivers[0], self.space), message.encode())
            return
        for receiver, frame in message.frames():
            await self.bus.publish(inbox(receiver, self.space), frame)

    def spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        """Run `work` as a task of this agent's (cancelled by `cancel_tasks`)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel_tasks(self) -> None:
        """Stop every task this agent runs (as a crashed agent would)."""
        for task in list(self._tasks):
            task.cancel()

    def admitted(self, agent: str) -> bool:
        """Whether `agent` may take part (this agent always may, for itself)."""
        admits = self.hooks.admits
        return admits is None or agent == self.name or admits(agent)

    def revoked(self) -> bool:
        """Whether this agent itself is no longer admitted (revoked after it attested)."""
        admits = self.hooks.admits
        return admits is not None and not admits(self.name)

    def known_gone(self, agent: str) -> bool:
        """Whether `agent` is known to be gone (told so, or no longer admitted)."""
        return agent != self.name and (agent in self.departed or not self.admitted(agent))

    def depart(self, agent: str) -> None:
        """`agent` is known to be gone: left out of calls for proposals until it is heard
        from again (`heard`)."""
        if agent != self.name and self.admitted(agent):  # (a revoked one gets no CFP)
            self.departed.add(agent)
            self.silent.setdefault(agent, self.clock.now())

    def heard(self, agent: str) -> None:
        """`agent` is back (a message from it arrived): ask it again from now on."""
        self.departed.discard(agent)
        if self.silent.pop(agent, None) is not None:
            logger.info("%s: %s answers again", self.name, agent)

    def refuse(self, message: ACLMessage, sender: str | None, reason: str) -> None:
        """Drop `message` and journal it, naming the agent that sealed it."""
        logger.warning("%s: refused %s: %s", self.name, message.performative, reason)
        if self.hooks.refused is not None:
            self.hooks.refused(
                RefusedMessage(
                    self.clock.now(),
                    self.name,
                    message.performative.value,
                    message.sender,
                    message.sender if sender is None else sender,
                    message.conversation_id,
                    reason,
                )
            )


async def next_message(
    queue: asyncio.Queue[ACLMessage], timer: asyncio.Future[Any]
) -> ACLMessage | None:
    """The next message in `queue`, or None once `timer` has fired. A message already
    queued is taken at once: a getter task and a wait per reply cost the initiator of a
    call to 100 agents more than the bidding's messages themselves."""
    if timer.done():
        return None
    if not queue.empty():
        return queue.get_nowait()
    getter = asyncio.ensure_future(queue.get())
    try:
        done, _ = await asyncio.wait({getter, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when the auction itself is cancelled: no getter outlives the run
        if not getter.done():
            getter.cancel()
    return getter.result() if getter in done else None

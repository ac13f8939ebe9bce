"""The floor of serialised mode: one negotiation at a time, as a real mutual exclusion.

003 Section 5.1: "multiple auctions do not exist simultaneously. If an agent wants to
trigger an auction, it waits for an ongoing negotiation to end. Moreover, it waits an
additional random time". Watching "open"/"close" announcements and going once none is
heard is no agreement: two agents whose back-offs end within one bus latency of each other
both see the floor free (6 in 200 races at 10 ms, 38 at 50 ms), and one that dies holding
the floor blocks everyone for ever.

The floor is taken instead by Ricart and Agrawala's algorithm ("An optimal algorithm for
mutual exclusion in computer networks", CACM 24(1), 1981), leaderless and ledger-free, over
the floor subject every agent of the space already shares: a taker broadcasts ASK with its
Lamport time and holds the floor once every peer not known to be gone has sent GRANT for
that ask. A peer grants at once unless it holds the floor or asks itself with an earlier
(time, name); then it defers the grant until it gives the floor back. Two agents can
never both hold every grant, whatever the bus's latency. A holder declared gone (the goal
board's "gone", a revocation) is no longer waited for, so its floor is released by its
death; an ask is sent again every `resend` seconds while grants are missing, so a frame
lost on the bus, or a peer that was away and is back, delays the floor but never keeps it.
The dissertation's random back-off follows: the taker waits it out holding the floor.

A frame counts only from the agent the channel authenticated as its sender; a
grant only for this agent's current ask, so a late grant of an earlier one gives nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from secmas.network.clock import Clock
from secmas.transport.bus import Bus, Subscription
from secmas.transport.channel import subscribe_authenticated

logger = logging.getLogger(__name__)

ASK = "ask"
GRANT = "grant"


@dataclass(frozen=True)
class FloorFrame:
    """One floor message: an ASK by `sender` at Lamport `time`, or a GRANT by `sender` of
    the ask `to` made at `time`."""

    kind: str
    sender: str
    time: int
    to: str = ""

    def encode(self) -> bytes:
        content: dict[str, Any] = {"kind": self.kind, "from": self.sender, "time": self.time}
        if self.kind == GRANT:
            content["to"] = self.to
        return json.dumps(content, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> FloorFrame:
        """The frame in `data`; ValueError naming what is wrong."""
        try:
            content = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(content, dict):
            raise ValueError("not a JSON object")
        kind, sender, time = content.get("kind"), content.get("from"), content.get("time")
        if kind not in (ASK, GRANT):
            raise ValueError(f"kind {kind!r} is neither {ASK!r} nor {GRANT!r}")
        if not isinstance(sender, str) or not sender:
            raise ValueError(f"from {sender!r} is not an agent name")
        if type(time) is not int or time < 0:
            raise ValueError(f"time {time!r} is not a Lamport time")
        to = content.get("to", "")
        if kind == GRANT and (not isinstance(to, str) or not to):
            raise ValueError(f"a grant's to {to!r} is not an agent name")
        return cls(kind, sender, time, to if kind == GRANT else "")


class Floor:
    """One agent's side of the floor: takes and gives it back, and answers the others'
    asks (Ricart–Agrawala, see the module docstring)."""

    def __init__(
        self,
        name: str,
        bus: Bus,
        subject: str,
        clock: Clock,
        *,
        gone: Callable[[str], bool],
        rng: random.Random,
        backoff: float,
        resend: float,
    ) -> None:
        self.name = name
        self.bus = bus
        self.subject = subject
        self.clock = clock
        self.gone = gone
        """Whether an agent is known to be gone (or not admitted): not waited for."""
        self._rng = rng
        self.backoff = backoff
        self.resend = resend
        self.holding = False
        self.refused = 0
        """Frames dropped: malformed, or not from the agent they name."""
        self._lamport = 0
        self._asked: int | None = None
        """The Lamport time of this agent's ask while it waits for the floor."""
        self._granted: set[str] = set()
        self._deferred: dict[str, int] = {}
        """Asks this agent answers once it gives the floor back: agent → ask time."""
        self._changed = asyncio.Event()
        self._mine = asyncio.Lock()
        """Held from a take to its give: one ask of this agent at a time."""

    async def start(self) -> Subscription:
        """Answer the others' asks (and hear their grants) from now on."""
        return await subscribe_authenticated(self.bus, self.subject, self._on_frame)

    def changed(self) -> None:
        """Look again at whom the floor waits for (an agent was declared gone)."""
        self._changed.set()

    async def take(self, peers: Iterable[str]) -> None:
        """Hold the floor once every agent of `peers` not known to be gone granted this
        ask (the ongoing negotiation ended), then wait the dissertation's additional
        random time. This agent's own takers queue first, in their order."""
        await self._mine.acquire()
        self._lamport += 1
        ask = FloorFrame(ASK, self.name, self._lamport)
        self._asked, self._granted = ask.time, set()
        self._changed.clear()
        everyone = frozenset(peers) - {self.name}
        try:
            if self._missing(everyone):
                await self._send(ask)
            while missing := self._missing(everyone):
                if not await self._until_changed(self.resend):
                    logger.debug("%s: floor asks %s again", self.name, sorted(missing))
                    await self._send(ask)  # a frame was lost, or a peer is back
            self._asked, self.holding = None, True
            await self.clock.sleep(self._rng.uniform(0, self.backoff))
        except BaseException:
            self._asked = None
            await self.give()  # taking no more (the agent stops): nobody waits for it
            raise

    def _missing(self, everyone: frozenset[str]) -> set[str]:
        """The peers whose grant of the current ask the floor still waits for."""
        return {p for p in everyone if p not in self._granted and not self.gone(p)}

    async def give(self) -> None:
        """Give the floor back: the deferred asks are granted now, and this agent's next
        taker may ask."""
        self.holding = False
        try:
            await self._answer_deferred()
        finally:
            self._mine.release()

    async def _answer_deferred(self) -> None:
        deferred, self._deferred = self._deferred, {}
        for agent, time in sorted(deferred.items()):
            await self._send(FloorFrame(GRANT, self.name, time, agent))

    async def _until_changed(self, timeout: float) -> bool:
        """Wait until a grant came or an agent was declared gone (True), or `timeout`."""
        timer = asyncio.ensure_future(self.clock.sleep(timeout))
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({timer, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            changed.cancel()
        fired = self._changed.is_set()
        self._changed.clear()
        return fired

    async def _send(self, frame: FloorFrame) -> None:
        await self.bus.publish(self.subject, frame.encode())

    async def _on_frame(self, _subject: str, sender: str | None, data: bytes) -> None:
        try:
            frame = FloorFrame.decode(data)
        except ValueError as exc:
            self._refuse(f"a malformed floor frame from {sender or 'an unsealed sender'}: {exc}")
            return
        if sender is not None and frame.sender != sender:
            self._refuse(f"a floor {frame.kind} naming {frame.sender!r}, sealed by {sender!r}")
            return
        if frame.sender == self.name or self.gone(frame.sender):
            return
        if frame.kind == ASK:
            await self._on_ask(frame)
        elif frame.to == self.name and frame.time == self._asked:
            self._granted.add(frame.sender)
            self._changed.set()

    async def _on_ask(self, frame: FloorFrame) -> None:
        self._lamport = max(self._lamport, frame.time)
        mine = None if self._asked is None else (self._asked, self.name)
        if self.holding or (mine is not None and mine < (frame.time, frame.sender)):
            self._deferred[frame.sender] = frame.time
            return
        await self._send(FloorFrame(GRANT, self.name, frame.time, frame.sender))

    def _refuse(self, why: str) -> None:
        self.refused += 1
        logger.warning("%s: dropped %s", self.name, why)

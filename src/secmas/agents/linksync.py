"""Keeping agents' view of the network in step when they run in separate processes.

In one process the agents share one `Infrastructure`, so a virtual path one agent
reserves (for the goal it won) lowers the bandwidth every other agent's bids see, and
what a PoP allocates changes the cost of paths through it (Eq. 4.3). Agents in their own
processes each hold a copy: `LinkSync` publishes every path this agent reserves or
releases and every allocation its PoP commits (an accepted proposal: a pending one is
a hold no other agent counts), in order, and applies the others' to its copy, so
download times, path costs and path choices are computed on the same state.

The reservation of a goal's winner is announced by the auction's initiator right after
its ACCEPT (`announce`), so every agent counts it before that initiator's next CFP,
the order one process sees (the initiator counts it in its own copy at once, as it
announces); the winner announces the release when its plan is done.

Wire format (JSON, subject `secmas.links.<pipeline>`): `{"from": AGENT, "holder": AGENT,
"op": "reserve" | "release", "path": [NODE, …], "mbps": FLOAT}` (the holder applies no
announcement of its own path: it reserved it locally) and `{"from": AGENT, "op":
"allocate" | "free", "pop": POP, "amount": [U, M, D]}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from secmas.network.infrastructure import Infrastructure
from secmas.network.resources import Amount
from secmas.transport.bus import Bus, BusClosed, Subscription

logger = logging.getLogger(__name__)


def links_subject(pipeline: str) -> str:
    return f"secmas.links.{pipeline}"


class LinkSync:
    """Relays this agent's path reservations and applies the other agents'."""

    def __init__(self, infra: Infrastructure, bus: Bus, pipeline: str, me: str) -> None:
        self.infra = infra
        self.bus = bus
        self.subject = links_subject(pipeline)
        self.me = me
        self.applied = 0
        self.malformed = 0
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self.infra.path_listeners.append(self._changed)
        self.infra.pop_listeners.append(self._allocated)
        self._sub = await self.bus.subscribe(self.subject, self._apply)
        self._sender = asyncio.ensure_future(self._send())

    async def stop(self) -> None:
        self.infra.path_listeners.remove(self._changed)
        self.infra.pop_listeners.remove(self._allocated)
        if self._sub is not None:
            await self._sub.unsubscribe()
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)

    def _changed(self, op: str, path: list[str], mbps: float) -> None:
        self._queue.put_nowait(self._change(op, self.me, path, mbps))

    def _allocated(self, op: str, pop: str, amount: Amount) -> None:
        self._queue.put_nowait({"from": self.me, "op": op, "pop": pop, "amount": list(amount)})

    def _change(self, op: str, holder: str, path: list[str], mbps: float) -> dict[str, Any]:
        return {"from": self.me, "holder": holder, "op": op, "path": list(path), "mbps": mbps}

    async def announce(self, op: str, holder: str, path: list[str], mbps: float) -> None:
        """Publish a change now, in order with this agent's other messages (an
        initiator's next CFP, say), and count it here too when another agent holds the
        path: an initiator's own view then has its winner's path reserved before its next
        CFP, as one shared Infrastructure has it (its own messages are not applied back)."""
        if holder != self.me:
            paths = {"reserve": self.infra.apply_reserve, "release": self.infra.apply_release}
            paths[op](path, mbps)
        await self.bus.publish(
            self.subject, json.dumps(self._change(op, holder, path, mbps)).encode()
        )

    async def _send(self) -> None:
        while True:
            change = await self._queue.get()
            try:
                await self.bus.publish(self.subject, json.dumps(change).encode())
            except BusClosed:
                return

    async def _apply(self, _subject: str, data: bytes) -> None:
        try:
            change = json.loads(data)
            if self.me in (change["from"], change.get("holder")):
                return
            op = change["op"]
            if op in ("allocate", "free"):
                amount = Amount(*(float(x) for x in change["amount"]))
                pops = {"allocate": self.infra.apply_allocate, "free": self.infra.apply_free}
                pops[op](str(change["pop"]), amount)
            else:
                path, mbps = [str(n) for n in change["path"]], float(change["mbps"])
                paths = {"reserve": self.infra.apply_reserve, "release": self.infra.apply_release}
                paths[op](path, mbps)
        except (ValueError, KeyError, TypeError) as exc:
            self.malformed += 1
            logger.warning("%s: dropped a malformed link change: %s", self.me, exc)
            return
        self.applied += 1

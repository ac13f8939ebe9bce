"""Serialised mode's floor is a real mutual exclusion (`secmas.agents.floor`).

Two agents race for the floor over a bus that delays every frame (as NATS between
processes does), a thousand times on the virtual clock: their negotiations (call for
proposals to award) never overlap. A holder that dies holding the floor releases it once it
is declared gone. Frames that are malformed or name another sender than the channel's count
for nothing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import make_scenario

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.auction import Mailbox
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.floor import ASK, GRANT, Floor, FloorFrame
from secmas.agents.nfva.records import AuctionRecord
from secmas.agents.nfva.settings import AuctionSettings
from secmas.network.clock import VirtualClock, drive_clock
from secmas.network.infrastructure import Infrastructure
from secmas.scenario.ddos import ddos_goals
from secmas.transport.bus import Handler, Subscription
from secmas.transport.memory import MemoryBus

LIMIT = next(g for g in ddos_goals() if g.name == "linkRateLimited")
SCENARIO = make_scenario(
    pops=[("A", 8, 16, 500), ("B", 8, 16, 500)],
    links=[("A", "S", 50, 5, 0), ("B", "S", 50, 5, 0)],
    repository="S",
    switches=[{"id": "S"}],
)
SETTINGS = AuctionSettings(serialised=True, backoff=0.5)


@dataclass
class Wire:
    """One agent's link to a shared bus: each frame it publishes arrives `latency(rng)`
    later (in publish order, as NATS keeps one client's order); once `cut` (the agent's
    process died) nothing it publishes leaves and nothing reaches it."""

    bus: MemoryBus
    clock: VirtualClock
    rng: random.Random
    latency: tuple[float, float]
    sent: list[tuple[float, str, bytes]] = field(default_factory=list)
    cut: bool = False
    _due: float = 0.0
    _flying: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def stats(self) -> Any:
        return self.bus.stats

    async def publish(self, subject: str, data: bytes) -> None:
        if self.cut:
            return
        self.sent.append((self.clock.now(), subject, data))
        self._due = max(self._due, self.clock.now() + self.rng.uniform(*self.latency))
        task = asyncio.ensure_future(self._arrive(self._due - self.clock.now(), subject, data))
        self._flying.add(task)
        task.add_done_callback(self._flying.discard)

    async def _arrive(self, delay: float, subject: str, data: bytes) -> None:
        await self.clock.sleep(delay)
        await self.bus.publish(subject, data)

    async def subscribe(self, subject: str, handler: Handler) -> Subscription:
        async def unless_cut(got: str, data: bytes) -> bytes | None:
            return None if self.cut else await handler(got, data)

        return await self.bus.subscribe(subject, unless_cut)

    async def flush(self) -> None:
        await self.bus.flush()

    async def close(self) -> None:
        for task in self._flying:
            task.cancel()

    def windows(self) -> dict[str, tuple[float, float]]:
        """Each negotiation this agent ran: (its call for proposals, its award) as sent."""
        calls: dict[str, float] = {}
        awards: dict[str, float] = {}
        for at, subject, data in self.sent:
            if ".agent." not in subject:
                continue
            message = ACLMessage.decode(data)
            if message.performative is Performative.CFP:
                calls.setdefault(message.conversation_id, at)
            elif message.performative is Performative.ACCEPT_PROPOSAL:
                awards.setdefault(message.conversation_id, at)
        return {c: (calls[c], awards[c]) for c in calls if c in awards}


@dataclass
class Pair:
    """Agents A and B, each on its own `Wire`, serialised, on the virtual clock."""

    clock: VirtualClock
    wires: dict[str, Wire]
    boxes: dict[str, Mailbox]

    @classmethod
    async def build(cls, seed: int, latency: tuple[float, float]) -> Pair:
        bus, clock = MemoryBus(), VirtualClock()
        infra = Infrastructure.from_scenario(SCENARIO)
        rng = random.Random(seed)
        wires: dict[str, Wire] = {}
        boxes: dict[str, Mailbox] = {}
        for name in ("A", "B"):

            async def execute(_r: GoalRequest, _b: Bid, _p: dict[str, Any]) -> dict[str, Any]:
                return {}

            wires[name] = Wire(bus, clock, rng, latency)
            boxes[name] = Mailbox(name, infra, wires[name], clock, execute, SETTINGS, seed=seed)
            await boxes[name].start()
        return cls(clock, wires, boxes)

    def auction(self, initiator: str, after: float = 0.0) -> asyncio.Task[AuctionRecord]:
        request = GoalRequest.for_goal(LIMIT, initiator, 0.0, (f"link-{initiator}",))
        return asyncio.ensure_future(
            self._later(after, self.boxes[initiator].auction(request, {}, ["A", "B"]))
        )

    async def _later(self, delay: float, work: Awaitable[AuctionRecord]) -> AuctionRecord:
        await self.clock.sleep(delay)
        return await work

    async def until(self, t: float) -> None:
        await drive_clock(self.clock, t)

    async def close(self) -> None:
        for name in self.boxes:
            await self.boxes[name].stop()
            await self.wires[name].close()


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


async def _race(seed: int) -> bool:
    """One race: A and B ask for the floor up to 50 ms apart over a bus with 1–50 ms of
    latency per frame; True if their negotiations overlapped."""
    pair = await Pair.build(seed, latency=(0.001, 0.05))
    offset = random.Random(-seed).uniform(0, 0.05)
    tasks = [pair.auction("A"), pair.auction("B", after=offset)]
    await pair.until(60)
    assert all(t.done() and t.result().status == "done" for t in tasks), seed
    [a] = pair.wires["A"].windows().values()
    [b] = pair.wires["B"].windows().values()
    await pair.close()
    return _overlap(a, b)


def test_two_agents_racing_for_the_floor_over_a_slow_bus_never_overlap():
    async def main() -> list[int]:
        return [seed for seed in range(1000) if await _race(seed)]

    overlapped = asyncio.run(main())
    assert overlapped == [], f"{len(overlapped)}/1000 races overlapped, seeds {overlapped[:10]}"


def test_a_floor_holder_that_dies_releases_the_floor_once_declared_gone():
    """A holds the floor (its own idle Rate Limiter wins, so the floor is A's until it is
    done) and its process dies; B waits for the floor until the goal board declares A gone,
    then runs its auction, without A."""

    async def main() -> None:
        pair = await Pair.build(7, latency=(0.001, 0.01))
        a, b = pair.boxes["A"], pair.boxes["B"]
        a.endpoint.infra.deploy("A", "rate_limiter")

        async def hold(_r: GoalRequest, _b: Bid, _p: dict[str, Any]) -> dict[str, Any]:
            await pair.clock.sleep(100.0)
            return {}

        a.participant.executor = hold
        first = pair.auction("A")
        await pair.until(5)
        [(called, awarded)] = pair.wires["A"].windows().values()
        assert called < awarded < 5 and not first.done()  # A is working, floor held
        pair.wires["A"].cut = True  # A's process dies holding the floor
        second = pair.auction("B")
        await pair.until(30)
        assert not second.done() and not pair.wires["B"].windows()  # the floor is A's
        b.gone("A", "crashed")
        await pair.until(60)
        record = second.result()
        assert record.status == "done" and record.started >= 30
        assert record.outcome.winner is not None and record.outcome.winner.bidder == "B"
        await pair.close()

    asyncio.run(asyncio.wait_for(main(), 60))


# -- the floor's frames ------------------------------------------------------------------------


@given(
    kind=st.sampled_from([ASK, GRANT]),
    sender=st.text(min_size=1, max_size=8),
    time=st.integers(0, 2**40),
    to=st.text(min_size=1, max_size=8),
)
def test_a_floor_frame_decodes_to_what_was_encoded(kind: str, sender: str, time: int, to: str):
    frame = FloorFrame(kind, sender, time, to if kind == GRANT else "")
    assert FloorFrame.decode(frame.encode()) == frame


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xff", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"kind":"open","from":"A","time":1}', "kind 'open'"),
        (b'{"kind":"ask","from":"","time":1}', "from ''"),
        (b'{"kind":"ask","from":"A","time":-1}', "time -1"),
        (b'{"kind":"ask","from":"A","time":true}', "time True"),
        (b'{"kind":"grant","from":"A","time":1}', "a grant's to"),
    ],
)
def test_a_malformed_floor_frame_is_refused_naming_what_is_wrong(data: bytes, why: str):
    with pytest.raises(ValueError, match=why):
        FloorFrame.decode(data)


def test_a_forged_grant_or_a_grant_of_an_earlier_ask_gives_no_floor():
    """B's grant for A's ask, but sealed by C (a secure channel names the sender), and
    B's grant of an ask A made before: A still waits for B's grant of this ask."""

    async def main() -> None:
        bus, clock = MemoryBus(), VirtualClock()
        floor = Floor(
            "A",
            bus,
            "nfva.floor",
            clock,
            gone=lambda _agent: False,
            rng=random.Random(0),
            backoff=0.0,
            resend=1.0,
        )
        sub = await floor.start()
        take = asyncio.ensure_future(floor.take(["A", "B"]))
        await drive_clock(clock, 0.5)
        forged = FloorFrame(GRANT, "B", 1, "A").encode()
        await floor._on_frame("nfva.floor", "C", forged)  # as the channel hands it over
        await floor._on_frame("nfva.floor", "B", FloorFrame(GRANT, "B", 0, "A").encode())
        await drive_clock(clock, 0.6)
        assert not take.done() and floor.refused == 1
        await floor._on_frame("nfva.floor", "B", forged)
        await drive_clock(clock, 0.7)
        assert take.done() and floor.holding
        take.cancel()
        await sub.unsubscribe()
        await bus.close()

    asyncio.run(asyncio.wait_for(main(), 30))

"""Clocks for the simulation: a virtual clock that only moves when the system is quiet.

Agents, auctions and VNF downloads await `clock.sleep(seconds)`. Under `VirtualClock` the
run driver advances time to the next timer once no task can make progress, so a run is a
discrete-event simulation: deterministic for a seed and far faster than real time. Under
`ScaledClock` (wall time, sped up or not, shared by processes) the same code runs in real
time (distributed mode).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

Offload = Callable[..., Awaitable[Any]]
"""Runs a blocking ledger call off the event loop: `asyncio.to_thread`, or the run
clock's `run_blocking` so that simulated time waits for it."""


class Clock(Protocol):
    """What agents need from time."""

    def now(self) -> float:
        """Current time in seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the caller for `seconds` of this clock's time."""
        ...

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking `fn(*args)` (a ledger transaction) in a worker thread, so that the
        other tasks go on meanwhile."""
        ...


def claimed_time(at: float, now: float, ahead: float) -> float:
    """A time a sender claims (`at`, on its clock) as the receiver, whose clock reads
    `now`, may use it: never later than `now`. Clocks that share an origin still drift, so
    a claim up to `ahead` seconds later is taken as `now`; ValueError for one further
    ahead, or not finite. Taken at its word, a time from the future would make its sender
    look fresh for ever: a heartbeat dated 1e300 kept an agent from ever being found
    silent. A time in the past, negative included, is only old: the processes of a run
    start before their shared clock's origin (`ScaledClock`), and an old claim makes
    nobody look fresher than they are."""
    if not math.isfinite(at):
        raise ValueError(f"time {at!r} is not a finite number")
    if at > now + ahead:
        raise ValueError(f"time {at:g} s is {at - now:g} s ahead of the receiver's clock")
    return min(at, now)


class ScaledClock:
    """Wall time sped up `speed` times, counted from a shared `origin` (Unix time).

    Agents in separate processes (or on hosts kept in step by NTP) that share the origin
    and speed agree on `now`, so a scenario's simulated minutes can run in wall seconds
    while every message still really crosses the network."""

    def __init__(
        self, speed: float = 1.0, origin: float | None = None, *, held: bool = False
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        self.speed = speed
        self.origin = time.time() if origin is None else origin
        self.held = held
        """At 0 until `begin` (a bring-up before the run's time starts, as on the
        virtual clock)."""

    def begin(self, origin: float | None = None) -> None:
        """Run time 0 is at `origin` (Unix time; default now)."""
        self.origin = time.time() if origin is None else origin
        self.held = False

    def now(self) -> float:
        return 0.0 if self.held else (time.time() - self.origin) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    async def sleep_until(self, when: float) -> None:
        """Sleep until `now()` reaches `when` (at once if it has)."""
        await self.sleep(when - self.now())

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)


class VirtualClock:
    """Simulated time: sleepers wake when the driver advances the clock past their time.

    Blocking work handed to `run_blocking` takes no simulated time: the driver waits for
    it (`drain`) before it moves the clock, so a run stays deterministic however long a
    ledger transaction takes, while the other tasks keep running meanwhile."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._blocking: set[asyncio.Future[Any]] = set()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self._now + seconds, next(self._seq), future))
        await future

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        future = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        self._blocking.add(future)
        future.add_done_callback(self._blocking.discard)
        return await future

    async def drain(self) -> bool:
        """Wait for the blocking work in flight, if any; whether there was some."""
        if not self._blocking:
            return False
        await asyncio.wait(set(self._blocking))
        return True

    def next_timer(self) -> float | None:
        """When the earliest live sleeper wakes, if any."""
        while self._timers and self._timers[0][2].done():
            heapq.heappop(self._timers)  # cancelled sleeper
        return self._timers[0][0] if self._timers else None

    def advance(self, until: float) -> int:
        """Move to `until`, waking every sleeper due by then in time order; return how many."""
        woken = 0
        while self._timers and self._timers[0][0] <= until:
            due, _, future = heapq.heappop(self._timers)
            if future.done():
                continue
            self._now = max(self._now, due)
            future.set_result(None)
            woken += 1
        self._now = max(self._now, until)
        return woken


async def settle(max_rounds: int = 100_000) -> None:
    """Yield until no other task on this loop is ready to run (the system is quiet).

    In-memory runs have no I/O, so once the loop's ready queue is empty after our own
    yield, nothing can happen until a clock timer fires.
    """
    loop = asyncio.get_running_loop()
    for _ in range(max_rounds):
        await asyncio.sleep(0)
        if not getattr(loop, "_ready", None):
            return
    raise RuntimeError("the agents did not settle: a task keeps itself busy")


async def drive_clock(clock: VirtualClock, until: float) -> None:
    """Let the agents settle and blocking work finish, then move the clock to `until`,
    firing timers in order."""
    while True:
        await settle()
        if await clock.drain():
            continue
        due = clock.next_timer()
        if due is None or due > until:
            clock.advance(until)
            await settle()
            return
        clock.advance(due)

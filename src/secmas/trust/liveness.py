"""Liveness: each agent's heartbeat, and the orchestrator's view of who is running.

`000_…` Section III.A asks that the orchestrator can tell an agent is effectively
running, so that a denial of service on the agent or its platform (resource attrition)
shows up even when nothing asks the agent anything. Each agent sends the MLFO a small
beat on the run's clock, sealed between their identity keys (`secmas.trust.control`);
the monitor keeps the last beat per agent and names the silent ones. A beat that does
not open as from a pipeline member, or that was seen before, is counted and ignored, so
nobody can keep a dead agent looking alive, and the bus sees no beat in clear. Nor can a
member itself: the time a beat claims is bounded by the monitor's clock (`claimed_time`),
so a beat dated 1e300 s (or NaN) is refused, not kept as a last beat never silent. The
monitor has that clock from the moment it listens (the run's bring-up clock, until
`watch` gives it the run's), and refuses every beat while it has none: a beat taken
without a bound before the watch began kept an agent fresh for ever.

Watching (`LivenessMonitor.watch`), the monitor withdraws from auctions an agent that sent
no beat for its silence window (one period plus a margin, `secmas.trust.deadlines.
silence_window`): a stopped process (SIGSTOP), a hung loop, a dead host. Withdrawal is not
revocation: the agent keeps its keys and its trust, and its next fresh beat re-admits it;
each change is told (`Presence`) to be journalled. When no member at all was heard within
its window, the bus or the orchestrator itself is cut off, and nobody is withdrawn for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from secmas.network.clock import Clock, claimed_time
from secmas.transport.bus import BusClosed, Subscription
from secmas.trust.control import MLFO, ControlPlane
from secmas.trust.deadlines import RoundTrips, silence_window
from secmas.trust.envelope import Opened
from secmas.trust.view import TrustView

logger = logging.getLogger(__name__)


def heartbeat_subject(pipeline: str, agent: str = "*") -> str:
    """Where an agent's beats go (`*` for the monitor's subscription)."""
    return f"secmas.heartbeat.{pipeline}.{agent}"


class Heartbeat:
    """Publishes one beat every `period` seconds of the run's clock while running."""

    def __init__(self, control: ControlPlane, clock: Clock, period: float) -> None:
        self.control, self.clock, self.period = control, clock, period
        self.sent = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._beat())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _beat(self) -> None:
        subject = heartbeat_subject(self.control.pipeline, self.control.name)
        while True:
            self.sent += 1
            beat = json.dumps({"seq": self.sent, "at": self.clock.now()}).encode()
            try:
                await self.control.publish(subject, MLFO, beat)
            except BusClosed:
                return
            await self.clock.sleep(self.period)


WITHDRAWN = "withdrawn"
READMITTED = "readmitted"


@dataclass(frozen=True)
class Presence:
    """A change in who takes part, on the run's clock: an agent withdrawn for silence, or
    re-admitted once it beat again."""

    time: float
    agent: str
    state: str
    """`WITHDRAWN` or `READMITTED`."""
    reason: str


Changed = Callable[[Presence], None]
"""Told every withdrawal and re-admission (the run journals them)."""


@dataclass
class LivenessMonitor:
    """The orchestrator's side: last beat per member, as authenticated by its key, and
    (once watching) whom silence keeps out of auctions."""

    pipeline: str
    agents: Collection[str]
    last: dict[str, float] = field(default_factory=dict)
    beats: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    withdrawn: dict[str, str] = field(default_factory=dict)
    """Agents withdrawn from auctions for silence, with why."""
    changes: list[Presence] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    """The agents of `changes`, appended to a log that may be shared (`TrustView.changed`)."""
    told: Changed | None = None
    gone: Callable[[str], bool] | None = None
    """Agents out for good (revoked): no longer watched."""
    clock: Clock | None = None
    """What bounds the time a beat claims: from construction (the run's bring-up clock),
    replaced by the run's clock at `watch`. Without one every beat is refused."""
    period: float = 0.0
    """Seconds between two beats (set again by `watch`): how far ahead of `clock` a
    claim may be."""
    longest: float = 0.0
    """The longest margin a member's lateness earns it: one attestation period."""
    lateness: RoundTrips = field(default_factory=RoundTrips)
    """How late each member's beats arrived (seconds after one period since its last)."""
    _sub: Subscription | None = None
    _watching: bool = False
    _first: dict[str, float] = field(default_factory=dict)
    """When the watch first counted each member (its silence starts there, not earlier)."""
    _last_any: float | None = None
    """When a beat last arrived from anyone."""
    _resumed: float = float("-inf")
    """When beats came again after a silence of everyone (a bus outage, a fail-over):
    nobody's silence counts from before it."""
    _task: asyncio.Task[None] | None = None

    async def start(self, control: ControlPlane) -> None:
        self._sub = await control.serve(heartbeat_subject(self.pipeline), self._on_beat)

    def watch(self, clock: Clock, period: float, longest: float) -> None:
        """Withdraw agents silent for their window from now on, on `clock` (on which they
        beat every `period` seconds; `longest`: the attestation period), and re-admit them
        when they beat again."""
        self.clock, self.period, self.longest = clock, period, longest
        self._watching = True
        # Beats kept before were bounded by the bring-up clock: none is later than now.
        self.last = {a: min(at, clock.now()) for a, at in self.last.items()}
        self._first = dict.fromkeys(self.agents, clock.now())
        self._task = asyncio.ensure_future(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    def admits(self, agent: str) -> bool:
        """Whether `agent` takes part in auctions as far as liveness goes (not withdrawn)."""
        return agent not in self.withdrawn

    def withdrew(self, agent: str) -> bool:
        """Whether silence withdrew `agent` (until it beats again)."""
        return agent in self.withdrawn

    def window(self, agent: str) -> float:
        """How long `agent` may stay silent before it is withdrawn (`silence_window`)."""
        return silence_window(self.period, self.lateness.timeout(agent), self.longest)

    async def _on_beat(self, opened: Opened) -> None:
        agent = opened.sender
        try:
            if len(opened.payload) > 1024:
                raise ValueError("heartbeat frame too long")
            at = claimed_time(float(json.loads(opened.payload)["at"]), self._now(), self.period)
        except (ValueError, KeyError, TypeError):
            self.rejected += 1
            return
        if agent not in self.agents or not opened.authenticated:
            self.rejected += 1
            return
        if self._watching and self.clock is not None:
            self._heard(agent, at, self.clock.now())
        self.last[agent] = max(at, self.last.get(agent, at))
        self.beats[agent] = self.beats.get(agent, 0) + 1

    def _now(self) -> float:
        """The monitor's clock, which bounds the time a beat claims (`claimed_time`);
        ValueError (the beat is refused) while it has none."""
        if self.clock is None:
            raise ValueError("no clock to bound the time a beat claims")
        return self.clock.now()

    def _heard(self, agent: str, at: float, now: float) -> None:
        """A beat sent at `at` arrived `now`: how late it came is a sample, unless it ends
        a withdrawal (as Karn's algorithm leaves retransmissions out, so that a stop does
        not lengthen the next window); a fresh one re-admits a withdrawn agent (a stale
        one, buffered somewhere, proves nothing)."""
        if self._last_any is not None and now - self._last_any > self.period:
            self._resumed = now  # nobody was heard for a beat period: the bus, not agents
        self._last_any = now
        if agent not in self.withdrawn:
            late = now - self._heard_at(agent, now) - self.period
            self.lateness.observe(agent, max(0.0, late))
        elif now - at <= self.window(agent):
            del self.withdrawn[agent]
            logger.info("%s beats again: re-admitted to auctions", agent)
            self._tell(Presence(now, agent, READMITTED, f"beat again at t={at:g} s"))

    async def _watch(self) -> None:
        clock = self.clock
        assert clock is not None
        while True:
            now = clock.now()
            self._sweep(now)
            due = [self._heard_at(a, now) + self.window(a) for a in self._watched()]
            due = [d for d in due if d > now]
            await clock.sleep(min(due, default=now + self.period) - now)

    def _heard_at(self, agent: str, now: float) -> float:
        """When `agent` was last heard of: its last beat, or when the watch first counted
        it (an agent added to the run later is not silent since the watch began), or when
        beats resumed after everyone fell silent (whoever has not beaten since is given a
        whole window from then: the silence was the bus's)."""
        heard = self.last.get(agent, self._first.setdefault(agent, now))
        return max(heard, self._resumed)

    def _watched(self) -> list[str]:
        return [a for a in self.agents if self.gone is None or not self.gone(a)]

    def _sweep(self, now: float) -> None:
        """Withdraw the agents silent for their window, while the others are heard: when
        nobody was heard for a beat period, the bus or this orchestrator is cut off, not
        the agents (their windows end at different times, so some would go first)."""
        if self._last_any is None or now - self._last_any > self.period:
            return
        watched = self._watched()
        silent = {a for a in watched if now - self._heard_at(a, now) >= self.window(a)}
        for agent in sorted(silent - self.withdrawn.keys()):
            quiet = now - self._heard_at(agent, now)
            reason = f"no heartbeat for {quiet:.3g} s (window {self.window(agent):.3g} s)"
            self.withdrawn[agent] = reason
            logger.warning("%s: %s; withdrawn from auctions", agent, reason)
            self._tell(Presence(now, agent, WITHDRAWN, reason))

    def _tell(self, change: Presence) -> None:
        self.changes.append(change)
        self.changed.append(change.agent)
        if self.told is not None:
            self.told(change)

    def silent(self, now: float, timeout: float) -> list[str]:
        """Agents with no valid beat in the last `timeout` seconds (or never)."""
        return sorted(a for a in self.agents if now - self.last.get(a, float("-inf")) > timeout)


def admitted(view: TrustView, liveness: LivenessMonitor | None, agent: str) -> bool:
    """Whether `agent` takes part in auctions: trusted (`view`: attested, not revoked) and
    not withdrawn for silence (`liveness`, until it beats again)."""
    return view.admits(agent) and (liveness is None or liveness.admits(agent))

"""The goal board: which agent answers for which goal, and who takes over the goals of an
agent that is gone.

In NFV-A a goal lives in its initiator: the agent that auctions it waits for the winner and
auctions again when the winner is lost (`secmas.agents.auction`). If the initiator itself
is revoked, crashes or is killed, nobody else knows the goal, and it is never achieved.
So every agent announces, every `period` seconds of the run's clock and at once when they
change, the goals it answers for (those it is auctioning, and standing duties such as
watching a link) and what it holds that others rely on (the limits it installed, which
only it lifts). Its `watchers`, the agents after it in the directory (cyclically), listen.
When an agent is gone, the watcher that is its successor (the next agent that is admitted
and not gone) adopts its goals and holdings and pursues them as its own; a notice tells
every agent, whose mailbox then stops waiting on its lease (re-auctioning at once) and
leaves it out of calls for proposals, and whose requests meant for it go to the successor
(`stand_in`). A goal the gone agent had awarded and whose winner still works on it is
not run twice: the winner answers the successor's call with the work in hand
(`secmas.agents.auction`). An agent found gone that is back (`back`) is asked again.

An agent is gone when the trust layer no longer admits it (revoked, or withdrawn while
the orchestrator hears no heartbeat from it: `secmas.trust.liveness`), or when its
watcher went through `silence` live rounds without a fresh announcement from it, and
heard nothing at all dated within as many periods (crashed, killed). A round is live when
the watcher's own periodic announcement came back over the bus fresh (within one period
by its clock): during a broker outage no round is live, and the announcements buffered
meanwhile arrive late, so nobody is taken for gone for an outage; after one (a gap in the
watcher's live rounds) silence is counted over, since what the others sent during it may
never reach the watcher; an agent whose announcements come late (a busy host) is not
gone either. The time an announcement
claims is bounded by the watcher's clock (`claimed_time`): one dated in the future (or
NaN) is dropped as malformed, never fresh.
Each agent hears its own subject, its watched agents' and the notices: the board costs
(1 + watchers) deliveries per agent and period, however many agents there are. Its check
after each live round costs as little: it looks at its watched agents, at those whose
admission changed since (read from the trust layer's log of changes, `admissions`) and at
those whose gone state a notice changed, not at the whole directory; with nobody to ask
(`admits` None) no other agent can be revoked. Scanning the directory for every agent at
every round made liveness quadratic: 39 % of a 594-PoP run's time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from secmas.agents.nfva.hooks import Admits
from secmas.agents.nfva.subjects import SPACE
from secmas.network.clock import Clock, claimed_time
from secmas.transport.bus import Bus, BusClosed, Subscription

logger = logging.getLogger(__name__)

MAX_FRAME = 64 * 1024
GAP = 1.5
"""Live rounds further apart than this many periods have a gap between them (they come
one period apart, give or take the bus's jitter)."""
NOT_ADMITTED = "not admitted (revoked or withdrawn)"


def board_subject(agent: str, space: str = SPACE) -> str:
    """Where an agent announces its goals."""
    return f"{space}.goals.{agent}"


def notice_subject(space: str = SPACE) -> str:
    """Where watchers tell everyone that an agent is gone, or back."""
    return f"{space}.gone"


@dataclass(frozen=True)
class OpenGoal:
    """A goal an agent answers for, as announced: enough for another agent to pursue it."""

    name: str
    args: tuple[str, ...]
    kind: str = "achieve"
    priority: float = 0.0
    payload: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        """The goal as written in the dissertation, e.g. `flowRecord(10.0.0.100, 0)`."""
        return f"{self.name}({', '.join(self.args)})"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "args": list(self.args),
            "kind": self.kind,
            "priority": self.priority,
            "payload": self.payload,
        }

    @classmethod
    def from_json(cls, data: Any) -> OpenGoal:
        """Parse one announced goal; ValueError when malformed."""
        try:
            payload = data.get("payload") or {}
            if not isinstance(payload, dict):
                raise TypeError("payload must be an object")
            return cls(
                str(data["name"]),
                tuple(str(a) for a in data["args"]),
                str(data.get("kind", "achieve")),
                float(data.get("priority", 0.0)),
                payload,
            )
        except (AttributeError, KeyError, TypeError) as exc:
            raise ValueError(f"malformed goal: {exc}") from None


Adopt = Callable[[str, str, list[OpenGoal], dict[str, Any]], None]
"""Told (gone agent, why, its goals, its holdings) when this agent is its successor."""

Lost = Callable[[str, str], None]
"""Told (agent, why) whenever an agent is found gone, by every agent."""

Back = Callable[[str], None]
"""Told (agent) whenever an agent found gone is back (alive after all, or re-admitted)."""

Holdings = Callable[[], dict[str, Any]]
"""What this agent holds that a successor must take over (JSON-ready)."""


@dataclass
class GoalBoard:
    """One agent's side of the board: its own goals, and what its watched agents hold."""

    me: str
    directory: Sequence[str]
    bus: Bus
    clock: Clock
    admits: Admits | None = None
    space: str = SPACE
    period: float = 5.0
    silence: int = 3
    watchers: int = 2
    """How many agents watch each agent: up to this many consecutive losses are covered."""
    adopt: Adopt | None = None
    lost: Lost | None = None
    back: Back | None = None
    holdings: Holdings | None = None
    admissions: Sequence[str] | None = None
    """The trust layer's log of the agents whose admission changed, in order (append-only,
    `TrustView.changed`): the check asks `admits` about those only. None: every agent
    is asked at every check (a source of `admits` that keeps no log)."""
    mine: dict[str, OpenGoal] = field(default_factory=dict)
    theirs: dict[str, dict[str, OpenGoal]] = field(default_factory=dict)
    """The last goals each watched agent announced."""
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The last holdings each watched agent announced."""
    gone: dict[str, str] = field(default_factory=dict)
    """Agents found gone, with why."""
    adopted: list[tuple[float, str, str]] = field(default_factory=list)
    """(time, gone agent, goal) for every goal this agent took over."""
    malformed: int = 0
    rounds: int = 0
    """Live rounds so far (this agent's periodic announcement came back fresh)."""
    _last: dict[str, int] = field(default_factory=dict)
    _heard_at: dict[str, float] = field(default_factory=dict)
    """The latest time each agent's announcements claimed, late ones included."""
    _live_at: float | None = None
    """When the last live round was."""
    _read: int | None = None
    """How much of `admissions` the checks have read (None: no check yet)."""
    _review: set[str] = field(default_factory=set)
    """Agents whose gone state changed outside a check (notices, announcements)."""
    _position: dict[str, int] = field(default_factory=dict)
    """Each agent's place in the directory (made once: the directory is fixed)."""
    _seq: int = 0
    _subs: list[Subscription] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen to this agent's own subject, its watched agents' and the notices; then
        announce every `period` seconds."""
        for agent in (self.me, *self.watched()):
            self._last[agent] = 0
            subject = board_subject(agent, self.space)
            self._subs.append(await self.bus.subscribe(subject, self._on_announce))
        self._subs.append(await self.bus.subscribe(notice_subject(self.space), self._on_notice))
        self._task = asyncio.ensure_future(self._announce_periodically())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._pending) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()

    def watched(self) -> list[str]:
        """The agents this one watches: the `watchers` agents before it, cyclically."""
        at, names = self._positions().get(self.me), self.directory
        if at is None:
            return []
        count = min(self.watchers, len(names) - 1)
        return [names[(at - k) % len(names)] for k in range(1, count + 1)]

    def _positions(self) -> dict[str, int]:
        if len(self._position) != len(self.directory):
            self._position = {name: at for at, name in enumerate(self.directory)}
        return self._position

    # -- this agent's goals ------------------------------------------------------------------
    def hold(self, goal: OpenGoal) -> None:
        """This agent now answers for `goal` (told to its watchers at once)."""
        if self.mine.get(goal.key) != goal:
            self.mine[goal.key] = goal
            self._spawn(self._announce())

    def release(self, goal: OpenGoal) -> None:
        """This agent no longer answers for `goal` (achieved, or given up)."""
        if self.mine.pop(goal.key, None) is not None:
            self._spawn(self._announce())

    def changed(self) -> None:
        """What this agent holds changed: tell its watchers at once."""
        self._spawn(self._announce())

    def _spawn(self, work: Any) -> None:
        if not self._subs:
            work.close()
            return
        task = asyncio.ensure_future(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _announce_periodically(self) -> None:
        while True:
            await self._announce(periodic=True)
            await self.clock.sleep(self.period)

    async def _announce(self, periodic: bool = False) -> None:
        self._seq += 1
        frame = {
            "agent": self.me,
            "seq": self._seq,
            "at": self.clock.now(),
            "periodic": periodic,
            "goals": [g.to_json() for g in self.mine.values()],
            "held": self.holdings() if self.holdings is not None else {},
        }
        await self._publish(board_subject(self.me, self.space), frame)

    async def _publish(self, subject: str, frame: dict[str, Any]) -> None:
        try:
            await self.bus.publish(subject, json.dumps(frame).encode())
        except BusClosed:
            return

    # -- the others --------------------------------------------------------------------------
    async def _on_announce(self, subject: str, data: bytes) -> None:
        try:
            frame = _frame(data)
            agent = str(frame["agent"])
            at = claimed_time(float(frame["at"]), self.clock.now(), self.period)
            goals = [OpenGoal.from_json(g) for g in frame["goals"]]
            held = frame.get("held") or {}
            if not isinstance(held, dict):
                raise TypeError("held must be an object")
            if subject != board_subject(agent, self.space):
                raise ValueError(f"{agent!r} announced on {subject}")
        except (ValueError, KeyError, TypeError) as exc:
            self.malformed += 1
            logger.warning("%s: dropped a goal announcement: %s", self.me, exc)
            return
        if not self._admitted(agent):
            return
        if agent != self.me:
            self.theirs[agent], self.held[agent] = {g.key: g for g in goals}, held
            self._heard_at[agent] = max(at, self._heard_at.get(agent, at))
        if self.clock.now() - at > self.period:
            return  # late: delivered after an outage, it says nothing about who is alive
        if agent == self.me:
            if frame.get("periodic") is True:
                self._live_round()
            return
        self._last[agent] = self.rounds
        if agent in self.gone:
            logger.info("%s: %s is back", self.me, agent)
            self._is_back(agent)
            await self._publish(notice_subject(self.space), self._notice(agent, "back", ""))

    def _live_round(self) -> None:
        """This agent's own periodic announcement came back fresh. After a gap in its live
        rounds (a broker outage, or its loop held), what its watched agents sent meanwhile
        may have been lost to it: their clients flushed it before this one resubscribed,
        while its own buffered announcement comes back fresh. So their silence is counted
        over from here; counting the rounds before the gap took live agents for gone."""
        now = self.clock.now()
        if self._live_at is not None and now - self._live_at > GAP * self.period:
            for agent in self.watched():
                self._last[agent] = self.rounds
        self._live_at = now
        self.rounds += 1
        self.check()

    async def _on_notice(self, _subject: str, data: bytes) -> None:
        try:
            frame = _frame(data)
            agent, state, by = str(frame["agent"]), str(frame["state"]), str(frame["by"])
            reason = str(frame.get("reason", ""))
            if agent not in self._positions() or state not in ("gone", "back"):
                raise ValueError(f"notice about {agent!r}: {state!r}")
        except (ValueError, KeyError, TypeError) as exc:
            self.malformed += 1
            logger.warning("%s: dropped a notice: %s", self.me, exc)
            return
        if by == self.me or not self._admitted(by) or not self._self_admitted():
            return
        if agent == self.me:
            if state == "gone":  # a watcher lost this agent: it is here
                self._spawn(self._announce(periodic=True))
        elif state == "gone" and agent not in self.gone:
            self._found_gone(agent, f"{reason}, found by {by}", notify=False)
        elif state == "back" and agent in self.gone:
            self._is_back(agent)

    def _admitted(self, agent: str) -> bool:
        return self.admits is None or agent == self.me or self.admits(agent)

    def _self_admitted(self) -> bool:
        return self.admits is None or self.admits(self.me)

    def check(self) -> None:
        """After a live round: find the agents gone since the last one (revoked ones
        among all, silent ones among those watched), and adopt what is this agent's. An
        agent that is itself no longer admitted hears nobody and takes nothing over."""
        if not self._self_admitted():
            return
        watched = set(self.watched())
        for agent in self._to_review(watched):
            admitted = self._admitted(agent)
            if agent in self.gone:
                if admitted and self.gone[agent] == NOT_ADMITTED:  # (re-)admitted since
                    self._is_back(agent)
            elif not admitted:
                self._found_gone(agent, NOT_ADMITTED)
            elif agent in watched and self._silent(agent):
                self._found_gone(agent, f"silent for {self.silence} rounds")

    def _to_review(self, watched: set[str]) -> list[str]:
        """The agents whose state may have changed since the last check, in directory
        order (as a scan would meet them): the watched ones (silence), those whose
        admission changed (`admissions`, all at the first check) and those a notice or an
        announcement found gone or back. For any other agent the check would do nothing:
        nothing it depends on moved since it last looked."""
        review, self._review = self._review | watched, set()
        if self.admits is not None:
            review |= set(self._admission_changes())
        review.discard(self.me)
        at = self._positions()
        return sorted((a for a in review if a in at), key=at.__getitem__)

    def _admission_changes(self) -> Iterable[str]:
        """The agents whose admission may have changed since the last check (every agent
        at the first one, or at every one without a log)."""
        log = self.admissions
        if log is None or self._read is None:
            self._read = 0 if log is None else len(log)
            return self.directory
        read, self._read = self._read, len(log)
        return log[read:]

    def _silent(self, agent: str) -> bool:
        """`silence` live rounds without a fresh announcement from `agent`, and none at all
        (late ones included) dated within as many periods: a late announcement says
        nothing of a round, but it does say its agent lived when it was sent. On a busy
        host whose agents' announcements came more than a period late, a watcher took them
        for gone and their goals ran twice (after a broker fail-over)."""
        if self.rounds - self._last[agent] < self.silence:
            return False
        heard = self._heard_at.get(agent)
        return heard is None or self.clock.now() - heard >= self.silence * self.period

    def _found_gone(self, agent: str, reason: str, notify: bool = True) -> None:
        logger.warning("%s: %s is gone (%s)", self.me, agent, reason)
        self.gone[agent] = reason
        self._review.add(agent)
        if notify and agent in self.watched():
            self._spawn(
                self._publish(notice_subject(self.space), self._notice(agent, "gone", reason))
            )
        if self.lost is not None:
            self.lost(agent, reason)
        if self.successor(agent) != self.me:
            return
        goals = list(self.theirs.pop(agent, {}).values())
        held = self.held.pop(agent, {})
        now = self.clock.now()
        self.adopted.extend((now, agent, g.key) for g in goals)
        if self.adopt is not None:
            self.adopt(agent, reason, goals, held)

    def _is_back(self, agent: str) -> None:
        """An agent found gone is back: it is no longer gone for anyone here (a broker
        outage under load can make a watcher take a live agent for gone, briefly)."""
        del self.gone[agent]
        self._review.add(agent)
        if self.back is not None:
            self.back(agent)

    def _notice(self, agent: str, state: str, reason: str) -> dict[str, Any]:
        return {"agent": agent, "state": state, "reason": reason, "by": self.me}

    def stand_in(self, agent: str) -> str:
        """Who answers for `agent` now: itself, or (if it is gone) its successor's stand-in."""
        seen = set()
        while agent in self.gone and agent not in seen:
            seen.add(agent)
            agent = self.successor(agent) or agent
        return agent

    def successor(self, agent: str) -> str | None:
        """Who takes over `agent`'s goals: the next agent of the directory, cyclically,
        that is admitted and not gone."""
        start, names = self._positions().get(agent), self.directory
        if start is None:
            return None
        for step in range(1, len(names)):
            name = names[(start + step) % len(names)]
            if self._admitted(name) and name not in self.gone:
                return name
        return None


def _frame(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_FRAME:
        raise ValueError("frame too long")
    frame = json.loads(data)
    if not isinstance(frame, dict):
        raise TypeError("frame must be an object")
    return frame

"""An agent's mind over a run: its beliefs, goals and intentions, recorded as changes.

A researcher inspects an agent as JaCaMo's mind inspector shows it: what it believed,
wanted and was doing at any moment. Recording the whole mind at every step would dwarf
the rest of the run's record, so `MindRecorder` writes one `MindChange` per agent and
instant of reasoning, holding only what changed since the last one (a goal adopted and
over within that instant is not seen); `replay` rebuilds the mind at any time from them.
The changes go to the journal like the agents' other records, so they reach the report
wherever the agents run.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

from secmas.agents.bdi import Agent, Belief, BeliefChange, Candidate, Goal, GoalStatus
from secmas.network.clock import Clock

Atom = tuple[str, tuple[Hashable, ...]]
"""A belief's predicate and arguments, whatever its sign."""

DELEGATED = "(delegated)"
"""The plan shown for an intention handed to other agents (the goal's auction)."""


@dataclass(frozen=True)
class GoalState:
    """A goal as one change left it: its number in the agent's mind (goals compare by
    identity, so two may read alike), the goal, its status, the plan pursuing it ("" when
    none) and why it ended, when its status is final."""

    id: int
    goal: str
    status: str
    plan: str = ""
    reason: str = ""


@dataclass(frozen=True)
class MindChange:
    """What changed in one agent's mind at one simulated time. `fresh`: the agent (re)starts
    here and its earlier mind is gone; `goals` holds every goal whose status or plan
    changed, those with a final status leaving the mind."""

    time: float
    agent: str
    fresh: bool = False
    believed: tuple[str, ...] = ()
    forgotten: tuple[str, ...] = ()
    goals: tuple[GoalState, ...] = ()


@dataclass
class Mind:
    """An agent's mind at one time: the literals believed, and the current goals by
    number. Its intentions are the goals with status "intended" and their plans."""

    beliefs: set[str] = field(default_factory=set)
    goals: dict[int, GoalState] = field(default_factory=dict)

    def apply(self, change: MindChange) -> None:
        """Bring the mind forward by one change."""
        if change.fresh:
            self.beliefs.clear()
            self.goals.clear()
        self.beliefs.difference_update(change.forgotten)
        self.beliefs.update(change.believed)
        for goal in change.goals:
            if GoalStatus(goal.status).final:
                self.goals.pop(goal.id, None)
            else:
                self.goals[goal.id] = goal

    @property
    def intentions(self) -> list[GoalState]:
        """The goals being pursued, each with its plan."""
        return [goal for goal in self.goals.values() if goal.status == "intended"]


def replay(changes: Iterable[MindChange], agent: str, time: float) -> Mind:
    """The mind of `agent` at `time`: every change of it up to then, in order, applied."""
    mind = Mind()
    for change in changes:
        if change.agent == agent and change.time <= time:
            mind.apply(change)
    return mind


def _plan(goal: Goal, intentions: dict[Goal, Candidate | None]) -> str:
    if goal not in intentions:
        return ""
    candidate = intentions[goal]
    return DELEGATED if candidate is None else candidate.plan.name


class MindRecorder:
    """Writes the changes of one agent's mind to `sink`, one `MindChange` per burst.

    A burst is what changes before the event loop turns again (one reasoning step, one
    plan's actions), so its changes share a time and the record stays small. Without a
    running loop, changes wait for `flush`."""

    def __init__(self, agent: Agent, clock: Clock, sink: Callable[[MindChange], None]) -> None:
        self._agent = agent
        self._clock = clock
        self._sink = sink
        self._ids = itertools.count()
        self._known: dict[Goal, GoalState] = {}
        self._beliefs: dict[Atom, tuple[Belief | None, Belief | None]] = {
            (b.name, b.args): (None, b) for b in agent.beliefs
        }
        """Each atom changed since the last record: what it was then, what it is now."""
        self._fresh = True
        self._due = False
        agent.beliefs.subscribe(self._on_belief)
        agent.watch(self._schedule)
        self._schedule()

    def _on_belief(self, change: BeliefChange) -> None:
        literal = change.after or change.before
        assert literal is not None
        key = (literal.name, literal.args)
        first = self._beliefs[key][0] if key in self._beliefs else change.before
        self._beliefs[key] = (first, change.after)
        self._schedule()

    def _schedule(self) -> None:
        if self._due:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._due = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what changed since the last record, if anything did."""
        self._due = False
        believed, forgotten = self._belief_changes()
        goals = self._goal_changes()
        if not (believed or forgotten or goals or self._fresh):
            return
        change = MindChange(
            self._clock.now(), self._agent.name, self._fresh, believed, forgotten, goals
        )
        self._fresh = False
        self._sink(change)

    def _belief_changes(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        pairs = [(first, last) for first, last in self._beliefs.values() if first != last]
        self._beliefs.clear()
        believed = tuple(sorted(str(last) for _, last in pairs if last is not None))
        forgotten = tuple(sorted(str(first) for first, _ in pairs if first is not None))
        return believed, forgotten

    def _goal_changes(self) -> tuple[GoalState, ...]:
        intentions = self._agent.intentions
        current = self._agent.goals
        changed: list[GoalState] = []
        for goal in current:
            before = self._known.get(goal)
            number = before.id if before is not None else next(self._ids)
            now = GoalState(number, str(goal), str(goal.status), _plan(goal, intentions))
            if now != before:
                self._known[goal] = now
                changed.append(now)
        for goal in set(self._known).difference(current):
            before = self._known.pop(goal)
            changed.append(GoalState(before.id, before.goal, str(goal.status), "", goal.reason))
        return tuple(sorted(changed, key=lambda state: state.id))

"""A small, generic BDI engine: beliefs, goals, plans, capabilities and the reasoning cycle.

It follows the agent model of the dissertation (`003_…`, Section 3.2). A capability
(Definition 2) is a VNF with beliefs, goals, plans and four functions: belief revision,
option generation, filtering and plan selection. An agent (Definition 4) is its goals, its
intentions, its capabilities and a bid function. Beliefs are ground literals; goals are
g(b), g(¬b) or g(?b) (Table 5.2); a plan has the goal it achieves, a precondition and a
body of belief actions, primitive VNF actions and new goals (Tables 5.1–5.5).

Nothing here knows about networks: capabilities bring the domain, and the auction plugs in
through the agent's `delegate` hook, which receives every goal no local plan can achieve.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from secmas.scenario.model import Constraint, Preferences

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- beliefs


@dataclass(frozen=True, slots=True)
class Var:
    """A variable in a belief pattern. Equal names bind equal values; `ANY` binds nothing.

    Patterns let a plan say which goals it achieves and what its precondition is in terms
    of the goal's arguments, as Table 5.1 does: UnlimitLink achieves ¬linkRateLimited(link)
    when linkRateLimited(link) holds, for the same `link`.
    """

    name: str

    def __str__(self) -> str:
        return self.name


ANY = Var("_")
"""The anonymous variable: matches any argument and binds nothing."""

REST = Var("*")
"""Last in a pattern, matches any number of remaining arguments and binds nothing: a plan
meant for a goal whatever its arity (an auction, for a goal or one part of its split)."""

Bindings = Mapping[str, Hashable]


@dataclass(frozen=True, slots=True)
class Belief:
    """A literal `name(args)` or `¬name(args)`; ground unless its args hold a `Var`.

    Hashable so belief bases and goal indices are plain dicts. `~b` is the negation.
    """

    name: str
    args: tuple[Hashable, ...] = ()
    positive: bool = True

    def __post_init__(self) -> None:
        if type(self.args) is not tuple:
            raise TypeError(f"belief {self.name!r}: args must be a tuple, got {self.args!r}")

    def __invert__(self) -> Belief:
        return Belief(self.name, self.args, not self.positive)

    def __str__(self) -> str:
        sign = "" if self.positive else "¬"
        return f"{sign}{self.name}({', '.join(map(str, self.args))})"

    @property
    def ground(self) -> bool:
        """Whether no argument is a variable (only ground beliefs can be believed)."""
        return not any(isinstance(arg, Var) for arg in self.args)

    def forget(self) -> Forget:
        """The belief action belief(not b): neither b nor ¬b known afterwards."""
        return Forget(self.name, self.args)


@dataclass(frozen=True, slots=True)
class Forget:
    """The belief action belief(not b) of Tables 5.1 and 5.2, as a belief-revision result."""

    name: str
    args: tuple[Hashable, ...] = ()


BeliefUpdate = Belief | Forget
"""What belief revision yields: a literal to believe, or one to forget."""


@dataclass(frozen=True, slots=True)
class BeliefChange:
    """A change of the belief base: `before` and `after` are None when nothing was known."""

    before: Belief | None
    after: Belief | None


def _unify(
    pattern: tuple[Hashable, ...], args: tuple[Hashable, ...], bindings: Bindings
) -> dict[str, Hashable] | None:
    """Bindings extended so that `pattern` equals `args`, or None when they cannot be."""
    if pattern and pattern[-1] == REST:
        pattern = pattern[:-1]
        if len(args) < len(pattern):
            return None
        args = args[: len(pattern)]
    elif len(pattern) != len(args):
        return None
    out: dict[str, Hashable] | None = None
    for want, have in zip(pattern, args, strict=True):
        if isinstance(want, Var):
            if want.name == "_":
                continue
            current = out if out is not None else bindings
            if want.name not in current:
                if out is None:
                    out = dict(bindings)
                out[want.name] = have
            elif current[want.name] != have:
                return None
        elif want != have:
            return None
    return out if out is not None else dict(bindings)


def _substitute(args: tuple[Hashable, ...], bindings: Bindings) -> tuple[Hashable, ...]:
    """`args` with every bound variable replaced by its value."""
    if not bindings:
        return args
    return tuple(
        bindings.get(a.name, a) if isinstance(a, Var) and a.name != "_" else a for a in args
    )


class BeliefBase:
    """The agent's beliefs, the union of its capabilities' beliefs (Section 3.2).

    Three-valued per ground atom: b believed, ¬b believed, or unknown ("not b"). Indexed by
    predicate name so pattern queries only scan one predicate. Listeners hear every change,
    which is how the reasoning cycle knows it must deliberate again.
    """

    __slots__ = ("_facts", "_listeners", "_size")

    def __init__(self, beliefs: Iterable[Belief] = ()) -> None:
        self._facts: dict[str, dict[tuple[Hashable, ...], bool]] = {}
        self._listeners: list[Callable[[BeliefChange], None]] = []
        self._size = 0
        for belief in beliefs:
            self.add(belief)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Belief]:
        for name, facts in self._facts.items():
            for args, positive in facts.items():
                yield Belief(name, args, positive)

    def __contains__(self, belief: object) -> bool:
        return isinstance(belief, Belief) and self.holds(belief)

    def holds(self, belief: Belief) -> bool:
        """Whether exactly this literal is believed (b for b, ¬b for ¬b)."""
        facts = self._facts.get(belief.name)
        return facts is not None and facts.get(belief.args) is belief.positive

    def known(self, belief: Belief) -> bool:
        """Whether b or ¬b is believed: what a query goal g(?b) asks for."""
        facts = self._facts.get(belief.name)
        return facts is not None and belief.args in facts

    def add(self, belief: Belief) -> bool:
        """Believe a ground literal; it replaces its negation. True when something changed."""
        if not belief.ground:
            raise ValueError(f"cannot believe {belief}: it has variables")
        facts = self._facts.setdefault(belief.name, {})
        before = facts.get(belief.args)
        if before is belief.positive:
            return False
        facts[belief.args] = belief.positive
        if before is None:
            self._size += 1
            self._notify(BeliefChange(None, belief))
        else:
            self._notify(BeliefChange(~belief, belief))
        return True

    def remove(self, belief: Belief | Forget) -> bool:
        """Forget an atom ("not b"): neither b nor ¬b known. True when something changed."""
        facts = self._facts.get(belief.name)
        if facts is None or belief.args not in facts:
            return False
        positive = facts.pop(belief.args)
        if not facts:
            del self._facts[belief.name]
        self._size -= 1
        self._notify(BeliefChange(Belief(belief.name, belief.args, positive), None))
        return True

    def apply(self, update: BeliefUpdate) -> bool:
        """Apply one belief action; True when something changed."""
        if isinstance(update, Forget):
            return self.remove(update)
        return self.add(update)

    def match(
        self, pattern: Belief, bindings: Bindings | None = None
    ) -> Iterator[dict[str, Hashable]]:
        """Bindings for each believed literal that matches `pattern` (same sign).

        Variables already in `bindings` must match their value; the others are bound. A
        snapshot is taken, so callers may change the base while iterating.
        """
        for _, found in self._matches(pattern, {} if bindings is None else bindings):
            yield found

    def query(self, pattern: Belief | str) -> list[Belief]:
        """Believed literals matching a pattern, or every literal of a predicate name."""
        if isinstance(pattern, str):
            facts = self._facts.get(pattern, {})
            return [Belief(pattern, args, positive) for args, positive in facts.items()]
        sign = pattern.positive
        return [Belief(pattern.name, args, sign) for args, _ in self._matches(pattern, {})]

    def _matches(
        self, pattern: Belief, bindings: Bindings
    ) -> Iterator[tuple[tuple[Hashable, ...], dict[str, Hashable]]]:
        facts = self._facts.get(pattern.name)
        if not facts:
            return
        args = _substitute(pattern.args, bindings)
        if all(not isinstance(a, Var) for a in args):
            if facts.get(args) is pattern.positive:
                yield args, dict(bindings)
            return
        for have, positive in tuple(facts.items()):
            if positive is pattern.positive:
                found = _unify(args, have, bindings)
                if found is not None:
                    yield have, found

    def subscribe(self, listener: Callable[[BeliefChange], None]) -> Callable[[], None]:
        """Call `listener` on every change; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self, change: BeliefChange) -> None:
        for listener in self._listeners:
            listener(change)


# --------------------------------------------------------------------------- goals


class GoalKind(StrEnum):
    """g(b) and g(¬b) are ACHIEVE goals on a positive or negated literal; g(?b) is QUERY."""

    ACHIEVE = "achieve"
    QUERY = "query"


class GoalStatus(StrEnum):
    """Goal lifecycle: pending → intended → achieved | delegated | failed | dropped; a
    pending or intended goal may be suspended (kept, not pursued) and resumed."""

    PENDING = "pending"
    SUSPENDED = "suspended"
    INTENDED = "intended"
    ACHIEVED = "achieved"
    DELEGATED = "delegated"
    FAILED = "failed"
    DROPPED = "dropped"

    @property
    def final(self) -> bool:
        """Whether the agent is done with the goal."""
        return self in _FINAL


_FINAL = frozenset(
    {GoalStatus.ACHIEVED, GoalStatus.DELEGATED, GoalStatus.FAILED, GoalStatus.DROPPED}
)


@dataclass(eq=False, slots=True)
class Goal:
    """A constrained goal ⟨g, C⟩ (Definition 6) with the auctioneer's preferences (Def. 8).

    `predicate` is the literal to achieve: b for g(b), ¬b for g(¬b), and for g(?b) the atom
    whose truth value must become known (its sign is ignored and shown positive).
    `priority` orders deliberation (higher first; read when the goal is posted), as
    protecting the network comes before diagnosing it (Section 5.1); `payload` carries
    domain data such as the traffic (MB/s) to handle. `after` is a goal this one waits
    for: deliberation leaves it pending until that goal is over, whatever its outcome (a
    plan's follow-up goals in sequence, as AnalyseIPFlows limits one threat after another).
    Goals compare by identity: each is a separate commitment.
    """

    predicate: Belief
    kind: GoalKind = GoalKind.ACHIEVE
    constraints: tuple[Constraint, ...] = ()
    preferences: Preferences | None = None
    priority: float = 0.0
    payload: dict[str, Any] = field(default_factory=dict)
    after: Goal | None = None
    status: GoalStatus = field(default=GoalStatus.PENDING, init=False)
    reason: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if not self.predicate.ground:
            raise ValueError(f"goal {self.predicate} has variables")
        if self.kind is GoalKind.QUERY and not self.predicate.positive:
            self.predicate = ~self.predicate

    def __str__(self) -> str:
        mark = "?" if self.kind is GoalKind.QUERY else ""
        return f"g({mark}{self.predicate})"

    @property
    def key(self) -> tuple[Belief, GoalKind]:
        """What two goals share when they ask for the same thing."""
        return (self.predicate, self.kind)

    @property
    def succeeded(self) -> bool:
        """Achieved here, or taken on by another agent."""
        return self.status in (GoalStatus.ACHIEVED, GoalStatus.DELEGATED)

    def satisfied_by(self, beliefs: BeliefBase) -> bool:
        """g(b): b believed; g(?b): b or ¬b believed (Section 5.1)."""
        if self.kind is GoalKind.QUERY:
            return beliefs.known(self.predicate)
        return beliefs.holds(self.predicate)

    def copy(self) -> Goal:
        """A fresh pending goal asking the same (for delegation and capability templates)."""
        return Goal(
            self.predicate,
            self.kind,
            self.constraints,
            self.preferences,
            self.priority,
            dict(self.payload),
        )


# --------------------------------------------------------------------------- plans


PlanBody = Callable[["PlanContext"], Awaitable[bool | None]]
"""A plan's actions; returning False (or raising) means the plan failed."""

Test = Callable[[BeliefBase, "Goal"], bool]
"""A precondition on the beliefs and the goal that a belief pattern cannot express."""

Precondition = Belief | Test | tuple[Belief | Test, ...] | None
"""None, or belief patterns and tests that must all hold (the patterns under one binding)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """A plan as in Tables 5.1–5.5: the goal it achieves, a precondition and actions.

    `goal` is a pattern: its name, sign (for ACHIEVE) and arity must match the goal's
    predicate, and its variables bind the goal's arguments for the precondition and body.
    `time` and `cost` are estimates; plan selection prefers the least time, then the
    least cost (Section 4.2: plans whose VNF needs less time go first). `slot`: the plan
    holds one of the agent's intention slots (False for one that only waits on other
    agents, such as an auction). `cancellable`: reconsideration, drop and suspend may
    cancel it; False for one in a protocol with other agents, which must not be broken off
    halfway: reconsideration leaves it, and a goal dropped meanwhile is over at once while
    the plan runs to its end, its outcome ignored.
    """

    name: str
    goal: Belief
    body: PlanBody
    kind: GoalKind = GoalKind.ACHIEVE
    precondition: Precondition = None
    time: float = 0.0
    cost: float = 0.0
    slot: bool = True
    cancellable: bool = True

    def relevant(self, goal: Goal) -> dict[str, Hashable] | None:
        """Bindings of the goal's arguments when this plan is meant for the goal."""
        pattern = self.goal
        target = goal.predicate
        if goal.kind is not self.kind or pattern.name != target.name:
            return None
        if self.kind is GoalKind.ACHIEVE and pattern.positive is not target.positive:
            return None
        return _unify(pattern.args, target.args, {})

    def applicable(self, beliefs: BeliefBase, goal: Goal) -> dict[str, Hashable] | None:
        """Bindings when the plan is relevant and its precondition holds, else None."""
        bindings = self.relevant(goal)
        if bindings is None:
            return None
        condition = self.precondition
        if condition is None:
            return bindings
        if isinstance(condition, Belief):
            return next(beliefs.match(condition, bindings), None)
        if isinstance(condition, tuple):
            if not all(test(beliefs, goal) for test in condition if not isinstance(test, Belief)):
                return None
            patterns = tuple(part for part in condition if isinstance(part, Belief))
            return next(_satisfy(beliefs, patterns, bindings), None)
        return bindings if condition(beliefs, goal) else None


def _satisfy(
    beliefs: BeliefBase, patterns: tuple[Belief, ...], bindings: Bindings
) -> Iterator[dict[str, Hashable]]:
    """Every binding under which all patterns are believed (a conjunctive query)."""
    if not patterns:
        yield dict(bindings)
        return
    for found in beliefs.match(patterns[0], bindings):
        yield from _satisfy(beliefs, patterns[1:], found)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An applicable plan: the plan, its capability and the bindings it would run with."""

    capability: Capability
    plan: Plan
    bindings: Bindings


def least_time(candidates: Sequence[Candidate]) -> Candidate | None:
    """The candidate needing the least time, then the least cost; ties keep listed order."""
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c.plan.time, c.plan.cost))


@dataclass(frozen=True, slots=True)
class PlanContext:
    """What a plan body sees: its agent, goal, capability (and VNF), plan and bindings."""

    agent: Agent
    goal: Goal
    capability: Capability
    plan: Plan
    bindings: Bindings

    @property
    def vnf(self) -> Any:
        """The capability's VNF: primitive actions such as limitLink are its methods."""
        return self.capability.vnf

    @property
    def beliefs(self) -> BeliefBase:
        """The agent's belief base."""
        return self.agent.beliefs

    def believe(self, *beliefs: Belief) -> None:
        """Belief actions belief(b) and belief(¬b)."""
        for belief in beliefs:
            self.agent.beliefs.add(belief)

    def forget(self, *beliefs: Belief) -> None:
        """Belief action belief(not b)."""
        for belief in beliefs:
            self.agent.beliefs.remove(belief)

    def post_goal(self, goal: Goal) -> Goal:
        """Adopt a new goal without waiting for it, as goal(…) in Tables 5.1–5.5; the
        plan's capability owns it (removing the capability drops it)."""
        return self.agent.post_goal(goal, owner=self.capability)

    async def achieve(self, goal: Goal) -> bool:
        """Adopt a subgoal (owned like `post_goal`) and wait for it; this intention's slot,
        if it holds one, is lent out meanwhile."""
        return await self.agent._subgoal(goal, self.capability, lend=self.plan.slot)


# --------------------------------------------------------------------------- capabilities


@dataclass(frozen=True, slots=True)
class Drop:
    """An option that drops a current goal (BDI4JADE's option generation may drop goals as
    well as add them): the goal ends DROPPED, its plan cancelled if it may be."""

    goal: Goal
    reason: str = "no longer desired"


Revision = Callable[[object, BeliefBase], Iterable[BeliefUpdate]]
OptionGeneration = Callable[[BeliefBase, Sequence[Goal]], Iterable[Goal | Drop]]
Filtering = Callable[[Sequence[Goal]], Sequence[Goal]]
PlanSelection = Callable[[BeliefBase, Sequence[Candidate]], Candidate | None]


def adopt_event(event: object, beliefs: BeliefBase) -> Iterable[BeliefUpdate]:
    """Default belief revision: an event that is a literal or a Forget is taken as is."""
    return (event,) if isinstance(event, Belief | Forget) else ()


def no_options(beliefs: BeliefBase, goals: Sequence[Goal]) -> Iterable[Goal | Drop]:
    """Default option generation: the capability generates no goals by itself."""
    return ()


def commit_all(goals: Sequence[Goal]) -> Sequence[Goal]:
    """Default filtering: commit to every goal, in the order given."""
    return goals


def select_least_time(beliefs: BeliefBase, candidates: Sequence[Candidate]) -> Candidate | None:
    """Default plan selection (Section 4.2): the plan that needs the least time."""
    return least_time(candidates)


def _filters_by_default(capability: Capability) -> bool:
    return capability._filter is commit_all and type(capability).filter is Capability.filter


def _generates(capability: Capability) -> bool:
    return capability._options is not no_options or type(capability).options is not (
        Capability.options
    )


class Capability:
    """A capability ⟨v, B, G, P, B, O, F, P⟩ (Definition 2).

    `vnf` is an opaque handle whose methods are the primitive actions; `beliefs` are
    added to the agent's belief base and `goals` (templates) are adopted as fresh copies
    when the capability is added to an agent. The four functions default to
    `adopt_event`, `no_options`, `commit_all` and `select_least_time`; pass callables or
    override `revise`, `options`, `filter` and `select` in a subclass.
    """

    def __init__(
        self,
        name: str,
        vnf: Any = None,
        *,
        beliefs: Iterable[Belief] = (),
        goals: Iterable[Goal] = (),
        plans: Iterable[Plan] = (),
        belief_revision: Revision | None = None,
        option_generation: OptionGeneration | None = None,
        filtering: Filtering | None = None,
        plan_selection: PlanSelection | None = None,
    ) -> None:
        self.name = name
        self.vnf = vnf
        self.beliefs = tuple(beliefs)
        self.goals = tuple(goals)
        self.plans = tuple(plans)
        self._by_goal: dict[str, list[Plan]] = {}
        for plan in self.plans:
            self._by_goal.setdefault(plan.goal.name, []).append(plan)
        self._revise = belief_revision or adopt_event
        self._options = option_generation or no_options
        self._filter = filtering or commit_all
        self._select = plan_selection or select_least_time

    def __repr__(self) -> str:
        return f"Capability({self.name!r})"

    def revise(self, event: object, beliefs: BeliefBase) -> Iterable[BeliefUpdate]:
        """Belief revision B: the belief actions an event causes."""
        return self._revise(event, beliefs)

    def options(self, beliefs: BeliefBase, goals: Sequence[Goal]) -> Iterable[Goal | Drop]:
        """Option generation O: new goals (owned by this capability), and `Drop`s of
        current ones, given the beliefs and the current goals."""
        return self._options(beliefs, goals)

    def filter(self, goals: Sequence[Goal]) -> Sequence[Goal]:
        """Filtering F: of the pending goals (higher priority first, ties in post order),
        those to commit to now, in the order to commit. The filters of several
        capabilities apply one after another; goals left out stay pending."""
        return self._filter(goals)

    def select(self, beliefs: BeliefBase, candidates: Sequence[Candidate]) -> Candidate | None:
        """Plan selection P: one of this capability's applicable plans, or None."""
        return self._select(beliefs, candidates)

    def can_achieve(self, goal: Goal) -> bool:
        """Whether some plan is meant for the goal, whatever its precondition."""
        plans = self._by_goal.get(goal.predicate.name, ())
        return any(plan.relevant(goal) is not None for plan in plans)

    def candidates(
        self, beliefs: BeliefBase, goal: Goal, tried: Iterable[tuple[Capability, Plan]] = ()
    ) -> list[Candidate]:
        """Applicable plans for the goal, in declaration order, leaving out `tried` ones."""
        tried = set(tried)
        found = []
        for plan in self._by_goal.get(goal.predicate.name, ()):
            if (self, plan) in tried:
                continue
            bindings = plan.applicable(beliefs, goal)
            if bindings is not None:
                found.append(Candidate(self, plan, bindings))
        return found


# --------------------------------------------------------------------------- agents

Delegate = Callable[["Agent", Goal], Awaitable[bool]]
"""Hands a goal to other agents (the auction): True once someone has achieved it."""

Verdict = tuple[GoalStatus, str]
Reconsideration = Callable[["Agent", Goal, Candidate | None], Verdict | None]
"""Intention reconsideration: (agent, intended goal, its plan or None while delegated) →
the status and reason to end the intention with, or None to keep it."""


def achieved_or_impossible(agent: Agent, goal: Goal, candidate: Candidate | None) -> Verdict | None:
    """Default reconsideration (as BDI4JADE's): a goal believed achieved is over, and so is
    one whose plan's capability is gone when no capability has a relevant plan left."""
    if goal.satisfied_by(agent.beliefs):
        return GoalStatus.ACHIEVED, "believed achieved"
    if candidate is None or candidate.capability in agent.capabilities:
        return None
    if any(capability.can_achieve(goal) for capability in agent.capabilities):
        return None
    return GoalStatus.FAILED, f"impossible: no relevant plan left ({candidate.capability.name})"


class Agent:
    """An agent ⟨G, I, T, U⟩ (Definition 4) and its reasoning cycle, an asyncio task.

    Each step: drain perceived events through every capability's belief revision,
    reconsider the intentions, run option generation, filter the pending goals (priority
    order), then start intentions in that order while fewer than `max_intentions` plans
    run. A goal already believed is achieved at once; one without an applicable plan goes
    to `delegate` (or fails without one); when a plan fails, the next applicable plan is
    tried before the goal fails (Section 4.2). Delegations, and plans that take no slot,
    run concurrently without an intention slot, so an agent can win its own auction.
    Goals can be dropped, suspended and resumed; goals a capability posts are its own and
    go with it. Steps run in a deterministic order for a given event order. A halted
    agent (revoked: `halt`) takes no goal and runs no plan any more.
    """

    def __init__(
        self,
        name: str,
        capabilities: Iterable[Capability] = (),
        *,
        beliefs: Iterable[Belief] = (),
        bid: Callable[..., Any] | None = None,
        delegate: Delegate | None = None,
        max_intentions: int = 32,
        reconsideration: Reconsideration = achieved_or_impossible,
    ) -> None:
        if max_intentions < 1:
            raise ValueError(f"max_intentions must be at least 1, got {max_intentions}")
        self.name = name
        self.beliefs = BeliefBase(beliefs)
        self.bid = bid
        self.delegate = delegate
        self.max_intentions = max_intentions
        self.reconsideration = reconsideration
        self._capabilities: dict[str, Capability] = {}
        self._events: deque[object] = deque()
        self._pending: dict[Goal, None] = {}
        self._queue: list[tuple[float, int, Goal]] = []
        self._posted = itertools.count()
        self._order: dict[Goal, int] = {}
        """Post order of each open goal: a suspended intention keeps its place."""
        self._deferred: dict[Goal, None] = {}
        """Pending goals deliberation passes over: suspended, or waiting for `after`."""
        self._owners: dict[Goal, str] = {}
        self._intentions: dict[Goal, Candidate | None] = {}
        self._keys: dict[tuple[Belief, GoalKind], int] = {}
        self._tasks: dict[asyncio.Task, bool] = {}
        """Each intention's task and whether it holds an intention slot."""
        self._work: dict[Goal, asyncio.Task] = {}
        self._waiters: dict[Goal, list[asyncio.Future[bool]]] = {}
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._runner: asyncio.Task | None = None
        self._crash: BaseException | None = None
        self._halted: str | None = None
        self._busy = 0
        self._stepping = False
        self._watchers: list[Callable[[], None]] = []
        self.beliefs.subscribe(self._on_belief_change)
        for capability in capabilities:
            self.add_capability(capability)

    def __repr__(self) -> str:
        return f"Agent({self.name!r})"

    # ---- state

    @property
    def capabilities(self) -> tuple[Capability, ...]:
        """Active capabilities, in the order they were added."""
        return tuple(self._capabilities.values())

    @property
    def goals(self) -> tuple[Goal, ...]:
        """Current goals: pending (and suspended) ones in post order, then intended ones."""
        return (*self._pending, *self._intentions)

    @property
    def intentions(self) -> dict[Goal, Candidate | None]:
        """Intended goals and the plan now pursuing each (None while delegated)."""
        return dict(self._intentions)

    @property
    def running(self) -> bool:
        """Whether the reasoning cycle is started."""
        return self._runner is not None and not self._runner.done()

    @property
    def halted(self) -> str | None:
        """Why the agent was stopped for good (`halt`), or None while it may act."""
        return self._halted

    def owner(self, goal: Goal) -> str | None:
        """The capability that owns a current goal, or None for the agent's own."""
        return self._owners.get(goal)

    def watch(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever a goal is adopted, changes status or is pursued by
        another plan (beliefs have `BeliefBase.subscribe`): what an inspector of the
        agent's mind needs to know it must look again."""
        self._watchers.append(listener)

    # ---- capabilities

    def add_capability(self, capability: Capability) -> None:
        """Activate a capability (its VNF was instantiated): its beliefs and goals join."""
        if capability.name in self._capabilities:
            raise ValueError(f"agent {self.name!r} already has capability {capability.name!r}")
        self._capabilities[capability.name] = capability
        for belief in capability.beliefs:
            self.beliefs.add(belief)
        for template in capability.goals:
            self.post_goal(template.copy(), owner=capability)
        self._wake.set()

    def remove_capability(self, name: str) -> Capability:
        """Deactivate a capability: its plans are no longer selected, the goals it owns
        are dropped, and intentions left with no relevant plan end at the next
        reconsideration; its beliefs stay, being knowledge of the world, not of the VNF."""
        try:
            capability = self._capabilities.pop(name)
        except KeyError:
            raise KeyError(f"agent {self.name!r} has no capability {name!r}") from None
        for goal, owner in list(self._owners.items()):
            if owner == name:
                self._end(goal, GoalStatus.DROPPED, f"capability {name} removed")
        self._wake.set()
        return capability

    # ---- inputs

    def perceive(self, event: object) -> None:
        """Queue an event (a literal, a message, …) for belief revision."""
        self._events.append(event)
        self._wake.set()

    def post_goal(self, goal: Goal, owner: Capability | None = None) -> Goal:
        """Adopt a goal, owned by an active capability or by the agent; it is deliberated
        in the next step (once its `after` goal is over). Returns the goal."""
        if goal.status is not GoalStatus.PENDING or goal in self._pending:
            raise ValueError(f"goal {goal} is {goal.status}, not a new pending goal")
        if owner is not None and self._capabilities.get(owner.name) is not owner:
            raise ValueError(f"goal {goal}: {owner!r} is not a capability of {self.name!r}")
        if self._refused(goal):
            return goal
        self._adopt(goal, owner)
        self._pending[goal] = None
        if goal.after is not None and not goal.after.status.final:
            self._deferred[goal] = None
        if len(self._queue) > 2 * len(self._pending) + 64:  # drop entries of finished goals
            self._queue = [entry for entry in self._queue if entry[2] in self._pending]
            heapq.heapify(self._queue)
        heapq.heappush(self._queue, (-goal.priority, self._order[goal], goal))
        if not self._stepping:
            self._wake.set()
        return goal

    async def wait_goal(self, goal: Goal) -> bool:
        """Wait until the goal is final; True when it was achieved or delegated."""
        if not goal.status.final:
            future = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(goal, []).append(future)
            await future
        return goal.succeeded

    async def achieve(self, goal: Goal) -> bool:
        """Post a goal and wait for it; True when it was achieved or delegated."""
        self.post_goal(goal)
        return await self.wait_goal(goal)

    async def perform(self, goal: Goal, capability: str) -> bool:
        """Pursue a new goal now, in the caller's task, by the plans of one capability:
        how a won auction's GoalResponse runs the plan of the VNF it won (Section 3.3),
        whether or not the reasoning cycle runs. The capability's plan selection picks an
        applicable plan, then the next one when it fails; the goal is an intention
        meanwhile (a reconsideration that ends it leaves the plan running: it is the
        caller's). True when achieved."""
        chosen = self._capabilities.get(capability)
        if chosen is None:
            raise ValueError(f"agent {self.name!r} has no capability {capability!r}")
        if goal.status is not GoalStatus.PENDING or goal in self._pending:
            raise ValueError(f"goal {goal} is {goal.status}, not a new pending goal")
        if self._refused(goal):
            return False
        self._adopt(goal, None)
        goal.status = GoalStatus.INTENDED
        self._intentions[goal] = None

        def select(tried: Sequence[tuple[Capability, Plan]]) -> Candidate | None:
            candidates = chosen.candidates(self.beliefs, goal, tried)
            return chosen.select(self.beliefs, candidates) if candidates else None

        await self._run_plans(goal, select(()), select, f"no applicable plan of {capability}")
        return goal.succeeded

    def drop_goal(self, goal: Goal, reason: str = "dropped") -> None:
        """Give a current goal up: it ends DROPPED and its plan is cancelled (unless the
        plan may not be, see `Plan.cancellable`)."""
        if goal.status.final or goal not in self._order:
            raise ValueError(f"goal {goal} is not a current goal of {self.name!r}")
        self._end(goal, GoalStatus.DROPPED, reason)

    def suspend_goal(self, goal: Goal) -> None:
        """Stop pursuing a goal but keep it, in its place: a pending goal is passed over;
        an intended one has its plan cancelled and waits, pending, to be resumed (its plan
        is selected afresh then). An intention whose plan may not be cancelled, or that
        runs in another task (`perform`), cannot be suspended."""
        if goal.status is GoalStatus.SUSPENDED:
            return
        if goal in self._pending:
            goal.status = GoalStatus.SUSPENDED
            self._deferred[goal] = None
            self._changed()
            return
        if goal not in self._intentions:
            raise ValueError(f"goal {goal} is not a current goal of {self.name!r}")
        task = self._work.get(goal)
        candidate = self._intentions[goal]
        if task is None or candidate is None or not candidate.plan.cancellable:
            raise ValueError(f"goal {goal}: its intention cannot be suspended")
        del self._work[goal]
        del self._intentions[goal]
        task.cancel()
        goal.status = GoalStatus.SUSPENDED
        self._pending[goal] = None
        self._deferred[goal] = None
        heapq.heappush(self._queue, (-goal.priority, self._order[goal], goal))
        self._changed()
        self._wake.set()

    def resume_goal(self, goal: Goal) -> None:
        """Pursue a suspended goal again, from the place it kept."""
        if goal.status is not GoalStatus.SUSPENDED:
            raise ValueError(f"goal {goal} is {goal.status}, not suspended")
        goal.status = GoalStatus.PENDING
        if goal.after is None or goal.after.status.final:
            self._deferred.pop(goal, None)
        self._changed()
        self._wake.set()

    def plan_for(
        self, goal: Goal, tried: Iterable[tuple[Capability, Plan]] = ()
    ) -> Candidate | None:
        """The plan this agent would run for a goal now: each capability's plan selection
        picks among its applicable plans, then `choose` picks among the capabilities."""
        tried = tuple(tried)
        picks = []
        for capability in self.capabilities:
            try:
                candidates = capability.candidates(self.beliefs, goal, tried)
                pick = capability.select(self.beliefs, candidates) if candidates else None
            except Exception:
                logger.exception("%s: plan selection of %s failed", self.name, capability.name)
                continue
            if pick is not None:
                picks.append(pick)
        return self.choose(goal, picks)

    def choose(self, goal: Goal, picks: Sequence[Candidate]) -> Candidate | None:
        """Pick among the capabilities' choices: least time, then cost (Section 4.2)."""
        return least_time(picks)

    # ---- lifecycle

    def start(self) -> None:
        """Start the reasoning cycle on the running event loop."""
        if self.running:
            raise RuntimeError(f"agent {self.name!r} is already running")
        if self._halted is not None:
            raise RuntimeError(f"agent {self.name!r} was halted: {self._halted}")
        self._crash = None
        self._runner = asyncio.get_running_loop().create_task(
            self._run(), name=f"agent:{self.name}"
        )
        self._runner.add_done_callback(self._on_runner_done)
        self._wake.set()

    async def stop(self) -> None:
        """Stop the cycle and every intention; goals still open fail with reason 'stopped'."""
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._runner = None
        self._busy = 0  # an intention cancelled before it ran never gave its slot back
        for goal in self.goals:
            self._finish(goal, GoalStatus.FAILED, self._halted or f"agent {self.name} stopped")
        self._resolve_idle()

    async def halt(self, reason: str) -> None:
        """Stop for good: the agent was revoked and takes no further action. As `stop`,
        with its open goals failed for `reason`; from now on a goal posted or performed
        fails at once (no plan runs) and the cycle cannot be started again. A won goal's
        plan runs in its caller's task (`perform`): the caller withdraws it."""
        self._halted = reason
        await self.stop()

    def _refused(self, goal: Goal) -> bool:
        """A halted agent adopts no goal: it fails at once (True when refused)."""
        if self._halted is None:
            return False
        goal.status, goal.reason = GoalStatus.FAILED, self._halted
        return True

    async def wait_idle(self) -> None:
        """Wait until no event is queued, no intention runs and a step started nothing."""
        if self._crash is not None:
            raise self._crash
        if not self.running:
            raise RuntimeError(f"agent {self.name!r} is not running")
        if self._idle():
            return
        future = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(future)
        await future

    # ---- the reasoning cycle

    async def _run(self) -> None:
        wake = self._wake
        while True:
            await wake.wait()
            wake.clear()
            self._step()
            if self._idle():
                self._resolve_idle()

    def _step(self) -> None:
        self._stepping = True
        try:
            capabilities = self.capabilities
            self._revise(capabilities)
            self._reconsider()
            self._generate(capabilities)
            self._deliberate(capabilities)
        finally:
            self._stepping = False

    def _revise(self, capabilities: tuple[Capability, ...]) -> None:
        events = self._events
        while events:
            event = events.popleft()
            for capability in capabilities:
                try:
                    for update in capability.revise(event, self.beliefs):
                        self.beliefs.apply(update)
                except Exception:
                    logger.exception(
                        "%s: belief revision of %s failed on %r", self.name, capability.name, event
                    )

    def _reconsider(self) -> None:
        """Intention reconsideration: end the intentions `reconsideration` judges over.
        Delegations and plans that may not be cancelled are protocols with other agents:
        their goals end with them (a goal that waits for one waits for all of it)."""
        for goal, candidate in tuple(self._intentions.items()):
            if candidate is None or not candidate.plan.cancellable:
                continue
            try:
                verdict = self.reconsideration(self, goal, candidate)
            except Exception:
                logger.exception("%s: reconsideration of %s failed", self.name, goal)
                continue
            if verdict is not None:
                self._end(goal, *verdict)

    def _generate(self, capabilities: tuple[Capability, ...]) -> None:
        goals: tuple[Goal, ...] | None = None
        for capability in capabilities:
            if not _generates(capability):
                continue
            if goals is None:
                goals = self.goals
            try:
                options = list(capability.options(self.beliefs, goals))
            except Exception:
                logger.exception("%s: option generation of %s failed", self.name, capability.name)
                continue
            for option in options:
                if isinstance(option, Drop):
                    if option.goal in self._order and not option.goal.status.final:
                        self._end(option.goal, GoalStatus.DROPPED, option.reason)
                elif option.key not in self._keys and not option.satisfied_by(self.beliefs):
                    self.post_goal(option, owner=capability)

    def _deliberate(self, capabilities: tuple[Capability, ...]) -> None:
        if not self._pending:
            return
        self._release_deferred()
        if not self._deferred and all(_filters_by_default(c) for c in capabilities):
            self._deliberate_queued()
            return
        ordered: list[Goal] = []
        for entry in sorted(self._queue):  # priority, then post order
            goal = entry[2]
            if goal not in self._pending or goal in self._deferred:
                continue
            if goal.satisfied_by(self.beliefs):
                self._finish(goal, GoalStatus.ACHIEVED, "already believed")
            else:
                ordered.append(goal)
        chosen: Sequence[Goal] = ordered
        for capability in capabilities:
            try:
                chosen = capability.filter(chosen)
            except Exception:
                logger.exception("%s: filtering of %s failed", self.name, capability.name)
        for goal in chosen:
            if goal in self._pending and goal not in self._deferred and not self._commit(goal):
                break

    def _release_deferred(self) -> None:
        """Goals whose `after` goal is over (and that are not suspended) are deliberated."""
        for goal in tuple(self._deferred):
            waits = goal.after is not None and not goal.after.status.final
            if not waits and goal.status is GoalStatus.PENDING:
                del self._deferred[goal]

    def _deliberate_queued(self) -> None:
        """Deliberation when every filter commits to all goals: the priority queue gives
        the goals in order without scanning every pending goal each step."""
        queue = self._queue
        while queue:
            goal = queue[0][2]
            if goal not in self._pending:
                heapq.heappop(queue)
            elif goal.satisfied_by(self.beliefs):
                heapq.heappop(queue)
                self._finish(goal, GoalStatus.ACHIEVED, "already believed")
            elif self._commit(goal):
                heapq.heappop(queue)
            else:
                break

    def _commit(self, goal: Goal) -> bool:
        """Pursue a goal by a plan or delegation, or fail it; False when its plan needs an
        intention slot and none is free (a delegation needs no slot). An intention holds
        a slot when its first plan needs one."""
        candidate = self.plan_for(goal)
        if candidate is not None:
            if candidate.plan.slot and self._busy >= self.max_intentions:
                return False
            self._intend(goal, candidate, self._pursue(goal, candidate))
        elif self.delegate is not None:
            self._intend(goal, None, self._delegate(goal))
        else:
            self._finish(goal, GoalStatus.FAILED, "no applicable plan")
        return True

    def _intend(
        self, goal: Goal, candidate: Candidate | None, work: Coroutine[Any, Any, None]
    ) -> None:
        del self._pending[goal]
        goal.status = GoalStatus.INTENDED
        self._intentions[goal] = candidate
        self._changed()
        slot = candidate is not None and candidate.plan.slot
        if slot:
            self._busy += 1
        task = asyncio.get_running_loop().create_task(work)
        self._tasks[task] = slot
        self._work[goal] = task
        task.add_done_callback(self._on_intention_done)

    async def _pursue(self, goal: Goal, first: Candidate) -> None:
        try:
            await self._run_plans(goal, first, lambda tried: self.plan_for(goal, tried), "")
        finally:
            self._release_slot(asyncio.current_task())

    def _release_slot(self, task: asyncio.Task | None) -> None:
        """Give an intention's slot back as its plan ends, before the step it wakes."""
        if task is not None and self._tasks.get(task):
            self._tasks[task] = False
            self._busy -= 1

    async def _run_plans(
        self,
        goal: Goal,
        candidate: Candidate | None,
        select: Callable[[Sequence[tuple[Capability, Plan]]], Candidate | None],
        reason: str,
    ) -> None:
        """Run the plan chosen for a goal, then the next applicable one while they fail
        (`select` leaves the tried ones out), until one achieves it or none is left."""
        tried: list[tuple[Capability, Plan]] = []
        while candidate is not None and not goal.status.final:
            self._intentions[goal] = candidate
            self._changed()
            tried.append((candidate.capability, candidate.plan))
            reason = await self._execute(goal, candidate)
            if not reason:
                self._finish(goal, GoalStatus.ACHIEVED, f"plan {candidate.plan.name}")
                return
            if goal.satisfied_by(self.beliefs):
                self._finish(goal, GoalStatus.ACHIEVED, "believed after a failed plan")
                return
            if goal.status.final:
                return
            candidate = select(tried)
        self._finish(goal, GoalStatus.FAILED, reason)

    async def _execute(self, goal: Goal, candidate: Candidate) -> str:
        """Run one plan body; the failure reason, or '' when it succeeded."""
        plan = candidate.plan
        context = PlanContext(self, goal, candidate.capability, plan, candidate.bindings)
        try:
            result = await plan.body(context)
        except Exception as exc:
            logger.warning("%s: plan %s for %s raised %r", self.name, plan.name, goal, exc)
            return f"plan {plan.name} raised {exc!r}"
        return f"plan {plan.name} failed" if result is False else ""

    async def _delegate(self, goal: Goal) -> None:
        assert self.delegate is not None
        try:
            taken = await self.delegate(self, goal)
        except Exception as exc:
            logger.exception("%s: delegating %s raised", self.name, goal)
            self._finish(goal, GoalStatus.FAILED, f"delegation raised {exc!r}")
            return
        if taken:
            self._finish(goal, GoalStatus.DELEGATED, "delegated")
        else:
            self._finish(goal, GoalStatus.FAILED, "delegation failed")

    async def _subgoal(self, goal: Goal, owner: Capability, *, lend: bool) -> bool:
        self.post_goal(goal, owner=owner if self._capabilities.get(owner.name) is owner else None)
        if lend:
            self._busy -= 1
        self._wake.set()
        try:
            return await self.wait_goal(goal)
        finally:
            if lend:
                self._busy += 1

    def _adopt(self, goal: Goal, owner: Capability | None) -> None:
        self._order[goal] = next(self._posted)
        if owner is not None:
            self._owners[goal] = owner.name
        self._keys[goal.key] = self._keys.get(goal.key, 0) + 1
        self._changed()

    def _end(self, goal: Goal, status: GoalStatus, reason: str) -> None:
        """End a current goal from outside its plan (reconsideration, drop, a capability
        removed): its plan's task is cancelled when the plan may be, then it is final.
        A delegation is a protocol with other agents: it is never cancelled."""
        task = self._work.get(goal)
        candidate = self._intentions.get(goal)
        self._finish(goal, status, reason)
        if task is not None and candidate is not None and candidate.plan.cancellable:
            task.cancel()
        if not self._stepping:
            self._wake.set()

    def _finish(self, goal: Goal, status: GoalStatus, reason: str) -> None:
        if goal.status.final:
            return
        goal.status = status
        goal.reason = reason
        self._changed()
        self._pending.pop(goal, None)
        self._deferred.pop(goal, None)
        self._intentions.pop(goal, None)
        self._work.pop(goal, None)
        self._owners.pop(goal, None)
        self._order.pop(goal, None)
        count = self._keys[goal.key] - 1
        if count:
            self._keys[goal.key] = count
        else:
            del self._keys[goal.key]
        for future in self._waiters.pop(goal, ()):
            if not future.done():
                future.set_result(goal.succeeded)
        if self._deferred and not self._stepping:
            self._wake.set()  # a goal may wait for this one

    # ---- bookkeeping

    def _changed(self) -> None:
        for listener in self._watchers:
            listener()

    def _on_belief_change(self, change: BeliefChange) -> None:
        if not self._stepping:
            self._wake.set()

    def _on_intention_done(self, task: asyncio.Task) -> None:
        if self._tasks.pop(task, False):  # cancelled before it ran: its slot is still held
            self._busy -= 1
        self._wake.set()

    def _on_runner_done(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None:
            return
        self._crash = task.exception()
        for future in self._idle_waiters:
            if not future.done():
                future.set_exception(self._crash)
        self._idle_waiters.clear()

    def _idle(self) -> bool:
        return not (
            self._events or self._wake.is_set() or self._intentions or self._tasks or self._stepping
        )

    def _resolve_idle(self) -> None:
        waiters, self._idle_waiters = self._idle_waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

"""The step loops' reach into agents that run as OS processes: everything over the bus.

With agents as processes (`secmas.pipeline.processes`) the data plane, the controller and
the run's step loops (closed loop, SSLA manager, CTI hygiene, moving target defence) live
in the MLFO's process; each agent lives in its own. What a loop asks of an agent, and
what the agents need of the loops, travels as JSON on these subjects (`<p>` the
pipeline), sealed by the secure channel like every other control message:

- `secmas.agentctl.<p>.<agent>`, MLFO → agent, request: `{"op": "post", "id", "goal"}`
  (an `OpenGoal`), `{"op": "in_hand", "predicate": [NAME, ARGS], "query"}`,
  `{"op": "instances"}`, `{"op": "terminate", "instance", "cause"}`; the answer carries
  the result, or `{"error": …}`;
- `secmas.goals.<p>`, agent → MLFO: `{"id", "status", "reason"}` once a posted goal is
  final (achieved, delegated or failed);
- `secmas.decline.<p>`, agent → MLFO, request: `{"pop", "request"}` (CFP content) on
  every call for proposals when the loops hold decline policies; answer `{"reason"}`;
- `secmas.admit.<p>`, MLFO → every agent: `{"excluded": [AGENT, …]}`, the agents the
  MLFO keeps out of auctions (withdrawn for silence, or by the loops' trust rule), sent
  whenever that changes;
- `secmas.ticked.<p>`, agent → MLFO: `{"pop", "now"}` once the agent perceived a tick,
  the barrier after which the loops look at the step.

`RemoteAgent` is the MLFO's `AgentHandle` of one agent, `AgentControl` the agent's end.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from secmas.agents.bdi import Belief, Goal, GoalKind, GoalStatus
from secmas.agents.bidding import GoalRequest
from secmas.agents.board import OpenGoal
from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.world import Decline, World
from secmas.agents.nfva.codec import request_from_content, request_to_content
from secmas.agents.nfva.hooks import Admits
from secmas.network.infrastructure import Instance
from secmas.transport.bus import Bus, BusClosed

logger = logging.getLogger(__name__)

CONTROL_TIMEOUT = 10.0
"""Wall seconds an agent has to answer a loop's request."""
DECLINE_TIMEOUT = 5.0
"""Wall seconds the MLFO has to answer whether a PoP declines a call for proposals."""


def control_subject(pipeline: str, agent: str) -> str:
    return f"secmas.agentctl.{pipeline}.{agent}"


def goals_subject(pipeline: str) -> str:
    return f"secmas.goals.{pipeline}"


def decline_subject(pipeline: str) -> str:
    return f"secmas.decline.{pipeline}"


def admit_subject(pipeline: str) -> str:
    return f"secmas.admit.{pipeline}"


def ticked_subject(pipeline: str) -> str:
    return f"secmas.ticked.{pipeline}"


TO_MLFO = ("goals", "decline", "ticked")
"""Subjects (second token) only the MLFO reads."""


def control_recipient(tokens: list[str]) -> str | None:
    """Whom a loop control subject addresses ("" for the MLFO, None: not one of these)."""
    if tokens[:2] == ["secmas", "agentctl"] and len(tokens) == 4:
        return tokens[3]
    if tokens[0] == "secmas" and len(tokens) == 3 and tokens[1] in TO_MLFO:
        return ""
    return None


# -- the MLFO's end -------------------------------------------------------------------------
@dataclass
class RemoteGoal:
    """A goal posted to an agent in another process, as the agent last reported it."""

    id: str
    status: GoalStatus = GoalStatus.PENDING
    reason: str = ""


@dataclass
class GoalTickets:
    """The goals the loops posted to agents, by id, kept up to date from `goals` reports."""

    bus: Bus
    pipeline: str
    tickets: dict[str, RemoteGoal] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=itertools.count)

    async def start(self) -> None:
        await self.bus.subscribe(goals_subject(self.pipeline), self._on_status)

    def issue(self, pop: str) -> RemoteGoal:
        ticket = RemoteGoal(f"{pop}:{next(self._ids)}")
        self.tickets[ticket.id] = ticket
        return ticket

    async def _on_status(self, _subject: str, data: bytes) -> None:
        try:
            message = json.loads(data)
            ticket = self.tickets[str(message["id"])]
            status = GoalStatus(message["status"])
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("dropped a goal status: %s", exc)
            return
        ticket.status, ticket.reason = status, str(message.get("reason") or "")


@dataclass
class RemoteAgent:
    """The `AgentHandle` of an agent in another process: each call a sealed request. A
    request the agent does not answer is logged and answered as the harmless outcome
    (the goal failed, nothing in hand, no instances): a loop never stops the run."""

    pop: str
    bus: Bus
    pipeline: str
    tickets: GoalTickets
    timeout: float = CONTROL_TIMEOUT

    async def _ask(self, op: str, **fields: Any) -> dict[str, Any]:
        subject = control_subject(self.pipeline, self.pop)
        answer = json.loads(
            await self.bus.request(subject, json.dumps({"op": op, **fields}).encode(), self.timeout)
        )
        if not isinstance(answer, dict):
            raise ValueError(f"not an object: {answer!r}")
        if "error" in answer:
            raise ValueError(str(answer["error"]))
        return answer

    async def post(self, goal: Goal) -> RemoteGoal:
        ticket = self.tickets.issue(self.pop)
        wire = OpenGoal(
            goal.predicate.name,
            tuple(str(a) for a in goal.predicate.args),
            goal.kind.value,
            goal.priority,
            goal.payload,
        )
        try:
            await self._ask("post", id=ticket.id, goal=wire.to_json())
        except (TimeoutError, BusClosed, ValueError) as exc:
            logger.warning("%s did not take goal %s: %s", self.pop, wire.key, exc)
            ticket.status, ticket.reason = GoalStatus.FAILED, f"not posted: {exc}"
        return ticket

    async def in_hand(self, predicate: Belief, query: bool) -> bool:
        try:
            answer = await self._ask(
                "in_hand", predicate=[predicate.name, list(predicate.args)], query=query
            )
        except (TimeoutError, BusClosed, ValueError) as exc:
            logger.warning("%s: no answer on %s: %s", self.pop, predicate, exc)
            return False
        return bool(answer.get("in_hand"))

    async def instances(self) -> list[Instance]:
        try:
            answer = await self._ask("instances")
            return [_instance(i) for i in answer["instances"]]
        except (TimeoutError, BusClosed, ValueError, KeyError, TypeError) as exc:
            logger.warning("%s: no instance list: %s", self.pop, exc)
            return []

    async def terminate(self, instance: str, cause: str) -> Instance | None:
        try:
            answer = await self._ask("terminate", instance=instance, cause=cause)
            gone = answer.get("terminated")
            return None if gone is None else _instance(gone)
        except (TimeoutError, BusClosed, ValueError, KeyError, TypeError) as exc:
            logger.warning("%s: %s not terminated: %s", self.pop, instance, exc)
            return None


def _instance(data: dict[str, Any]) -> Instance:
    return Instance(str(data["id"]), str(data["vnf"]), str(data["pop"]), int(data["units"]))


def _instance_json(instance: Instance) -> dict[str, Any]:
    return {"id": instance.id, "vnf": instance.vnf, "pop": instance.pop, "units": instance.units}


@dataclass
class DeclineService:
    """Answers the agents' `decline` questions with the MLFO world's policies (the
    loops' `decline` rules, which keep their own counts and state)."""

    world: World
    bus: Bus
    pipeline: str

    async def start(self) -> None:
        await self.bus.subscribe(decline_subject(self.pipeline), self._on_ask)

    async def _on_ask(self, _subject: str, data: bytes) -> bytes:
        try:
            message = json.loads(data)
            request, _payload = request_from_content(message["request"])
            reason = await self.world.decline(str(message["pop"]), request)
        except (ValueError, KeyError, TypeError) as exc:
            return json.dumps({"error": f"malformed: {exc}"}).encode()
        return json.dumps({"reason": reason}).encode()


@dataclass
class TickBarrier:
    """Which agents perceived the data plane's latest tick (their `ticked` reports)."""

    bus: Bus
    pipeline: str
    _seen: dict[str, float] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        await self.bus.subscribe(ticked_subject(self.pipeline), self._on_ticked)

    async def _on_ticked(self, _subject: str, data: bytes) -> None:
        try:
            message = json.loads(data)
            self._seen[str(message["pop"])] = float(message["now"])
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("dropped a tick report: %s", exc)
            return
        self._changed.set()

    async def wait(
        self, now: float, agents: Callable[[], Collection[str]], timeout: float
    ) -> list[str]:
        """Wait until every agent of `agents()` (asked again on each report: the live
        ones) perceived the tick at `now`, at most `timeout` wall seconds; returns those
        that did not."""
        deadline = time.monotonic() + timeout
        while True:
            late = [a for a in agents() if self._seen.get(a, -1.0) < now - 1e-9]
            left = deadline - time.monotonic()
            if not late or left <= 0:
                return late
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.2))
            except TimeoutError:
                continue


class Roster(Protocol):
    """The agents of a run and the rule that admits them to auctions (a `World` is one)."""

    @property
    def directory(self) -> tuple[str, ...]: ...

    @property
    def admits(self) -> Admits | None: ...


@dataclass
class Admission:
    """Tells the agents whom the MLFO keeps out of auctions (`world.admits`: the trust
    layer's view without the agents withdrawn for silence, narrowed by a closed loop's or
    the SSLA manager's Trust Manager), whenever that changes."""

    world: Roster
    bus: Bus
    pipeline: str
    excluded: tuple[str, ...] = ()

    async def publish(self) -> None:
        admits = self.world.admits
        excluded = tuple(a for a in self.world.directory if admits is not None and not admits(a))
        if excluded == self.excluded:
            return
        self.excluded = excluded
        message = json.dumps({"excluded": list(excluded)}).encode()
        await self.bus.publish(admit_subject(self.pipeline), message)


# -- the agent's end ------------------------------------------------------------------------
@dataclass
class AgentControl:
    """Serves the loops' requests to one agent, and reports the goals they posted."""

    agent: PoPAgent
    bus: Bus
    pipeline: str
    _watchers: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        await self.bus.subscribe(control_subject(self.pipeline, self.agent.pop), self._on_ask)

    async def stop(self) -> None:
        for task in list(self._watchers):
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)

    async def _on_ask(self, _subject: str, data: bytes) -> bytes:
        try:
            message = json.loads(data)
            answer = await self._answer(message)
        except (ValueError, KeyError, TypeError) as exc:
            answer = {"error": f"malformed request: {exc}"}
        return json.dumps(answer).encode()

    async def _answer(self, message: dict[str, Any]) -> dict[str, Any]:
        agent = self.agent
        match message["op"]:
            case "post":
                wire = OpenGoal.from_json(message["goal"])
                goal = Goal(
                    Belief(wire.name, wire.args),
                    GoalKind(wire.kind),
                    priority=wire.priority,
                    payload=dict(wire.payload),
                )
                ticket = await agent.post(goal)
                self._watch(str(message["id"]), goal)
                return {"status": str(ticket.status)}
            case "in_hand":
                name, args = message["predicate"]
                predicate = Belief(str(name), tuple(str(a) for a in args))
                return {"in_hand": await agent.in_hand(predicate, bool(message["query"]))}
            case "instances":
                return {"instances": [_instance_json(i) for i in await agent.instances()]}
            case "terminate":
                gone = await agent.terminate(str(message["instance"]), str(message["cause"]))
                return {"terminated": None if gone is None else _instance_json(gone)}
            case other:
                return {"error": f"unknown operation {other!r}"}

    def _watch(self, ticket: str, goal: Goal) -> None:
        async def report() -> None:
            await self.agent.bdi.wait_goal(goal)
            status = {"id": ticket, "status": str(goal.status), "reason": goal.reason}
            try:
                await self.bus.publish(goals_subject(self.pipeline), json.dumps(status).encode())
            except BusClosed:
                return

        task = asyncio.ensure_future(report())
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)


def remote_decline(bus: Bus, pipeline: str) -> Decline:
    """The decline policy of agents whose loops run in the MLFO's process: asked there
    on every call for proposals (unanswered: the PoP bids, as with no policy)."""

    async def ask(pop: str, request: GoalRequest) -> str | None:
        message = {"pop": pop, "request": request_to_content(request, {})}
        try:
            answer = json.loads(
                await bus.request(
                    decline_subject(pipeline), json.dumps(message).encode(), DECLINE_TIMEOUT
                )
            )
        except (TimeoutError, BusClosed, ValueError) as exc:
            logger.warning("%s: no decline policy answer for %s: %s", pop, request.goal, exc)
            return None
        reason = answer.get("reason") if isinstance(answer, dict) else None
        return None if reason is None else str(reason)

    return ask


@dataclass
class LoopExclusions:
    """An agent's copy of whom the loops' trust rule keeps out (`admit` messages)."""

    bus: Bus
    pipeline: str
    excluded: frozenset[str] = frozenset()

    async def start(self) -> None:
        await self.bus.subscribe(admit_subject(self.pipeline), self._on_admit)

    def admits(self, agent: str) -> bool:
        return agent not in self.excluded

    async def _on_admit(self, _subject: str, data: bytes) -> None:
        try:
            self.excluded = frozenset(str(a) for a in json.loads(data)["excluded"])
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("dropped an admission message: %s", exc)

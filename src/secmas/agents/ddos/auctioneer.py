"""The Auction capability every agent has (003 §5.1): GoalRequest auctions each goal a
VNF achieves with NFV-A; when an analysing VNF's auction leaves its goal unplaced, the
Load Balancer's split is asked for instead (Table 5.5); and a limit held by another agent
is lifted by asking it (a FIPA REQUEST, RequestLift), once every part of a split did."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.bdi import (
    REST,
    Belief,
    BeliefBase,
    Capability,
    Goal,
    GoalKind,
    Plan,
    PlanBody,
    PlanContext,
    Var,
)
from secmas.agents.bidding import GoalRequest
from secmas.agents.board import OpenGoal
from secmas.agents.ddos.facts import PROTECT, beliefs_from_json, beliefs_to_json, unplaced
from secmas.scenario import ddos
from secmas.scenario.model import GoalSpec
from secmas.transport.bus import BusClosed

if TYPE_CHECKING:
    from secmas.agents.ddos.agent import PoPAgent

logger = logging.getLogger(__name__)

AUCTION = "auction"
"""The Auction capability's name."""

RESIZES = 1
RESIZE_DROP = 0.95
"""A goal nothing fitted is auctioned again (up to RESIZES times) when its traffic, measured
again, dropped below RESIZE_DROP of what was asked: in separate processes the limit that
lowers it may take effect a step after the measurement."""


async def _dropped(
    renewed: Callable[[], Awaitable[GoalRequest]], traffic: float
) -> GoalRequest | None:
    """The goal's request measured again (a step apart, up to RESIZES times) once its
    traffic dropped below RESIZE_DROP of `traffic`; None if it did not."""
    for _ in range(RESIZES):
        again = await renewed()
        if again.traffic < RESIZE_DROP * traffic:
            return again
    return None


def _asked_by_part(_beliefs: BeliefBase, goal: Goal) -> bool:
    """An un-goal one part posted: the limit's holder lifts it once every part asked."""
    return "parts" in goal.payload


class Auctioneer:
    """One agent's side of NFV-A as the initiator, and of the requests to lift limits."""

    def __init__(self, agent: PoPAgent) -> None:
        self.agent = agent
        self.holders: dict[str, str] = {}
        """Who holds the limits this agent's won goals installed, by goal label."""
        self._votes: dict[Belief, set[int]] = {}
        self._auctions: dict[Goal, asyncio.Task[bool]] = {}

    def capability(self) -> Capability:
        """GoalRequest for every goal a VNF achieves, run before the Load Balancer
        fall-backs of Table 5.5 (less time), which are applicable once the auction left
        the goal unplaced; and the request to the holder of a limit to lift it."""
        x = Var("x")
        specs = (*self.agent.world.scenario.goals, ddos.monitor_goal())
        waits = {"slot": False}
        requests = tuple(
            Plan(
                "GoalRequest",
                Belief(spec.name, (REST,)),
                self._request,
                kind=kind,
                cancellable=False,
                **waits,
            )
            for spec in specs
            for kind in GoalKind
        )
        fall_backs = tuple(
            Plan(
                name,
                Belief(goal, (x,)),
                self._split_instead(split),
                kind=kind,
                precondition=unplaced(Belief(goal, (x,))),
                time=1.0,
                **waits,
            )
            for name, goal, kind, split in (
                ("SplitLink", "anomalousUsage", GoalKind.QUERY, "splitTrafficLink"),
                ("SplitIP", "flowRecord", GoalKind.ACHIEVE, "splitTrafficTowardsIp"),
            )
        )
        lifts = tuple(
            Plan(
                "RequestLift",
                ~Belief(limit, (x,)),
                self._request_lift,
                precondition=_asked_by_part,
                time=1.0,
                **waits,
            )
            for limit in ("linkRateLimited", "ipRateLimited")
        )
        return Capability(AUCTION, plans=requests + fall_backs + lifts)

    def spec(self, name: str) -> GoalSpec | None:
        """The goal's design-time settings: the scenario's, or the standing monitor duty's."""
        try:
            return self.agent.world.scenario.goal(name)
        except KeyError:
            return ddos.monitor_goal() if name == ddos.MONITOR_GOAL else None

    def needs(self, goal: Goal) -> bool:
        """Whether this agent still needs `goal` (it runs and does not believe it achieved):
        until then a failed or unanswered auction for it is repeated."""
        bdi = self.agent.bdi
        return bdi.running and not goal.satisfied_by(bdi.beliefs)

    # GoalRequest: auction a goal --------------------------------------------------------------
    async def _request(self, ctx: PlanContext) -> bool:
        """GoalRequest: NFV-A for a goal needing a VNF.

        A goal this agent is auctioning already (posted again: by both parts of a split
        link, or adopted from a gone agent) is not auctioned twice: it waits for the
        auction in progress and shares its outcome."""
        goal = ctx.goal
        for other, running in self._auctions.items():
            if other.key == goal.key:
                return await asyncio.shield(running)
        task = asyncio.ensure_future(self._auction_goal(goal))
        self._auctions[goal] = task
        try:
            return await task
        finally:
            del self._auctions[goal]

    async def _auction_goal(self, goal: Goal) -> bool:
        agent = self.agent
        name = goal.predicate.name
        spec = self.spec(name)
        if spec is None:
            return False
        agent.bdi.beliefs.remove(unplaced(goal.predicate))
        # who holds the limits its follow-ups ask to lift (`_ask`): told to the winner, and
        # on the board, since an agent that adopts the goal must ask them (or their stand-in)
        shared = dict(goal.payload) | {
            "holders": {**goal.payload.get("holders", {}), **self.holders}
        }
        payload = shared | {"kind": goal.kind.value}
        args = tuple(str(a) for a in goal.predicate.args)
        held = OpenGoal(name, args, goal.kind.value, goal.priority, shared)
        agent.board.hold(held)  # another agent takes it over if this one is gone

        async def renewed() -> GoalRequest:
            traffic = await self._measured(goal, spec, payload)
            predicted = payload.get("predicted_traffic")  # a forecast's peak (004_… §4.2)
            return GoalRequest.for_goal(
                spec, agent.pop, traffic, args, None if predicted is None else float(predicted)
            )

        try:
            request = await renewed()
            for _ in range(RESIZES + 1):
                record = await agent.mailbox.auction(
                    request,
                    payload,
                    agent.world.directory,
                    needed=lambda: self.needs(goal),
                    renew=renewed,
                )
                agent.world.journal.auction(agent.pop, record)
                if record.status != "no-bids" or not self.needs(goal):
                    break
                # Nothing fitted: if the traffic measured was not settled yet (a limit just
                # installed, a split just steered), measure again before giving up.
                again = await _dropped(renewed, request.traffic)
                if again is None:
                    break
                request = again
        finally:
            agent.board.release(held)
        if not record.achieved:
            agent.bdi.beliefs.add(unplaced(goal.predicate))
            return False
        try:
            learnt = beliefs_from_json(record.result.get("beliefs", []))
        except ValueError:
            learnt = []
        for belief in learnt:
            agent.bdi.beliefs.add(belief)
        holder = record.result.get("holder")
        if isinstance(holder, str):
            self.holders[f"{name}({','.join(request.args)})"] = holder
        return True

    def _split_instead(self, split: str) -> PlanBody:
        """Table 5.5's fall-back: no Anomaly Detector or Classifier fits the goal's
        traffic, so goal(`split`) divides it into lighter parts, each analysed on its own.
        The auction's failure (the Load Balancer's precondition) goes with the request."""

        async def body(ctx: PlanContext) -> bool:
            goal = ctx.goal
            shared = {"beliefs": beliefs_to_json([unplaced(goal.predicate)])}
            divide = Goal(
                Belief(split, goal.predicate.args),
                priority=goal.priority,
                payload=dict(goal.payload) | shared,
            )
            return await ctx.achieve(divide)

        return body

    async def _measured(self, goal: Goal, spec: GoalSpec, payload: dict[str, Any]) -> float:
        """`_traffic_for` the goal; while the controller cannot be reached (a broker
        outage) asked again after a back-off, for as long as the goal is needed."""
        agent = self.agent
        settings = agent.world.settings
        wait = settings.retry_wait
        while True:
            try:
                return await self._traffic_for(spec, payload)
            except (TimeoutError, BusClosed) as exc:
                if not self.needs(goal):
                    raise
                logger.warning(
                    "%s: no traffic figure for %s (%r); again in %g s", agent.pop, goal, exc, wait
                )
                await agent.world.clock.sleep(wait)
                wait = min(2 * wait, settings.retry_wait_max)

    async def _traffic_for(self, spec: GoalSpec, payload: dict[str, Any]) -> float:
        """MB/s the goal's VNF must process, measured one step after the last change: the
        watched link's traffic (its part of a split) for a VNF sized by the traffic it
        processes (one with a throughput in Table 5.6); none for the others."""
        world = self.agent.world
        sized = any(world.infra.catalogue[vnf].throughput is not None for vnf in spec.vnfs)
        if not sized or "link" not in payload:
            return 0.0
        await world.clock.sleep(world.controller.step_seconds)
        return await self.link_traffic(payload)

    async def link_traffic(self, payload: dict[str, Any]) -> float:
        """MB/s on the goal's watched link now (its part of a split)."""
        a, b = payload["link"]
        return await self.agent.world.controller.rate(a, b) / int(payload.get("parts", 1))

    # RequestLift: the holder of a limit lifts it ----------------------------------------------
    async def _request_lift(self, ctx: PlanContext) -> bool:
        """A part's un-goal: ask the agent holding the limit to lift it (`_ask`)."""
        await self._ask(ctx.goal.payload, ctx.goal.predicate)
        return True

    async def _ask(self, payload: dict[str, Any], goal: Belief) -> None:
        """Ask the agent holding the positive belief to achieve `goal` (its un-plan).

        With traffic split into parts, each part reports; the holder lifts the limit
        once every part has (see `lift`). A holder the payload does not name (its auction
        ended after the payload was made) may be this agent itself. The REQUEST is sent
        again, after a back-off, until the holder (or its stand-in) agrees: one lost in a
        broker outage would leave the limit on for good.
        """
        agent = self.agent
        part, parts = payload.get("part", 0), int(payload.get("parts", 1))
        settings = agent.world.settings
        wait = settings.retry_wait
        while True:
            holder = payload.get("holders", {}).get(f"{goal.name}({','.join(goal.args)})")
            if not holder and Belief(goal.name, goal.args) in agent.rules:
                holder = agent.pop
            holder = agent.board.stand_in(holder) if holder else holder  # it may be gone
            if holder == agent.pop:
                self.lift(goal, part, parts)
                return
            if not holder:
                logger.warning("%s: nobody known to hold the limit %s lifts", agent.pop, goal)
                return
            request = self.request_of(holder, goal, part, parts, tag=part)
            if await agent.mailbox.request(request, wait):
                return
            logger.warning("%s: %s did not agree to %s; asked again", agent.pop, holder, goal)
            wait = min(2 * wait, settings.retry_wait_max)

    def request_of(self, to: str, goal: Belief, part: int, parts: int, tag: object) -> ACLMessage:
        """The FIPA REQUEST asking `to` to achieve `goal` for `part` of `parts` (answered
        by its `lift`); `tag` tells this agent's requests for one goal apart."""
        pop = self.agent.pop
        content = {"goal": beliefs_to_json([goal])[0], "part": part, "parts": parts}
        return ACLMessage(Performative.REQUEST, pop, (to,), f"{pop}.req.{goal}.{tag}", content)

    def requested(self, message: ACLMessage) -> None:
        """A REQUEST of another agent: lift what it asks for, once every part did."""
        try:
            [goal] = beliefs_from_json([message.content.get("goal")])
            part, parts = int(message.content["part"]), int(message.content["parts"])
        except (KeyError, TypeError, ValueError):
            logger.warning(
                "%s: ignored a malformed REQUEST from %s", self.agent.pop, message.sender
            )
            return
        self.lift(goal, part, parts)

    def lift(self, goal: Belief, part: int, parts: int) -> None:
        """Post a goal another agent asked for (an un-goal, a release) once all `parts`
        asked for it.

        Table 5.1 lifts the IP limit as soon as one malicious flow is limited; when the
        traffic was split, the other parts' attackers would then flood the link again
        before their classifier reports, so here every part must have reported first.
        """
        bdi = self.agent.bdi
        if bdi.beliefs.holds(goal):  # lifted already: a REQUEST sent again
            return
        votes = self._votes.setdefault(goal, set())
        votes.add(part)
        if len(votes) >= parts:
            del self._votes[goal]
            bdi.post_goal(Goal(goal, priority=PROTECT))

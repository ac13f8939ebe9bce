"""The Rate Limiter (Table 5.1 of `003_…`): limitLink, limitIP and blockFlow, and their
lifting by the agent that installed them once every part of a split asked for it.

The limits are the agent's (`VNFContext.limits`): only their holder lifts them, and a
successor adopts them if it is gone, so one Rate Limiter instance stays at scale-in while
they do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from secmas.agents.bdi import ANY, Belief, BeliefBase, Goal, Plan, PlanContext, Var
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.board import OpenGoal
from secmas.agents.ddos.facts import (
    DIAGNOSE,
    PROTECT,
    beliefs_from_json,
    beliefs_to_json,
    flow_ends,
    link_ends,
    link_name,
)
from secmas.agents.ddos.vnfs import RateLimiterVNF
from secmas.agents.vnfplugin import VNFPlugin, WonPlan
from secmas.scenario import ddos

logger = logging.getLogger(__name__)


def _agreed(_beliefs: BeliefBase, goal: Goal) -> bool:
    """An un-goal every part asked for (the Auction capability's lift), not one part's
    request."""
    return "parts" not in goal.payload


class RateLimiter(VNFPlugin):
    """LL, LIP and LF for won auctions; UL and UIP on the limit's holder."""

    name = ddos.RATE_LIMITER
    scaled_in = True

    def build(self) -> RateLimiterVNF:
        return RateLimiterVNF(self.context.controller, self.context.pop)

    def plans(self) -> Sequence[WonPlan]:
        x = Var("x")
        return (
            WonPlan("LL", Belief("linkRateLimited", (x,)), self._limit_link),
            WonPlan("LIP", Belief("ipRateLimited", (x,)), self._limit_ip),
            WonPlan("LF", Belief("flowRateLimited", (x,)), self._limit_flow),
        )

    def local_plans(self) -> Sequence[Plan]:
        """Table 5.1's UnlimitLink and UnlimitIP: they need the limit this agent installed,
        and a lift every part of a split asked for."""
        x = Var("x")
        return tuple(
            Plan(name, ~Belief(limit, (x,)), body, precondition=(Belief(limit, (x,)), _agreed))
            for name, limit, body in (
                ("UL", "linkRateLimited", self._unlimit),
                ("UIP", "ipRateLimited", self._unlimit_ip),
            )
        )

    def serving(self) -> bool:
        """The flow blocks and limits this agent holds stay on."""
        return bool(self.context.limits)

    def holdings(self) -> dict[str, Any]:
        """The limits this agent installed (only their holder lifts them, when asked by
        the agents that asked for them)."""
        limits = self.context.limits
        rules = [[b, r] for b, r in zip(beliefs_to_json(limits), limits.values(), strict=True)]
        return {"rules": rules} if rules else {}

    def adopt(self, gone: str, held: Mapping[str, Any]) -> Sequence[OpenGoal]:
        """The gone agent's limits become this agent's to lift."""
        ctx = self.context
        try:
            rules = [(beliefs_from_json([b])[0], int(r)) for b, r in held.get("rules", [])]
        except (TypeError, ValueError):
            logger.warning("%s: unusable holdings of %s", ctx.pop, gone)
            rules = []
        if rules:
            ctx.activate(self.name)
        for belief, rule in rules:
            ctx.limits.setdefault(belief, rule)
            ctx.beliefs.add(belief)
            ctx.act("adoptRule", f"{belief} (rule {rule}) from {gone}")
        return ()

    async def _limit_link(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """LimitLink (LL): limitLink(link, RATE), on the link's traffic steered here."""
        link = request.args[0]
        a, b = link_ends(link)
        context = self.context
        server = context.controller.server_ip
        steer = await context.steering.chain(request, bid, {"node": a} | ctx.goal.payload, server)
        rule, cap = await context.steering.installed(
            steer, self.vnf.limit_link(a, b, context.defence.rate)
        )
        achieved = Belief("linkRateLimited", (link,))
        context.limits[achieved] = rule
        context.act("limitLink", f"{link} to {cap:.2f} MB/s at {context.pop}")
        ctx.believe(achieved)
        return True

    async def _limit_ip(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """LimitIP (LIP): limitIP(ip, RATE), then goal(¬linkRateLimited(link)) for the link
        towards ip (its holder lifts it)."""
        ip = request.args[0]
        context = self.context
        payload = ctx.goal.payload
        a, b = payload["link"]
        achieved = Belief("ipRateLimited", (ip,))
        await self._replace(achieved)
        steer = await context.steering.chain(request, bid, payload, ip)
        rule, cap = await context.steering.installed(
            steer, self.vnf.limit_ip(a, b, ip, context.defence.rate)
        )
        context.limits[achieved] = rule
        context.act("limitIP", f"{ip} to {cap:.2f} MB/s at {context.pop}")
        ctx.believe(achieved)
        lift = ~Belief("linkRateLimited", (link_name(a, b),))
        ctx.post_goal(Goal(lift, priority=PROTECT, payload=payload | {"part": 0, "parts": 1}))
        return True

    async def _limit_flow(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """LimitFlow (LF): blockFlow(flow) here. A flow that does not cross this PoP is
        steered here from where it enters the network, alone: it dies here and loads only
        the links on its way (003 drops it at the victim's switch)."""
        flow = request.args[0]
        context = self.context
        src, dst = flow_ends(flow)
        ingress = await context.controller.ingress(src)
        payload = ctx.goal.payload | {"at": ingress}
        steer = await context.steering.chain(request, bid, payload, dst, src_ip=src)
        rule = await context.steering.installed(steer, self.vnf.block_flow(src, dst))
        achieved = Belief("flowRateLimited", (flow,))
        context.limits[achieved] = rule
        context.act("blockFlow", f"{flow} at {context.pop}")
        ctx.believe(achieved)
        return True

    async def _unlimit(self, ctx: PlanContext) -> bool:
        """UnlimitLink (UL) and UnlimitIP (UIP): take out the limit this agent installed."""
        target = Belief(ctx.goal.predicate.name, ctx.goal.predicate.args)
        rule = self.context.limits.pop(target, None)
        if rule is None:
            return False
        await self._remove_rule(rule)
        self.context.act(f"un{target.name}", ",".join(target.args))
        ctx.believe(~target)
        return True

    async def _unlimit_ip(self, ctx: PlanContext) -> bool:
        """UnlimitIP (UIP), the strategy's last step (Figure 5.1): every threat towards ip
        is limited. With no IP limit left here the attack subsided: goal(released(ip))
        scales in the VNFs the mitigation started, here and (told) on every other PoP."""
        if not await self._unlimit(ctx):
            return False
        if not ctx.beliefs.query(Belief("ipRateLimited", (ANY,))):
            released = Belief("released", ctx.goal.predicate.args)
            ctx.post_goal(Goal(released, priority=DIAGNOSE, payload={"tell": True}))
        return True

    async def _replace(self, limit: Belief) -> None:
        """A new limit for the same target replaces the one this agent installed before."""
        old = self.context.limits.pop(limit, None)
        if old is not None:
            await self._remove_rule(old)

    async def _remove_rule(self, rule_id: int) -> None:
        """Take a rule out, and let go of the steering it needed."""
        await self.vnf.remove(rule_id)
        await self.context.steering.rule_removed(rule_id)

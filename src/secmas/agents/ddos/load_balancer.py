"""The Load Balancer (Table 5.5 of `003_…`): traffic no analysing VNF can take whole is
split into parts, each then analysed on its own."""

from __future__ import annotations

from collections.abc import Sequence

from secmas.agents.bdi import Belief, Goal, GoalKind, PlanContext, Var
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.ddos.facts import DIAGNOSE, unplaced
from secmas.agents.ddos.vnfs import LoadBalancerVNF
from secmas.agents.vnfplugin import VNFContext, VNFPlugin, WonPlan
from secmas.scenario import ddos


class LoadBalancer(VNFPlugin):
    """LBL and LBIP, once the auction of the goal they split left it unplaced."""

    name = ddos.LOAD_BALANCER
    scaled_in = True

    def __init__(self, context: VNFContext) -> None:
        super().__init__(context)
        self.splits: list[int] = []
        """The traffic splits installed here."""

    def build(self) -> LoadBalancerVNF:
        return LoadBalancerVNF(self.context.controller, self.context.pop)

    def plans(self) -> Sequence[WonPlan]:
        x = Var("x")
        return (
            WonPlan(
                "LBL",
                Belief("splitTrafficLink", (x,)),
                self._balance_link,
                requires=(unplaced(Belief("anomalousUsage", (x,))),),
            ),
            WonPlan(
                "LBIP",
                Belief("splitTrafficTowardsIp", (x,)),
                self._balance_ip,
                requires=(unplaced(Belief("flowRecord", (x,))),),
            ),
        )

    async def stopping(self) -> None:
        """Take out the traffic splits installed here."""
        while self.splits:
            await self.vnf.merge(self.splits.pop())

    async def _balance_ip(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """LoadBalanceIP (LBIP): splitTrafficIP(ip, PARTS); goal(flowRecord) per part."""
        ip = request.args[0]
        divided = Belief("flowRecord", (ip,))
        await self._split(ctx, request, bid, ip, "splitTrafficIP", divided, GoalKind.ACHIEVE)
        return True

    async def _balance_link(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """LoadBalanceLink (LBL): splitTrafficLink(link, PARTS); ?anomalousUsage per part.

        The link's traffic is split by destination: the server behind the watched link.
        """
        link = request.args[0]
        diagnose = Belief("anomalousUsage", (link,))
        ip = self.context.controller.server_ip
        await self._split(ctx, request, bid, ip, "splitTrafficLink", diagnose, GoalKind.QUERY)
        return True

    async def _split(
        self,
        ctx: PlanContext,
        request: GoalRequest,
        bid: Bid,
        ip: str,
        action: str,
        per_part: Belief,
        kind: GoalKind,
    ) -> None:
        """Split the traffic towards `ip` here into PARTS and post `per_part` for each part;
        the parts are found here (their analysers steer them from this PoP) for as long as
        they are pursued: the steering bringing the traffic here goes once they are over."""
        context = self.context
        parts = context.defence.split_parts
        payload = ctx.goal.payload
        steer = await context.steering.chain(request, bid, payload, ip)
        self.splits.append(await self.vnf.split(ip, parts))
        context.act(action, f"{','.join(per_part.args)} into {parts} at {context.pop}")
        goals = [
            ctx.post_goal(
                Goal(
                    Belief(per_part.name, (*per_part.args, str(part))),
                    kind,
                    priority=DIAGNOSE,
                    payload=dict(payload) | {"part": part, "parts": parts, "at": context.pop},
                )
            )
            for part in range(parts)
        ]
        ctx.believe(Belief(request.goal, request.args))
        if steer is not None:
            context.follow_up(context.steering.release_after(steer, goals))

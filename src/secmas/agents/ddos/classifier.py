"""The Classifier (Table 5.4 of `003_…`): which flows towards an attacked address are
malicious, each then blocked, and the address's limit lifted once they all are."""

from __future__ import annotations

from collections.abc import Sequence

from secmas.agents.bdi import REST, Belief, Goal, PlanContext, Var
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.ddos.facts import PROTECT, flow_name
from secmas.agents.ddos.vnfs import ClassifierVNF
from secmas.agents.vnfplugin import VNFPlugin, WonPlan
from secmas.scenario import ddos


class Classifier(VNFPlugin):
    """AIPF for a won flowRecord(ip) (a part of it, on split traffic)."""

    name = ddos.CLASSIFIER
    scaled_in = True

    def build(self) -> ClassifierVNF:
        return ClassifierVNF(self.context.controller, self.context.pop)

    def plans(self) -> Sequence[WonPlan]:
        return (WonPlan("AIPF", Belief("flowRecord", (Var("x"), REST)), self._analyse_ip_flows),)

    async def _analyse_ip_flows(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """AnalyseIPFlows (AIPF): classifyFlows(ip); goal(flowRateLimited(flow)) for each
        threat, one after another, then goal(¬ipRateLimited(ip)) for this part (Table 5.1's
        LimitFlow follow-up, once every threat of the part is limited)."""
        ip = request.args[0]
        steering = self.context.steering
        payload = ctx.goal.payload
        part, parts = payload.get("part"), int(payload.get("parts", 1))
        sources = await steering.analysed(
            await steering.chain(request, bid, payload, ip, part),
            lambda: self.vnf.malicious_sources(ip, part, parts),
        )
        which = "" if part is None else f" part {part}"
        self.context.act(
            "classifyFlows", f"{ip}{which}: {len(sources)} malicious at {self.context.pop}"
        )
        previous: Goal | None = None
        for src in sources:
            threat = Belief("threat", (flow_name(src, ip),))
            ctx.believe(threat)
            previous = ctx.post_goal(
                Goal(
                    Belief("flowRateLimited", threat.args),
                    priority=PROTECT,
                    payload=dict(payload),
                    after=previous,
                )
            )
        lift = ~Belief("ipRateLimited", (ip,))
        ask = {"part": payload.get("part", 0), "parts": parts}
        ctx.post_goal(Goal(lift, priority=PROTECT, payload=payload | ask, after=previous))
        ctx.believe(Belief("flowRecord", request.args))
        return True

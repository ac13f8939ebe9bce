"""The Anomaly Detector (Table 5.3 of `003_…`): which addresses a link's over-usage is
aimed at, each then limited and its flows classified."""

from __future__ import annotations

from collections.abc import Sequence

from secmas.agents.bdi import REST, Belief, Goal, GoalKind, PlanContext, Var
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.ddos.facts import DIAGNOSE, PROTECT
from secmas.agents.ddos.vnfs import AnomalyDetectorVNF
from secmas.agents.vnfplugin import VNFPlugin, WonPlan
from secmas.scenario import ddos


class AnomalyDetector(VNFPlugin):
    """ALS for a won query ?anomalousUsage(link) (a part of it, on a split link)."""

    name = ddos.ANOMALY_DETECTOR
    scaled_in = True

    def build(self) -> AnomalyDetectorVNF:
        return AnomalyDetectorVNF(self.context.controller, self.context.pop)

    def plans(self) -> Sequence[WonPlan]:
        pattern = Belief("anomalousUsage", (Var("x"), REST))
        return (WonPlan("ALS", pattern, self._analyse_link, kind=GoalKind.QUERY),)

    async def _analyse_link(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """AnalyseLinkStatistics (ALS): detectIntrusion(link); for each outlier ip,
        belief(anomalous(ip)), goal(ipRateLimited(ip)), then goal(flowRecord(ip)) once the
        limit is over (protect first: it changes the traffic the classifier is sized by)."""
        link = request.args[0]
        steering = self.context.steering
        payload = ctx.goal.payload
        part, parts = payload.get("part"), int(payload.get("parts", 1))
        outliers = await steering.analysed(
            await steering.chain(request, bid, payload, self.context.controller.server_ip, part),
            lambda: self.vnf.detect(
                payload["node"], payload["since"], part, parts, payload.get("over", ())
            ),
        )
        self.context.act("detectIntrusion", f"{link}: {', '.join(outliers) or 'no outlier'}")
        for ip in outliers:
            ctx.believe(Belief("anomalous", (ip,)))
            limit = ctx.post_goal(
                Goal(Belief("ipRateLimited", (ip,)), priority=PROTECT, payload=dict(payload))
            )
            ctx.post_goal(
                Goal(
                    Belief("flowRecord", (ip,)),
                    priority=DIAGNOSE,
                    payload=dict(payload),
                    after=limit,
                )
            )
        ctx.believe(Belief("anomalousUsage", request.args, positive=bool(outliers)))
        return True

"""The Link Monitor (Table 5.2 of `003_…`): over-usage of the defence's link, and the two
goals it raises; placed again, by auction, when the agent running it is gone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from secmas.agents.bdi import Belief, Capability, Forget, Goal, GoalKind, Plan, PlanContext, Var
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.board import OpenGoal
from secmas.agents.ddos.facts import DIAGNOSE, PROTECT, link_name
from secmas.agents.ddos.vnfs import LinkMonitorVNF
from secmas.agents.vnfplugin import VNFContext, VNFPlugin, WonPlan
from secmas.network.dataplane import UsageEvent
from secmas.scenario import ddos


class LinkMonitorCapability(Capability):
    """Table 5.2: belief revision on over-usage events and the two goals it generates."""

    def __init__(self, vnf: LinkMonitorVNF, plans: Iterable[Plan] = ()) -> None:
        super().__init__(ddos.LINK_MONITOR, vnf, plans=plans)
        self.link = link_name(*vnf.monitor.link)
        self._handled = False

    def revise(self, event: object, beliefs: Any) -> Iterable[Belief | Forget]:
        over = Belief("overUsage", (self.link,))
        if event is UsageEvent.OVER:
            return [over, Forget("anomalousUsage", (self.link,))]
        if event is UsageEvent.NORMAL:
            self._handled = False
            return [over.forget()]
        return ()

    def options(self, beliefs: Any, goals: Sequence[Goal]) -> Iterable[Goal]:
        """overUsage(link) ∧ not anomalousUsage(link) → goal(linkRateLimited(link)) and
        goal(?anomalousUsage(link)) (Table 5.2). Protect first (Section 5.1): the query
        waits for the limit, since the limit changes the traffic its VNF is sized by."""
        over = beliefs.holds(Belief("overUsage", (self.link,)))
        known = beliefs.known(Belief("anomalousUsage", (self.link,)))
        if not over or known or self._handled:
            return ()
        self._handled = True  # one pair of goals per over-usage episode
        vnf: LinkMonitorVNF = self.vnf
        a, b = vnf.monitor.link
        over = [list(episode) for episode in vnf.episodes]
        payload = {"node": a, "link": [a, b], "since": vnf.onset, "over": over}
        # a closed loop's decision engine may have handed the agent the same goals first
        pursued = {goal.predicate for goal in goals}

        def wanted(predicate: Belief) -> bool:
            return predicate not in pursued and not beliefs.holds(predicate)

        limit_of = Belief("linkRateLimited", (self.link,))
        limit = Goal(limit_of, priority=PROTECT, payload=payload) if wanted(limit_of) else None
        query_of = Belief("anomalousUsage", (self.link,))
        query = (
            Goal(query_of, GoalKind.QUERY, priority=DIAGNOSE, payload=payload, after=limit)
            if wanted(query_of)
            else None
        )
        return tuple(goal for goal in (limit, query) if goal is not None)


class LinkMonitor(VNFPlugin):
    """Watches the defence's link on the PoP the scenario names, or on the winner of the
    monitor duty's auction (MonitorLink) once that agent is gone."""

    name = ddos.LINK_MONITOR

    def __init__(self, context: VNFContext) -> None:
        super().__init__(context)
        self.monitor: LinkMonitorVNF | None = None
        """The VNF watching the link, once this agent watches it."""

    def plans(self) -> Sequence[WonPlan]:
        pattern = Belief(ddos.MONITOR_GOAL, (Var("x"),))
        return (WonPlan("MonitorLink", pattern, self._monitor_link),)

    def capability(self, plans: Iterable[Plan]) -> Capability:
        """Its VNF starts afresh with its capability, on the defence's link."""
        self.vnf = LinkMonitorVNF(self.context.controller, self.context.defence.monitor)
        return LinkMonitorCapability(self.vnf, plans)

    def activated(self) -> None:
        if self.context.defence.monitor.pop == self.context.pop:
            self.watch()

    def watch(self) -> Belief:
        """Run the Link Monitor on the defence's link here. The duty goes on the board, so
        that if this agent is gone another places a new monitor (no single point of
        failure for detection)."""
        link = link_name(*self.context.defence.monitor.link)
        if self.monitor is None:
            self.context.activate(self.name)
            self.monitor = self.vnf
        self.context.hold(OpenGoal(ddos.MONITOR_GOAL, (link,), priority=PROTECT))
        return Belief(ddos.MONITOR_GOAL, (link,))

    async def observe(self) -> UsageEvent | None:
        """The link's state flipped in the last step (journalled), or None."""
        if self.monitor is None:
            return None
        event = await self.monitor.observe()
        if event is not None:
            self.context.act(
                "overUsage" if event is UsageEvent.OVER else "normal",
                link_name(*self.monitor.monitor.link),
            )
        return event

    def adopt(self, gone: str, held: Mapping[str, Any]) -> Sequence[OpenGoal]:
        """The scenario's Link Monitor: its duty even if it never told it (revoked at once)."""
        defence = self.context.scenario.defence
        if defence is None or gone != defence.monitor.pop:
            return ()
        return (OpenGoal(ddos.MONITOR_GOAL, (link_name(*defence.monitor.link),), priority=PROTECT),)

    async def _monitor_link(self, ctx: PlanContext, request: GoalRequest, _bid: Bid) -> bool:
        """linkMonitored(link): the Link Monitor placed again, here, after its agent was lost."""
        ctx.believe(self.watch())
        self.context.act("monitorLink", request.args[0])
        return True

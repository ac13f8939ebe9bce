"""The VNFs' primitive actions on the data plane (the agents' actuators, Section 5.2).

A VNF runs on one PoP and acts only on the traffic crossing that PoP: its rules go to the
PoP's switch and its statistics are the ones that switch exports. Traffic that does not
cross the PoP reaches it only when the agent steers it there first (`chaining.py`). The
VNF drives its switch through a controller, in this process or over the bus
(`Controller`). The Link Monitor watches the one link it was placed for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from secmas.network.dataplane import (
    FlowBlock,
    FlowStats,
    IpRateLimit,
    LinkOverUsage,
    LinkRateLimit,
    TrafficSplit,
    UsageEvent,
    classify_flows,
    detect_intrusion,
    normal_steps,
    split_part,
)
from secmas.network.dataplane.controller import Controller
from secmas.scenario.model import Monitor


@dataclass
class LinkMonitorVNF:
    """Watches one link for over-usage with a threshold and hysteresis (Table 5.2).

    It remembers when each over-usage began (`onset`) and the episodes that ended
    (`episodes`, (start, end) in run seconds): the link's traffic then was no normal
    traffic, and an Anomaly Detector must not take it as its baseline.
    """

    plane: Controller
    monitor: Monitor
    detector: LinkOverUsage = field(init=False)
    onset: float = 0.0
    episodes: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.detector = LinkOverUsage.for_monitor(self.monitor)

    async def observe(self) -> UsageEvent | None:
        """Feed the last step's load; an event when the link's state flips (dated back to
        the first of the steps that confirmed it)."""
        event = self.detector.update(await self.plane.load(*self.monitor.link))
        if event is not None:
            now = await self.plane.now()
            flipped = now - self.detector.consecutive * self.plane.step_seconds
            if event is UsageEvent.OVER:
                self.onset = flipped
            else:
                self.episodes.append((self.onset, flipped))
        return event


@dataclass
class RateLimiterVNF:
    """limitLink, limitIP, blockFlow and their removal (Table 5.1), at the PoP `pop`."""

    plane: Controller
    pop: str

    async def limit_link(self, a: str, b: str, share: float) -> tuple[int, float]:
        """Cap link a→b at `share` of its current rate; returns (rule id, cap MB/s).

        On the link's own switch that is a link limit. Elsewhere the limiter caps what it
        forwards towards the server behind the link (the agent steers the link's traffic
        through this PoP first): the same traffic, since the link leads to the server.
        """
        cap = share * await self.plane.rate(a, b)
        rule = (
            LinkRateLimit(a, b, cap)
            if a == self.pop
            else IpRateLimit(self.pop, self.plane.server_ip, cap)
        )
        return await self.plane.add_rule(rule), cap

    async def limit_ip(self, a: str, b: str, ip: str, share: float) -> tuple[int, float]:
        """Cap the traffic to `ip` crossing this PoP at `share` of what link a→b carries."""
        cap = share * await self.plane.rate(a, b)
        return await self.plane.add_rule(IpRateLimit(self.pop, ip, cap)), cap

    async def block_flow(self, src_ip: str, dst_ip: str) -> int:
        """Drop the flow where it crosses this PoP (003 drops it at the victim's switch)."""
        return await self.plane.add_rule(FlowBlock(self.pop, src_ip, dst_ip))

    async def block_at_ingress(self, src_ip: str, dst_ip: str) -> tuple[int, str]:
        """Drop the flow where it enters the network, so it loads no link (the connection
        guard in front of a CNF enforces its verdict there); returns (rule id, node)."""
        node = await self.plane.ingress(src_ip)
        return await self.plane.add_rule(FlowBlock(node, src_ip, dst_ip)), node

    async def remove(self, rule_id: int) -> None:
        """Take a rule out of the switch."""
        await self.plane.remove_rule(rule_id)


@dataclass
class AnomalyDetectorVNF:
    """detectIntrusion(link): destinations whose rate is an outlier (Table 5.3), from the
    traffic crossing the PoP `pop`."""

    plane: Controller
    pop: str

    async def detect(
        self,
        node: str,
        since: float,
        part: int | None = None,
        parts: int = 1,
        over: Sequence[Sequence[float]] = (),
    ) -> list[str]:
        """Outlier destination IPs among the traffic crossing this PoP, each against the
        history before `since` of the switch `node` whose link is diagnosed (the PoP may
        see that traffic only since it was steered here, so its own history is no baseline),
        leaving out the link's earlier over-usage episodes `over` ((start, end) pairs): a
        flood mitigated in part comes back as a new over-usage, and a baseline holding the
        flood itself would hide what is left of it.

        On one part of a split link (LoadBalanceLink) only the server's flows of that part
        count (the split hashes sources, `split_part`); flows are hashed evenly over the
        parts, so the baseline is the server's history divided by `parts`.
        """
        history = await self.plane.destination_rates(node)
        step = self.plane.step_seconds
        if part is None:
            here = await self.plane.destination_rates(self.pop)
            current = {dst: _recent(rates) for dst, rates in here.items()}
            baseline = {
                dst: normal_steps(rates, step, since, over) for dst, rates in history.items()
            }
        else:
            ip = self.plane.server_ip
            flows = _of_part(await self.plane.flows_via(self.pop, ip), part, parts)
            current = {ip: sum(stats.last.rate for stats in flows)}
            normal = normal_steps(history.get(ip, []), step, since, over)
            baseline = {ip: [r / parts for r in normal]}
        return detect_intrusion(current, baseline)


def _recent(rates: list[float], steps: int = 3) -> float:
    """Mean of the last few steps, so one jittery step does not decide."""
    tail = rates[-steps:]
    return sum(tail) / len(tail) if tail else 0.0


def _of_part(flows: list[FlowStats], part: int | None, parts: int) -> list[FlowStats]:
    """The flows of split part `part` (all of them without a part)."""
    if part is None:
        return flows
    return [stats for stats in flows if split_part(stats.flow.src_ip, parts) == part]


@dataclass
class ClassifierVNF:
    """classifyFlows(ip): the sources of malicious flows towards `ip` (Table 5.4), among
    the flows crossing the PoP `pop`."""

    plane: Controller
    pop: str

    async def malicious_sources(self, ip: str, part: int | None, parts: int = 1) -> list[str]:
        """Source addresses of the flows to `ip` here (of split part `part`, when the
        traffic was split into `parts`) judged SYN floods."""
        flows = _of_part(await self.plane.flows_via(self.pop, ip), part, parts)
        return sorted({stats.flow.src_ip for stats in classify_flows(flows)})


@dataclass
class LoadBalancerVNF:
    """splitTrafficTowardsIp / splitTrafficLink (Table 5.5), at the PoP `pop`."""

    plane: Controller
    pop: str

    async def split(self, ip: str, parts: int) -> int:
        """Divide the flows to `ip` crossing this PoP into `parts` groups."""
        return await self.plane.add_rule(TrafficSplit(self.pop, ip, parts))

    async def merge(self, rule_id: int) -> None:
        """Take a split out: its parts are one again."""
        await self.plane.remove_rule(rule_id)

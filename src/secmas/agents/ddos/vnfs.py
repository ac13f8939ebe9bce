"""The VNFs' primitive actions on the data plane (the agents' actuators, Section 5.2).

Rules go to the switch where the goal's traffic is (the node in the goal's payload),
whichever PoP hosts the VNF: the VNF drives that switch through its controller, in this
process or over the bus (`Controller`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from secmas.network.dataplane import (
    FlowBlock,
    IpRateLimit,
    LinkOverUsage,
    LinkRateLimit,
    TrafficSplit,
    UsageEvent,
    classify_flows,
    detect_intrusion,
)
from secmas.network.dataplane.controller import Controller
from secmas.scenario.model import Monitor


@dataclass
class LinkMonitorVNF:
    """Watches one link for over-usage with a threshold and hysteresis (Table 5.2)."""

    plane: Controller
    monitor: Monitor
    detector: LinkOverUsage = field(init=False)
    onset: float = 0.0

    def __post_init__(self) -> None:
        self.detector = LinkOverUsage.for_monitor(self.monitor)

    async def observe(self) -> UsageEvent | None:
        """Feed the last step's load; an event when the link's state flips."""
        event = self.detector.update(await self.plane.load(*self.monitor.link))
        if event is UsageEvent.OVER:
            now = await self.plane.now()
            self.onset = now - self.detector.consecutive * self.plane.step_seconds
        return event


@dataclass
class RateLimiterVNF:
    """limitLink, limitIP, blockFlow and their removal (Table 5.1)."""

    plane: Controller

    async def limit_link(self, a: str, b: str, share: float) -> tuple[int, float]:
        """Cap link a→b at `share` of its current rate; returns (rule id, cap MB/s)."""
        cap = share * await self.plane.rate(a, b)
        return await self.plane.add_rule(LinkRateLimit(a, b, cap)), cap

    async def limit_ip(self, node: str, a: str, b: str, ip: str, share: float) -> tuple[int, float]:
        """Cap traffic to `ip` at `node` at `share` of what link a→b carries now."""
        cap = share * await self.plane.rate(a, b)
        return await self.plane.add_rule(IpRateLimit(node, ip, cap)), cap

    async def block_flow(self, src_ip: str, dst_ip: str) -> tuple[int, str]:
        """Drop a flow where it enters the network, so it loads no link on its way to
        the victim (003 drops it at the victim's switch); returns (rule id, node)."""
        node = await self.plane.ingress(src_ip)
        return await self.plane.add_rule(FlowBlock(node, src_ip, dst_ip)), node

    async def remove(self, rule_id: int) -> None:
        """Take a rule out of the switch."""
        await self.plane.remove_rule(rule_id)


@dataclass
class AnomalyDetectorVNF:
    """detectIntrusion(link): destinations whose rate is an outlier (Table 5.3)."""

    plane: Controller

    async def detect(
        self, node: str, since: float, part: int | None = None, parts: int = 1
    ) -> list[str]:
        """Outlier destination IPs at `node`, each against its own history before `since`.

        On one part of a split link (LoadBalanceLink) only the server's flows of that part
        are seen; flows are hashed evenly over the parts, so the baseline is the server's
        history divided by `parts`.
        """
        history = await self.plane.destination_rates(node)
        cut = max(0, int(since / self.plane.step_seconds))
        if part is None:
            current = {dst: _recent(rates) for dst, rates in history.items()}
            baseline = {dst: rates[:cut] for dst, rates in history.items()}
        else:
            ip = self.plane.server_ip
            flows = await self.plane.flows_via(node, ip, part)
            current = {ip: sum(stats.last.rate for stats in flows)}
            baseline = {ip: [r / parts for r in history.get(ip, [])[:cut]]}
        return detect_intrusion(current, baseline)


def _recent(rates: list[float], steps: int = 3) -> float:
    """Mean of the last few steps, so one jittery step does not decide."""
    tail = rates[-steps:]
    return sum(tail) / len(tail) if tail else 0.0


@dataclass
class ClassifierVNF:
    """classifyFlows(ip): the sources of malicious flows towards `ip` (Table 5.4)."""

    plane: Controller

    async def malicious_sources(self, node: str, ip: str, part: int | None) -> list[str]:
        """Source addresses of the flows to `ip` (split part `part`) judged SYN floods."""
        flows = classify_flows(await self.plane.flows_via(node, ip, part))
        return sorted({stats.flow.src_ip for stats in flows})


@dataclass
class LoadBalancerVNF:
    """splitTrafficTowardsIp / splitTrafficLink (Table 5.5)."""

    plane: Controller

    async def split(self, node: str, ip: str, parts: int) -> int:
        """Divide the flows to `ip` at `node` into `parts` groups."""
        return await self.plane.add_rule(TrafficSplit(node, ip, parts))

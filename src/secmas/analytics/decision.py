"""The Decision Engine (DE): from an analytics insight to the goals that mitigate it.

`002_…` (Section II.A) has the DE pick the mitigation and the Enforcement Service turn it
into actions. Here the DE's output is always a goal for the agents, never an action: the
agents auction the goal, so the winner of NFV-A places whatever VNF the action needs and
the auction stays the only orchestrator.

Node-level rules (`decide`), after Table 4 of `004_…` and the DDoS strategy of `003_…`,
first match wins (n counts the goal's enforcements for the CNF, so a later incident gets
a fresh goal rather than one the agent already believes achieved):

1. the watched link towards the CNF is over its threshold → linkRateLimited(link) and
   ?anomalousUsage(link): a volumetric flood, Section 5.1's strategy;
2. profiler says normal → nothing: the second stage overturned a false positive;
3. high_cpu → cnfScaledOut(cnf, r): Horizontal Pod Autoscaler (r = new replica count),
   or cnfMigrated(cnf, n) once the CNF has `MAX_REPLICAS` (the hog is in the instance);
4. traffic_spike, load_step → cnfScaledOut(cnf, r) and cnfGuarded(cnf, n): replicas
   absorb the load, a guard drops abusive sources if there are any;
5. high_memory, network_latency → cnfMigrated(cnf, n): a fresh instance (restart within
   limits), rescheduled elsewhere (topology-aware scheduling);
6. unknown, a network anomaly (`anomaly_kind`: a traffic feature `STRONG` times beyond
   its own limit, and no host resource more than `HOST_MARGIN` times further out; or,
   nothing strong, a traffic feature beyond its limit and ahead of every host one) →
   cnfGuarded(cnf, n), plus cnfScaledOut when CPU or load is strong too: an
   application-layer attack (HTTP flood, Slowloris, SYN flood reaching the CNF); the guard
   comes first because it is harmless when nobody is abusive;
7. unknown, a latency feature `STRONG` times beyond its limit → cnfMigrated(cnf, n);
8. unknown otherwise (a host or process anomaly: a hog, a leak, or nothing clear that
   the traffic leads) → cnfIsolated(cnf, n): quarantine the suspect instance.

The remedy follows the kind of the anomaly, not whichever rule catches it last: a flood
makes the CNF busy too, so the traffic group wins unless the host's resources are far
further out (a CPU hog or memory leak that merely leaves a connection count the detector
never saw move). A feature's severity is its error over its own limit (the same
percentile of its training errors); one that barely varied in training is judged against
the window threshold and capped at `STRONG` (`WindowDetector.severity`), so it can tip
no choice on its own.

The slice-level loop (`SliceLoop`, Figure 2 of `002_…`) aggregates the node-level alerts
of several CNFs: when at least `min_cnfs` CNFs of the slice alert within `window`
simulated seconds, it scales out the slice's other CNFs ahead of the attack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from secmas.analytics.scoring import FLAT_CAP

TRAFFIC_FEATURES = frozenset({"net_rx", "net_tx", "connections", "error_rate", "throughput"})
"""Features that point at the traffic a CNF receives rather than at the CNF itself."""
LATENCY_FEATURES = frozenset({"latency_p50", "latency_p90", "latency_p99"})
HOST_FEATURES = frozenset({"cpu", "load", "memory_rss", "memory_vsize", "disk_read", "disk_write"})
"""Features that point at the CNF's host resources: what a hog or a leak inside it uses."""
HOST_MARGIN = 4.0
"""How many times further out than the strongest traffic feature the host's resources must
be for a window with strong traffic to read as a host anomaly rather than a flood."""
MAX_REPLICAS = 3
"""The autoscaler's ceiling (an HPA's maxReplicas): past it, scaling stops."""
STRONG = FLAT_CAP
"""Severity (error over the feature's own limit) that counts as strongly elevated: the
cap of a feature that barely varied in training (`scoring.FLAT_CAP`)."""


@dataclass(frozen=True)
class Alert:
    """A node-level insight: the analytics engine flagged one window of one CNF."""

    time: float
    cnf: str
    pop: str
    score: float
    threshold: float
    features: tuple[tuple[str, float], ...]
    """Per-feature reconstruction errors, largest first (the alert's explanation)."""
    profile: str = ""
    """The two-stage profiler's class for the window ('' when no profiler runs)."""
    link_over: bool = False
    """Whether the watched link towards the CNF's host is over its threshold now."""
    severity: tuple[tuple[str, float], ...] = ()
    """Per feature: its error over its own training limit, largest first."""
    source: str = "autoencoder"
    """What raised it: the autoencoder's threshold, the profiler's confirmed verdict, or
    the detection channel that fired first (`channels.Channels`: level, onset, model)."""
    channels: tuple[dict[str, Any], ...] = ()
    """The channels firing when it was raised: alert, value, limit and ratio (value over
    limit), most out of line first."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = [[name, round(error, 4)] for name, error in self.features]
        data["severity"] = [[name, round(ratio, 2)] for name, ratio in self.severity]
        return data


@dataclass(frozen=True)
class Mitigation:
    """A goal the DE hands to an agent, with the rule that chose it."""

    goal: str
    args: tuple[str, ...]
    kind: Literal["achieve", "query"] = "achieve"
    reason: str = ""

    @property
    def label(self) -> str:
        prefix = "?" if self.kind == "query" else ""
        return f"{prefix}{self.goal}({','.join(self.args)})"


def _level(alert: Alert, group: frozenset[str]) -> float:
    """How far out the group's worst feature is: its severity, or without per-feature
    limits its error over the alert's threshold (0 when none of the group is named)."""
    if alert.severity:
        return max((ratio for name, ratio in alert.severity if name in group), default=0.0)
    scale = max(alert.threshold, 1e-12)
    return max((error / scale for name, error in alert.features if name in group), default=0.0)


def _strong(alert: Alert, group: frozenset[str]) -> bool:
    """Whether a feature of `group` is strongly elevated (severity ≥ `STRONG`)."""
    return _level(alert, group) >= STRONG


AnomalyKind = Literal["network", "latency", "host"]


def anomaly_kind(alert: Alert) -> AnomalyKind:
    """What an unprofiled alert is: a network anomaly when a traffic feature is strong and
    the host's resources are not `HOST_MARGIN` times further out; else a latency one when
    a latency feature is strong; else, nothing strong, a network one when a traffic feature
    is out of its limit and leads the host's (a flood against a wide training spread);
    else a host (or unexplained) one."""
    traffic, host = _level(alert, TRAFFIC_FEATURES), _level(alert, HOST_FEATURES)
    if traffic >= STRONG and host <= HOST_MARGIN * traffic:
        return "network"
    if _strong(alert, LATENCY_FEATURES):
        return "latency"
    if host < STRONG and traffic > max(host, 1.0):
        return "network"
    return "host"


def decide(
    alert: Alert,
    link: str | None = None,
    replicas: int = 1,
    done: Mapping[str, int] | None = None,
) -> list[Mitigation]:
    """The node-level rules (module docstring). `link` is the watched link's name when a
    Link Monitor guards the CNF's host, `replicas` the CNF's replica count now, `done` how
    many times each goal was already enforced for this CNF."""
    done = done or {}

    def nth(goal: str, reason: str) -> Mitigation:
        return Mitigation(goal, (alert.cnf, str(done.get(goal, 0) + 1)), reason=reason)

    scale = Mitigation(
        "cnfScaledOut",
        (alert.cnf, str(replicas + 1)),
        reason="more replicas absorb the load (HPA)",
    )
    guard = nth("cnfGuarded", "a reverse proxy drops abusive sources")
    migrate = nth("cnfMigrated", "a fresh instance elsewhere")
    can_scale = replicas < MAX_REPLICAS
    if alert.link_over and link is not None:
        why = "the flood reaches the watched link: DDoS strategy (003_… Section 5.1)"
        return [
            Mitigation("linkRateLimited", (link,), reason=why),
            Mitigation("anomalousUsage", (link,), "query", reason=why),
        ]
    match alert.profile:
        case "normal":
            return []
        case "high_cpu":
            return [scale] if can_scale else [migrate]
        case "traffic_spike" | "load_step":
            return [scale, guard] if can_scale else [guard]
        case "high_memory" | "network_latency":
            return [migrate]
    match anomaly_kind(alert):
        case "network":
            busy = can_scale and _strong(alert, frozenset({"cpu", "load"}))
            return [guard, scale] if busy else [guard]
        case "latency":
            return [migrate]
    return [nth("cnfIsolated", "a host or unexplained anomaly: quarantine the instance")]


@dataclass
class SliceLoop:
    """The slice-level closed loop: acts on alerts of several CNFs of one slice."""

    cnfs: Sequence[str]
    window: float = 30.0
    min_cnfs: int = 2
    _alerts: list[Alert] = field(default_factory=list)
    _acted: bool = False

    def __post_init__(self) -> None:
        if self.min_cnfs < 2:
            raise ValueError("a slice-level incident needs at least two CNFs")
        if self.window <= 0:
            raise ValueError("the slice window must be positive")

    def insight(self, alert: Alert, replicas: Mapping[str, int]) -> list[Mitigation]:
        """Take one node-level alert; the slice-level goals it triggers, if any
        (`replicas`: each CNF's replica count now)."""
        self._alerts = [a for a in self._alerts if alert.time - a.time < self.window]
        self._alerts.append(alert)
        alerting = {a.cnf for a in self._alerts}
        if self._acted or len(alerting) < self.min_cnfs:
            return []
        self._acted = True
        why = f"{len(alerting)} CNFs of the slice alerted within {self.window:g} s"
        return [
            Mitigation("cnfScaledOut", (cnf, str(replicas.get(cnf, 1) + 1)), reason=why)
            for cnf in self.cnfs
            if cnf not in alerting
        ]

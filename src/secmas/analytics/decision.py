"""The Decision Engine (DE): from an analytics insight to the goals that mitigate it.

`002_…` (Section II.A) has the DE pick the mitigation and the Enforcement Service turn it
into actions. Here the DE's output is always a goal for the agents, never an action: the
agents auction the goal, so the winner of NFV-A places whatever VNF the action needs and
the auction stays the only orchestrator.

Node-level rules (`decide`), after Table 4 of `004_…` and the DDoS strategy of `003_…`,
first match wins:

1. the watched link towards the CNF is over its threshold → linkRateLimited(link) and
   ?anomalousUsage(link): a volumetric flood, Section 5.1's strategy;
2. profiler says normal → nothing: the second stage overturned a false positive;
3. high_cpu → cnfScaledOut(cnf, n): Horizontal Pod Autoscaler (n = new replica count),
   or cnfMigrated(cnf) once the CNF has `MAX_REPLICAS` (the hog is in the instance);
4. traffic_spike, load_step → cnfScaledOut(cnf, n) and cnfGuarded(cnf): replicas absorb
   the load, a guard drops abusive sources if there are any;
5. high_memory, network_latency → cnfMigrated(cnf): a fresh instance (restart within
   limits), rescheduled elsewhere (topology-aware scheduling);
6. unknown, and besides latency at most one feature is elevated (its error above its
   own training percentile) → cnfMigrated(cnf): the path or the node is slow;
7. unknown, at least as many traffic features as resource features elevated →
   cnfGuarded(cnf), plus cnfScaledOut when CPU or load is elevated: an application-layer
   attack (HTTP flood, Slowloris);
8. unknown otherwise → cnfIsolated(cnf): quarantine the suspect instance for the operator.

Counting elevated features, not summing their errors, keeps a feature that is nearly
constant in normal operation (its scaled error explodes) from outvoting the rest.

The slice-level loop (`SliceLoop`, Figure 2 of `002_…`) aggregates the node-level alerts
of several CNFs: when at least `min_cnfs` CNFs of the slice alert within `window`
simulated seconds, it scales out the slice's other CNFs ahead of the attack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TRAFFIC_FEATURES = frozenset({"net_rx", "net_tx", "connections", "error_rate", "throughput"})
"""Features that point at the traffic a CNF receives rather than at the CNF itself."""
RESOURCE_FEATURES = frozenset(
    {"cpu", "load", "memory_rss", "memory_vsize", "disk_read", "disk_write"}
)
"""Features that point at the CNF's own use of its node."""
LATENCY_FEATURES = frozenset({"latency_p50", "latency_p90", "latency_p99"})
MAX_REPLICAS = 3
"""The autoscaler's ceiling (an HPA's maxReplicas): past it, scaling stops."""


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
    elevated: tuple[str, ...] = ()
    """Features whose error is above their own training percentile."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = [[name, round(error, 4)] for name, error in self.features]
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


def _elevated(alert: Alert, group: frozenset[str]) -> int:
    """How many features of `group` are elevated: above their own limit when the detector
    has per-feature limits, else above the alert's (mean-error) threshold."""
    if alert.elevated:
        return len(group.intersection(alert.elevated))
    return sum(1 for name, error in alert.features if name in group and error > alert.threshold)


def decide(alert: Alert, link: str | None = None, replicas: int = 1) -> list[Mitigation]:
    """The node-level decision table (module docstring); `link` is the watched link's name
    when the scenario has a Link Monitor in front of the CNF, `replicas` how many the CNF
    has now (a scale-out asks for replica number replicas + 1)."""
    cnf = (alert.cnf,)
    scale = Mitigation(
        "cnfScaledOut",
        (alert.cnf, str(replicas + 1)),
        reason="more replicas absorb the load (HPA)",
    )
    guard = Mitigation("cnfGuarded", cnf, reason="a reverse proxy drops abusive sources")
    migrate = Mitigation("cnfMigrated", cnf, reason="a fresh instance elsewhere")
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
            return [scale] if replicas < MAX_REPLICAS else [migrate]
        case "traffic_spike" | "load_step":
            return [scale, guard] if replicas < MAX_REPLICAS else [guard]
        case "high_memory" | "network_latency":
            return [migrate]
    traffic = _elevated(alert, TRAFFIC_FEATURES)
    resource = _elevated(alert, RESOURCE_FEATURES)
    if _elevated(alert, LATENCY_FEATURES) and traffic + resource <= 1:
        return [migrate]
    if traffic and traffic >= resource:
        busy = _elevated(alert, frozenset({"cpu", "load"})) and replicas < MAX_REPLICAS
        return [guard, scale] if busy else [guard]
    return [Mitigation("cnfIsolated", cnf, reason="unexplained behaviour: quarantine")]


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

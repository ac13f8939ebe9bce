"""Flow-level data-plane simulator on a virtual clock, and the VNF algorithms on its data.

`DataPlane` turns a scenario's traffic section into per-step flow rates through the
network's links and switch rules, and samples the resource metrics of the scenario's
CNFs (`cnf`); `detectors` holds what the Link Monitor, Anomaly Detector and Classifier
compute from the statistics it exports.
"""

from secmas.network.dataplane.cnf import (
    METRICS,
    REMEDIES,
    Arrivals,
    CNFModel,
    CNFParams,
    CNFPlacement,
    known_conditions,
)
from secmas.network.dataplane.detectors import (
    LinkOverUsage,
    UsageEvent,
    classify_flows,
    detect_intrusion,
    is_syn_flood,
    normal_steps,
    robust_z,
)
from secmas.network.dataplane.flows import FlowKind
from secmas.network.dataplane.routing import Network, RouteTree, shortest_path_tree
from secmas.network.dataplane.rules import (
    FlowBlock,
    IpRateLimit,
    LinkRateLimit,
    Rule,
    Steer,
    TrafficSplit,
    split_part,
)
from secmas.network.dataplane.simulator import DataPlane, Drop
from secmas.network.dataplane.stats import Counters, FlowId, FlowStats, Telemetry
from secmas.network.dataplane.traffic import packet_bytes

__all__ = [
    "METRICS",
    "REMEDIES",
    "Arrivals",
    "CNFModel",
    "CNFParams",
    "CNFPlacement",
    "Counters",
    "DataPlane",
    "Drop",
    "FlowBlock",
    "FlowId",
    "FlowKind",
    "FlowStats",
    "IpRateLimit",
    "LinkOverUsage",
    "LinkRateLimit",
    "Network",
    "RouteTree",
    "Rule",
    "Steer",
    "Telemetry",
    "TrafficSplit",
    "UsageEvent",
    "classify_flows",
    "detect_intrusion",
    "is_syn_flood",
    "known_conditions",
    "normal_steps",
    "packet_bytes",
    "robust_z",
    "shortest_path_tree",
    "split_part",
]

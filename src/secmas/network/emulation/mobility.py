"""Where moving CNFs live on the emulated network and what they carry: pure computation.

Addresses (outside every range `plan.py` hands out, 10.251.0.0/16):

- each PoP gets a PoP address 10.251.1.i on its loopback, routed from every node along
  the lowest-latency tree, as the scenario's addresses are: a migration's state crosses
  the real, shaped links from the source PoP's address to the destination's;
- each moving CNF gets a service address 10.251.0.k that moves with it: on the loopback
  of the PoP it runs at, and a /32 route towards that PoP in every other node. A move
  adds it at the destination and re-points every node's route (`routes_towards`), so
  clients keep one address whatever the PoP.

The CNF's state is sized from the load the migration model is given, at the plan's
scale as the traffic is (`state_shape`): resident memory M MB → M × scale MB of
sessions of one page each, of which the working set is rewritten at the model's dirty
rate; disk writes → log appends at disk MB/s × scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from itertools import pairwise

from secmas.network.dataplane.routing import Network, shortest_path_tree
from secmas.network.dataplane.stats import BYTES_PER_MB
from secmas.network.emulation.errors import PlanError
from secmas.network.emulation.plan import MBIT_PER_MB, EmulationPlan

MOBILE_NET = IPv4Network("10.251.0.0/16")
CNF_NET = IPv4Network("10.251.0.0/24")
POP_NET = IPv4Network("10.251.1.0/24")
PAGE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class NodeRoute:
    """At `node`, `address`/32 leaves on `intf` towards `via` (None: it is local here)."""

    node: str
    via: str | None
    intf: str | None


@dataclass(frozen=True, slots=True)
class StateShape:
    """How much state a CNF instance holds and how fast it changes (real bytes)."""

    sessions: int
    value_bytes: int
    working_set: float
    dirty_bytes_per_s: float
    log_bytes_per_s: float

    @property
    def state_bytes(self) -> int:
        return self.sessions * self.value_bytes


def state_shape(
    memory_mb: float,
    dirty_mbps: float,
    disk_mbps: float,
    scale: float,
    working_set: float = 0.5,
    value_bytes: int = PAGE_BYTES,
) -> StateShape:
    """The emulated state of a CNF with `memory_mb` resident, `dirty_mbps` of its pages
    rewritten (the model's dirty rate) and `disk_mbps` of disk writes, at `scale`."""
    if min(memory_mb, dirty_mbps, disk_mbps) < 0 or not 0 < scale <= 1:
        raise ValueError("state_shape: sizes and rates must be ≥ 0 and scale in (0, 1]")
    sessions = max(1, round(memory_mb * scale * BYTES_PER_MB / value_bytes))
    return StateShape(
        sessions=sessions,
        value_bytes=value_bytes,
        working_set=working_set,
        dirty_bytes_per_s=dirty_mbps * scale * BYTES_PER_MB,
        log_bytes_per_s=disk_mbps * scale * BYTES_PER_MB,
    )


def check_free(plan: EmulationPlan) -> None:
    """PlanError if the scenario already uses an address of the mobile range."""
    used = [*plan.host_ips.values(), *(a for g in plan.groups for a in g.addresses)]
    clashing = sorted(a for a in used if IPv4Address(a) in MOBILE_NET)
    if clashing:
        raise PlanError(
            f"addresses {', '.join(clashing[:3])} are in {MOBILE_NET}, which moving CNFs use"
        )


def cnf_address(index: int) -> str:
    """The service address of the `index`-th moving CNF."""
    if not 0 <= index < CNF_NET.num_addresses - 2:
        raise PlanError(f"at most {CNF_NET.num_addresses - 2} moving CNFs")
    return str(CNF_NET.network_address + index + 1)


def pop_addresses(plan: EmulationPlan) -> dict[str, str]:
    """Every router node's (PoP's or switch's) address for state transfers."""
    nodes = list(plan.routers)
    if len(nodes) > POP_NET.num_addresses - 2:
        raise PlanError(f"more than {POP_NET.num_addresses - 2} PoPs for moving CNFs")
    return {node: str(POP_NET.network_address + i + 1) for i, node in enumerate(nodes)}


def routes_towards(plan: EmulationPlan, network: Network, pop: str) -> list[NodeRoute]:
    """How every router node reaches an address that lives at `pop` (lowest latency, as
    the scenario's addresses are routed); unreachable nodes are left out."""
    tree = shortest_path_tree(network, pop)
    routes = []
    for node in plan.routers:
        if node == pop:
            routes.append(NodeRoute(node, None, None))
        elif node in tree.depth:
            hop = tree.next_hop[node]
            routes.append(NodeRoute(node, plan.port(hop, node).ip, plan.port(node, hop).intf))
    return routes


def path_bytes_per_s(plan: EmulationPlan, network: Network, source: str, pop: str) -> float:
    """Real bytes a second of the narrowest emulated link on the routed path source→pop."""
    path = shortest_path_tree(network, pop).path(source)
    mbit = {frozenset((link.a.node, link.b.node)): link.mbit for link in plan.links}
    narrowest = min(mbit[frozenset(hop)] for hop in pairwise(path))
    return narrowest * BYTES_PER_MB / MBIT_PER_MB


def route_commands(route: NodeRoute, address: str) -> list[str]:
    """`ip -batch` lines that make `route` the node's way to `address`."""
    if route.via is None:
        return [f"addr replace {address}/32 dev lo", f"route flush {address}/32 table main"]
    return [
        f"addr flush to {address}/32 dev lo",
        f"route replace {address}/32 via {route.via} dev {route.intf}",
    ]

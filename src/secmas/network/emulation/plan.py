"""What the emulated network of a scenario is made of: pure computation, no I/O.

Every PoP and switch of the scenario becomes a routing namespace (a Mininet host with IP
forwarding and its own nftables); every scenario host (the server) a host namespace on
its scenario link; the background clients and the attackers that sit behind one node
become one client-group and one attacker-group namespace, holding all their scenario
addresses, on a LinuxBridge access switch attached to that node. Every scenario link
is a veth pair shaped by `TCLink` to `scale` × its bandwidth.

Names are `<prefix><kind><index>` with a run prefix of five characters, so interface
names (`<node>-eth<k>`) fit Linux's 15 characters and one run's objects never collide
with another's (`registry.py` removes what a dead run left by that prefix).

Addresses: scenario links get 172.16.0.0/12 point-to-point /30s; access LANs 10.250.N.0/24
(router .1, client group .2, attacker group .3); scenario addresses (server, clients
10.1.x.y, attackers 10.66.x.y or a spoofed prefix) are /32s routed hop by hop along the
lowest-latency path, exactly the route the simulator's traffic takes towards the server.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from secmas.network.dataplane.routing import Network, shortest_path_tree
from secmas.network.dataplane.traffic import FlowKind, FlowSpec, scenario_flows, server_ip
from secmas.network.emulation.errors import PlanError
from secmas.scenario.model import Scenario

PREFIX_LENGTH = 5
LINK_NET = IPv4Network("172.16.0.0/12")
ACCESS_NET = IPv4Network("10.250.0.0/16")
MBIT_PER_MB = 8.0


def new_prefix() -> str:
    """A fresh run prefix: 's' and four random lowercase letters or digits."""
    alphabet = string.ascii_lowercase + string.digits
    return "s" + "".join(secrets.choice(alphabet) for _ in range(PREFIX_LENGTH - 1))


@dataclass(frozen=True, slots=True)
class Port:
    """One end of a link: the node, its interface name and its address (with length)."""

    node: str
    intf: str
    address: str

    @property
    def ip(self) -> str:
        """The address without its prefix length."""
        return self.address.split("/")[0]


@dataclass(frozen=True, slots=True)
class LinkPlan:
    """A scenario link as a shaped veth pair; `mbit` is its emulated bandwidth."""

    a: Port
    b: Port
    mbit: float


@dataclass(frozen=True, slots=True)
class Route:
    """`dst` (a /32) leaves `node` to `via` on `intf`."""

    dst: str
    via: str
    intf: str


@dataclass(frozen=True, slots=True)
class Client:
    """A background client: its address, kind and what it fetches per request."""

    ip: str
    kind: FlowKind
    port: int
    rate: float
    """Scenario MB/s."""


@dataclass(frozen=True, slots=True)
class Attacker:
    """An attacker: its (possibly spoofed) source, the ports and scenario MB/s per port."""

    ip: str
    ports: tuple[int, ...]
    rate: float
    start: float
    stop: float | None


@dataclass(slots=True)
class Group:
    """A namespace holding the clients or attackers behind one node, on its access LAN."""

    name: str
    attach: str
    router_port: Port
    port: Port
    bridge: str
    clients: list[Client] = field(default_factory=list)
    attackers: list[Attacker] = field(default_factory=list)

    @property
    def addresses(self) -> list[str]:
        """The scenario addresses this namespace sends from."""
        return [c.ip for c in self.clients] + [a.ip for a in self.attackers]


@dataclass(slots=True)
class EmulationPlan:
    """Names, addresses, links and routes of one run's network."""

    prefix: str
    scale: float
    server: str
    server_ip: str
    routers: dict[str, str]
    """Scenario PoP/switch id → namespace name."""
    hosts: dict[str, str]
    """Scenario host id → namespace name."""
    host_ips: dict[str, str]
    links: list[LinkPlan]
    groups: list[Group]
    bridges: list[str]
    routes: dict[str, list[Route]]
    """Scenario node (router or host) → its /32 routes."""
    defaults: dict[str, str]
    """Host or group namespace name → its default gateway."""
    ingress: dict[str, str]
    """Scenario source address → the node where it enters the network."""
    ports: dict[tuple[str, str], Port] = field(default_factory=dict)
    """(scenario node, neighbour) → the node's port towards the neighbour."""

    def name(self, node: str) -> str:
        """The namespace of a scenario node."""
        if node in self.routers:
            return self.routers[node]
        if node in self.hosts:
            return self.hosts[node]
        raise KeyError(f"unknown node {node!r}")

    def port(self, node: str, neighbour: str) -> Port:
        """The port of `node` on its link to `neighbour`."""
        try:
            return self.ports[node, neighbour]
        except KeyError:
            raise KeyError(f"no link {node!r}→{neighbour!r}") from None

    @property
    def attack_sources(self) -> list[str]:
        """Ground truth, for reports only: every attacker's source address."""
        return [a.ip for g in self.groups for a in g.attackers]

    @property
    def namespaces(self) -> list[str]:
        """Every namespace name of the run."""
        return [*self.routers.values(), *self.hosts.values(), *(g.name for g in self.groups)]


def emulation_plan(scenario: Scenario, prefix: str | None = None) -> EmulationPlan:
    """The network one run of `scenario` builds; PlanError when it cannot be emulated."""
    prefix = prefix or new_prefix()
    if len(prefix) != PREFIX_LENGTH or not prefix.isalnum():
        raise PlanError(f"run prefix must be {PREFIX_LENGTH} letters or digits, got {prefix!r}")
    traffic = scenario.traffic
    if traffic is None:
        raise PlanError(f"scenario {scenario.id!r} has no traffic section to emulate")
    if scenario.attack is not None and scenario.attack.kind != "syn_flood":
        raise PlanError(
            f"attack.kind {scenario.attack.kind!r}: the emulated engine sends SYN floods only"
        )
    if len(scenario.pops) + len(scenario.switches) > 200:
        raise PlanError("more than 200 PoPs and switches: use the simulator for this size")
    routers = {
        node: f"{prefix}r{i}"
        for i, node in enumerate([p.id for p in scenario.pops] + [s.id for s in scenario.switches])
    }
    hosts = {h.id: f"{prefix}h{i}" for i, h in enumerate(scenario.hosts)}
    host_ips = _host_ips(scenario)
    links, ports = _links(scenario, routers, hosts, scenario.network.scale)
    flows = scenario_flows(scenario)
    groups, bridges = _groups(prefix, flows, routers)
    ingress = {spec.id.src_ip: spec.attach for spec in flows}
    plan = EmulationPlan(
        prefix=prefix,
        scale=scenario.network.scale,
        server=traffic.server,
        server_ip=server_ip(scenario),
        routers=routers,
        hosts=hosts,
        host_ips=host_ips,
        links=links,
        groups=groups,
        bridges=bridges,
        routes={},
        defaults={},
        ingress=ingress,
        ports=ports,
    )
    _route(plan, scenario)
    return plan


def _host_ips(scenario: Scenario) -> dict[str, str]:
    """Every scenario host's address: its own, the traffic server's default, or none."""
    ips = {h.id: h.ip for h in scenario.hosts if h.ip}
    if scenario.traffic is not None:
        ips[scenario.traffic.server] = server_ip(scenario)
    return ips


def _links(
    scenario: Scenario, routers: dict[str, str], hosts: dict[str, str], scale: float
) -> tuple[list[LinkPlan], dict[tuple[str, str], Port]]:
    subnets = LINK_NET.subnets(new_prefix=30)
    names = routers | hosts
    counts: dict[str, int] = {}
    links: list[LinkPlan] = []
    ports: dict[tuple[str, str], Port] = {}

    def port(node: str, address: IPv4Address) -> Port:
        index = counts.get(node, 0)
        counts[node] = index + 1
        return Port(node, f"{names[node]}-eth{index}", f"{address}/30")

    for link in scenario.links:
        if link.a in hosts and link.b in hosts:
            raise PlanError(f"link {link.a}–{link.b} joins two hosts: attach hosts to a node")
        net = next(subnets)
        first, second = list(net.hosts())
        a, b = port(link.a, first), port(link.b, second)
        links.append(LinkPlan(a, b, link.bandwidth * scale * MBIT_PER_MB))
        ports[link.a, link.b], ports[link.b, link.a] = a, b
    for node in names:
        counts.setdefault(node, 0)
    for host in scenario.hosts:
        if (host.id, host.attach) not in ports:
            raise PlanError(f"host {host.id!r} has no link to {host.attach!r} to emulate")
    return links, ports


def _groups(
    prefix: str, flows: Iterable[FlowSpec], routers: dict[str, str]
) -> tuple[list[Group], list[str]]:
    """One client group and one attacker group per attach node, on one access bridge."""
    by_node: dict[str, dict[str, Group]] = {}
    bridges: dict[str, str] = {}
    lans = ACCESS_NET.subnets(new_prefix=24)
    for spec in flows:
        if spec.attach not in routers:
            raise PlanError(f"traffic attaches to {spec.attach!r}, which is not a PoP or switch")
        if spec.attach not in bridges:
            index = len(bridges)
            bridges[spec.attach] = f"{prefix}b{index}"
            lan = list(next(lans).hosts())
            name = routers[spec.attach]
            router_port = Port(spec.attach, f"{name}-lan", f"{lan[0]}/24")
            by_node[spec.attach] = {
                kind: Group(
                    f"{prefix}{kind[0]}{index}",
                    spec.attach,
                    router_port,
                    Port(spec.attach, f"{prefix}{kind[0]}{index}-eth0", f"{lan[offset]}/24"),
                    bridges[spec.attach],
                )
                for kind, offset in (("client", 1), ("attack", 2))
            }
        groups = by_node[spec.attach]
        if spec.is_attack:
            _add_attacker(groups["attack"], spec)
        else:
            groups["client"].clients.append(
                Client(spec.id.src_ip, spec.kind, spec.id.port, spec.rate)
            )
    every = [g for groups in by_node.values() for g in groups.values() if g.addresses]
    return every, list(bridges.values())


def _add_attacker(group: Group, spec: FlowSpec) -> None:
    """One attacker per source address; its flows (one per port) merge into it."""
    stop = None if spec.stop == float("inf") else spec.stop
    for index, attacker in enumerate(group.attackers):
        if attacker.ip == spec.id.src_ip:
            group.attackers[index] = Attacker(
                attacker.ip, (*attacker.ports, spec.id.port), attacker.rate, spec.start, stop
            )
            return
    group.attackers.append(Attacker(spec.id.src_ip, (spec.id.port,), spec.rate, spec.start, stop))


def _route(plan: EmulationPlan, scenario: Scenario) -> None:
    """Per-node /32 routes to every scenario address along lowest-latency paths, and each
    host's and group's default gateway."""
    network = Network.from_scenario(scenario)
    destinations: dict[str, list[str]] = {}
    for host, ip in plan.host_ips.items():
        destinations.setdefault(host, []).append(ip)
    group_of: dict[str, Group] = {}
    for group in plan.groups:
        destinations.setdefault(group.attach, [])
        destinations[group.attach] += group.addresses
        for address in group.addresses:
            group_of[address] = group
    routes: dict[str, list[Route]] = {node: [] for node in plan.routers}
    for root, addresses in destinations.items():
        tree = shortest_path_tree(network, root)
        for node in plan.routers:
            if node not in tree.depth:
                continue
            for address in addresses:
                if node == root:
                    group = group_of[address]
                    routes[node].append(Route(address, group.port.ip, group.router_port.intf))
                else:
                    hop = tree.next_hop[node]
                    out = plan.port(node, hop)
                    routes[node].append(Route(address, plan.port(hop, node).ip, out.intf))
    plan.routes = routes
    for host, name in plan.hosts.items():
        attach = next(h.attach for h in scenario.hosts if h.id == host)
        plan.defaults[name] = plan.port(attach, host).ip
    for group in plan.groups:
        plan.defaults[group.name] = group.router_port.ip

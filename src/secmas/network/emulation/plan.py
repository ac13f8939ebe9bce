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

Every PoP has an address of its own (10.251.0.N/32 on its router's loopback), routed hop
by hop along lowest-latency paths like the scenario addresses: the VNF registry listens
on the repository PoP's, and the PoPs pull their VNFs' images to theirs, over the same
links as the traffic. With agents as processes in their PoPs (`control=True`) the plan
adds a control host (`ControlHost`): a namespace on a shaped link to the node the traffic
server hangs off, which serves the run's bus and ledger; each agent's control traffic
leaves from its PoP's address, so its messages share the scenario's links with the
traffic, flood included. A management link (a veth from
the root namespace, 10.254.x.y/30 chosen from the prefix, unshaped) lets the MLFO reach
the control host without entering the emulated network.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Network

from secmas.network.attack import attack_kind
from secmas.network.dataplane.flows import FlowKind, FlowSpec
from secmas.network.dataplane.routing import Network, shortest_path_tree
from secmas.network.dataplane.traffic import scenario_flows, server_ip
from secmas.network.emulation.errors import PlanError
from secmas.scenario.model import Scenario

PREFIX_LENGTH = 5
LINK_NET = IPv4Network("172.16.0.0/12")
ACCESS_NET = IPv4Network("10.250.0.0/16")
AGENT_NET = IPv4Network("10.251.0.0/16")
MANAGEMENT_NET = IPv4Network("10.254.0.0/16")
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
    """A scenario link as a shaped veth pair; `mbit` is its emulated bandwidth,
    `latency_ms` the scenario's latency (delayed where the kernel can,
    `secmas.network.emulation.latency`)."""

    a: Port
    b: Port
    mbit: float
    latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Route:
    """`dst` (a /32) leaves `node` to `via` on `intf`."""

    dst: str
    via: str
    intf: str
    src: str | None = None
    """The source address this node's own sockets use on the route (None: the kernel's)."""


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
    """An attacker: its (possibly spoofed) source, the ports and scenario MB/s per port,
    and what it sends."""

    ip: str
    ports: tuple[int, ...]
    rate: float
    start: float
    stop: float | None
    kind: str
    """The attack it sends (`secmas.network.attack.Sender`)."""


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
        """The scenario addresses this namespace sends from, each once."""
        return list(dict.fromkeys([c.ip for c in self.clients] + [a.ip for a in self.attackers]))


@dataclass(frozen=True, slots=True)
class ControlHost:
    """The namespace serving a run's bus and ledger to agents in their PoPs (module
    docstring): `link` joins `attach` (its `a` end) to it (`b`); the management veth
    joins `root_port` (in the root namespace) to `management_port`; `agents` maps each
    PoP to the address its agent sends from."""

    name: str
    attach: str
    link: LinkPlan
    root_port: Port
    management_port: Port
    agents: dict[str, str]

    @property
    def ip(self) -> str:
        """Where agents reach the control host: its end of the shaped link."""
        return self.link.b.ip


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
    control: ControlHost | None = None
    """The control host of a run with agents in their PoPs (None: agents in one process)."""
    pop_addresses: dict[str, str] = field(default_factory=dict)
    """PoP → its own address (10.251.0.N/32 on its router's loopback), routed from every
    node: what its agent speaks from, and where its VNF registry or pulls are reached."""

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

    def path_to(self, start: str, address: str) -> tuple[str, ...]:
        """The nodes a packet from router `start` to `address` crosses by the plan's
        routes, both ends' routers included: where it is delivered is the last one (a
        router without a route to `address`, which owns it or hands it to a host)."""
        owner = {port.ip: port.node for link in self.links for port in (link.a, link.b)}
        path = [start]
        while True:
            route = next((r for r in self.routes.get(path[-1], []) if r.dst == address), None)
            if route is None:
                return tuple(path)
            hop = owner.get(route.via)
            if hop is None or hop not in self.routers or hop in path:
                return tuple(path)
            path.append(hop)

    @property
    def attack_sources(self) -> list[str]:
        """Ground truth, for reports only: every attacker's source address, each once."""
        return list(dict.fromkeys(a.ip for g in self.groups for a in g.attackers))

    @property
    def namespaces(self) -> list[str]:
        """Every namespace name of the run."""
        control = [] if self.control is None else [self.control.name]
        names = [*self.routers.values(), *self.hosts.values(), *(g.name for g in self.groups)]
        return names + control


def emulation_plan(
    scenario: Scenario, prefix: str | None = None, *, control: bool = False
) -> EmulationPlan:
    """The network one run of `scenario` builds, with a control host when `control`
    (agents as processes in their PoPs); PlanError when it cannot be emulated."""
    prefix = prefix or new_prefix()
    if len(prefix) != PREFIX_LENGTH or not prefix.isalnum():
        raise PlanError(f"run prefix must be {PREFIX_LENGTH} letters or digits, got {prefix!r}")
    traffic = scenario.traffic
    if traffic is None:
        raise PlanError(f"scenario {scenario.id!r} has no traffic section to emulate")
    if scenario.attack is not None and not attack_kind(scenario.attack.kind).emulated:
        raise PlanError(
            f"attack.kind {scenario.attack.kind!r}: the emulated engine does not launch it "
            "(the simulator does)"
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
        pop_addresses={p.id: str(AGENT_NET[i + 1]) for i, p in enumerate(scenario.pops)},
    )
    if control:
        plan.control = _control_host(plan, scenario, len(links))
    _route(plan, scenario)
    return plan


def _control_host(plan: EmulationPlan, scenario: Scenario, links: int) -> ControlHost:
    """The control host beside the traffic server's node, on a link as wide as that
    node's widest, with the next free link /30; the management /30 from the prefix."""
    server = next(h for h in scenario.hosts if h.id == plan.server)
    attach = server.attach
    name = f"{plan.prefix}ctl"
    first, second = _slash30(LINK_NET, links)
    widest = max(link.bandwidth for link in scenario.links if attach in (link.a, link.b))
    link = LinkPlan(
        Port(attach, f"{plan.name(attach)}-ctl", f"{first}/30"),
        Port(name, f"{name}-eth0", f"{second}/30"),
        widest * plan.scale * MBIT_PER_MB,
    )
    near, far = _slash30(MANAGEMENT_NET, int(plan.prefix, 36))
    return ControlHost(
        name,
        attach,
        link,
        Port("", f"{plan.prefix}mgmt", f"{near}/30"),
        Port(name, f"{name}-mg", f"{far}/30"),
        plan.pop_addresses,
    )


def _slash30(net: IPv4Network, index: int) -> tuple[IPv4Address, IPv4Address]:
    """The two host addresses of the `index`-th /30 of `net` (modulo its size)."""
    base = int(net.network_address) + 4 * (index % (net.num_addresses // 4))
    return IPv4Address(base + 1), IPv4Address(base + 2)


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
        links.append(LinkPlan(a, b, link.bandwidth * scale * MBIT_PER_MB, link.latency))
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
                Client(spec.id.src_ip, FlowKind(spec.kind), spec.id.port, spec.rate)
            )
    every = [g for groups in by_node.values() for g in groups.values() if g.addresses]
    return every, list(bridges.values())


def _add_attacker(group: Group, spec: FlowSpec) -> None:
    """One attacker per source address and window: the flows of one window (one per port)
    merge into it, and a source that sends in several windows (a pulsing attack's bot,
    burst after burst) is an attacker in each."""
    stop = None if spec.stop == float("inf") else spec.stop
    for index, attacker in enumerate(group.attackers):
        if attacker.ip == spec.id.src_ip and (attacker.start, attacker.stop) == (spec.start, stop):
            ports = (*attacker.ports, spec.id.port)
            group.attackers[index] = Attacker(
                attacker.ip, ports, attacker.rate, spec.start, stop, spec.kind
            )
            return
    group.attackers.append(
        Attacker(spec.id.src_ip, (spec.id.port,), spec.rate, spec.start, stop, spec.kind)
    )


def _route(plan: EmulationPlan, scenario: Scenario) -> None:
    """Per-node /32 routes to every scenario address and PoP address (and to the control
    host, with one) along lowest-latency paths, and each host's and group's default
    gateway."""
    network = Network.from_scenario(scenario)
    rooted = _destinations(plan)
    routes: dict[str, list[Route]] = {node: [] for node in plan.routers}
    for root, addresses in rooted.items():
        tree = shortest_path_tree(network, root)
        for node in plan.routers:
            if node not in tree.depth:
                continue
            for address, own in addresses.items():
                if node != root:
                    hop = tree.next_hop[node]
                    own = Route(address, plan.port(hop, node).ip, plan.port(node, hop).intf)
                if own is not None:
                    routes[node].append(own)
    plan.routes = routes
    for host, name in plan.hosts.items():
        attach = next(h.attach for h in scenario.hosts if h.id == host)
        plan.defaults[name] = plan.port(attach, host).ip
    for group in plan.groups:
        plan.defaults[group.name] = group.router_port.ip
    control = plan.control
    if control is not None:
        plan.defaults[control.name] = control.link.a.ip
    # a PoP speaks to the control host and to other PoPs from its own address, which every
    # node routes (its link addresses are known to its neighbours only)
    own_addressed = set(plan.pop_addresses.values()) | ({control.ip} if control else set())
    for node, own in routes.items():
        source = plan.pop_addresses.get(node)
        if source is not None:
            routes[node] = [replace(r, src=source) if r.dst in own_addressed else r for r in own]


def _destinations(plan: EmulationPlan) -> dict[str, dict[str, Route | None]]:
    """Each address to route, under the node its routes are rooted at, with that node's
    own route to it (None: the node reaches it without one, as a host or its own)."""
    rooted: dict[str, dict[str, Route | None]] = {}
    for host, ip in plan.host_ips.items():
        rooted.setdefault(host, {})[ip] = None
    for group in plan.groups:
        for address in group.addresses:
            own = Route(address, group.port.ip, group.router_port.intf)
            rooted.setdefault(group.attach, {})[address] = own
    for pop, address in plan.pop_addresses.items():
        rooted.setdefault(pop, {})[address] = None
    control = plan.control
    if control is not None:
        own = Route(control.ip, control.link.b.ip, control.link.a.intf)
        rooted.setdefault(control.attach, {})[control.ip] = own
    return rooted

"""Builds an `EmulationPlan` as a Mininet network on this machine, and takes it down.

Mininet (Debian's 2.3.0) creates the namespaces, the veth pairs (`TCLink`: an HTB class
at the link's scaled bandwidth on both ends, and the link's latency where the kernel has
netem, `secmas.network.emulation.latency`; loss stays the simulator's model) and the access switches
(`LinuxBridge`; no Open vSwitch, no OpenFlow controller). Addresses, routes, forwarding
and the nftables tables are then set with `ip`, `sysctl` and `nft` in each namespace.

With a control host in the plan (agents as processes in their PoPs) it is one more
namespace on a shaped link, with a management veth from the root namespace; each PoP's
agent address sits on its router's loopback. `named` gives a node's namespace a name
(`ip netns attach`, so `ip netns exec NAME` and `podman --network ns:PATH` find it) and
`call_inside` runs code with a thread's network stack in a node's namespace (what it
binds or starts lives there).

`EmulatedNetwork` is a context manager: leaving it (normally, by an exception, Ctrl-C or
SIGTERM) stops every process it started, removes the names it gave, stops Mininet and
removes the run's record; SIGKILL is covered by the death signal of its processes and
`registry.clean_dead_runs`.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from secmas.network.emulation import firewall
from secmas.network.emulation.errors import EmulationFailed
from secmas.network.emulation.latency import LinkLatency
from secmas.network.emulation.linkstats import LinkCounters, LinkStatsSocket
from secmas.network.emulation.namespaces import CommandFailed, Namespace
from secmas.network.emulation.plan import ControlHost, EmulationPlan, Route
from secmas.network.emulation.preflight import check_machine
from secmas.network.emulation.registry import (
    NETNS_DIR,
    RunRegistration,
    clean_dead_runs,
    delete_interfaces,
    delete_named_namespaces,
    kill_recorded,
)
from secmas.transport.netns import call_in_namespace

logger = logging.getLogger(__name__)

T = TypeVar("T")

ROUTER_SYSCTLS = (
    "net.ipv4.ip_forward=1",
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
)


class BuildError(EmulationFailed):
    """The network could not be built (the text says where)."""


class EmulatedNetwork:
    """One run's network: its namespaces, and the processes started in them."""

    def __init__(self, plan: EmulationPlan, latency: LinkLatency | None = None) -> None:
        self.plan = plan
        self.latency = latency or LinkLatency.of_this_kernel()
        """Whether the links delay their packets by the scenario's latencies."""
        self.namespaces: dict[str, Namespace] = {}
        self._net: Any = None
        self._registration: RunRegistration | None = None
        self._processes: list[subprocess.Popen[bytes]] = []
        self._named: list[str] = []
        self._link_stats: dict[str, LinkStatsSocket] = {}
        self._link_stats_lock = threading.Lock()

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Check the machine, clean dead runs' leftovers, register, build, configure."""
        check_machine()
        clean_dead_runs()
        self._registration = RunRegistration(self.plan.prefix)
        try:
            self._build()
            self._configure()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process, take the network down, delete the record. Idempotent."""
        with self._link_stats_lock:
            # an open socket holds its namespace: closed first, or it would outlive the run
            for stats in self._link_stats.values():
                stats.close()
            self._link_stats.clear()
        for process in self._processes:
            if process.poll() is None:
                process.kill()
        for process in self._processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                logger.warning("process %s did not stop", process.pid)
        self._processes.clear()
        for name in self._named:
            done = subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
            if done.returncode != 0:
                logger.warning("ip netns delete %s: %s", name, done.stderr.decode().strip())
        self._named.clear()
        if self._net is not None:
            net, self._net = self._net, None
            try:
                net.stop()
            except Exception as exc:
                logger.warning("mininet stop: %s", exc)
        registration, self._registration = self._registration, None
        if registration is not None:
            kill_recorded(registration.record.processes)
            delete_named_namespaces(self.plan.prefix)
            delete_interfaces(self.plan.prefix)
            registration.close()

    def __enter__(self) -> EmulatedNetwork:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- processes ----------------------------------------------------------------------------
    def namespace(self, node: str) -> Namespace:
        """The namespace of a scenario node (router or host) or of a group (by its name)."""
        name = node if node in self.namespaces else self.plan.name(node)
        return self.namespaces[name]

    def link_counters(self, node: str, now: Callable[[], float]) -> LinkCounters:
        """`node`'s interface counters, stamped with `now()`, over its own rtnetlink
        socket (`linkstats`), opened inside its namespace on first use and closed with the
        network. Safe to call from several threads."""
        with self._link_stats_lock:
            stats = self._link_stats.get(node)
            if stats is None:
                namespace = self.namespace(node)
                stats = call_inside(namespace, lambda: LinkStatsSocket.open_here(now))
                self._link_stats[node] = stats
        return stats.read()

    def spawn(
        self, namespace: Namespace, command: Sequence[str], log: str | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a process in `namespace`, recorded so that it never outlives the run."""
        process = namespace.spawn(command, log)
        self._processes.append(process)
        if self._registration is not None:
            self._registration.add_process(process.pid)
        return process

    def record(self, pid: int) -> None:
        """A process started in a namespace some other way (`call_inside`): killed with
        the run's record if the run dies."""
        if self._registration is not None:
            self._registration.add_process(pid)

    def named(self, node: str) -> Path:
        """The path of `node`'s namespace under a name (`ip netns attach`, its namespace
        name), so tools that take a named namespace (`ip netns exec`, podman's
        `--network ns:PATH`) can join it; the name is removed when the run stops."""
        namespace = self.namespace(node)
        path = NETNS_DIR / namespace.name
        if namespace.name not in self._named:
            done = subprocess.run(
                ["ip", "netns", "attach", namespace.name, str(namespace.pid)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise BuildError(f"naming {namespace.name}: {done.stderr.strip()}")
            self._named.append(namespace.name)
        return path

    def end(self, process: subprocess.Popen[bytes], grace: float = 3.0) -> int | None:
        """Stop a process started here (SIGTERM, then SIGKILL); its exit status."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._registration is not None:
            self._registration.drop_process(process.pid)
        return process.returncode

    # -- build --------------------------------------------------------------------------------
    def _build(self) -> None:
        logger_class = logging.getLoggerClass()
        from mininet.link import Link, TCLink
        from mininet.log import setLogLevel
        from mininet.net import Mininet
        from mininet.nodelib import LinuxBridge

        # mininet.log makes its own class the default for every later logger: undo it,
        # so that the agents' runtime (measured by the trust layer) stays as shipped
        logging.setLoggerClass(logger_class)
        setLogLevel("error")
        plan = self.plan
        net = Mininet(
            topo=None,
            build=False,
            controller=None,
            switch=LinuxBridge,
            link=TCLink,
            autoSetMacs=False,
            waitConnected=False,
        )
        self._net = net
        nodes = {}
        for name in plan.namespaces:
            nodes[name] = net.addHost(name, ip=None)
        for bridge in plan.bridges:
            nodes[bridge] = net.addSwitch(bridge)
        for link in plan.links:
            net.addLink(
                nodes[plan.name(link.a.node)],
                nodes[plan.name(link.b.node)],
                intfName1=link.a.intf,
                intfName2=link.b.intf,
                bw=link.mbit,
                **self.latency.link_options(link.latency_ms),
            )
        control = plan.control
        if control is not None:
            net.addLink(
                nodes[plan.name(control.link.a.node)],
                nodes[control.name],
                intfName1=control.link.a.intf,
                intfName2=control.link.b.intf,
                bw=control.link.mbit,
            )
        attached: set[str] = set()
        for group in plan.groups:
            bridge = nodes[group.bridge]
            if group.attach not in attached:
                attached.add(group.attach)
                net.addLink(
                    nodes[plan.name(group.attach)],
                    bridge,
                    cls=Link,
                    intfName1=group.router_port.intf,
                    intfName2=f"{group.bridge}-r",
                )
            net.addLink(
                nodes[group.name],
                bridge,
                cls=Link,
                intfName1=group.port.intf,
                intfName2=f"{group.bridge}-{group.name[len(plan.prefix) :]}",
            )
        net.build()
        for bridge in net.switches:
            bridge.start([])
        for name in plan.namespaces:
            self.namespaces[name] = Namespace(name, nodes[name].pid)
            if self._registration is not None:
                self._registration.add_process(nodes[name].pid)

    def _configure(self) -> None:
        plan = self.plan
        commands: dict[str, list[str]] = {name: [] for name in plan.namespaces}
        for link in plan.links:
            for port in (link.a, link.b):
                commands[plan.name(port.node)].append(f"addr add {port.address} dev {port.intf}")
        for group in plan.groups:
            router = plan.name(group.attach)
            router_address = f"addr add {group.router_port.address} dev {group.router_port.intf}"
            if router_address not in commands[router]:
                commands[router].append(router_address)
            commands[group.name].append(f"addr add {group.port.address} dev {group.port.intf}")
            for address in group.addresses:
                commands[group.name].append(f"addr add {address}/32 dev {group.port.intf}")
        for host, name in plan.hosts.items():
            if host in plan.host_ips:
                intf = next(p.intf for (n, _), p in plan.ports.items() if n == host)
                commands[name].append(f"addr add {plan.host_ips[host]}/32 dev {intf}")
        control = plan.control
        if control is not None:
            link = control.link
            commands[plan.name(link.a.node)].append(f"addr add {link.a.address} dev {link.a.intf}")
            commands[control.name].append(f"addr add {link.b.address} dev {link.b.intf}")
        for pop, address in plan.pop_addresses.items():
            commands[plan.name(pop)].append(f"addr add {address}/32 dev lo")
        for node, routes in plan.routes.items():
            commands[plan.name(node)] += [_route(r) for r in routes]
        for name, gateway in plan.defaults.items():
            commands[name].append(f"route replace default via {gateway}")
        for name, batch in commands.items():
            self._ip_batch(name, batch)
        if control is not None:
            self._manage(control)
        for name in plan.routers.values():
            self.namespaces[name].run(["sysctl", "-q", "-w", *ROUTER_SYSCTLS])
            self._nft(name, firewall.router_ruleset([plan.server_ip]))
        truth = firewall.truth_ruleset(plan.attack_sources, plan.pop_addresses.values())
        self._nft(plan.name(plan.server), truth)
        for group in plan.groups:
            self._nft(group.name, firewall.group_ruleset(drop_input=bool(group.attackers)))

    def _manage(self, control: ControlHost) -> None:
        """The management veth: root namespace end here, the other in the control host."""
        root, far = control.root_port, control.management_port
        pid = str(self.namespaces[control.name].pid)
        steps = [
            ["link", "add", root.intf, "type", "veth", "peer", "name", far.intf, "netns", pid],
            ["addr", "add", root.address, "dev", root.intf],
            ["link", "set", root.intf, "up"],
        ]
        for step in steps:
            done = subprocess.run(["ip", *step], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BuildError(f"management link {root.intf}: {done.stderr.strip()}")
        self._ip_batch(
            control.name, [f"addr add {far.address} dev {far.intf}", f"link set {far.intf} up"]
        )

    def _ip_batch(self, name: str, batch: list[str]) -> None:
        namespace = self.namespaces[name]
        links = [f"link set {intf} up" for intf in self._interfaces(name)]
        try:
            namespace.run(["ip", "-batch", "-"], stdin="\n".join([*links, *batch]) + "\n")
        except CommandFailed as exc:
            raise BuildError(f"configuring {name}: {exc}") from None

    def _interfaces(self, name: str) -> list[str]:
        return ["lo", *(intf.name for intf in self._net.get(name).intfList() if intf.name != "lo")]

    def _nft(self, name: str, ruleset: str) -> None:
        try:
            self.namespaces[name].nft(ruleset)
        except CommandFailed as exc:
            raise BuildError(f"nftables in {name}: {exc}") from None


def _route(route: Route) -> str:
    """The `ip` batch line of one /32 route."""
    line = f"route replace {route.dst}/32 via {route.via} dev {route.intf}"
    return line if route.src is None else f"{line} src {route.src}"


def call_inside(namespace: Namespace, call: Callable[[], T]) -> T:
    """`call()` in a thread of this process whose network stack is `namespace`'s
    (`secmas.transport.netns`): the sockets it opens and the processes it starts live in
    that namespace, and stay there once the thread is gone."""
    path = Path(f"/proc/{namespace.pid}/ns/net")
    return call_in_namespace(path, call, f"inside:{namespace.name}")

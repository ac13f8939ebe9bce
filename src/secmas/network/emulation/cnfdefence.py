"""Enforcement on the emulated CNF: what the Enforcement Service really changes.

- `guard` (against floods and held connections): an nftables table in the namespace of
  the PoP that won the guard (the server's own where no PoP is named, as in the
  testbed), in front of the CNF's service address (before the front spreads it,
  `cnffront`), that puts a source opening more than `rate` connections a second on an
  offenders set (with a timeout) and drops everything from offenders, counting it; where
  it sees both directions of each connection (the server's namespace) also a source
  holding more than `held` at once (conntrack's count; a PoP the requests are steered
  through sees one direction, and conntrack would count every connection the source
  opened within minutes). Every step a sweep of the socket tables (`ss`) of the
  namespaces the CNF's instances run in: a source holding more than `held` connections
  (established or half-open) on the service's ports becomes an offender at once and its
  sockets are destroyed (`ss -K`), so what a slowloris or a SYN flood already holds goes
  too. An instance elsewhere sees the front as every connection's source, so what the
  front relays to it is counted per source in the front's conntrack table, where both
  directions pass (the offenders rule then starves those connections). nginx is
  reloaded with a short header timeout (`header_timeout`), as a reverse proxy in front
  of it would have, so that connections that never finish a request head are closed
  even when their source holds few of them; half-open connections get `synack_retries`
  SYN-ACKs (each instance's namespace's `net.ipv4.tcp_synack_retries`) instead of five
  over a minute, since `ss -K` cannot destroy them.
- `isolate` (against code running inside the CNF): every process of the CNF's cgroup
  that is neither the master of one of the CNF's nginx instances nor one of its workers
  is killed.

`lift` takes the guard out again. Rule text and socket counting are pure.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from secmas.network.emulation.cnfcgroup import CNFGroup
from secmas.network.emulation.cnfnginx import NginxCNF
from secmas.network.emulation.namespaces import CommandFailed, Namespace
from secmas.procstat import read_stat

GUARD_TABLE = "secmasguard"
SYNACK = "net.ipv4.tcp_synack_retries"
HELD = frozenset({"ESTAB", "SYN-RECV"})
"""Socket states that hold a connection slot (a closed one in TIME-WAIT does not)."""
TRACKED_HELD = frozenset({"ESTABLISHED", "SYN_SENT", "SYN_RECV"})
"""conntrack's states of a connection that holds (or is taking) a slot."""


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """Per source: new connections a second and connections held at once."""

    rate: int = 20
    burst: int = 40
    held: int = 8
    """A browser holds at most six connections to one server (HTTP/1.1's norm): a source
    holding more is taking connection slots."""
    timeout: int = 60
    """Seconds a source stays an offender after its last excess."""
    header_timeout: float = 5.0
    """Seconds a client may take to send its request head while the guard stands."""
    synack_retries: int = 1


def guard_ruleset(
    service: str, ports: list[int], settings: GuardSettings, counting: bool = True
) -> str:
    """The guard's nftables table in front of `service` (pure); `counting`: with the rule
    on connections held at once, which needs both directions of each connection."""
    listed = ", ".join(str(p) for p in sorted(ports))
    syn = f"ip daddr {service} tcp dport {{ {listed} }} tcp flags & (syn | ack) == syn"
    opening = f"ip saddr limit rate over {settings.rate}/second burst {settings.burst} packets"
    offend = "add @offenders { ip saddr } counter name dropped drop"
    holding = (
        f"    {syn} add @holding {{ ip saddr ct count over {settings.held} }} {offend}\n"
        if counting
        else ""
    )
    return f"""table inet {GUARD_TABLE} {{
  set offenders {{ type ipv4_addr; flags dynamic, timeout; timeout {settings.timeout}s; }}
  set opening {{ type ipv4_addr; flags dynamic, timeout; timeout 10s; }}
  set holding {{ type ipv4_addr; flags dynamic; }}
  counter dropped {{ }}
  chain guard {{
    type filter hook prerouting priority -160; policy accept;
    ip daddr {service} ip saddr @offenders counter name dropped drop
    {syn} update @opening {{ {opening} }} {offend}
{holding}  }}
}}
"""


def parse_guard(text: str) -> tuple[int, list[str]]:
    """(packets dropped, offender addresses) from `nft -j list table inet secmasguard`."""
    dropped, offenders = 0, []
    for item in json.loads(text).get("nftables", []):
        counter = item.get("counter")
        if counter and counter.get("name") == "dropped":
            dropped = int(counter.get("packets", 0))
        found = item.get("set")
        if found and found.get("name") == "offenders":
            for element in found.get("elem", []):
                value = element.get("elem", {}).get("val") if isinstance(element, dict) else element
                offenders.append(str(value))
    return dropped, sorted(offenders)


def held_sockets(ss_output: str, ports: set[int]) -> dict[str, int]:
    """Per source, the connections it holds on `ports` in `ss -Htan` output (pure)."""
    counts: dict[str, int] = {}
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] not in HELD:
            continue
        local, peer = fields[3], fields[4]
        if not local.rsplit(":", 1)[-1].isdigit() or int(local.rsplit(":", 1)[1]) not in ports:
            continue
        source = peer.rsplit(":", 1)[0]
        counts[source] = counts.get(source, 0) + 1
    return counts


def relayed_held(conntrack: str, service: str, ports: set[int]) -> dict[str, int]:
    """Per source, the connections to `service` on `ports` that the CNF's front relays to
    an instance elsewhere (their answers come from another address) and that hold a slot
    there, in the front's `/proc/net/nf_conntrack` (pure)."""
    counts: dict[str, int] = {}
    for line in conntrack.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[2] != "tcp" or fields[5] not in TRACKED_HELD:
            continue
        pairs = [f.split("=", 1) for f in fields[6:] if "=" in f]
        sources = [value for key, value in pairs if key == "src"]
        destinations = [value for key, value in pairs if key == "dst"]
        port = next((value for key, value in pairs if key == "dport"), "")
        if len(sources) < 2 or not destinations or not port.isdigit():
            continue
        if destinations[0] == service and int(port) in ports and sources[1] != service:
            counts[sources[0]] = counts.get(sources[0], 0) + 1
    return counts


def intruders(
    group_pids: list[int], masters: Collection[int], parents: dict[int, int]
) -> list[int]:
    """Processes of the CNF's group that are not nginx: neither an instance's master nor a
    child of one (pure; `parents` maps PID → parent PID)."""
    return [pid for pid in group_pids if pid not in masters and parents.get(pid) not in masters]


def _set_synack(namespace: Namespace, value: str) -> None:
    with contextlib.suppress(CommandFailed):
        namespace.run(["sysctl", "-q", "-w", f"{SYNACK}={value}"])


def _parent(pid: int) -> int | None:
    stat = read_stat(pid)
    return None if stat is None else stat.parent


class CNFDefence:
    """The enforcement actions of one run's CNF (`instances`: its nginx instances, a list
    that grows when a replica starts)."""

    def __init__(
        self,
        instances: Sequence[NginxCNF],
        group: CNFGroup,
        settings: GuardSettings | None = None,
    ):
        self.instances = instances
        self.group = group
        self.settings = settings or GuardSettings()
        network = instances[0].network
        self.service = network.plan.server_ip
        self.home = network.namespace(network.plan.server)
        """The namespace that holds the service address."""
        self.guard_at: Namespace | None = None
        """Where the guard stands (None: not yet)."""
        self._synack: dict[Namespace, str] = {}
        """Each instance namespace's tcp_synack_retries before the guard."""

    @property
    def cnf(self) -> NginxCNF:
        """The first instance (the ports are every instance's)."""
        return self.instances[0]

    @property
    def guarded(self) -> bool:
        return self.guard_at is not None

    def _endpoints(self) -> list[Namespace]:
        """The namespaces the CNF's instances run in, each once."""
        return list(dict.fromkeys(instance.namespace for instance in self.instances))

    def guard(self, at: Namespace | None = None) -> list[str]:
        """Install the guard in `at` (the service's own namespace by default; once: a
        later call only sweeps) and sweep the socket tables; the sources swept."""
        if self.guard_at is None:
            where = at or self.home
            counting = where == self.home
            where.nft(guard_ruleset(self.service, self.cnf.ports, self.settings, counting))
            self.guard_at = where
            for instance in self.instances:
                instance.reload(self.settings.header_timeout)
            for namespace in self._endpoints():
                self._synack[namespace] = namespace.run(["sysctl", "-n", SYNACK]).strip()
                _set_synack(namespace, str(self.settings.synack_retries))
        return self.sweep()

    def sweep(self) -> list[str]:
        """Make every source holding more than `held` connections (over every instance)
        an offender, and destroy the connections offenders hold; the sources that held
        too many."""
        if self.guard_at is None:
            return []
        ports = set(self.cnf.ports)
        tables = {ns: held_sockets(ns.run(["ss", "-Htan"]), ports) for ns in self._endpoints()}
        held: dict[str, int] = {}
        for counts in [*tables.values(), self._relayed(ports)]:
            for source, count in counts.items():
                if source != self.service:  # the front, on an instance elsewhere
                    held[source] = held.get(source, 0) + count
        heavy = sorted(source for source, count in held.items() if count > self.settings.held)
        if heavy:
            elements = ", ".join(heavy)
            self.guard_at.nft(f"add element inet {GUARD_TABLE} offenders {{ {elements} }}\n")
        _, offenders = self.guard_state()
        for namespace, counts in tables.items():
            for source in sorted(set(offenders) & set(counts)):
                with contextlib.suppress(CommandFailed):
                    namespace.run(["ss", "-K", "-tan", "dst", source])
        return heavy

    def _relayed(self, ports: set[int]) -> dict[str, int]:
        """Per source, what the front relays to instances elsewhere and they hold (an
        instance elsewhere sees the front as every connection's source)."""
        if all(instance.pop is None for instance in self.instances):
            return {}
        try:
            text = Path(f"/proc/{self.home.pid}/net/nf_conntrack").read_text()
        except OSError:
            return {}
        return relayed_held(text, self.service, ports)

    def guard_state(self) -> tuple[int, list[str]]:
        """Packets the guard dropped so far and the sources it holds as offenders."""
        if self.guard_at is None:
            return 0, []
        text = self.guard_at.run(["nft", "-j", "list", "table", "inet", GUARD_TABLE])
        return parse_guard(text)

    def lift(self) -> None:
        """Take the guard out."""
        if self.guard_at is None:
            return
        with contextlib.suppress(CommandFailed):
            self.guard_at.nft(f"delete table inet {GUARD_TABLE}\n")
        for instance in self.instances:
            instance.reload(None)
        for namespace, value in self._synack.items():
            _set_synack(namespace, value)
        self._synack.clear()
        self.guard_at = None

    def isolate(self) -> list[int]:
        """Kill every process of the CNF's group that is not nginx; their PIDs."""
        pids = self.group.pids()
        parents = {pid: parent for pid in pids if (parent := _parent(pid)) is not None}
        masters = {instance.master for instance in self.instances if instance.process}
        killed = intruders(pids, masters, parents)
        for pid in killed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return killed

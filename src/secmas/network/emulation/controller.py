"""`EmulatedController`: the `Controller` VNFs drive on a real emulated network.

Every rule is nftables (and, for steering, policy routing) in the namespace of the node
it names, so a VNF acts only on packets that really cross that node:

- LinkRateLimit: police what leaves a→b (`oifname`), or arrives at b from a host a;
- IpRateLimit: police what goes towards the address at the node;
- FlowBlock: drop the flow at the node (its ingress, for blockFlow);
- TrafficSplit: jhash the client's address into PARTS at the node (`firewall.split_chains`);
- Steer: mark the traffic (its split part) at the first node of the path and tag it with
  a DSCP code point; each node of the path routes tagged traffic arriving from the
  previous node to the next by a routing table of its own (`ip rule fwmark`), the last
  one routes it on as usual.

With a `VNFHost` (`secmas.deploy.vnfworkloads`) every VNF instance the agents start is a
real workload in its PoP: its image pulled over the emulated links (`pull_image`, the
bid's T measured), then run in the PoP's namespace (`start_vnf`) until it stops.

Statistics come from one snapshot of every node per step (`sample`): per-flow counters
of the nodes' flow sets, interface byte counters for links, and the server's
ground-truth counters for the telemetry. Bytes and packets are divided by the plan's
scale, so VNFs see scenario MB/s and their thresholds hold unchanged; connection counts
(SYNs, completed handshakes) are real, as the clients' connection rates are. A host's
flows are those its PoP or switch forwards to it.

The run's real CNFs (`cnfservice.RealCNF`, when a closed loop watches one) are read at
every sample too, and `remedy` carries out an enforcement action on one of them (guard,
isolate, scale_out, migrate); any other CNF has no real counterpart to act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from secmas.network.clock import Clock
from secmas.network.dataplane.controller import ControllerError
from secmas.network.dataplane.rules import (
    FlowBlock,
    IpRateLimit,
    LinkRateLimit,
    Rule,
    Steer,
    TrafficSplit,
    split_part,
)
from secmas.network.dataplane.stats import (
    BYTES_PER_MB,
    Counters,
    FlowId,
    FlowStats,
    Telemetry,
    busy_links,
    link_key,
)
from secmas.network.emulation import firewall
from secmas.network.emulation.cnfservice import RealCNF
from secmas.network.emulation.counters import (
    SNAPSHOT,
    TRUTH,
    FlowCount,
    FlowKey,
    Snapshot,
    parse_named_counters,
    parse_snapshot,
)
from secmas.network.emulation.errors import EmulationFailed, VNFFailed
from secmas.network.emulation.linkstats import LinkCounters
from secmas.network.emulation.namespaces import CommandFailed, Namespace
from secmas.network.emulation.network import EmulatedNetwork

T = TypeVar("T")
WINDOW = 10
POLICE_BITES_S = 1.0 + firewall.BURST_SECONDS
"""Seconds a new rate limit lets traffic through unpoliced: an nftables limit starts with
a full bucket, a second of its rate plus its burst (the kernel's `nft_limit_init`)."""
HANDLE = re.compile(r"# handle (\d+)")
STEER_TABLE_BASE = 1000
MAX_STEERS = 6  # one DSCP bit each


class VNFHost(Protocol):
    """Runs VNF instances as workloads in their PoPs; blocking calls, run in a thread, that
    raise VNFFailed."""

    def pull(self, pop: str, vnf: str, estimated_s: float | None) -> float: ...

    def run(self, instance: str, pop: str, vnf: str) -> object: ...

    def stop(self, instance: str) -> None: ...


@dataclass
class Installed:
    """A rule in the network: how to take it out again."""

    rule: Rule
    undo: list[tuple[Namespace, list[str]]] = field(default_factory=list)
    nft_undo: list[tuple[Namespace, str]] = field(default_factory=list)
    steer: PathKey | None = None
    """The steering path a Steer marks its traffic for."""
    mapped: set[str] = field(default_factory=set)
    """A split's clients already in its verdict map."""


PathKey = tuple[tuple[str, ...], str]
"""A steering path: its nodes and the destination it routes."""


@dataclass
class SteerPath:
    """One steering path's DSCP bit, routes and transit rules, shared by every Steer over
    the same nodes towards the same destination: they differ only in what they mark at
    the first node (a split part, a source), so eight flows blocked at one PoP from three
    ingresses need three paths, not eight."""

    index: int
    users: int = 0
    installed: Installed | None = None


@dataclass(frozen=True, slots=True)
class ServerSample:
    """One step at the server: packets a second exchanged with legitimate sources (both
    directions) and arriving from attack sources (ground truth by source address)."""

    t: float
    legit_pps: float
    attack_pps: float


def _delta(now: FlowCount, before: FlowCount | None) -> FlowCount:
    if before is None:
        return now
    return FlowCount(
        now.bytes - before.bytes,
        now.packets - before.packets,
        now.syn - before.syn,
        now.ack - before.ack,
    )


class EmulatedController:
    """The controller of one emulated run (see the module docstring)."""

    def __init__(
        self,
        network: EmulatedNetwork,
        clock: Clock,
        step_seconds: float,
        cnfs: Mapping[str, RealCNF] | None = None,
        vnfs: VNFHost | None = None,
    ) -> None:
        self.network = network
        self.cnfs = dict(cnfs or {})
        """The run's real CNFs by id."""
        self.vnfs = vnfs
        """What runs the VNF instances as workloads (None: they are the rules alone and a
        download takes the bid's T)."""
        self.plan = network.plan
        self.clock = clock
        self._step = step_seconds
        self._scale = self.plan.scale
        self._times: list[float] = []
        self._slots = 0
        """Step slots of the clock the destination history covers."""
        self._snapshots: dict[str, list[Snapshot]] = {node: [] for node in self.plan.routers}
        self._destinations: dict[str, dict[str, list[float]]] = {n: {} for n in self.plan.routers}
        self._truth: dict[str, FlowCount] = {}
        self._groups: dict[str, FlowCount] = {}
        self.telemetry: list[Telemetry] = []
        self.server: list[ServerSample] = []
        self._rules: dict[int, Installed] = {}
        self._ids = itertools.count(1)
        self._paths: dict[PathKey, SteerPath] = {}
        self._monitor: tuple[str, str] | None = None
        self._after_change: dict[str, LinkCounters] = {}
        """Each router's counters read just after the latest rule change."""
        self._bites_at = 0.0
        """When the latest rate limit's initial bucket is spent (run time)."""

    def watch(self, a: str, b: str) -> None:
        """The telemetry's `monitored` is the load of link a–b."""
        self._monitor = (a, b)

    # -- sampling ------------------------------------------------------------------------------
    async def sample(self) -> None:
        """Read every node's counters (one step ends here) and record the telemetry."""
        now = self.clock.now()
        routers = list(self.plan.routers)
        links, *texts = await asyncio.gather(
            asyncio.to_thread(self._read_links, routers),
            *(self.network.namespace(node).run_async(SNAPSHOT) for node in routers),
            self.network.namespace(self.plan.server).run_async(TRUTH),
            *(self.network.namespace(g.name).run_async(TRUTH) for g in self.plan.groups),
        )
        # snapshots and their time are kept together, with no await between: a VNF
        # reading them meanwhile pairs each snapshot with its own time
        for node, text in zip(routers, texts, strict=False):
            self._snapshots[node].append(parse_snapshot(text, links[node]))
            del self._snapshots[node][: -(WINDOW + 2)]
        truth = parse_named_counters(texts[len(routers)])
        groups: dict[str, FlowCount] = {}
        for group, text in zip(self.plan.groups, texts[len(routers) + 1 :], strict=True):
            counters = parse_named_counters(text)
            kind = "attack" if group.attackers else "legit"
            for name in ("sent",) if group.attackers else ("sent", "received"):
                count = counters.get(name, FlowCount())
                previous = groups.get(kind, FlowCount())
                groups[kind] = FlowCount(
                    previous.bytes + count.bytes, previous.packets + count.packets
                )
        if self._times:
            self._record(now, truth, groups)
        self._times.append(now)
        self._truth, self._groups = truth, groups
        await self._map_new_clients()
        for cnf in self.cnfs.values():
            await asyncio.to_thread(cnf.sample, now)

    def _read_links(self, routers: list[str]) -> dict[str, LinkCounters]:
        """Every router's interface counters, each stamped as it is read (blocking)."""
        return {node: self.network.link_counters(node, self.clock.now) for node in routers}

    async def _map_new_clients(self) -> None:
        """Put clients a split has not mapped yet, now seen at its node, in its map."""
        for rule_id, item in list(self._rules.items()):
            split = item.rule
            if not isinstance(split, TrafficSplit) or not self._snapshots[split.node]:
                continue
            flows = self._snapshots[split.node][-1].flows
            seen = {key[0] for key in flows if key[1] == split.dst_ip}
            new = {ip: split_part(ip, split.parts) for ip in seen - item.mapped}
            if new:
                commands = firewall.split_members(rule_id, new)
                await self.network.namespace(split.node).run_async(
                    ["nft", "-f", "-"], stdin="\n".join(commands) + "\n"
                )
                item.mapped |= set(new)

    def _record(
        self, now: float, truth: dict[str, FlowCount], groups: dict[str, FlowCount]
    ) -> None:
        start = self._times[-1]
        seconds = max(now - start, 1e-6)
        unit = BYTES_PER_MB * self._scale * seconds

        def moved(names: tuple[str, ...], new: dict[str, FlowCount], old: dict[str, FlowCount]):
            got = [_delta(new.get(n, FlowCount()), old.get(n)) for n in names]
            return sum(c.bytes for c in got), sum(c.packets for c in got)

        legit, legit_packets = moved(("legit_in", "legit_out"), truth, self._truth)
        attack, attack_packets = moved(("attack_in",), truth, self._truth)
        offered_attack, _ = moved(("attack",), groups, self._groups)
        offered_legit, _ = moved(("legit",), groups, self._groups)
        # one history entry per step slot of the clock, as the simulator keeps, so that a
        # VNF finds time t at index t / step even when a sample came late: a late sample's
        # rate stands for every slot it covers
        slots = max(1, round(now / self._step) - self._slots)
        self._slots += slots
        for node in self.plan.routers:
            rates: dict[str, float] = {}
            for key, count in self._flow_deltas(node, 1).items():
                rates[key[1]] = rates.get(key[1], 0.0) + count.bytes / unit
            history = self._destinations[node]
            for dst in set(history) | set(rates):
                series = history.setdefault(dst, [0.0] * (self._slots - slots))
                series += [rates.get(dst, 0.0)] * slots
        self.telemetry.append(
            Telemetry(
                t=start,
                legit=legit / unit,
                attack=attack / unit,
                offered_legit=offered_legit / unit,
                offered_attack=offered_attack / unit,
                monitored=None if self._monitor is None else self._load_over(*self._monitor),
                links=busy_links(
                    (
                        link_key(link.a.node, link.b.node),
                        self._load_over(link.a.node, link.b.node),
                    )
                    for link in self.plan.links
                ),
            )
        )
        self.server.append(ServerSample(start, legit_packets / seconds, attack_packets / seconds))

    def _flow_deltas(self, node: str, steps: int) -> dict[FlowKey, FlowCount]:
        snapshots = self._snapshots[node]
        if not snapshots:
            return {}
        latest = snapshots[-1].flows
        if len(snapshots) <= steps:
            return dict(latest)
        before = snapshots[-1 - steps].flows
        return {key: _delta(count, before.get(key)) for key, count in latest.items()}

    def _active_seconds(self, node: str, key: FlowKey) -> float:
        """Seconds of the window since the flow was first seen in it (a flow record's
        first-packet time, at step resolution): a flow steered here two steps ago has
        two steps of rate, not two steps spread over the whole window."""
        snapshots = self._snapshots[node][-(WINDOW + 1) :]
        times = self._times[-len(snapshots) :]
        for index in range(len(snapshots) - 1):
            if snapshots[index + 1].flows.get(key) != snapshots[index].flows.get(key):
                return max(times[-1] - times[index], 1e-6)
        return self._seconds(WINDOW)

    def _seconds(self, steps: int) -> float:
        if len(self._times) < 2:
            return self._step
        steps = min(steps, len(self._times) - 1)
        return self._times[-1] - self._times[-1 - steps]

    # -- Controller ----------------------------------------------------------------------------
    @property
    def server_ip(self) -> str:
        return self.plan.server_ip

    @property
    def step_seconds(self) -> float:
        return self._step

    async def now(self) -> float:
        return self.clock.now()

    def _link_rate(self, old: LinkCounters, new: LinkCounters, intf: str, direction: str) -> float:
        """MB/s (scenario units) `intf` sent ("tx") or received ("rx") between two reads of
        its counters, over the time between those reads."""
        sent = getattr(new, direction).get(intf, 0) - getattr(old, direction).get(intf, 0)
        return max(sent, 0) / (BYTES_PER_MB * self._scale * max(new.at - old.at, 1e-6))

    def _rate_over(self, a: str, b: str) -> float:
        """MB/s sent a→b between the last two samples (its interface counters)."""
        node, intf, direction = self._link_end(a, b)
        snapshots = self._snapshots[node][-2:]
        if len(snapshots) < 2:
            return 0.0
        return self._link_rate(snapshots[0].links, snapshots[1].links, intf, direction)

    def _load_over(self, a: str, b: str) -> float:
        """The busier direction of link a–b between the last two samples."""
        return max(self._rate_over(a, b), self._rate_over(b, a))

    def load_now(self, a: str, b: str) -> float:
        """The busier direction of link a–b over the last step."""
        return self._load_over(a, b)

    async def rate(self, a: str, b: str) -> float:
        """MB/s (scenario units) sent a→b over the last step up to now: read live, so a
        VNF that waits a step after a change measures only traffic after it. A rate
        limit set moments ago has not bitten yet (`POLICE_BITES_S`), where the model's
        limits act at once: the rate is then measured over a step from when it bites, so
        that a VNF is sized for the limited traffic, as on the simulator."""
        node, intf, direction = self._link_end(a, b)
        if self.clock.now() < self._bites_at:
            await self.clock.sleep(self._bites_at - self.clock.now())
            old = await asyncio.to_thread(self.network.link_counters, node, self.clock.now)
            await self.clock.sleep(self._step)
        else:
            # taken before the read: a sample landing meanwhile drops the oldest
            # snapshot, and an index would then name the next one, a step too new (the
            # rate of a few milliseconds spread over a step: a limit set near zero)
            base = self._rate_base(node)
            if base is None:
                return self._rate_over(a, b)
            old = base
        new = await asyncio.to_thread(self.network.link_counters, node, self.clock.now)
        return self._link_rate(old, new, intf, direction)

    def _rate_base(self, node: str) -> LinkCounters | None:
        """The read a live rate at `node` counts from: the newest sample at least 0.9 step
        old; or, once half a step has passed since a rule changed after that sample, the
        read taken just after the change. Samples fall on the step's grid and changes
        between them, so a rate read a step after a limit would otherwise count up to a
        step of the traffic before it (a detector sized for the unlimited link)."""
        index = self._base(0.9 * self._step)
        base = None if index is None else self._snapshots[node][index].links
        changed = self._after_change.get(node)
        if (
            changed is not None
            and (base is None or changed.at > base.at)
            and self.clock.now() - changed.at >= 0.5 * self._step
        ):
            return changed
        return base

    def _link_end(self, a: str, b: str) -> tuple[str, str, str]:
        """Where link a→b's traffic is counted: (node, interface, "tx" or "rx")."""
        if a in self.plan.routers:
            return a, self.plan.port(a, b).intf, "tx"
        if b in self.plan.routers:
            return b, self.plan.port(b, a).intf, "rx"
        raise KeyError(f"no link {a!r}→{b!r}")

    def _base(self, age: float) -> int | None:
        """The index, in the kept snapshots, of the newest one at least `age` seconds
        old."""
        now = self.clock.now()
        kept = len(next(iter(self._snapshots.values()), []))
        times = self._times[-kept:] if kept else []
        for index in range(len(times) - 1, -1, -1):
            if now - times[index] >= age:
                return index
        return None

    async def load(self, a: str, b: str) -> float:
        return self.load_now(a, b)

    async def ingress(self, src_ip: str) -> str:
        try:
            return self.plan.ingress[src_ip]
        except KeyError:
            raise KeyError(f"no host with address {src_ip!r}") from None

    async def destination_rates(self, node: str) -> dict[str, list[float]]:
        node = self._router(node)
        return {dst: list(rates) for dst, rates in self._destinations[node].items()}

    async def flows_via(
        self, node: str, dst_ip: str | None = None, part: int | None = None
    ) -> list[FlowStats]:
        node = self._router(node)
        members = None if part is None else self._part_members(node, dst_ip, part)
        last, window = self._flow_deltas(node, 1), self._flow_deltas(node, WINDOW)
        snapshots = self._snapshots[node]
        if len(snapshots) < 2:
            return []
        totals = snapshots[-1].flows
        stats = []
        for key, total in sorted(totals.items()):
            src, dst, port = key
            if dst_ip is not None and dst != dst_ip:
                continue
            if members is not None and src not in members:
                continue
            windowed = window.get(key, FlowCount())
            if windowed.bytes <= 0:
                continue
            stats.append(
                FlowStats(
                    FlowId(src, dst, port),
                    node,
                    self._part_of(node, src, dst),
                    self._counters(last.get(key, FlowCount()), self._seconds(1)),
                    self._counters(windowed, self._active_seconds(node, key)),
                    self._counters(total, self._times[-1] - self._times[0]),
                )
            )
        return stats

    def _counters(self, count: FlowCount, seconds: float) -> Counters:
        """Bytes and packets in scenario units; connection attempts and handshakes as
        they are: clients open connections at the scenario's rate (only what each one
        carries is scaled), and a flood's SYN rate, scaled down, is still far above any
        client's."""
        scale = self._scale
        return Counters(seconds, count.bytes / scale, count.packets / scale, count.syn, count.ack)

    def _split(self, node: str, dst_ip: str | None) -> tuple[int, TrafficSplit] | None:
        """The split towards `dst_ip` at `node`, else the only one towards it anywhere
        (a VNF on a steered part's path asks for the part its traffic belongs to)."""
        splits = [
            (rule_id, item.rule)
            for rule_id, item in self._rules.items()
            if isinstance(item.rule, TrafficSplit) and dst_ip in (None, item.rule.dst_ip)
        ]
        here = [(rule_id, split) for rule_id, split in splits if split.node == node]
        found = here or splits
        return found[0] if len(found) == 1 else None

    def _part_members(self, node: str, dst_ip: str | None, part: int) -> set[str]:
        found = self._split(node, dst_ip)
        if found is None:
            target = "" if dst_ip is None else f" towards {dst_ip}"
            raise ValueError(f"no single traffic split at {node!r}{target}")
        rule_id, split = found
        if not 0 <= part < split.parts:
            raise ValueError(f"part {part} is outside 0..{split.parts - 1}")
        snapshots = self._snapshots[split.node]
        return snapshots[-1].parts.get(f"split{rule_id}p{part}", set()) if snapshots else set()

    def _part_of(self, node: str, src: str, dst: str) -> int | None:
        found = self._split(node, dst)
        if found is None or not self._snapshots[found[1].node]:
            return None
        rule_id, split = found
        parts = self._snapshots[split.node][-1].parts
        for part in range(split.parts):
            if src in parts.get(f"split{rule_id}p{part}", set()):
                return part
        return None

    def _router(self, node: str) -> str:
        """Where `node`'s flow statistics are kept: a PoP or switch itself, a host's own
        PoP or switch."""
        if node in self.plan.routers:
            return node
        for link in self.plan.links:
            if node in (link.a.node, link.b.node) and node in self.plan.hosts:
                return link.b.node if link.a.node == node else link.a.node
        raise KeyError(f"unknown node {node!r} (flow statistics are kept at PoPs and switches)")

    async def remedy(self, cnf: str, remedy: str, pop: str, downtime: float = 0.0) -> None:
        """Carry out `remedy` on the real CNF for the winner at `pop` (`downtime` is the
        simulator's; a real action takes what it takes)."""
        real = self.cnfs.get(cnf)
        if real is None:
            raise ControllerError(
                f"remedy {remedy} of CNF {cnf!r}: it does not run as a real CNF here (the "
                "emulated engine runs the CNFs a closed loop watches)"
            )
        try:
            if remedy == "guard" and real.defence is not None and not real.defence.guarded:
                await self._through(pop)
            await asyncio.to_thread(real.remedy, remedy, pop)
        except (ValueError, CommandFailed, EmulationFailed) as exc:
            raise ControllerError(f"remedy {remedy} of CNF {cnf!r}: {exc}") from None

    async def _through(self, pop: str) -> None:
        """Steer the traffic towards the server through `pop` from the server's PoP, which
        every packet to the server crosses (a packet that crossed `pop` already is left
        alone: the steering's last node marks it)."""
        entry = self._router(self.plan.server)
        if pop == entry:
            return
        via = self.plan.path_to(entry, self.plan.pop_addresses[pop])
        if via[-1] != pop:
            raise ValueError(f"the server's PoP {entry!r} has no route to {pop!r}")
        await self.add_rule(Steer(entry, self.plan.server_ip, via))

    # -- VNF workloads -----------------------------------------------------------------------
    async def pull_image(self, pop: str, vnf: str, estimated_s: float) -> float | None:
        if self.vnfs is None:
            return None
        return await self._on_vnfs(self.vnfs.pull, pop, vnf, estimated_s)

    async def start_vnf(self, instance: str, pop: str, vnf: str) -> None:
        if self.vnfs is not None:
            await self._on_vnfs(self.vnfs.run, instance, pop, vnf)

    async def stop_vnf(self, instance: str) -> None:
        if self.vnfs is not None:
            await self._on_vnfs(self.vnfs.stop, instance)

    @staticmethod
    async def _on_vnfs(call: Callable[..., T], *args: object) -> T:
        """A blocking call of the VNF host in a thread; its VNFFailed as ControllerError."""
        try:
            return await asyncio.to_thread(call, *args)
        except VNFFailed as exc:
            raise ControllerError(str(exc)) from None

    # -- rules ---------------------------------------------------------------------------------
    async def add_rule(self, rule: Rule) -> int:
        rule_id = next(self._ids)
        installed = Installed(rule)
        try:
            self._install(rule_id, rule, installed)
        except CommandFailed as exc:
            self._uninstall(installed)
            raise ValueError(f"cannot install {rule}: {exc}") from None
        except BaseException:
            self._uninstall(installed)
            raise
        self._rules[rule_id] = installed
        self._changed()
        if isinstance(rule, LinkRateLimit | IpRateLimit):
            self._bites_at = max(self._bites_at, self.clock.now() + POLICE_BITES_S)
        return rule_id

    async def remove_rule(self, rule_id: int) -> None:
        installed = self._rules.pop(rule_id, None)
        if installed is None:
            raise KeyError(f"no rule with id {rule_id}")
        self._uninstall(installed)
        self._changed()

    def _changed(self) -> None:
        """The rules just changed: every router's counters read now (a millisecond over
        rtnetlink), so that a rate read a step later starts after the change."""
        self._after_change = self._read_links(list(self.plan.routers))

    @property
    def rules(self) -> dict[int, Rule]:
        """The installed rules by id."""
        return {rule_id: item.rule for rule_id, item in self._rules.items()}

    def _bytes(self, rate: float) -> float:
        return rate * self._scale * BYTES_PER_MB

    def _install(self, rule_id: int, rule: Rule, installed: Installed) -> None:
        plan = self.plan
        match rule:
            case LinkRateLimit(a=a, b=b, rate=rate):
                if a in plan.routers:
                    node, text = (
                        a,
                        firewall.link_limit_rule(plan.port(a, b).intf, True, self._bytes(rate)),
                    )
                elif b in plan.routers:
                    node, text = (
                        b,
                        firewall.link_limit_rule(plan.port(b, a).intf, False, self._bytes(rate)),
                    )
                else:
                    raise ValueError(f"no link {a!r}→{b!r} to limit")
                self._add(installed, node, "ratelimits", [text])
            case IpRateLimit(node=node, dst_ip=dst, rate=rate):
                node = self._checked(node)
                once = [firewall.policed_once_rule(dst)]
                self._add(installed, node, "iplimits", once, insert=True)
                rules = firewall.ip_limit_rules(dst, self._bytes(rate))
                self._add(installed, node, "iplimits", rules)
            case FlowBlock(node=node, src_ip=src, dst_ip=dst):
                self._add(installed, self._checked(node), "blocks", [firewall.block_rule(src, dst)])
            case TrafficSplit(node=node, dst_ip=dst, parts=parts):
                if any(
                    isinstance(item.rule, TrafficSplit)
                    and (item.rule.node, item.rule.dst_ip) == (self._checked(node), dst)
                    for item in self._rules.values()
                ):
                    raise ValueError(f"{node!r} already splits traffic towards {dst}")
                self._install_split(rule_id, node, dst, parts, installed)
            case Steer():
                self._install_steer(rule, installed)

    def _checked(self, node: str) -> str:
        if node not in self.plan.routers:
            raise ValueError(f"unknown node {node!r}")
        return node

    def _add(
        self, installed: Installed, node: str, chain: str, texts: list[str], insert: bool = False
    ) -> None:
        """Load rules into one chain of the node's table in one go; remember their handles
        so that `_uninstall` takes them out again."""
        namespace = self.network.namespace(node)
        verb = "insert" if insert else "add"
        script = "".join(f"{verb} rule inet {firewall.TABLE} {chain} {t}\n" for t in texts)
        out = namespace.nft(script)
        handles = [HANDLE.search(line) for line in out.splitlines() if " rule " in line]
        found = [h.group(1) for h in handles if h is not None]
        if len(found) != len(texts):
            raise CommandFailed(f"{namespace.name}: nft printed {len(found)} handles for {chain}")
        for handle in found:
            installed.nft_undo.append(
                (namespace, f"delete rule inet {firewall.TABLE} {chain} handle {handle}")
            )

    def _install_split(
        self, rule_id: int, node: str, dst: str, parts: int, installed: Installed
    ) -> None:
        namespace = self.network.namespace(node)
        known = {ip: split_part(ip, parts) for ip in self.plan.ingress}
        commands = firewall.split_chains(rule_id, dst, parts, known)
        out = namespace.nft("\n".join(commands) + "\n")
        head = f"add rule inet {firewall.TABLE} split "
        handles = [HANDLE.findall(line) for line in out.splitlines() if line.startswith(head)]
        if len(handles) != 2 or not all(handles):
            raise CommandFailed(f"{namespace.name}: nft printed no handle for the split")
        for found in handles:
            installed.nft_undo.append(
                (namespace, f"delete rule inet {firewall.TABLE} split handle {found[-1]}")
            )
        installed.nft_undo.append((namespace, f"delete map inet {firewall.TABLE} split{rule_id}"))
        installed.mapped = set(known)
        for part in range(parts):
            name = f"split{rule_id}p{part}"
            installed.nft_undo.append((namespace, f"delete chain inet {firewall.TABLE} {name}"))
            installed.nft_undo.append((namespace, f"delete set inet {firewall.TABLE} {name}"))

    def _install_steer(self, rule: Steer, installed: Installed) -> None:
        for node in rule.via:
            self._checked(node)
        if rule.part is not None:
            self._part_members(rule.node, rule.dst_ip, rule.part)  # checks the split exists
        key: PathKey = (tuple(rule.via), rule.dst_ip)
        path = self._paths.get(key) or self._open_path(key)
        bit = 1 << (path.index - 1)
        texts = firewall.steer_rules(rule.dst_ip, bit, path.index, rule.part, rule.src_ip)
        path.users += 1
        installed.steer = key
        self._add(installed, rule.node, "steer", texts, insert=True)

    def _open_path(self, key: PathKey) -> SteerPath:
        """Give a new steering path a free DSCP bit and a routing table at each node but
        the last; route what carries the bit hop by hop; tag what crosses the last node."""
        used = {path.index for path in self._paths.values()}
        free = [i for i in range(1, MAX_STEERS + 1) if i not in used]
        if not free:
            raise ValueError(f"more than {MAX_STEERS} steering paths at once")
        via, dst_ip = key
        path = self._paths[key] = SteerPath(
            free[0], installed=Installed(Steer(via[0], dst_ip, via))
        )
        shared = path.installed
        assert shared is not None
        bit, table = 1 << (path.index - 1), str(STEER_TABLE_BASE + path.index)
        mark = f"{path.index << 8:#x}/0xff00"
        try:
            for position, node in enumerate(via[:-1]):
                namespace = self.network.namespace(node)
                out_port = self.plan.port(node, via[position + 1])
                next_hop = self.plan.port(via[position + 1], node).ip
                route = ["route", "replace", f"{dst_ip}/32", "via", next_hop]
                namespace.run(["ip", *route, "dev", out_port.intf, "table", table])
                shared.undo.append((namespace, ["ip", "route", "flush", "table", table]))
                choose = ["fwmark", mark, "lookup", table, "priority", "100"]
                namespace.run(["ip", "rule", "add", *choose])
                shared.undo.append((namespace, ["ip", "rule", "del", *choose]))
                if position > 0:
                    arriving = self.plan.port(node, via[position - 1]).intf
                    text = firewall.transit_rule(dst_ip, bit, path.index, arriving)
                    self._add(shared, node, "transit", [text])
            for chain in ("transit", "origin"):  # what crosses the last node or starts there
                self._add(shared, via[-1], chain, firewall.crossed_rules(dst_ip, bit))
        except BaseException:
            self._close_path(key)
            raise
        return path

    def _close_path(self, key: PathKey) -> None:
        path = self._paths.pop(key)
        if path.installed is not None:
            self._uninstall(path.installed)

    def _uninstall(self, installed: Installed) -> None:
        for namespace, command in installed.nft_undo:
            with contextlib.suppress(CommandFailed):  # the namespace may be going down
                namespace.nft(command + "\n")
        for namespace, argv in installed.undo:
            with contextlib.suppress(CommandFailed):
                namespace.run(argv)
        installed.nft_undo.clear()
        installed.undo.clear()
        key, installed.steer = installed.steer, None
        path = None if key is None else self._paths.get(key)
        if key is not None and path is not None:
            path.users -= 1
            if path.users <= 0:
                self._close_path(key)

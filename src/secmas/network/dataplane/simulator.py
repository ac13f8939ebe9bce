"""The flow-level data plane: offered traffic in, switch rules and link sharing, stats out.

Every flow goes to the server along the shortest-path tree rooted there, so a flow meets
exactly one node at each depth between its attach node and the server. A step therefore
walks the tree from the deepest level up: at each level it records what arrives at the
nodes, applies their rules (blocks, then IP and link limits), and scales the flows on every
over-full directed link in proportion to their rates. Each level is a handful of numpy
operations whatever the number of flows, and the hop-by-hop order means a flow throttled
upstream leaves room for others downstream.

The scenario's CNFs (`cnf.py`) are sampled after every step from what arrived at their
host; their metric series, ground-truth labels and placements are kept for the run, and
`remedy` applies an enforcement action to one of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from secmas.network.dataplane.cnf import METRICS, Arrivals, CNFModel, CNFPlacement
from secmas.network.dataplane.routing import Network, shortest_path_tree
from secmas.network.dataplane.rules import (
    FlowBlock,
    IpRateLimit,
    LinkRateLimit,
    Rule,
    TrafficSplit,
    split_part,
)
from secmas.network.dataplane.stats import BYTES_PER_MB, Counters, FlowId, FlowStats, Telemetry
from secmas.network.dataplane.traffic import (
    ATTACK_KINDS,
    FlowKind,
    Offered,
    TrafficModel,
    scenario_flows,
    server_ip,
)
from secmas.scenario.model import CNF, Attack, Scenario


@dataclass(frozen=True, slots=True)
class _Level:
    """The flows at one depth of the route tree and the directed link each leaves on."""

    flows: np.ndarray
    links: np.ndarray


@dataclass(frozen=True, slots=True)
class _Action:
    """A compiled rule: the flows it matches and their joint cap (None drops them)."""

    rank: int
    rule_id: int
    flows: np.ndarray
    cap: float | None

    def apply(self, rate: np.ndarray) -> np.ndarray:
        """Drop or proportionally scale down the matched flows' rates in place; returns the
        MB/s taken from each matched flow."""
        before = rate[self.flows].copy()
        if self.cap is None:
            rate[self.flows] = 0.0
        else:
            total = before.sum()
            if total > self.cap:
                rate[self.flows] *= self.cap / total
        return before - rate[self.flows]


@dataclass(frozen=True, slots=True)
class Drop:
    """Traffic one rule took from one flow in the last step (what a switch's rule counters
    report): bytes and packets dropped at `node`."""

    rule_id: int
    rule: Rule
    flow: FlowId
    node: str
    bytes: float
    packets: float


class _Tap:
    """A CNF on the data plane: its model, the flows that reach its host and their kinds,
    and the metric rows and labels of every step so far."""

    def __init__(self, model: CNFModel, flows: np.ndarray, depth: int, kinds: np.ndarray) -> None:
        self.model = model
        self.flows = flows
        self.depth = depth
        self.kinds = kinds
        self.requests = (kinds == FlowKind.HTTP) | (kinds == FlowKind.HTTP_FLOOD)
        self.video = kinds == FlowKind.VIDEO
        self.slow = kinds == FlowKind.SLOWLORIS
        self.attack = np.array([kind in ATTACK_KINDS for kind in kinds], dtype=bool)
        self.rows = np.zeros((64, len(METRICS)))
        self.truth: list[str] = []

    def append(self, row: np.ndarray, label: str) -> None:
        steps = len(self.truth)
        if steps == len(self.rows):
            self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)])
        self.rows[steps] = row
        self.truth.append(label)


class DataPlane:
    """A deterministic flow-level simulation of a scenario's traffic on a virtual clock.

    `seed` defaults to the scenario's. Stats keep the last `window` steps for windowed
    counters, running totals since the start, and the per-destination rate at every node
    for the whole run (the history an Anomaly Detector compares against). `extra_attacks`
    run alongside the scenario's own attack (generated data sets use it to put several
    attacks in one run).
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int | None = None,
        *,
        window: int = 10,
        extra_attacks: Sequence[Attack] = (),
    ) -> None:
        if scenario.traffic is None:
            raise ValueError(f"scenario {scenario.id!r} has no traffic section to simulate")
        if window < 1:
            raise ValueError(f"window must be at least one step, got {window}")
        traffic = scenario.traffic
        self._dt = traffic.step
        self._window = window
        self._net = Network.from_scenario(scenario)
        self._tree = shortest_path_tree(self._net, traffic.server)
        self._server_ip = server_ip(scenario)
        self._specs = scenario_flows(scenario, extra_attacks)
        seed = scenario.seed if seed is None else seed
        self._traffic = TrafficModel(self._specs, traffic.step, seed)
        self._monitor = None if scenario.defence is None else scenario.defence.monitor.link
        paths = [self._tree.path(spec.attach) for spec in self._specs]
        self._levels = _levels(paths, self._net.links)
        self._via = _flows_via(paths)
        self._src = np.array([spec.id.src_ip for spec in self._specs], dtype=object)
        self._dst = np.array([spec.id.dst_ip for spec in self._specs], dtype=object)
        self._attack = np.array([spec.is_attack for spec in self._specs], dtype=bool)
        self._destinations = sorted(set(self._dst))
        self._node_index = {node: i for i, node in enumerate(self._net.nodes)}
        self._pairs = self._history_pairs(paths)
        n_flows, n_levels = len(self._specs), len(self._levels)
        self._ring_rate = np.zeros((window, n_flows))
        self._ring_syn = np.zeros((window, n_flows))
        self._ring_ack = np.zeros((window, n_flows))
        self._ring_seen = np.zeros((window, n_flows, n_levels))
        self._total_bytes = np.zeros((n_flows, n_levels))
        self._total_syn = np.zeros((n_flows, n_levels))
        self._total_ack = np.zeros((n_flows, n_levels))
        self._link_rate = np.zeros(len(self._net.capacity))
        self._history: list[np.ndarray] = []
        self._telemetry: list[Telemetry] = []
        self._rules: dict[int, Rule] = {}
        self._actions: dict[int, list[_Action]] = {}
        self._drops: list[Drop] = []
        self._dropped: dict[int, float] = {}
        """Packets each rule dropped since it was installed (rate limits included)."""
        self._splits: dict[tuple[str, str], TrafficSplit] = {}
        self._ids = itertools.count(1)
        self._steps = 0
        self._pops = frozenset(pop.id for pop in scenario.pops)
        self._taps = {
            cnf.id: self._tap(scenario, cnf, seed, index) for index, cnf in enumerate(scenario.cnfs)
        }

    # -- clock -------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        """Simulated seconds elapsed."""
        return self._steps * self._dt

    @property
    def step_seconds(self) -> float:
        """Simulated seconds per step (the scenario's traffic.step)."""
        return self._dt

    def step(self) -> None:
        """Advance the clock by one traffic step."""
        t = self.now
        offered = self._traffic.offered(t)
        rate = offered.rate.copy()
        arrival = np.zeros((len(self._specs), len(self._levels)))
        carried = np.zeros_like(self._link_rate)
        self._drops = []
        for depth in reversed(range(len(self._levels))):
            level = self._levels[depth]
            arrival[level.flows, depth] = rate[level.flows]
            for action in self._actions.get(depth, ()):
                self._count_drops(action, action.apply(rate))
            if depth:
                carried += self._share(rate, level)
        self._link_rate = carried
        self._record(t, offered, arrival, rate)

    def run_until(self, t: float) -> None:
        """Step until the clock reaches `t` (the first step boundary at or after it)."""
        while self.now < t - 1e-9 * self._dt:
            self.step()

    # -- rules -------------------------------------------------------------------------------
    def add_rule(self, rule: Rule) -> int:
        """Install a switch rule from the next step on; returns its id for `remove_rule`."""
        self._check_rule(rule)
        rule_id = next(self._ids)
        self._rules[rule_id] = rule
        self._compile()
        return rule_id

    def remove_rule(self, rule_id: int) -> None:
        """Uninstall a rule from the next step on."""
        if rule_id not in self._rules:
            raise KeyError(f"no rule with id {rule_id}")
        del self._rules[rule_id]
        self._compile()

    @property
    def rules(self) -> dict[int, Rule]:
        """The installed rules by id."""
        return dict(self._rules)

    @property
    def drops(self) -> list[Drop]:
        """What every rule dropped in the last step, per flow (flows it left alone omitted)."""
        return list(self._drops)

    def dropped(self, rule_id: int) -> float:
        """Packets the rule dropped since it was installed (0 for an unknown id)."""
        return self._dropped.get(rule_id, 0.0)

    def _count_drops(self, action: _Action, removed: np.ndarray) -> None:
        rule = self._rules[action.rule_id]
        node = rule.a if isinstance(rule, LinkRateLimit) else rule.node
        seconds = self._dt * BYTES_PER_MB
        for flow, mb_per_s in zip(action.flows, removed, strict=True):
            if mb_per_s <= 0:
                continue
            data = float(mb_per_s) * seconds
            packets = data / float(self._traffic.packet_bytes[flow])
            self._drops.append(
                Drop(action.rule_id, rule, self._specs[flow].id, node, data, packets)
            )
            self._dropped[action.rule_id] = self._dropped.get(action.rule_id, 0.0) + packets

    # -- observation -------------------------------------------------------------------------
    @property
    def server_ip(self) -> str:
        """Address every flow is sent to."""
        return self._server_ip

    def ingress(self, src_ip: str) -> str:
        """The node where traffic from `src_ip` enters the network (the controller's host
        table), so a block can drop a flow before it loads any link."""
        for spec in self._specs:
            if spec.id.src_ip == src_ip:
                return spec.attach
        raise KeyError(f"no host with address {src_ip!r}")

    def route(self, node: str) -> tuple[str, ...]:
        """The nodes traffic from `node` crosses to reach the server."""
        return self._tree.path(node)

    def rate(self, a: str, b: str) -> float:
        """MB/s carried on directed link a→b in the last step."""
        return float(self._link_rate[self._link(a, b)])

    def load(self, a: str, b: str) -> float:
        """MB/s on the busier direction of link a–b in the last step (what a monitor sees)."""
        return max(self.rate(a, b), self.rate(b, a))

    def flows_via(
        self, node: str, dst_ip: str | None = None, part: int | None = None
    ) -> list[FlowStats]:
        """Flows that arrived at `node` within the window, optionally only those towards
        `dst_ip` and only split part `part` of the traffic split installed at `node`."""
        if node not in self._net.adjacency:
            raise KeyError(f"unknown node {node!r}")
        flows = self._via.get(node, np.zeros(0, dtype=int))
        if dst_ip is not None:
            flows = flows[self._dst[flows] == dst_ip]
        if part is not None:
            split = self._split_for(node, dst_ip, part)
            flows = flows[self._dst[flows] == split.dst_ip]
            parts = [split_part(ip, split.parts) for ip in self._src[flows]]
            flows = flows[np.array(parts, dtype=int) == part]
        if self._steps == 0 or flows.size == 0:
            return []
        return self._stats(node, flows)

    def destination_rates(self, node: str) -> dict[str, list[float]]:
        """MB/s arriving at `node` towards each destination, one value per step so far."""
        if node not in self._net.adjacency:
            raise KeyError(f"unknown node {node!r}")
        index = self._node_index[node]
        passing = set(self._dst[self._via.get(node, np.zeros(0, dtype=int))])
        return {
            dst: [float(h[index, column]) for h in self._history]
            for column, dst in enumerate(self._destinations)
            if dst in passing
        }

    def server_series(self) -> list[Telemetry]:
        """One telemetry record per step so far."""
        return list(self._telemetry)

    def ground_truth(self) -> dict[FlowId, bool]:
        """Whether each flow is an attack: for evaluation and reports, never for detection."""
        return {spec.id: spec.is_attack for spec in self._specs}

    # -- CNFs --------------------------------------------------------------------------------
    @property
    def cnf_ids(self) -> tuple[str, ...]:
        """The scenario's CNFs, in scenario order."""
        return tuple(self._taps)

    def cnf_metrics(self, cnf: str) -> dict[str, float]:
        """The CNF's sample of the last step, by metric name (see `cnf.METRICS`)."""
        tap = self._cnf(cnf)
        if not tap.truth:
            raise ValueError(f"CNF {cnf!r} has no sample yet: the data plane has not stepped")
        row = tap.rows[len(tap.truth) - 1]
        return {name: float(value) for name, value in zip(METRICS, row, strict=True)}

    def cnf_series(self, cnf: str) -> np.ndarray:
        """The CNF's samples of every step so far, [steps, len(METRICS)] (a copy)."""
        tap = self._cnf(cnf)
        return tap.rows[: len(tap.truth)].copy()

    def cnf_truth(self, cnf: str) -> list[str]:
        """The CNF's condition at every step so far: the attack kind while attack traffic
        reaches its host, else an active incident's kind, else "normal". For evaluation
        only, never for detection."""
        return list(self._cnf(cnf).truth)

    def cnf_placement(self, cnf: str) -> CNFPlacement:
        """Where the CNF's instances run now."""
        return self._cnf(cnf).model.placement

    def remedy(self, cnf: str, remedy: str, pop: str, downtime: float = 0.0) -> None:
        """Apply an enforcement action to a CNF from the next step on: "scale_out" (a
        replica at `pop`), "migrate" (the instance moves to `pop`), "isolate" (the
        instance is quarantined and a clean one starts at `pop`), "guard" (a reverse
        proxy with connection timeouts, at `pop`, in front of the CNF) or "live_migrate"
        (the instance moves to `pop` warm, unavailable for `downtime` seconds). See
        `CNFModel.remedy` for what each does to the metrics."""
        self._cnf(cnf).model.remedy(remedy, pop, self.now, downtime)

    # -- internals ---------------------------------------------------------------------------
    def _cnf(self, cnf: str) -> _Tap:
        try:
            return self._taps[cnf]
        except KeyError:
            raise KeyError(f"unknown CNF {cnf!r}") from None

    def _tap(self, scenario: Scenario, cnf: CNF, seed: int, index: int) -> _Tap:
        """The CNF's model (its instances may run at any PoP) and the flows that arrive
        at its host."""
        incidents = [i for i in scenario.incidents if i.cnf == cnf.id]
        model = CNFModel(cnf, incidents, pops=self._pops, seed=seed + index)
        flows = self._via.get(cnf.host, np.zeros(0, dtype=int))
        depth = self._tree.depth.get(cnf.host, 0)
        kinds = np.array([self._specs[f].kind for f in flows], dtype=object)
        return _Tap(model, flows, depth, kinds)

    def _sample_cnfs(
        self, t: float, offered: Offered, arrival: np.ndarray, seen: np.ndarray
    ) -> None:
        """One sample of every CNF from what reached its host in the step starting at `t`."""
        for tap in self._taps.values():
            flows, depth = tap.flows, tap.depth
            delivered = arrival[flows, depth]
            share = seen[flows, depth]
            acks = offered.ack[flows] * share
            arrivals = Arrivals(
                requests=float(acks[tap.requests].sum()) / self._dt,
                streams=float(share[tap.video].sum()),
                rx=float(delivered.sum()),
                half_open=float(((offered.syn[flows] - offered.ack[flows]) * share).sum())
                / self._dt,
                slow=float(acks[tap.slow].sum()) / self._dt,
            )
            row = tap.model.sample(t, self._dt, arrivals)
            attacking = tap.kinds[tap.attack & (delivered > 0)]
            if attacking.size:
                label = str(attacking[0])
            else:
                active = tap.model.active(t)
                label = active[0].kind if active else "normal"
            tap.append(row, label)

    def _link(self, a: str, b: str) -> int:
        try:
            return self._net.links[a, b]
        except KeyError:
            raise KeyError(f"no link {a!r}→{b!r}") from None

    def _share(self, rate: np.ndarray, level: _Level) -> np.ndarray:
        """Fit every directed link leaving this level into its capacity; returns the loads."""
        capacity = self._net.capacity
        load = np.bincount(level.links, weights=rate[level.flows], minlength=len(capacity))
        scale = np.ones_like(load)
        over = load > capacity
        scale[over] = capacity[over] / load[over]
        rate[level.flows] *= (scale * self._net.keep)[level.links]
        return load * scale

    def _record(
        self, t: float, offered: Offered, arrival: np.ndarray, delivered: np.ndarray
    ) -> None:
        row = self._steps % self._window
        sent = offered.rate[:, None]
        seen = np.divide(arrival, sent, out=np.zeros_like(arrival), where=sent > 0)
        self._ring_rate[row] = offered.rate
        self._ring_syn[row] = offered.syn
        self._ring_ack[row] = offered.ack
        self._ring_seen[row] = seen
        self._total_bytes += arrival * (self._dt * BYTES_PER_MB)
        self._total_syn += offered.syn[:, None] * seen
        self._total_ack += offered.ack[:, None] * seen
        flows, depths, keys = self._pairs
        totals = np.bincount(
            keys,
            weights=arrival[flows, depths],
            minlength=len(self._net.nodes) * len(self._destinations),
        )
        self._history.append(totals.reshape(len(self._net.nodes), -1))
        if self._taps:
            self._sample_cnfs(t, offered, arrival, seen)
        self._telemetry.append(
            Telemetry(
                t=t,
                legit=float(delivered[~self._attack].sum()),
                attack=float(delivered[self._attack].sum()),
                offered_legit=float(offered.rate[~self._attack].sum()),
                offered_attack=float(offered.rate[self._attack].sum()),
                monitored=None if self._monitor is None else self.load(*self._monitor),
            )
        )
        self._steps += 1

    def _stats(self, node: str, flows: np.ndarray) -> list[FlowStats]:
        """Counters of `flows` as seen arriving at `node`; flows silent in the window skipped."""
        depth = self._tree.depth[node]
        rows = min(self._steps, self._window)
        seen = self._ring_seen[:rows, flows, depth]
        sent = self._ring_rate[:rows, flows] * seen * (self._dt * BYTES_PER_MB)
        syn = self._ring_syn[:rows, flows] * seen
        ack = self._ring_ack[:rows, flows] * seen
        packet_bytes = self._traffic.packet_bytes[flows]
        last = (self._steps - 1) % self._window

        def counters(
            seconds: float, data: np.ndarray, syns: np.ndarray, acks: np.ndarray
        ) -> list[Counters]:
            return [
                Counters(seconds, float(b), float(b / size), float(s), float(a))
                for b, size, s, a in zip(data, packet_bytes, syns, acks, strict=True)
            ]

        windowed = counters(rows * self._dt, sent.sum(0), syn.sum(0), ack.sum(0))
        latest = counters(self._dt, sent[last], syn[last], ack[last])
        totals = counters(
            self.now,
            self._total_bytes[flows, depth],
            self._total_syn[flows, depth],
            self._total_ack[flows, depth],
        )
        return [
            FlowStats(self._specs[f].id, node, self._part_of(node, f), lt, w, tot)
            for f, lt, w, tot in zip(flows, latest, windowed, totals, strict=True)
            if w.bytes > 0
        ]

    def _part_of(self, node: str, flow: int) -> int | None:
        split = self._splits.get((node, self._dst[flow]))
        return None if split is None else split_part(self._src[flow], split.parts)

    def _split_for(self, node: str, dst_ip: str | None, part: int) -> TrafficSplit:
        splits = [
            split
            for (at, dst), split in self._splits.items()
            if at == node and dst_ip in (None, dst)
        ]
        if len(splits) != 1:
            target = "" if dst_ip is None else f" towards {dst_ip}"
            raise ValueError(f"{len(splits)} traffic splits at {node!r}{target}; need exactly 1")
        if not 0 <= part < splits[0].parts:
            raise ValueError(f"part {part} is outside 0..{splits[0].parts - 1}")
        return splits[0]

    def _check_rule(self, rule: Rule) -> None:
        if isinstance(rule, LinkRateLimit):
            if (rule.a, rule.b) not in self._net.links:
                raise ValueError(f"no link {rule.a!r}→{rule.b!r} to limit")
            return
        if rule.node not in self._net.adjacency:
            raise ValueError(f"unknown node {rule.node!r}")
        if isinstance(rule, TrafficSplit) and (rule.node, rule.dst_ip) in self._splits:
            raise ValueError(f"{rule.node!r} already splits traffic towards {rule.dst_ip}")

    def _compile(self) -> None:
        """Turn the installed rules into per-level actions (blocks first, then limits) and
        index the traffic splits by node and destination."""
        self._splits = {
            (rule.node, rule.dst_ip): rule
            for rule in self._rules.values()
            if isinstance(rule, TrafficSplit)
        }
        actions: dict[int, list[_Action]] = {}
        for rule_id, rule in self._rules.items():
            compiled = self._action(rule_id, rule)
            if compiled is not None:
                depth, action = compiled
                actions.setdefault(depth, []).append(action)
        for level in actions.values():
            level.sort(key=lambda action: (action.rank, action.rule_id))
        self._actions = actions

    def _action(self, rule_id: int, rule: Rule) -> tuple[int, _Action] | None:
        node = rule.a if isinstance(rule, LinkRateLimit) else rule.node
        flows = self._via.get(node)
        if flows is None or isinstance(rule, TrafficSplit):
            return None
        depth = self._tree.depth[node]
        match rule:
            case FlowBlock(src_ip=src, dst_ip=dst):
                chosen = flows[(self._src[flows] == src) & (self._dst[flows] == dst)]
                return depth, _Action(0, rule_id, chosen, None)
            case IpRateLimit(dst_ip=dst, rate=cap):
                return depth, _Action(1, rule_id, flows[self._dst[flows] == dst], cap)
            case LinkRateLimit(b=b, rate=cap):
                leaving = flows if self._tree.next_hop.get(node) == b else flows[:0]
                return depth, _Action(1, rule_id, leaving, cap)

    def _history_pairs(self, paths: Sequence[tuple[str, ...]]) -> tuple[np.ndarray, ...]:
        """(flow, depth, node×destination key) of every node on every flow's path."""
        dst_index = {dst: i for i, dst in enumerate(self._destinations)}
        flows, depths, keys = [], [], []
        for flow, path in enumerate(paths):
            for depth, node in enumerate(reversed(path)):
                flows.append(flow)
                depths.append(depth)
                keys.append(self._node_index[node] * len(dst_index) + dst_index[self._dst[flow]])
        return (np.array(flows, dtype=int), np.array(depths, dtype=int), np.array(keys, dtype=int))


def _levels(paths: Sequence[tuple[str, ...]], links: dict[tuple[str, str], int]) -> list[_Level]:
    """Group every (flow, node) on a path by the node's depth; depth 0 is the server."""
    n_levels = max((len(path) for path in paths), default=1)
    flows: list[list[int]] = [[] for _ in range(n_levels)]
    out: list[list[int]] = [[] for _ in range(n_levels)]
    for flow, path in enumerate(paths):
        hops = len(path) - 1
        for position, node in enumerate(path):
            flows[hops - position].append(flow)
            if position < hops:
                out[hops - position].append(links[node, path[position + 1]])
    return [
        _Level(np.array(f, dtype=int), np.array(o, dtype=int))
        for f, o in zip(flows, out, strict=True)
    ]


def _flows_via(paths: Sequence[tuple[str, ...]]) -> dict[str, np.ndarray]:
    """The flows whose path crosses each node."""
    via: dict[str, list[int]] = {}
    for flow, path in enumerate(paths):
        for node in path:
            via.setdefault(node, []).append(flow)
    return {node: np.array(flows, dtype=int) for node, flows in via.items()}

"""The flow-level data plane: offered traffic in, switch rules and link sharing, stats out.

Every flow goes to the server, along the shortest-path tree rooted there unless steering
rules (`Steer`, the chaining of `003_…` §3) send it through a VNF's PoP first, so flows
follow paths of their own. A step walks every flow's path hop by hop, in rounds by the
number of hops left to the server, farthest first: at each round it records what arrives
at the nodes, applies their rules (blocks, then IP and link limits) and fits the traffic
leaving on every directed link into what is left of its capacity, scaling the flows on an
over-full link in proportion to their rates. Without steering every link is met in one
round only (the routes form an in-tree), so sharing is exactly proportional. A link that
steered flows meet at other distances from the server than the rest (a detour leaving
and coming back over the same links) is shared in proportion to what every round offers
it, the other rounds' offer taken from the step before, and never beyond its capacity;
a rate limit whose flows reach it in several rounds divides its cap among them the same
way (`_Caps`), so no round's traffic starves another's.
Each round is a handful of numpy operations whatever the number of flows, and the
hop-by-hop order means a flow throttled upstream leaves room for others downstream.

What arrives at a node is kept per (flow, node) pair, for the first time the flow reaches
the node in a step; a rule at a node acts there too (a link limit where the flow enters
its link). So a VNF's rules and statistics see exactly the flows whose path crosses its PoP.

The scenario's CNFs (`cnf.py`) are sampled after every step from what arrived at their
host; their metric series, ground-truth labels and placements are kept for the run, and
`remedy` applies an enforcement action to one of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from secmas.network import attack as registry
from secmas.network.dataplane.cnf import METRICS, Arrivals, CNFModel, CNFPlacement
from secmas.network.dataplane.flows import LEGITIMATE
from secmas.network.dataplane.routing import Network, shortest_path_tree, steered_path
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
from secmas.network.dataplane.traffic import (
    FlowKind,
    Offered,
    TrafficModel,
    scenario_flows,
    server_ip,
)
from secmas.scenario.model import CNF, Attack, Scenario

_NONE = np.zeros(0, dtype=int)


def _each(
    senders: list[registry.Sender | None], trait: Callable[[registry.Sender], bool]
) -> np.ndarray:
    """Which flows an attack with `trait` sends (None: a legitimate client's flow)."""
    return np.array([s is not None and trait(s) for s in senders], dtype=bool)


@dataclass(frozen=True, slots=True)
class _Round:
    """The hops of every flow at one distance from the server, with what a step needs of
    them precomputed: the flows, those visiting their node for the first time and the
    (flow, node) pairs that visit is counted in, the distinct directed links the flows
    leave on (`out`, none at the server) and each hop's position there (`slot`), and
    which of those links other rounds meet too (`shared`, their `columns` in the table
    of what each round offers them)."""

    flows: np.ndarray
    first_flows: np.ndarray
    first_pairs: np.ndarray
    out: np.ndarray
    slot: np.ndarray
    shared: np.ndarray
    columns: np.ndarray

    @classmethod
    def of(
        cls, flows: np.ndarray, pairs: np.ndarray, links: np.ndarray, column: np.ndarray
    ) -> _Round:
        """The round of these hops; `column` maps a link to its column, -1 if unshared."""
        first = pairs >= 0
        leaving = links >= 0
        out, slot = np.unique(links[leaving], return_inverse=True)
        shared = np.flatnonzero(column[out] >= 0)
        return cls(
            flows[leaving], flows[first], pairs[first], out, slot, shared, column[out[shared]]
        )


@dataclass(frozen=True, slots=True)
class _Hops:
    """Every hop of every flow's current path, flat: flow, node index, hops left to the
    server, (flow, node) pair of a first visit or -1, and the link it leaves on or -1."""

    flow: np.ndarray
    node: np.ndarray
    left: np.ndarray
    pair: np.ndarray
    link: np.ndarray

    def rounds(self, column: np.ndarray) -> list[_Round]:
        """The hops grouped by hops left; index 0 is the server. `column` maps a link met
        in several rounds to its column in the offer table, others to -1."""
        n_rounds = int(self.left.max()) + 1 if self.left.size else 1
        order = np.argsort(self.left, kind="stable")
        bounds = np.searchsorted(self.left[order], np.arange(n_rounds + 1))
        return [
            _Round.of(self.flow[chosen], self.pair[chosen], self.link[chosen], column)
            for chosen in (order[a:b] for a, b in itertools.pairwise(bounds))
        ]

    def shared_links(self, n_links: int) -> np.ndarray:
        """Directed links met in more than one round (only steering makes them)."""
        leaving = self.link >= 0
        met = np.unique(np.stack([self.link[leaving], self.left[leaving]]), axis=1)[0]
        return np.flatnonzero(np.bincount(met, minlength=n_links) > 1)


@dataclass(slots=True)
class _Caps:
    """How the cap of each rate limit is divided in one step among the rounds it acts in.

    Steered flows may reach a limit's node (or link) at another distance from the server
    than the rest, so one limit meets its flows in several rounds. Each round gets the
    cap in proportion to what it brings (as a shared link's capacity is divided, see
    `DataPlane._share`): the rounds walked already this step count with what they
    brought, the others with what they brought in the last step when their flows are the
    same, else with what their flows offer at the source. What earlier rounds let through
    is never given again, so the cap is never exceeded. Without steering a limit acts in
    one round and its cap is simply applied.
    """

    rounds: dict[int, dict[int, np.ndarray]]
    """Rule id → hops left → the flows the rule matches in that round."""
    before: dict[tuple[int, int], float]
    """MB/s each (rule, round) brought to the rule in the last step."""
    source: np.ndarray
    """MB/s every flow offers in this step."""
    arrived: dict[tuple[int, int], float] = field(default_factory=dict)
    passed: dict[int, float] = field(default_factory=dict)

    def allowance(self, rule_id: int, left: int, cap: float, arriving: float) -> float:
        """MB/s the rule lets through in this round, of `arriving`."""
        self.arrived[rule_id, left] = arriving
        others = sum(
            self._expected(rule_id, other, flows)
            for other, flows in self.rounds[rule_id].items()
            if other != left
        )
        share = cap * arriving / (arriving + others) if others > 0 else cap
        allowed = max(0.0, min(share, cap - self.passed.get(rule_id, 0.0)))
        self.passed[rule_id] = self.passed.get(rule_id, 0.0) + min(arriving, allowed)
        return allowed

    def _expected(self, rule_id: int, left: int, flows: np.ndarray) -> float:
        key = (rule_id, left)
        if key in self.arrived:
            return self.arrived[key]
        if key in self.before:
            return self.before[key]
        return float(self.source[flows].sum())


@dataclass(frozen=True, slots=True)
class _Action:
    """A compiled rule in one round (`left` hops from the server): the flows it matches
    there and the rule's joint cap (None drops them)."""

    rank: int
    rule_id: int
    left: int
    flows: np.ndarray
    cap: float | None

    def apply(self, rate: np.ndarray, caps: _Caps) -> np.ndarray:
        """Drop or proportionally scale down the matched flows' rates in place; returns the
        MB/s taken from each matched flow. A cap is shared with the other rounds the rule
        acts in (`caps`)."""
        before = rate[self.flows].copy()
        if self.cap is None:
            rate[self.flows] = 0.0
        else:
            total = float(before.sum())
            allowed = caps.allowance(self.rule_id, self.left, self.cap, total)
            if total > allowed:
                rate[self.flows] *= allowed / total
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
    """A CNF on the data plane: its model, the flows that reach its host (with the
    (flow, host) pairs their arrivals are counted in) and their kinds, and the metric rows
    and labels of every step so far."""

    def __init__(self, model: CNFModel, host: str) -> None:
        self.model = model
        self.host = host
        self.rows = np.zeros((64, len(METRICS)))
        self.truth: list[str] = []
        self.watch(_NONE, _NONE, np.zeros(0, dtype=object))

    def watch(self, flows: np.ndarray, pairs: np.ndarray, kinds: np.ndarray) -> None:
        """The flows whose arrivals at the host the CNF counts from now on."""
        self.flows = flows
        self.pairs = pairs
        self.kinds = kinds
        senders = [None if kind in LEGITIMATE else registry.sender(kind) for kind in kinds]
        self.requests = (kinds == FlowKind.HTTP) | _each(senders, lambda s: s.requests)
        self.video = kinds == FlowKind.VIDEO
        self.slow = _each(senders, lambda s: s.holds)
        self.attack = np.array([s is not None for s in senders], dtype=bool)

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
        self._link_keys = [link_key(link.a, link.b) for link in scenario.links]
        self._link_ends = (
            np.array([self._net.links[link.a, link.b] for link in scenario.links], dtype=int),
            np.array([self._net.links[link.b, link.a] for link in scenario.links], dtype=int),
        )
        self._src = np.array([spec.id.src_ip for spec in self._specs], dtype=object)
        self._dst = np.array([spec.id.dst_ip for spec in self._specs], dtype=object)
        self._attack = np.array([spec.is_attack for spec in self._specs], dtype=bool)
        self._kinds = np.array([spec.kind for spec in self._specs], dtype=object)
        self._flow_index = {spec.id: flow for flow, spec in enumerate(self._specs)}
        self._destinations = sorted(set(self._dst))
        self._node_index = {node: i for i, node in enumerate(self._net.nodes)}
        n_flows = len(self._specs)
        self._ring_rate = np.zeros((window, n_flows))
        self._ring_syn = np.zeros((window, n_flows))
        self._ring_ack = np.zeros((window, n_flows))
        # (flow, node) pairs: arrivals and counters are kept per pair; ids are stable, so
        # a flow's history at a node survives a change of its path
        self._pair_ids: dict[tuple[int, int], int] = {}
        self._pair_flow = _NONE
        self._pair_key = _NONE
        self._node_pairs: dict[str, np.ndarray] = {}
        self._ring_seen = np.zeros((window, 0))
        self._total_bytes = np.zeros(0)
        self._total_syn = np.zeros(0)
        self._total_ack = np.zeros(0)
        self._link_rate = np.zeros(len(self._net.capacity))
        self._history: list[np.ndarray] = []
        self._telemetry: list[Telemetry] = []
        self._rules: dict[int, Rule] = {}
        self._actions: dict[int, list[_Action]] = {}
        self._cap_rounds: dict[int, dict[int, np.ndarray]] = {}
        self._cap_arrived: dict[tuple[int, int], float] = {}
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
        self._paths: list[tuple[str, ...]] = []
        self._rounds: list[_Round] = []
        self._hops = _Hops(_NONE, _NONE, _NONE, _NONE, _NONE)
        self._latency = np.zeros(n_flows)
        self._compile()

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
        arrival = np.zeros(len(self._pair_flow))
        room = self._net.capacity.copy()
        self._offer = np.zeros_like(self._offer)
        caps = _Caps(self._cap_rounds, self._cap_arrived, offered.rate)
        self._drops = []
        for left in reversed(range(len(self._rounds))):
            hops = self._rounds[left]
            arrival[hops.first_pairs] = rate[hops.first_flows]
            for action in self._actions.get(left, ()):
                self._count_drops(action, action.apply(rate, caps))
            if left:
                self._share(rate, hops, room, left)
        self._link_rate = self._net.capacity - room
        self._cap_arrived = caps.arrived
        self._offered_before = self._offer
        self._offered_total = self._offer.sum(0)
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
        """The nodes traffic from `node` crosses to reach the server when nothing steers it."""
        return self._tree.path(node)

    def path(self, flow: FlowId) -> tuple[str, ...]:
        """The nodes the flow crosses now, from its attach node to the server (steering
        included)."""
        return self._paths[self._flow(flow)]

    def latency(self, flow: FlowId) -> float:
        """One-way latency of the flow's current path, ms (the sum of its links')."""
        return float(self._latency[self._flow(flow)])

    def rate(self, a: str, b: str) -> float:
        """MB/s carried on directed link a→b in the last step."""
        return float(self._link_rate[self._link(a, b)])

    def load(self, a: str, b: str) -> float:
        """MB/s on the busier direction of link a–b in the last step (what a monitor sees)."""
        return max(self.rate(a, b), self.rate(b, a))

    def flows_via(
        self, node: str, dst_ip: str | None = None, part: int | None = None
    ) -> list[FlowStats]:
        """Flows that arrived at `node` within the window (steered there or not), optionally
        only those towards `dst_ip` and only split part `part` of the traffic split
        installed at `node`."""
        if node not in self._net.adjacency:
            raise KeyError(f"unknown node {node!r}")
        pairs = self._node_pairs.get(node, _NONE)
        flows = self._pair_flow[pairs]
        keep = np.ones(len(pairs), dtype=bool)
        if dst_ip is not None:
            keep &= self._dst[flows] == dst_ip
        if part is not None:
            split = self._split_for(node, dst_ip, part)
            keep &= self._dst[flows] == split.dst_ip
            parts = [split_part(ip, split.parts) for ip in self._src[flows]]
            keep &= np.array(parts, dtype=int) == part
        pairs = pairs[keep]
        if self._steps == 0 or pairs.size == 0:
            return []
        return self._stats(node, pairs)

    def destination_rates(self, node: str) -> dict[str, list[float]]:
        """MB/s arriving at `node` towards each destination, one value per step so far."""
        if node not in self._net.adjacency:
            raise KeyError(f"unknown node {node!r}")
        index = self._node_index[node]
        passing = set(self._dst[self._pair_flow[self._node_pairs.get(node, _NONE)]])
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

    def _flow(self, flow: FlowId) -> int:
        try:
            return self._flow_index[flow]
        except KeyError:
            raise KeyError(f"unknown flow {flow}") from None

    def _tap(self, scenario: Scenario, cnf: CNF, seed: int, index: int) -> _Tap:
        """The CNF's model (its instances may run at any PoP); what reaches its host is
        set on every compile."""
        incidents = [i for i in scenario.incidents if i.cnf == cnf.id]
        return _Tap(CNFModel(cnf, incidents, pops=self._pops, seed=seed + index), cnf.host)

    def _sample_cnfs(
        self, t: float, offered: Offered, arrival: np.ndarray, seen: np.ndarray
    ) -> None:
        """One sample of every CNF from what reached its host in the step starting at `t`."""
        for tap in self._taps.values():
            flows, pairs = tap.flows, tap.pairs
            delivered = arrival[pairs]
            share = seen[pairs]
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

    def _share(self, rate: np.ndarray, hops: _Round, room: np.ndarray, left: int) -> None:
        """Fit the traffic leaving on every directed link in this round into the capacity
        earlier rounds left (`room`, used up in place); on a link met in several rounds,
        into its proportional share of the capacity as well."""
        load = np.bincount(hops.slot, weights=rate[hops.flows], minlength=len(hops.out))
        free = room[hops.out]
        scale = np.ones_like(load)
        over = load > free
        scale[over] = free[over] / load[over]
        if hops.shared.size:
            offer = load[hops.shared]
            others = self._offered_total[hops.columns] - self._offered_before[left, hops.columns]
            fair = self._net.capacity[hops.out[hops.shared]] / np.maximum(offer + others, 1e-12)
            scale[hops.shared] = np.minimum(scale[hops.shared], np.minimum(fair, 1.0))
            self._offer[left, hops.columns] = offer
        rate[hops.flows] *= (scale * self._net.keep[hops.out])[hops.slot]
        room[hops.out] = np.maximum(free - load * scale, 0.0)

    def _record(
        self, t: float, offered: Offered, arrival: np.ndarray, delivered: np.ndarray
    ) -> None:
        row = self._steps % self._window
        sent = offered.rate[self._pair_flow]
        seen = np.divide(arrival, sent, out=np.zeros_like(arrival), where=sent > 0)
        self._ring_rate[row] = offered.rate
        self._ring_syn[row] = offered.syn
        self._ring_ack[row] = offered.ack
        self._ring_seen[row] = seen
        self._total_bytes += arrival * (self._dt * BYTES_PER_MB)
        self._total_syn += offered.syn[self._pair_flow] * seen
        self._total_ack += offered.ack[self._pair_flow] * seen
        totals = np.bincount(
            self._pair_key,
            weights=arrival,
            minlength=len(self._net.nodes) * len(self._destinations),
        )
        self._history.append(totals.reshape(len(self._net.nodes), -1))
        if self._taps:
            self._sample_cnfs(t, offered, arrival, seen)
        legit = delivered[~self._attack]
        self._telemetry.append(
            Telemetry(
                t=t,
                legit=float(legit.sum()),
                attack=float(delivered[self._attack].sum()),
                offered_legit=float(offered.rate[~self._attack].sum()),
                offered_attack=float(offered.rate[self._attack].sum()),
                monitored=None if self._monitor is None else self.load(*self._monitor),
                latency=_weighted_mean(self._latency[~self._attack], legit),
                links=self._link_loads(),
            )
        )
        self._steps += 1

    def _link_loads(self) -> dict[str, float]:
        """The loaded links' loads in the last step, the busier direction (telemetry)."""
        forward, backward = self._link_ends
        loads = np.maximum(self._link_rate[forward], self._link_rate[backward])
        return busy_links(zip(self._link_keys, loads.tolist(), strict=True))

    def _stats(self, node: str, pairs: np.ndarray) -> list[FlowStats]:
        """Counters of the flows of `pairs` as seen arriving at `node`; flows silent in the
        window skipped."""
        flows = self._pair_flow[pairs]
        rows = min(self._steps, self._window)
        seen = self._ring_seen[:rows, pairs]
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
            self.now, self._total_bytes[pairs], self._total_syn[pairs], self._total_ack[pairs]
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
        if isinstance(rule, Steer):
            self._check_steer(rule)

    def _check_steer(self, steer: Steer) -> None:
        """A steering path runs over links between nodes that forward traffic (no host),
        ends where the server can be reached, and a part needs a split to be part of."""
        for a, b in itertools.pairwise(steer.via):
            if (a, b) not in self._net.links:
                raise ValueError(f"steering path {list(steer.via)}: no link {a!r}→{b!r}")
        hosts = [node for node in steer.via if node in self._net.hosts]
        if hosts:
            raise ValueError(f"steering path {list(steer.via)} crosses host {hosts[0]!r}")
        if steer.via[-1] not in self._tree.next_hop:
            raise ValueError(f"no route from {steer.via[-1]!r} to {self._tree.root!r}")
        if steer.part is not None:
            self._split_for(steer.node, steer.dst_ip, steer.part)

    def _compile(self) -> None:
        """Index the traffic splits, route every flow through the steerings that match it,
        and turn the other rules into per-round actions (blocks first, then limits)."""
        self._splits = {
            (rule.node, rule.dst_ip): rule
            for rule in self._rules.values()
            if isinstance(rule, TrafficSplit)
        }
        self._route()
        actions: dict[int, list[_Action]] = {}
        for rule_id, rule in self._rules.items():
            for left, action in self._actions_of(rule_id, rule):
                actions.setdefault(left, []).append(action)
        for level in actions.values():
            level.sort(key=lambda action: (action.rank, action.rule_id))
        self._actions = actions
        self._index_caps(actions)

    def _index_caps(self, actions: dict[int, list[_Action]]) -> None:
        """Which flows each rate limit meets in every round, for `_Caps`; what a round
        brought in the last step is kept only where it still holds the same flows."""
        rounds: dict[int, dict[int, np.ndarray]] = {}
        for left, level in actions.items():
            for action in level:
                if action.cap is not None:
                    rounds.setdefault(action.rule_id, {})[left] = action.flows
        self._cap_arrived = {
            (rule_id, left): mb_per_s
            for (rule_id, left), mb_per_s in self._cap_arrived.items()
            if np.array_equal(
                self._cap_rounds.get(rule_id, {}).get(left, _NONE),
                rounds.get(rule_id, {}).get(left, _NONE),
            )
        }
        self._cap_rounds = rounds

    def _route(self) -> None:
        """Every flow's path, its hops grouped in rounds, its latency, and the (flow, node)
        pairs of its first visits (new pairs get fresh counters)."""
        steers = [rule for rule in self._rules.values() if isinstance(rule, Steer)]
        default: dict[str, tuple[str, ...]] = {}
        self._paths = []
        for flow, spec in enumerate(self._specs):
            mine = [s for s in steers if self._steers(s, flow)]
            if mine:
                self._paths.append(steered_path(self._tree, spec.attach, mine))
            else:
                if spec.attach not in default:
                    default[spec.attach] = self._tree.path(spec.attach)
                self._paths.append(default[spec.attach])
        flow_of, node_of, left_of, pair_of, link_of = [], [], [], [], []
        latency = np.zeros(len(self._specs))
        for flow, path in enumerate(self._paths):
            seen: set[str] = set()
            for position, node in enumerate(path):
                flow_of.append(flow)
                node_of.append(self._node_index[node])
                left_of.append(len(path) - 1 - position)
                pair_of.append(-1 if node in seen else self._pair(flow, node))
                seen.add(node)
                link = self._net.links[node, path[position + 1]] if position + 1 < len(path) else -1
                link_of.append(link)
                if link >= 0:
                    latency[flow] += self._net.latency[link]
        self._hops = _Hops(
            *(np.array(x, dtype=int) for x in (flow_of, node_of, left_of, pair_of, link_of))
        )
        shared = self._hops.shared_links(len(self._net.capacity))
        column = np.full(len(self._net.capacity), -1)
        column[shared] = np.arange(len(shared))
        self._rounds = self._hops.rounds(column)
        self._latency = latency
        self._offer = np.zeros((len(self._rounds), len(shared)))
        """What each round offered each shared link in this step (the last step's in
        `_offered_before`, their sums over the rounds in `_offered_total`)."""
        self._offered_before = self._offer
        self._offered_total = self._offer.sum(0)
        self._grow()
        for tap in self._taps.values():
            pairs = self._node_pairs.get(tap.host, _NONE)
            flows = self._pair_flow[pairs]
            tap.watch(flows, pairs, self._kinds[flows])

    def _steers(self, steer: Steer, flow: int) -> bool:
        """Whether the steering applies to the flow: its destination, source and split part."""
        if steer.dst_ip != self._dst[flow] or steer.src_ip not in (None, self._src[flow]):
            return False
        if steer.part is None:
            return True
        split = self._splits.get((steer.node, steer.dst_ip))
        return split is not None and split_part(self._src[flow], split.parts) == steer.part

    def _pair(self, flow: int, node: str) -> int:
        """The id of the (flow, node) pair, made on first use."""
        key = (flow, self._node_index[node])
        pair = self._pair_ids.get(key)
        if pair is None:
            pair = self._pair_ids[key] = len(self._pair_ids)
        return pair

    def _grow(self) -> None:
        """Counters for pairs seen for the first time, and each node's pairs."""
        new = len(self._pair_ids) - len(self._pair_flow)
        if new <= 0:
            return
        keys = np.array(list(self._pair_ids)[len(self._pair_flow) :], dtype=int).reshape(-1, 2)
        self._pair_flow = np.concatenate([self._pair_flow, keys[:, 0]])
        dst_index = {dst: i for i, dst in enumerate(self._destinations)}
        columns = np.array([dst_index[d] for d in self._dst[keys[:, 0]]], dtype=int)
        self._pair_key = np.concatenate(
            [self._pair_key, keys[:, 1] * len(self._destinations) + columns]
        )
        self._ring_seen = np.concatenate([self._ring_seen, np.zeros((self._window, new))], axis=1)
        self._total_bytes = np.concatenate([self._total_bytes, np.zeros(new)])
        self._total_syn = np.concatenate([self._total_syn, np.zeros(new)])
        self._total_ack = np.concatenate([self._total_ack, np.zeros(new)])
        nodes = np.array(list(self._pair_ids), dtype=int).reshape(-1, 2)[:, 1]
        order = np.argsort(nodes, kind="stable")
        bounds = np.searchsorted(nodes[order], np.arange(len(self._net.nodes) + 1))
        self._node_pairs = {
            node: order[bounds[i] : bounds[i + 1]]
            for i, node in enumerate(self._net.nodes)
            if bounds[i + 1] > bounds[i]
        }

    def _actions_of(self, rule_id: int, rule: Rule) -> list[tuple[int, _Action]]:
        """The rule's action in every round it matches hops in: a block or an IP limit
        where a flow first reaches the rule's node, a link limit where a flow enters the
        link. Splits and steerings act on routes instead (`_route`)."""
        hops = self._hops
        match rule:
            case FlowBlock(node=node, src_ip=src, dst_ip=dst):
                flows = hops.flow
                chosen = (
                    self._first_at(node) & (self._src[flows] == src) & (self._dst[flows] == dst)
                )
                rank, cap = 0, None
            case IpRateLimit(node=node, dst_ip=dst, rate=limit):
                chosen = self._first_at(node) & (self._dst[hops.flow] == dst)
                rank, cap = 1, limit
            case LinkRateLimit(a=a, b=b, rate=limit):
                chosen = hops.link == self._net.links[a, b]
                rank, cap = 1, limit
            case _:
                return []
        return [
            (
                int(left),
                _Action(rank, rule_id, int(left), hops.flow[chosen & (hops.left == left)], cap),
            )
            for left in np.unique(hops.left[chosen])
        ]

    def _first_at(self, node: str) -> np.ndarray:
        """Which hops are a flow's first visit of `node`."""
        return (self._hops.node == self._node_index[node]) & (self._hops.pair >= 0)


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    """Σ values × weights / Σ weights; 0 without weight."""
    total = float(weights.sum())
    return float((values * weights).sum()) / total if total > 0 else 0.0

"""Path algorithms of the bidding heuristic: Algorithm 1 and the widest path.

`lowest_cost_path` is Algorithm 1 (`lowestCostPath`) of `003_…`: Dijkstra from the bidder
to the auctioneer that carries accumulated latency, compounded loss and hops, discards any
edge whose accumulated values break a goal constraint (Eq. 4.2, line 24), and weighs an
edge by its bandwidth times the resource evaluation of its two ends (line 29).

One deviation, on purpose: the pseudo-code writes latency[v], pktLoss[v] and hops[v]
(lines 21–23) before it knows whether the edge relaxes v, so a rejected edge would
overwrite the measurements of v's current best path. Here they are stored only when v
is relaxed, which is what the text describes.

One saving, which changes no answer: every bid of an auction searches towards the same
auctioneer, so one reverse Dijkstra from it (`Graph.costs_to`, kept with the graph) gives
each node a lower bound on its cost to the auctioneer, and a bid's search drops any edge
whose cost plus that bound exceeds a budget (`_search`). The search keeps Dijkstra's order,
so whatever it settles within the budget it settles exactly as the full search would:
a label whose cost plus bound exceeds the budget can neither lie on a path that fits it
nor block one that does (the bound is consistent: it never drops by more than an edge's
cost along an edge). A path found with room to spare in the budget (`SLACK`, far above the
floating-point error of the sums) is therefore the full search's. The budget is the
unconstrained lowest cost, which is the answer whenever the goal's constraints do not
bind, so a bid settles only the nodes of the cheapest paths instead of every node
cheaper than the auctioneer; where they bind, the full search follows. A bidder whose
least latency, loss or hops to the auctioneer (`Graph.reach_to`, one reverse Dijkstra
each) already breaks a constraint has no path, and is told so without a search.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from secmas.network.infrastructure import Infrastructure
from secmas.scenario.model import Constraint, Measure, Operator


@dataclass(frozen=True, slots=True)
class Path:
    """A path found by Algorithm 1 with its cost and accumulated measurements."""

    nodes: tuple[str, ...]
    cost: float
    latency: float
    loss: float
    hops: int


def sat_cst(measure: Measure, value: float, constraints: Iterable[Constraint]) -> bool:
    """Eq. 4.2: every constraint on `measure` holds for `value` (loss in percent)."""
    return Window.of(constraints, measure).admits(value)


def _inside(bound: float, value: float, scale: float, towards: float) -> float:
    """`bound` (`value` times `scale`) moved one float `towards` the window's inside when
    the scaling rounded it outwards: a loss bound of 5e-324 % is 0 as a fraction, which
    would admit a lossless path that the bound in percent refuses."""
    outside = bound / scale < value if towards > 0 else bound / scale > value
    return math.nextafter(bound, towards) if scale != 1.0 and outside else bound


@dataclass(frozen=True, slots=True)
class Window:
    """The constraints on one measure as an interval lo ≤ x ≤ hi, plus any == / !=.

    Strict bounds are folded in with `math.nextafter`, so the hot loop of Algorithm 1
    needs two float comparisons per measure instead of a call per constraint.
    """

    lo: float = -math.inf
    hi: float = math.inf
    exact: tuple[Constraint, ...] = ()

    @classmethod
    def of(cls, constraints: Iterable[Constraint], measure: Measure, scale: float = 1.0) -> Window:
        """The window of `measure`, with bounds multiplied by `scale` (loss: % → fraction)."""
        lo, hi, exact = -math.inf, math.inf, []
        for c in constraints:
            if c.measure is not measure:
                continue
            bound = c.value * scale
            match c.op:
                case Operator.LE:
                    hi = min(hi, _inside(bound, c.value, scale, -math.inf))
                case Operator.LT:
                    hi = min(
                        hi, math.nextafter(_inside(bound, c.value, scale, -math.inf), -math.inf)
                    )
                case Operator.GE:
                    lo = max(lo, _inside(bound, c.value, scale, math.inf))
                case Operator.GT:
                    lo = max(lo, math.nextafter(_inside(bound, c.value, scale, math.inf), math.inf))
                case _:
                    exact.append(c.model_copy(update={"value": bound}))
        return cls(lo, hi, tuple(exact))

    def admits(self, value: float) -> bool:
        """Whether `value` satisfies every constraint of the window."""
        return self.lo <= value <= self.hi and all(c.op.holds(value, c.value) for c in self.exact)


@dataclass(frozen=True, slots=True)
class Graph:
    """The network as Algorithm 1 walks it, at one state of the infrastructure.

    Nodes are numbered in name order (so the heap breaks cost ties by name, as it would
    on the names); each node has its rscEvalhop (Eq. 4.3) and its edges as (neighbour,
    latency, loss, available bandwidth). Built once per state, it serves every bid of an
    auction, so no bid looks a link or a node's resources up again; so do the lower
    bounds of `costs_to`, kept per auctioneer and bandwidth window.
    """

    index: dict[str, int]
    names: tuple[str, ...]
    hop: tuple[float, ...]
    edges: tuple[tuple[tuple[int, float, float, float], ...], ...]
    _bounds: dict[tuple[int, Window], list[float] | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    _reach: dict[tuple[int, Window], tuple[list[float] | None, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, infra: Infrastructure, hop_eval: Callable[[str], float]) -> Graph:
        """Snapshot `infra` with rscEvalhop given by `hop_eval`."""
        names = tuple(sorted(infra.adjacency))
        index = {name: i for i, name in enumerate(names)}
        edges = tuple(
            tuple(
                (index[v], link.latency, link.loss, link.bandwidth - link.reserved)
                for v, link in infra.adjacency[name]
            )
            for name in names
        )
        return cls(index, names, tuple(hop_eval(name) for name in names), edges)

    def costs_to(self, target: int, bandwidth: Window) -> list[float] | None:
        """Each node's least cost to `target` over the edges whose bandwidth `bandwidth`
        admits, every edge weighed as line 29 weighs it after the first hop: a lower
        bound on what Algorithm 1 can find from there. None when some edge's weight is
        negative or not finite (no bound is safe then). One reverse Dijkstra per
        auctioneer and window, kept with the graph (a few per state)."""
        key = (target, bandwidth)
        if key not in self._bounds:
            if len(self._bounds) >= BOUNDS_KEPT:
                self._bounds.clear()
            self._bounds[key] = _reverse_dijkstra(self, target, bandwidth)
        return self._bounds[key]

    def reach_to(self, target: int, bandwidth: Window) -> tuple[list[float] | None, ...]:
        """Each node's least latency, loss (as −ln(1 − P), which adds up along a path) and
        hops to `target` over the edges `bandwidth` admits: a bidder that cannot meet a
        goal's bound on one of them even so has no path Algorithm 1 could return."""
        key = (target, bandwidth)
        if key not in self._reach:
            if len(self._reach) >= BOUNDS_KEPT:
                self._reach.clear()
            self._reach[key] = tuple(
                _least_to(self, target, bandwidth, weigh)
                for weigh in (_latency_of, _log_loss_of, _one_hop)
            )
        return self._reach[key]


BOUNDS_KEPT = 16
"""Lower-bound tables one graph keeps (auctioneers × bandwidth windows of one state)."""

SLACK = 1e-6
"""Relative room a path's cost must leave in the budget to be taken as the full search's
answer: far above the rounding of sums over a few thousand edges (about 1e-13)."""


def _reverse_dijkstra(graph: Graph, target: int, bandwidth: Window) -> list[float] | None:
    hop = graph.hop
    return _least_to(
        graph, target, bandwidth, lambda u, v, _lat, _loss, width: width * (hop[u] + hop[v])
    )


def _least_to(
    graph: Graph, target: int, bandwidth: Window, weigh: EdgeWeight
) -> list[float] | None:
    """Least `weigh`-cost from every node to `target` over the edges `bandwidth` admits;
    None when a weight is negative or not a number (no lower bound then)."""
    into: list[list[tuple[int, float]]] = [[] for _ in graph.names]
    for u, out in enumerate(graph.edges):
        for v, latency, loss, width in out:
            if bandwidth.admits(width):
                weight = weigh(u, v, latency, loss, width)
                if not weight >= 0.0:
                    return None
                into[v].append((u, weight))
    return _dijkstra(into, target)


EdgeWeight = Callable[[int, int, float, float, float], float]
"""An edge's weight from (u, v, latency, loss, bandwidth)."""


def _latency_of(_u: int, _v: int, latency: float, _loss: float, _width: float) -> float:
    return latency


def _log_loss_of(_u: int, _v: int, _latency: float, loss: float, _width: float) -> float:
    return -math.log1p(-loss) if loss < 1.0 else math.inf


def _one_hop(_u: int, _v: int, _latency: float, _loss: float, _width: float) -> float:
    return 1.0


def _dijkstra(into: list[list[tuple[int, float]]], target: int) -> list[float]:
    """Least cost from every node to `target` over the incoming edges `into`."""
    cost = [math.inf] * len(into)
    cost[target] = 0.0
    queue: list[tuple[float, int]] = [(0.0, target)]
    pop, push = heapq.heappop, heapq.heappush
    while queue:
        c_v, v = pop(queue)
        if c_v > cost[v]:
            continue
        for u, weight in into[v]:
            candidate = weight + c_v
            if candidate < cost[u]:
                cost[u] = candidate
                push(queue, (candidate, u))
    return cost


def lowest_cost_path(
    infra: Infrastructure,
    source: str,
    target: str,
    constraints: Iterable[Constraint],
    source_eval: float,
    hop_eval: Callable[[str], float],
    graph: Graph | None = None,
) -> Path | None:
    """Algorithm 1: the constrained lowest-cost path from `source` (bidder) to `target`.

    `source_eval` is rscEval(s, vnf) (Eq. 4.4) and `hop_eval(p)` is rscEvalhop(p)
    (Eq. 4.3); they are passed in so one auction evaluates each node once. `graph`, a
    snapshot of `infra` with that `hop_eval`, is shared by the bids of one state, and so
    are its lower bounds to `target` that narrow the search (see the module's note);
    without it the graph is built here and searched in full. Returns None when no path
    satisfies the constraints. A bidder that is its own auctioneer gets the empty path:
    no link is used, so cost and latency are 0 (Table 5.8, agent 6).
    """
    if source == target:
        return Path((source,), 0.0, 0.0, 0.0, 0)
    windows = _windows(tuple(constraints))
    if graph is None:
        graph = Graph.of(infra, hop_eval)
        return _search(graph, graph.index[source], graph.index[target], windows, source_eval)
    s, t = graph.index[source], graph.index[target]
    if _out_of_reach(graph.reach_to(t, windows[3]), s, windows):
        return None
    bounds = graph.costs_to(t, windows[3]) if 0.0 <= source_eval < math.inf else None
    if bounds is None:
        return _search(graph, s, t, windows, source_eval)
    hop = graph.hop
    least = min(
        (
            width * (source_eval + hop[v]) + bounds[v]
            for v, _, _, width in graph.edges[s]
            if windows[3].admits(width)
        ),
        default=math.inf,
    )
    budget = least * (1.0 + 2.0 * SLACK)
    if budget < math.inf:
        path = _search(graph, s, t, windows, source_eval, bounds, budget)
        if path is not None and path.cost * (1.0 + SLACK) <= budget:
            return path
    return _search(graph, s, t, windows, source_eval)


def _out_of_reach(
    reach: tuple[list[float] | None, ...], s: int, windows: tuple[Window, Window, Window, Window]
) -> bool:
    """Whether even the least latency, loss or hops from `s` break the goal's upper bound
    on it (with room for the rounding of sums): then no path satisfies the constraints."""
    lat, loss, hop, _ = windows
    ceiling = -math.log1p(-loss.hi) if loss.hi < 1.0 else math.inf
    return any(
        least is not None and least[s] > bound + 1e-9 * (abs(bound) + 1.0)
        for least, bound in zip(reach, (lat.hi, ceiling, hop.hi), strict=True)
    )


def _search(
    graph: Graph,
    s: int,
    t: int,
    windows: tuple[Window, Window, Window, Window],
    source_eval: float,
    bounds: Sequence[float] | None = None,
    budget: float = math.inf,
) -> Path | None:
    """Algorithm 1 from node `s` to node `t`, dropping an edge to v whose cost plus
    `bounds[v]` exceeds `budget` (no bounds: no edge is dropped for its cost)."""
    lat, loss, hop, bw = windows
    lat_lo, lat_hi, loss_lo, loss_hi = lat.lo, lat.hi, loss.lo, loss.hi
    hop_lo, hop_hi, bw_lo, bw_hi = hop.lo, hop.hi, bw.lo, bw.hi
    exact = lat.exact or loss.exact or hop.exact or bw.exact
    size = len(graph.names)
    below = bounds or [0.0] * size
    dist = [math.inf] * size
    meas: list[tuple[float, float, int]] = [(0.0, 0.0, 0)] * size
    prev = [-1] * size
    done = [False] * size
    dist[s] = 0.0
    queue: list[tuple[float, int]] = [(0.0, s)]
    hops_eval, edges = graph.hop, graph.edges
    pop, push = heapq.heappop, heapq.heappush
    while queue:
        d_u, u = pop(queue)
        if done[u]:
            continue
        done[u] = True
        if u == t:
            return _path(graph, prev, dist, meas, t)
        lat_u, loss_u, hops_u = meas[u]
        hops_v = hops_u + 1  # line 23
        # line 24 for H: the same for every edge of u
        if not (hop_lo <= hops_v <= hop_hi) or (exact and not hop.admits(hops_v)):
            continue
        eval_u = source_eval if u == s else hops_eval[u]  # lines 25–28
        for v, link_lat, link_loss, bandwidth in edges[u]:
            if done[v]:
                continue
            candidate = d_u + bandwidth * (eval_u + hops_eval[v])  # line 29
            # line 30, tested before line 24 (both must hold; this one is cheaper); a node
            # already dearer than the target's best can never be on the returned path
            # (costs only grow), so it is not queued; nor is one over the budget
            if not (candidate < dist[v] and candidate <= dist[t]) or (
                candidate + below[v] > budget
            ):
                continue
            lat_v = lat_u + link_lat  # line 21
            loss_v = loss_u + (1.0 - loss_u) * link_loss  # line 22
            # line 24: satcst on L, P and B
            if not (
                lat_lo <= lat_v <= lat_hi
                and loss_lo <= loss_v <= loss_hi
                and bw_lo <= bandwidth <= bw_hi
            ):
                continue
            if exact and not (lat.admits(lat_v) and loss.admits(loss_v) and bw.admits(bandwidth)):
                continue
            dist[v] = candidate
            meas[v] = (lat_v, loss_v, hops_v)
            prev[v] = u
            push(queue, (candidate, v))
    return None


@functools.lru_cache(maxsize=256)
def _windows(cons: tuple[Constraint, ...]) -> tuple[Window, Window, Window, Window]:
    """The L, P (as a fraction), H and B windows of a goal's constraints: every bid of
    an auction has the same constraints, so they are folded once."""
    return (
        Window.of(cons, Measure.LATENCY),
        Window.of(cons, Measure.LOSS, 0.01),
        Window.of(cons, Measure.HOPS),
        Window.of(cons, Measure.BANDWIDTH),
    )


def _path(
    graph: Graph,
    prev: list[int],
    dist: list[float],
    meas: list[tuple[float, float, int]],
    target: int,
) -> Path:
    nodes = [target]
    while prev[nodes[-1]] >= 0:
        nodes.append(prev[nodes[-1]])
    latency, loss, hops = meas[target]
    names = graph.names
    return Path(tuple(names[i] for i in reversed(nodes)), dist[target], latency, loss, hops)


def widest_tree(infra: Infrastructure, source: str) -> tuple[dict[str, float], dict[str, str]]:
    """Bottleneck bandwidth of the widest path from `source` to every reachable node.

    Returns (width per node, predecessor per node); the source itself has infinite width.
    One tree from the VNF repository serves every bidder's download time T (Section 4.2).
    """
    best: dict[str, float] = {source: math.inf}
    prev: dict[str, str] = {}
    done: set[str] = set()
    queue: list[tuple[float, str]] = [(-math.inf, source)]
    while queue:
        neg_width, u = heapq.heappop(queue)
        if u in done:
            continue
        done.add(u)
        for v, link in infra.adjacency[u]:
            width = min(-neg_width, link.available)
            if v not in done and width > best.get(v, 0.0):
                best[v] = width
                prev[v] = u
                heapq.heappush(queue, (-width, v))
    return best, prev


def widest_path(infra: Infrastructure, source: str, target: str) -> tuple[float, tuple[str, ...]]:
    """Widest (maximum bottleneck) path: (bandwidth MB/s, nodes), or (0, ()) if unreachable."""
    widths, prev = widest_tree(infra, source)
    if target not in widths:
        return 0.0, ()
    nodes = [target]
    while nodes[-1] in prev:
        nodes.append(prev[nodes[-1]])
    return widths[target], tuple(reversed(nodes))

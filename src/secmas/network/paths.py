"""Path algorithms of the bidding heuristic: Algorithm 1 and the widest path.

`lowest_cost_path` is Algorithm 1 (`lowestCostPath`) of `003_…`: Dijkstra from the bidder
to the auctioneer that carries accumulated latency, compounded loss and hops, discards any
edge whose accumulated values break a goal constraint (Eq. 4.2, line 24), and weighs an
edge by its bandwidth times the resource evaluation of its two ends (line 29).

One deviation, on purpose: the pseudo-code writes latency[v], pktLoss[v] and hops[v]
(lines 21–23) before it knows whether the edge relaxes v, so a rejected edge would
overwrite the measurements of v's current best path. Here they are stored only when v
is relaxed, which is what the text describes.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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

    @property
    def loss_percent(self) -> float:
        """Compounded packet loss in percent."""
        return self.loss * 100.0


def sat_cst(measure: Measure, value: float, constraints: Iterable[Constraint]) -> bool:
    """Eq. 4.2: every constraint on `measure` holds for `value` (loss in percent)."""
    return Window.of(constraints, measure).admits(value)


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
                    hi = min(hi, bound)
                case Operator.LT:
                    hi = min(hi, math.nextafter(bound, -math.inf))
                case Operator.GE:
                    lo = max(lo, bound)
                case Operator.GT:
                    lo = max(lo, math.nextafter(bound, math.inf))
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
    auction, so no bid looks a link or a node's resources up again.
    """

    index: dict[str, int]
    names: tuple[str, ...]
    hop: tuple[float, ...]
    edges: tuple[tuple[tuple[int, float, float, float], ...], ...]

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
    snapshot of `infra` with that `hop_eval`, is shared by the bids of one state (built
    here when not given). Returns None when no path satisfies the constraints. A bidder
    that is its own auctioneer gets the empty path: no link is used, so cost and latency
    are 0 (Table 5.8, agent 6).
    """
    if source == target:
        return Path((source,), 0.0, 0.0, 0.0, 0)
    graph = graph or Graph.of(infra, hop_eval)
    lat, loss, hop, bw = _windows(tuple(constraints))
    lat_lo, lat_hi, loss_lo, loss_hi = lat.lo, lat.hi, loss.lo, loss.hi
    hop_lo, hop_hi, bw_lo, bw_hi = hop.lo, hop.hi, bw.lo, bw.hi
    exact = lat.exact or loss.exact or hop.exact or bw.exact
    s, t = graph.index[source], graph.index[target]
    size = len(graph.names)
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
            # (costs only grow), so it is not queued
            if not (candidate < dist[v] and candidate <= dist[t]):
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

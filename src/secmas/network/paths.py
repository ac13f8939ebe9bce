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


def lowest_cost_path(
    infra: Infrastructure,
    source: str,
    target: str,
    constraints: Iterable[Constraint],
    source_eval: float,
    hop_eval: Callable[[str], float],
) -> Path | None:
    """Algorithm 1: the constrained lowest-cost path from `source` (bidder) to `target`.

    `source_eval` is rscEval(s, vnf) (Eq. 4.4) and `hop_eval(p)` is rscEvalhop(p)
    (Eq. 4.3); they are passed in so one auction evaluates each node once. Returns None
    when no path satisfies the constraints. A bidder that is its own auctioneer gets the
    empty path: no link is used, so cost and latency are 0 (Table 5.8, agent 6).
    """
    if source == target:
        return Path((source,), 0.0, 0.0, 0.0, 0)
    cons = tuple(constraints)
    lat, loss, hop, bw = (
        Window.of(cons, Measure.LATENCY),
        Window.of(cons, Measure.LOSS, 0.01),
        Window.of(cons, Measure.HOPS),
        Window.of(cons, Measure.BANDWIDTH),
    )
    lat_lo, lat_hi, loss_lo, loss_hi = lat.lo, lat.hi, loss.lo, loss.hi
    hop_lo, hop_hi, bw_lo, bw_hi = hop.lo, hop.hi, bw.lo, bw.hi
    exact = lat.exact or loss.exact or hop.exact or bw.exact
    dist: dict[str, float] = {source: 0.0}
    meas: dict[str, tuple[float, float, int]] = {source: (0.0, 0.0, 0)}
    prev: dict[str, str] = {}
    done: set[str] = set()
    queue: list[tuple[float, str]] = [(0.0, source)]
    adjacency = infra.adjacency
    while queue:
        d_u, u = heapq.heappop(queue)
        if u in done:
            continue
        done.add(u)
        if u == target:
            return _path(prev, dist, meas, target)
        lat_u, loss_u, hops_u = meas[u]
        eval_u = source_eval if u == source else hop_eval(u)  # lines 25–28
        for v, link in adjacency[u]:
            if v in done:
                continue
            lat_v = lat_u + link.latency  # line 21
            loss_v = loss_u + (1.0 - loss_u) * link.loss  # line 22
            hops_v = hops_u + 1  # line 23
            bandwidth = link.bandwidth - link.reserved
            # line 24: satcst on L, P, H and B
            if not (
                lat_lo <= lat_v <= lat_hi
                and loss_lo <= loss_v <= loss_hi
                and hop_lo <= hops_v <= hop_hi
                and bw_lo <= bandwidth <= bw_hi
            ):
                continue
            if exact and not (
                lat.admits(lat_v)
                and loss.admits(loss_v)
                and hop.admits(hops_v)
                and bw.admits(bandwidth)
            ):
                continue
            candidate = d_u + bandwidth * (eval_u + hop_eval(v))  # line 29
            if candidate < dist.get(v, math.inf):  # line 30
                dist[v] = candidate
                meas[v] = (lat_v, loss_v, hops_v)
                prev[v] = u
                heapq.heappush(queue, (candidate, v))
    return None


def _path(
    prev: dict[str, str],
    dist: dict[str, float],
    meas: dict[str, tuple[float, float, int]],
    target: str,
) -> Path:
    nodes = [target]
    while nodes[-1] in prev:
        nodes.append(prev[nodes[-1]])
    latency, loss, hops = meas[target]
    return Path(tuple(reversed(nodes)), dist[target], latency, loss, hops)


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

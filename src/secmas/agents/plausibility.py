"""Whether a bid could be true: what an initiator checks before Eq. 3.1 scores it.

A bid ⟨g, T, C, D⟩ (Definition 7 of `003_…`) is computed by the bidder alone, and an
attested agent can still say what it likes: T = C = 0 wins almost any auction. The
initiator knows the topology (links with their capacity, latency and loss), the VNF
catalogue and repository, each PoP's total resources and the goal it asked for, so it
recomputes or bounds every component from what cannot have changed since the bid:

- D is the accumulated latency of the bid's path (Section 4.2, "Decentralisation";
  Algorithm 1 line 21): recomputed exactly, and the path must be a simple path of the
  topology from the bidder to the initiator that meets the goal's constraints on the
  measures that do not change (L, P, H; B against link capacity, Eq. 4.2);
- T of a new instance is at least the image size over the widest path from the
  repository at link capacity (Section 4.2, "VNF Download Time": the bidder divides by
  the widest path at the bandwidth still available, which is never wider), plus the CNF
  migration the goal's own payload predicts for the bidder (`move_time`);
- C is at least the weight of the path's first link (Algorithm 1 line 29): its available
  bandwidth is at least the goal's B ≥ bound (`constraints_for`), and the bidder's
  rscEval (Eq. 4.4) is at least consRscUtil of what it deploys (Table 4.2), since
  freeRscUtil over free ≥ req is never smaller;
- the units cover the traffic (`units_needed`), the VNF is a plan of the goal, and the
  bid is in the sender's own name.

Where the initiator's copy of the infrastructure is the bidders' own (agents in one
process), it also checks the bidder's committed free resources against what it would
deploy (Eq. 4.1: a proposal's hold is always within them) and that a reused instance is
the bidder's, of that VNF. Across processes, neither instances started during the run
nor a PoP's latest releases are known to every copy, so those two are not checked there.

Every bound is one an honest bid computed by `compute_bid` meets on any state of the
network, so a refusal means the bid is false, not unlucky. The reason names the bound
broken and the value it has.
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections.abc import Generator, Iterator, Sequence

from secmas.agents.bidding import Bid, GoalRequest, amount_text
from secmas.network.infrastructure import Infrastructure, LinkState
from secmas.network.paths import Window, widest_tree
from secmas.network.resources import cons_rsc_util, req, sat_req, units_needed
from secmas.scenario.model import VNF, Constraint, Measure

IMPLAUSIBLE = "implausible bid: "
"""How the refusal of a bid that cannot be true begins (in the auction's record)."""

_SLACK = 1e-9
"""Relative slack on recomputed values, for a float that travelled as JSON text."""

_CAPACITY: weakref.WeakKeyDictionary[Infrastructure, tuple[int, dict[str, float]]] = (
    weakref.WeakKeyDictionary()
)


def implausible(
    infra: Infrastructure,
    request: GoalRequest,
    bid: Bid,
    sender: str,
    move_s: float | None = None,
    *,
    shared: bool = False,
) -> str | None:
    """Why `bid`, received from `sender` for `request`, cannot be true (the refusal's
    reason, starting with IMPLAUSIBLE), or None when every bound holds.

    `move_s`: the migration time the goal's payload predicts for the bidder, as the
    bidder adds it to T (`move_time`). `shared`: `infra` is the bidders' own copy (one
    process), so their committed resources and instances are known exactly.
    """
    for problem in _problems(infra, request, bid, sender, move_s or 0.0, shared):
        return IMPLAUSIBLE + problem
    return None


def _problems(
    infra: Infrastructure,
    request: GoalRequest,
    bid: Bid,
    sender: str,
    move_s: float,
    shared: bool,
) -> Iterator[str]:
    """The bounds `bid` breaks, cheapest checks first (`implausible` reports the first)."""
    vnf = infra.catalogue.get(bid.vnf)
    claim = _claim_problem(infra, request, bid, sender)
    if claim is not None or vnf is None:
        yield claim or f"{bid.vnf} is not in the catalogue"
        return
    constraints = request.constraints_for(vnf)
    path = yield from _path_problems(infra, request, bid, constraints)
    if path is None:
        return
    yield from _latency(bid, path)
    yield from _download(infra, bid, vnf, move_s)
    yield from _cost(infra, bid, vnf, path, constraints)
    if shared:
        yield from _holdings(infra, bid, vnf)


def _claim_problem(
    infra: Infrastructure, request: GoalRequest, bid: Bid, sender: str
) -> str | None:
    """What is wrong with the bid as a claim, before any bound: whose it is, its numbers,
    its plan, its units (`units_needed`: the goal's traffic, Eq. 4.1)."""
    if bid.bidder != sender:
        return f"{sender} bids in the name of {bid.bidder}, which is not its own"
    for name in ("T", "C", "D"):
        value = getattr(bid, name)
        if not math.isfinite(value) or value < 0:
            return f"{name} = {value:g} is not a finite non-negative number"
    vnf = infra.catalogue.get(bid.vnf)
    if vnf is None or bid.vnf not in request.vnfs:
        return f"{bid.vnf} is not a plan of {request.goal} ({', '.join(request.vnfs)})"
    if bid.bidder not in infra.pops:
        return f"{bid.bidder} is not a PoP of the topology"
    needed = units_needed(vnf, request.sizing_traffic)
    if bid.units < needed:
        return (
            f"{bid.units} unit(s) of {bid.vnf} are below the {needed} that "
            f"{request.sizing_traffic:g} MB/s needs"
        )
    return None


def _path_problems(
    infra: Infrastructure, request: GoalRequest, bid: Bid, constraints: Sequence[Constraint]
) -> Generator[str, None, list[LinkState] | None]:
    """The bid's path as links (None when it is not a path the goal admits, with why)."""
    nodes = bid.path
    shown = "–".join(nodes) or "(none)"
    if not nodes or nodes[0] != bid.bidder or nodes[-1] != request.auctioneer:
        yield f"its path {shown} is not a path from {bid.bidder} to {request.auctioneer}"
        return None
    if len(set(nodes)) != len(nodes):
        yield f"its path {shown} is not simple: it visits a node twice"
        return None
    links: list[LinkState] = []
    for a, b in itertools.pairwise(nodes):
        link = _link(infra, a, b)
        if link is None:
            yield f"its path {shown} is not a path of the topology: no link {a}–{b}"
            return None
        links.append(link)
    if links:  # a bidder that is its own initiator uses no link (Algorithm 1 returns s)
        yield from _static_constraints(links, constraints, shown)
    return links


def _short_of(value: float, bound: float) -> bool:
    """Whether `value` is below a lower `bound`, beyond the slack of a JSON round trip."""
    return value < bound * (1.0 - _SLACK)


def _link(infra: Infrastructure, a: str, b: str) -> LinkState | None:
    for neighbour, link in infra.adjacency.get(a, ()):
        if neighbour == b:
            return link
    return None


def _static_constraints(
    links: Sequence[LinkState], constraints: Sequence[Constraint], shown: str
) -> Iterator[str]:
    """Eq. 4.2 on what a path's links cannot change: accumulated L, P and H as Algorithm 1
    accumulates them (lines 21–23), and B ≥ bounds against each link's capacity."""
    latency, loss = _latency_of(links), 0.0
    for link in links:
        loss = loss + (1.0 - loss) * link.loss
    measured = {
        Measure.LATENCY: (latency, 1.0, f"{latency:g} ms"),
        Measure.LOSS: (loss, 0.01, f"{loss * 100:g} %"),
        Measure.HOPS: (float(len(links)), 1.0, f"{len(links)} hops"),
    }
    for measure, (value, scale, text) in measured.items():
        if not Window.of(constraints, measure, scale).admits(value):
            yield f"its path {shown} has {text}, not within the goal's {measure.value} constraints"
            return
    floor = Window.of(constraints, Measure.BANDWIDTH).lo
    for link in links:
        if link.bandwidth < floor:
            yield (
                f"its path {shown} has link {link.a}–{link.b} of {link.bandwidth:g} MB/s, "
                f"below the goal's B ≥ {floor:g}"
            )
            return


def _latency_of(links: Sequence[LinkState]) -> float:
    """Accumulated latency, summed in Algorithm 1's order (from the bidder)."""
    total = 0.0
    for link in links:
        total = total + link.latency
    return total


def _latency(bid: Bid, links: Sequence[LinkState]) -> Iterator[str]:
    """D is the path's accumulated latency (003 Section 4.2, Algorithm 1 line 21)."""
    expected = _latency_of(links)
    if not math.isclose(bid.D, expected, rel_tol=_SLACK, abs_tol=_SLACK):
        yield (
            f"D = {bid.D:g} ms is not the latency of its path {'–'.join(bid.path)} "
            f"({expected:g} ms, 003 Section 4.2)"
        )


def _download(infra: Infrastructure, bid: Bid, vnf: VNF, move_s: float) -> Iterator[str]:
    """T ≥ the image over the widest path at capacity (003 Section 4.2), plus the move
    the goal's payload predicts; an instance reused is only the move."""
    floor = move_s
    why = f"the predicted move of {move_s:g} s"
    if bid.instance is None:
        width = capacity_widths(infra).get(bid.bidder, 0.0)
        if width <= 0:
            yield f"T = {bid.T:g} s is below any: the repository cannot reach {bid.bidder}"
            return
        download = 0.0 if math.isinf(width) else vnf.image_size / width
        floor = download + move_s
        why = (
            f"{vnf.image_size:g} MB of {vnf.id} over the widest path from the repository "
            f"at capacity ({width:g} MB/s)" + (f" plus {why}" if move_s else "")
        )
    if _short_of(bid.T, floor):
        yield f"T = {bid.T:g} s is below {floor:g} s: {why} (003 Section 4.2)"


def capacity_widths(infra: Infrastructure) -> dict[str, float]:
    """Bottleneck capacity of the widest path from the repository to every node: what
    no reservation can widen (links' capacities are fixed; cached per topology)."""
    cached = _CAPACITY.get(infra)
    if cached is not None and cached[0] == len(infra.links):
        return cached[1]
    bare = Infrastructure(
        pops={},
        kinds=dict(infra.kinds),
        links=[LinkState(k.a, k.b, k.bandwidth, k.latency, k.loss) for k in infra.links],
        catalogue={},
        repository=infra.repository,
    )
    widths, _ = widest_tree(bare, infra.repository)
    _CAPACITY[infra] = (len(infra.links), widths)
    return widths


def _cost(
    infra: Infrastructure,
    bid: Bid,
    vnf: VNF,
    links: Sequence[LinkState],
    constraints: Sequence[Constraint],
) -> Iterator[str]:
    """C ≥ the first link's weight at its least (Algorithm 1 line 29, Eq. 4.4)."""
    if not links or bid.instance is not None:
        return
    floor_b = max(Window.of(constraints, Measure.BANDWIDTH).lo, 0.0)
    source = cons_rsc_util(req(vnf, bid.units), infra.total(bid.bidder))
    floor = floor_b * source
    if _short_of(bid.C, floor):
        yield (
            f"C = {bid.C:g} is below {floor:g}: its first link carries at least "
            f"{floor_b:g} MB/s and {bid.units}×{vnf.id} costs {bid.bidder} at least "
            f"consRscUtil = {source:g} (003 Algorithm 1 line 29, Eq. 4.4)"
        )


def _holdings(infra: Infrastructure, bid: Bid, vnf: VNF) -> Iterator[str]:
    """What only the bidder's own copy of its PoP shows: a reused instance is its own,
    idle or not, and a new one fits its committed free resources (Eq. 4.1)."""
    if bid.instance is not None:
        instance = infra.instances.get(bid.instance)
        if instance is None or instance.pop != bid.bidder or instance.vnf != bid.vnf:
            yield f"instance {bid.instance} is not an instance of {bid.vnf} at {bid.bidder}"
        return
    free = infra.free(bid.bidder)
    need = req(vnf, bid.units)
    if not sat_req(free, need):
        yield (
            f"{bid.bidder}'s free resources {amount_text(free)} are below the {amount_text(need)} "
            f"of {bid.units}×{vnf.id} (003 Eq. 4.1)"
        )

"""The bid function U (Definition 3) and winner determination (Eq. 3.1) of NFV-A.

A bidder answers a call for proposals with T (VNF download time), C (computational and
network cost, Algorithm 1) and D (decentralisation: latency of that path), Section 4.2 of
`003_…`. The auctioneer normalises each component over the bids it received and picks
the lowest weighted sum (Eq. 3.1). Everything here is pure computation over an
`Infrastructure` snapshot, so it runs without a bus.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from secmas.agents.reputation import beta_reputation, weighed
from secmas.network.infrastructure import Infrastructure
from secmas.network.paths import Graph, lowest_cost_path, widest_tree
from secmas.network.resources import Amount, req, rsc_eval, rsc_eval_hop, sat_req, units_needed
from secmas.scenario.model import VNF, Constraint, GoalSpec, Measure, Operator, Preferences

Bounds = tuple[float, float]
"""(low, high) of one bid component."""


@dataclass(frozen=True, slots=True)
class Ranges:
    """The low and high T, C and D of every candidate bid of an auction (Eq. 3.1's
    normalisation ranges), the same for every bidder."""

    T: Bounds
    C: Bounds
    D: Bounds

    @classmethod
    def over(cls, bids: Sequence[Bid]) -> Ranges:
        """The ranges spanned by `bids` (at least one)."""
        return cls(*((min(v), max(v)) for v in zip(*((b.T, b.C, b.D) for b in bids), strict=True)))


@dataclass(frozen=True, slots=True)
class GoalRequest:
    """What a call for proposals carries: a constrained goal (Definition 6) and its context."""

    goal: str
    auctioneer: str
    preferences: Preferences
    constraints: tuple[Constraint, ...] = ()
    vnfs: tuple[str, ...] = ()
    traffic: float = 0.0
    args: tuple[str, ...] = ()
    predicted_traffic: float | None = None
    """Workload prediction (004_… Section 4.2), off by default: the peak traffic (MB/s)
    a forecast expects the VNF to process over its lifetime, computed by the caller and
    passed in as plain data. When given, the bid is sized for the larger of it and the
    current traffic (units, sat_req of Eq. 4.1, the path's B ≥ traffic); when None, for
    the current traffic, as in the dissertation (Table 5.8)."""
    ranges: Ranges | None = None
    """The range every bidder normalises its candidate VNFs' T, C and D over when several
    achieve the goal (`candidate_ranges`, set by the auctioneer in the call); None: a
    bidder normalises over its own candidates (any bidder with one candidate)."""

    @property
    def sizing_traffic(self) -> float:
        """The traffic a bid is sized for: current, or the predicted peak when larger."""
        return max(self.traffic, self.predicted_traffic or 0.0)

    @classmethod
    def for_goal(
        cls,
        spec: GoalSpec,
        auctioneer: str,
        traffic: float = 0.0,
        args: tuple[str, ...] = (),
        predicted_traffic: float | None = None,
    ) -> GoalRequest:
        """The request for a goal with the design-time settings of Table 5.7 (`spec`)."""
        return cls(
            goal=spec.name,
            auctioneer=auctioneer,
            preferences=spec.preferences,
            constraints=spec.constraints,
            vnfs=spec.vnfs,
            traffic=traffic,
            args=args,
            predicted_traffic=predicted_traffic,
        )

    def constraints_for(self, vnf: VNF) -> tuple[Constraint, ...]:
        """The goal's constraints, plus B ≥ traffic for a VNF that must receive the traffic.

        A VNF with a throughput (Anomaly Detector, Classifier) analyses the traffic, so the
        virtual path to the auctioneer must carry it (Definition 6, Example 2).
        """
        if vnf.throughput is None or self.sizing_traffic <= 0:
            return self.constraints
        need = Constraint(measure=Measure.BANDWIDTH, op=Operator.GE, value=self.sizing_traffic)
        return (*self.constraints, need)


@dataclass(frozen=True, slots=True)
class Bid:
    """An atomic bid ⟨g, T, C, D⟩ (Definition 7) with what the bidder would deploy."""

    bidder: str
    vnf: str
    T: float
    C: float
    D: float
    units: int = 1
    path: tuple[str, ...] = ()
    instance: str | None = None
    move_s: float = 0.0
    """The part of T that is a CNF's migration to the bidder (`candidate_bid`), which the
    goal's plan carries out once the VNF runs; the rest of T is the image download."""

    @property
    def download_s(self) -> float:
        """Seconds the bidder's Orchestrator downloads the VNF's image for."""
        return self.T - self.move_s


@dataclass(frozen=True, slots=True)
class Refusal:
    """A bidder's REFUSE, with the reason (for the run's record)."""

    bidder: str
    reason: str


@dataclass
class BidContext:
    """Caches of what every bid on one infrastructure recomputes otherwise.

    The graph Algorithm 1 walks (with every node's rscEvalhop, Eq. 4.3, on committed
    state) is kept with the PoP and link versions it was built at, and the widest-path
    tree from the repository with the link version, so a cached value is used only while
    its inputs are unchanged. One context per infrastructure (`shared_context`) serves
    every agent of an in-process run: the bids of one auction share one graph.
    """

    infra: Infrastructure
    catalogue: tuple[Amount, ...] = field(init=False)
    _graph: tuple[tuple[int, int], Graph] | None = field(init=False, default=None)
    _download: tuple[int, dict[str, float]] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.catalogue = self.infra.catalogue_needs()

    def graph(self) -> Graph:
        """Algorithm 1's graph at the infrastructure's current committed state."""
        version = (self.infra.pop_version, self.infra.link_version)
        if self._graph is None or self._graph[0] != version:
            self._graph = (version, Graph.of(self.infra, self._hop_now))
        return self._graph[1]

    def hop_eval(self, node: str) -> float:
        """rscEvalhop(node) on committed state, never on the node's pending holds (a
        rival's tentative proposal); a switch or host hosts no VNF, so it costs 0."""
        graph = self.graph()
        return graph.hop[graph.index[node]]

    def download_time(self, pop: str, vnf: VNF) -> float:
        """T for a new instance: image size over the widest path from the repository.

        0 when the repository sits at the bidder's own switch (Table 5.8, agent 5);
        infinite when the repository cannot be reached.
        """
        version = self.infra.link_version
        if self._download is None or self._download[0] != version:
            widths, _ = widest_tree(self.infra, self.infra.repository)
            self._download = (version, widths)
        width = self._download[1].get(pop, 0.0)
        if width <= 0:
            return math.inf
        return 0.0 if math.isinf(width) else vnf.image_size / width

    def _hop_now(self, node: str) -> float:
        state = self.infra.pops.get(node)
        if state is None:
            return 0.0
        return rsc_eval_hop(state.free, state.total, self.catalogue)


_SHARED: weakref.WeakKeyDictionary[Infrastructure, BidContext] = weakref.WeakKeyDictionary()


def shared_context(infra: Infrastructure) -> BidContext:
    """The one BidContext of `infra` (its caches check their inputs, so sharing is safe)."""
    ctx = _SHARED.get(infra)
    if ctx is None:
        ctx = _SHARED[infra] = BidContext(infra)
    return ctx


def move_time(payload: Mapping[str, Any], pop: str) -> float | None:
    """Seconds a CNF's live migration to `pop` takes, as the goal's payload predicts it on
    the path to `pop` (`destinations[pop]["total"]`, the migration model of 004_… Section
    2.1: a proactive move, cnfMoved); None when the payload predicts no move to `pop`."""
    offer = payload.get("destinations", {})
    offer = offer.get(pop) if isinstance(offer, Mapping) else None
    total = offer.get("total") if isinstance(offer, Mapping) else None
    if isinstance(total, bool) or not isinstance(total, int | float):
        return None
    return float(total) if math.isfinite(total) and total >= 0 else None


def candidate_bid(
    ctx: BidContext, pop: str, request: GoalRequest, vnf_id: str, move_s: float | None = None
) -> Bid | Refusal:
    """Bid of `pop` for `request` using the plan whose VNF is `vnf_id` (Section 4.2).

    `move_s`: for a CNF that moves here (`move_time`), its migration's predicted total
    time on this PoP's path, added to T: Eq. 3.1's T is the time until the VNF serves at
    the bidder, the image download (003_… Section 4.2) and then the CNF's state copied
    over the path to it (004_… migration model), so a faster path wins, other terms equal.
    """
    infra = ctx.infra
    vnf = infra.catalogue[vnf_id]
    units = units_needed(vnf, request.sizing_traffic)
    instance = infra.idle_instance(pop, vnf_id, request.sizing_traffic)
    state = infra.pops[pop]
    required = Amount() if instance else req(vnf, units)
    free = state.unheld  # committed state plus the bidder's own pending holds
    if not sat_req(free, required):  # Eq. 4.1
        needs, left = amount_text(required), amount_text(free)
        return Refusal(pop, f"sat_req fails for {units}×{vnf_id}: needs {needs}, free {left}")
    source_eval = rsc_eval(free, state.total, required, ctx.catalogue)  # Eq. 4.4
    path = lowest_cost_path(
        infra,
        pop,
        request.auctioneer,
        request.constraints_for(vnf),
        source_eval,
        ctx.hop_eval,
        ctx.graph(),
    )
    if path is None:
        return Refusal(pop, f"no path to {request.auctioneer} satisfies the goal constraints")
    t = 0.0 if instance else ctx.download_time(pop, vnf)
    if math.isinf(t):
        return Refusal(pop, "the VNF repository is unreachable")
    return Bid(
        bidder=pop,
        vnf=vnf_id,
        T=t + (move_s or 0.0),
        C=path.cost,
        D=path.latency,
        units=units,
        path=path.nodes,
        instance=instance.id if instance else None,
        move_s=move_s or 0.0,
    )


def compute_bid(
    infra: Infrastructure,
    pop: str,
    request: GoalRequest,
    ctx: BidContext | None = None,
    move_s: float | None = None,
) -> Bid | Refusal:
    """The bid function U of `pop` for `request`, or the reason it refuses.

    Every plan (VNF) that can achieve the goal is evaluated; when several can, the bidder
    offers the one with the best score under the auctioneer's own preferences, i.e. Eq. 3.1
    over the call's common `request.ranges` (an extension of 003, which picks by execution
    time only; over its own candidates when the call gives no ranges).
    `move_s`: see `candidate_bid`.
    """
    ctx = ctx or BidContext(infra)
    if not request.vnfs:
        return Refusal(pop, f"no plan achieves {request.goal}")
    offers: list[Bid] = []
    reasons: list[str] = []
    for vnf_id in request.vnfs:
        outcome = candidate_bid(ctx, pop, request, vnf_id, move_s)
        if isinstance(outcome, Bid):
            offers.append(outcome)
        else:
            reasons.append(outcome.reason)
    if not offers:
        return Refusal(pop, "; ".join(reasons))
    if len(offers) == 1:
        return offers[0]
    return offers[select(offers, request.preferences, ranges=request.ranges)]


def candidate_ranges(
    ctx: BidContext, request: GoalRequest, bidders: Sequence[str]
) -> Ranges | None:
    """The ranges of T, C and D over every candidate VNF's bid of every bidder, as the
    auctioneer computes them on its view of the network before the call (003_… §7.2:
    several VNFs achieve one goal); None when only one VNF does or nobody could bid.

    A bidder that chose among its own candidates by Eq. 3.1 over them alone would weigh
    a difference of 1 s in T as much as one of 100 s; over these ranges, every bidder
    offers the candidate that Eq. 3.1 over all candidates of all bidders would rank
    first among its own."""
    if len(request.vnfs) < 2:
        return None
    bids = [
        outcome
        for pop in bidders
        if pop in ctx.infra.pops
        for vnf in request.vnfs
        if isinstance(outcome := candidate_bid(ctx, pop, request, vnf), Bid)
    ]
    return Ranges.over(bids) if bids else None


def normalise(values: Sequence[float], bounds: Bounds | None = None) -> list[float]:
    """Min–max normalisation to [0, 1] over `bounds` (default: the values' own); values
    over an empty range normalise to 0 (Section 3.3.2)."""
    low, high = bounds if bounds is not None else (min(values), max(values))
    span = high - low
    if span <= 0:
        return [0.0] * len(values)
    return [min(1.0, max(0.0, (v - low) / span)) for v in values]


def utilities(
    bids: Sequence[Bid],
    prefs: Preferences,
    standing: Mapping[str, float] | None = None,
    weight: float = 0.0,
    ranges: Ranges | None = None,
) -> list[float]:
    """Eq. 3.1 per bid: pf_T·β̂_T + pf_C·β̂_C + pf_D·(1 − β̂_D); lower is better.

    With a reputation `weight` above 0, each score is weighed with its bidder's
    reputation in `standing` (`secmas.agents.reputation.weighed`; a bidder not in it has
    the reputation of one never seen); with 0 (the default) it is Eq. 3.1 exactly. The
    β̂ are normalised over `ranges` when given, else over `bids` themselves."""
    if not bids:
        return []
    t_hat = normalise([b.T for b in bids], ranges.T if ranges else None)
    c_hat = normalise([b.C for b in bids], ranges.C if ranges else None)
    d_hat = normalise([b.D for b in bids], ranges.D if ranges else None)
    scores = [
        prefs.T * t + prefs.C * c + prefs.D * (1.0 - d)
        for t, c, d in zip(t_hat, c_hat, d_hat, strict=True)
    ]
    if weight == 0.0:
        return scores
    unknown = beta_reputation(0, 0)
    known = standing or {}
    return [
        weighed(score, known.get(bid.bidder, unknown), weight)
        for bid, score in zip(bids, scores, strict=True)
    ]


def select(
    bids: Sequence[Bid],
    prefs: Preferences,
    standing: Mapping[str, float] | None = None,
    weight: float = 0.0,
    ranges: Ranges | None = None,
) -> int:
    """Index of the argmin of Eq. 3.1 (weighed and normalised as `utilities` says); ties
    go to the earlier bid in `bids`."""
    scores = utilities(bids, prefs, standing, weight, ranges)
    return min(range(len(bids)), key=lambda i: (scores[i], i))


def winner(
    bids: Sequence[Bid],
    prefs: Preferences,
    standing: Mapping[str, float] | None = None,
    weight: float = 0.0,
) -> Bid | None:
    """The winning bid of an auction, or None without bids.

    Ties on utility are broken deterministically by bidder id (string order), so every
    agent that evaluates the same bids names the same winner whatever their arrival order.
    """
    if not bids:
        return None
    ordered = sorted(bids, key=lambda b: (b.bidder, b.vnf))
    return ordered[select(ordered, prefs, standing, weight)]


def amount_text(amount: Amount) -> str:
    """An amount as refusals write it, e.g. `2c/4G/50G`."""
    return f"{amount.cpu:g}c/{amount.memory:g}G/{amount.disk:g}G"

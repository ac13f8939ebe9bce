"""Plausibility of a bid: an honest bid is never refused, a lie below a bound always is.

Honest bids come from the project's own bid function (`compute_bid`) on random topologies
and states: links partly reserved, PoPs partly allocated, the bidder holding resources for
its other proposals, idle instances to reuse, a CNF move in the payload. The initiator
checks them on the same state (one process) and on a copy in another state (agents in
their own processes: other reservations and allocations, no instances).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import make_scenario

from secmas.agents.bidding import Bid, BidContext, GoalRequest, compute_bid
from secmas.agents.plausibility import IMPLAUSIBLE, capacity_widths, implausible
from secmas.network.infrastructure import CapacityError, Infrastructure
from secmas.network.resources import Amount, req
from secmas.scenario.ddos import ddos_goals
from secmas.scenario.model import Scenario

GOALS = {g.name: g for g in ddos_goals()}


def request(goal: str, auctioneer: str, traffic: float = 0.0, **extra: object) -> GoalRequest:
    return replace(GoalRequest.for_goal(GOALS[goal], auctioneer, traffic), **extra)


# -- by hand ---------------------------------------------------------------------------------


@pytest.fixture
def line() -> Infrastructure:
    """R —(10 MB/s, 5 ms)— A —(4 MB/s, 7 ms)— B; the repository at R."""
    return Infrastructure.from_scenario(
        make_scenario(
            pops=[("R", 8, 16, 500), ("A", 8, 16, 500), ("B", 8, 16, 500)],
            links=[("R", "A", 10, 5, 0), ("A", "B", 4, 7, 0)],
            repository="R",
        )
    )


def honest(infra: Infrastructure, bidder: str, goal: GoalRequest) -> Bid:
    bid = compute_bid(infra, bidder, goal)
    assert isinstance(bid, Bid), bid
    return bid


def test_an_honest_bid_passes_and_each_lie_names_the_bound_it_broke(line: Infrastructure):
    goal = request("anomalousUsage", "A", traffic=3.0)
    bid = honest(line, "B", goal)  # 2 units of a 2 MB/s detector, T = 500/4, path B–A
    assert (bid.T, bid.D, bid.path) == (125.0, 7.0, ("B", "A"))
    assert implausible(line, goal, bid, "B", shared=True) is None

    def refused(**lie: object) -> str:
        why = implausible(line, goal, replace(bid, **lie), "B", shared=True)
        assert why is not None and why.startswith(IMPLAUSIBLE)
        return why.removeprefix(IMPLAUSIBLE)

    assert refused(T=0.0) == (
        "T = 0 s is below 125 s: 500 MB of anomaly_detector over the widest path from the "
        "repository at capacity (4 MB/s) (003 Section 4.2)"
    )
    assert refused(D=0.0).startswith("D = 0 ms is not the latency of its path B–A (7 ms")
    assert refused(C=0.0).startswith("C = 0 is below ")  # B ≥ 3 MB/s on its first link
    assert refused(units=1) == "1 unit(s) of anomaly_detector are below the 2 that 3 MB/s needs"
    assert refused(path=("B", "R", "A")).endswith("no link B–R")
    assert refused(path=("A",)) == "its path A is not a path from B to A"
    assert refused(vnf="rate_limiter").startswith("rate_limiter is not a plan of anomalousUsage")
    assert refused(T=math.inf) == "T = inf is not a finite non-negative number"
    assert refused(instance="nowhere") == (
        "instance nowhere is not an instance of anomaly_detector at B"
    )
    assert implausible(line, goal, bid, "A") == IMPLAUSIBLE + (
        "A bids in the name of B, which is not its own"
    )


def test_a_path_that_breaks_the_goals_constraints_on_fixed_measures(line: Infrastructure):
    goal = request("ipRateLimited", "R")  # latency ≤ 100 ms
    bid = honest(line, "B", goal)
    assert bid.path == ("B", "A", "R")
    line.links[0].latency = 95.0  # as another topology would have it: 102 ms in all
    why = implausible(line, goal, replace(bid, D=102.0), "B")
    assert why == IMPLAUSIBLE + "its path B–A–R has 102 ms, not within the goal's L constraints"


def test_a_reused_instance_is_checked_only_where_the_initiator_shares_the_bidders_state(
    line: Infrastructure,
):
    goal = request("linkRateLimited", "A")
    mine = line.deploy("B", "rate_limiter")
    bid = honest(line, "B", goal)
    assert (bid.instance, bid.T) == (mine.id, 0.0)
    assert implausible(line, goal, bid, "B", shared=True) is None
    theirs = line.deploy("A", "rate_limiter")
    claimed = replace(bid, instance=theirs.id)
    assert "is not an instance of rate_limiter at B" in str(
        implausible(line, goal, claimed, "B", shared=True)
    )
    assert implausible(line, goal, claimed, "B", shared=False) is None  # not known there


def test_free_resources_are_checked_where_the_initiator_shares_the_bidders_state(
    line: Infrastructure,
):
    goal = request("linkRateLimited", "A")
    bid = honest(line, "B", goal)
    line.allocate("B", line.free("B"))  # committed meanwhile: what the bid needs is gone
    why = implausible(line, goal, bid, "B", shared=True)
    assert why is not None and "free resources 0c/0G/0G are below" in why
    assert implausible(line, goal, bid, "B", shared=False) is None


def test_the_move_a_payload_predicts_is_part_of_t(line: Infrastructure):
    goal = request("linkRateLimited", "A")
    mine = line.deploy("B", "rate_limiter")
    bid = compute_bid(line, "B", goal, move_s=12.0)
    assert isinstance(bid, Bid) and (bid.instance, bid.T) == (mine.id, 12.0)
    assert implausible(line, goal, bid, "B", 12.0, shared=True) is None
    why = implausible(line, goal, replace(bid, T=0.0), "B", 12.0, shared=True)
    assert (
        why == IMPLAUSIBLE + "T = 0 s is below 12 s: the predicted move of 12 s (003 Section 4.2)"
    )


def test_capacity_widths_ignore_reservations(line: Infrastructure):
    line.reserve_path(["R", "A", "B"], 3.0)
    assert capacity_widths(line) == {"R": math.inf, "A": 10.0, "B": 4.0}


# -- honest bids on random networks ------------------------------------------------------------


@st.composite
def networks(draw: st.DrawFn) -> Scenario:
    """2–6 PoPs on a random connected graph, some behind a switch, the repository anywhere."""
    n = draw(st.integers(2, 6))
    pops = [
        (f"p{i}", draw(st.sampled_from([1, 4, 8, 16])), draw(st.sampled_from([1, 6, 16, 32])), 100)
        for i in range(n)
    ]
    switch = draw(st.booleans())
    nodes = [p[0] for p in pops] + (["S"] if switch else [])
    edge = st.tuples(st.floats(0.5, 50), st.floats(0.5, 40), st.floats(0, 3))
    links = {}
    for i in range(1, len(nodes)):  # a spanning tree
        j = draw(st.integers(0, i - 1))
        links[(nodes[j], nodes[i])] = draw(edge)
    for a, b in draw(st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)))):
        if a != b and (a, b) not in links and (b, a) not in links:
            links[(a, b)] = draw(edge)
    return make_scenario(
        pops=pops,
        links=[(a, b, *values) for (a, b), values in links.items()],
        repository=draw(st.sampled_from(nodes)),
        switches=[{"id": "S"}] if switch else [],
    )


def perturb(data: st.DataObject, infra: Infrastructure, holder: str | None) -> None:
    """A state: links reserved, PoPs allocated, idle instances, `holder`'s own holds."""
    for link in infra.links:
        link.reserved = data.draw(st.floats(0, 1)) * link.bandwidth
    for pop, state in infra.pops.items():
        vnf = data.draw(st.sampled_from(sorted(infra.catalogue)))
        if data.draw(st.booleans()):
            with contextlib.suppress(CapacityError):
                infra.deploy(pop, vnf, data.draw(st.integers(1, 2)))
        share = data.draw(st.floats(0, 0.7))
        infra.allocate(pop, Amount(*(f * share for f in state.unheld)))
        half = req(infra.catalogue[vnf]).scaled(0.5)
        if pop == holder and half.fits_in(state.unheld):
            infra.hold(pop, half)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=networks(), data=st.data())
def test_an_honest_bid_is_never_refused_and_its_lies_always_are(
    scenario: Scenario, data: st.DataObject
) -> None:
    infra = Infrastructure.from_scenario(scenario)
    pops = sorted(infra.pops)
    bidder, auctioneer = data.draw(st.sampled_from(pops)), data.draw(st.sampled_from(pops))
    perturb(data, infra, bidder)
    elsewhere = Infrastructure.from_scenario(scenario)  # another process's copy
    perturb(data, elsewhere, None)
    elsewhere.instances.clear()
    goal = request(
        data.draw(st.sampled_from(sorted(GOALS))),
        auctioneer,
        data.draw(st.floats(0, 12)),
        predicted_traffic=data.draw(st.none() | st.floats(0, 12)),
    )
    move = data.draw(st.none() | st.floats(0, 30))
    bid = compute_bid(infra, bidder, goal, BidContext(infra), move)
    if not isinstance(bid, Bid):
        return
    assert implausible(infra, goal, bid, bidder, move, shared=True) is None
    assert implausible(elsewhere, goal, bid, bidder, move) is None
    for view, shared in ((infra, True), (elsewhere, False)):
        assert implausible(view, goal, replace(bid, D=bid.D + 1), bidder, move, shared=shared)
        to_repository = capacity_widths(view).get(bidder, 0.0)
        if (bid.instance is None and not math.isinf(to_repository)) or move:
            assert implausible(view, goal, replace(bid, T=0.0), bidder, move, shared=shared)
        vnf = view.catalogue[bid.vnf]
        if len(bid.path) > 1 and bid.instance is None and vnf.throughput and goal.traffic:
            assert implausible(view, goal, replace(bid, C=0.0), bidder, move, shared=shared)

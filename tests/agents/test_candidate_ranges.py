"""Bids for several candidate VNFs, normalised over the same range for every bidder
(003_… §7.2: several VNFs achieve one goal)."""

from __future__ import annotations

import pytest
from tests.conftest import make_scenario

from secmas.agents.bidding import (
    Bid,
    BidContext,
    GoalRequest,
    Ranges,
    candidate_bid,
    candidate_ranges,
    compute_bid,
    select,
    utilities,
)
from secmas.agents.nfva.codec import request_from_content, request_to_content
from secmas.network.infrastructure import Infrastructure
from secmas.scenario.model import Preferences, Scenario

PREFS = Preferences(T=0.6, C=0.4, D=0.0)
QUICK = Bid("B", "quick", T=10.0, C=1.0, D=5.0)
LEAN = Bid("B", "lean", T=30.0, C=0.6, D=5.0)


def test_own_range_and_common_range_by_hand() -> None:
    # Over its own two candidates: T̂ = (0, 1), Ĉ = (1, 0); D̂ = 0, pf_D = 0.
    # quick 0.6·0 + 0.4·1 = 0.40, lean 0.6·1 + 0.4·0 = 0.60: quick.
    assert utilities([QUICK, LEAN], PREFS) == pytest.approx([0.4, 0.6])
    assert select([QUICK, LEAN], PREFS) == 0
    # Over the call's range, T in [0, 100] and C in [0, 1] (every bidder's candidates):
    # quick 0.6·0.10 + 0.4·1.0 = 0.46, lean 0.6·0.30 + 0.4·0.6 = 0.42: lean.
    ranges = Ranges(T=(0.0, 100.0), C=(0.0, 1.0), D=(0.0, 5.0))
    assert utilities([QUICK, LEAN], PREFS, ranges=ranges) == pytest.approx([0.46, 0.42])
    assert select([QUICK, LEAN], PREFS, ranges=ranges) == 1


def two_images() -> Scenario:
    """R — A — B, repository at R (R–A 10 MB/s, A–B 2 MB/s); two VNFs that achieve goal g:
    `quick` (100 MB image, 2 cores) and `lean` (500 MB image, 1 core)."""
    vnfs = [
        {"id": "quick", "requirements": {"cpu": 2, "memory": 1, "disk": 2}, "image_size": 100},
        {"id": "lean", "requirements": {"cpu": 1, "memory": 1, "disk": 2}, "image_size": 500},
    ]
    goal = {"name": "g", "preferences": {"T": 0.6, "C": 0.4, "D": 0.0}, "vnfs": ["quick", "lean"]}
    return make_scenario(
        pops=[("R", 4, 8, 100), ("A", 4, 8, 100), ("B", 4, 8, 100)],
        links=[("R", "A", 10, 5, 0), ("A", "B", 2, 10, 0)],
        repository="R",
        vnfs=vnfs,
        goals=[goal],
    )


def test_every_bidder_offers_what_eq_3_1_over_all_candidates_ranks_first() -> None:
    scenario = two_images()
    infra = Infrastructure.from_scenario(scenario)
    ctx = BidContext(infra)
    request = GoalRequest.for_goal(scenario.goal("g"), "A")
    bidders = ("A", "B")
    ranges = candidate_ranges(ctx, request, bidders)
    assert ranges is not None
    everything = [candidate_bid(ctx, p, request, v) for p in bidders for v in request.vnfs]
    assert all(isinstance(b, Bid) for b in everything)
    assert ranges == Ranges.over(everything)  # type: ignore[arg-type]
    common = GoalRequest.for_goal(scenario.goal("g"), "A")
    common = GoalRequest(**{**_fields(common), "ranges": ranges})
    for pop in bidders:
        own = [b for b in everything if isinstance(b, Bid) and b.bidder == pop]
        best = min(own, key=lambda b: utilities(everything, PREFS)[everything.index(b)])  # type: ignore[arg-type]
        chosen = compute_bid(infra, pop, common, ctx)
        assert isinstance(chosen, Bid) and chosen.vnf == best.vnf, pop


def test_the_calls_ranges_by_hand() -> None:
    # T: 100 MB and 500 MB over R–A (10 MB/s) to A, over A–B (2 MB/s) to B: A 10 and 50 s,
    # B 50 and 250 s. C and D: A is the auctioneer (empty path, 0); B's path B–A weighs 2:
    # C(B, quick) = 2 × (consRscUtil(2/1/2 of 4/8/100) + freeRscUtil(A)) = 2 × (3/60 + 1),
    # C(B, lean) = 2 × (3/62 + 1); D = 10 ms.
    scenario = two_images()
    ctx = BidContext(Infrastructure.from_scenario(scenario))
    request = GoalRequest.for_goal(scenario.goal("g"), "A")
    ranges = candidate_ranges(ctx, request, ("A", "B"))
    assert ranges is not None
    assert pytest.approx((10.0, 250.0)) == ranges.T
    assert pytest.approx((0.0, 2.1)) == ranges.C
    assert pytest.approx((0.0, 10.0)) == ranges.D
    # B's candidates over them: quick 0.6 × 40/240 + 0.4 × 1 = 0.5,
    # lean 0.6 × 1 + 0.4 × (2 × (3/62 + 1)) / 2.1.
    b_quick, b_lean = (candidate_bid(ctx, "B", request, v) for v in ("quick", "lean"))
    assert isinstance(b_quick, Bid) and isinstance(b_lean, Bid)
    lean = 0.6 + 0.4 * (2 * (3 / 62 + 1)) / 2.1
    assert utilities([b_quick, b_lean], PREFS, ranges=ranges) == pytest.approx([0.5, lean])


def test_one_vnf_gets_no_range_and_the_call_carries_ranges() -> None:
    scenario = two_images()
    ctx = BidContext(Infrastructure.from_scenario(scenario))
    single = GoalRequest("g", "A", PREFS, vnfs=("lean",))
    assert candidate_ranges(ctx, single, ("A", "B")) is None
    assert "ranges" not in request_to_content(single, {})
    ranged = GoalRequest(
        "g", "A", PREFS, vnfs=("quick", "lean"), ranges=Ranges((0, 1), (2, 3), (4, 5))
    )
    back, _ = request_from_content(request_to_content(ranged, {}))
    assert back.ranges == ranged.ranges
    bad = request_to_content(ranged, {}) | {"ranges": {"T": [2, 1], "C": [0, 1], "D": [0, 1]}}
    with pytest.raises(ValueError, match=r"ranges\.T"):
        request_from_content(bad)


def _fields(request: GoalRequest) -> dict[str, object]:
    return {name: getattr(request, name) for name in GoalRequest.__slots__}

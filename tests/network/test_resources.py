"""Eq. 4.1, 4.3, 4.4 and Table 4.2 against values computed by hand."""

from __future__ import annotations

import pytest

from secmas.network.resources import (
    Amount,
    can_deploy,
    cons_rsc_util,
    free_rsc_util,
    full,
    harmonic_mean,
    req,
    rsc_eval,
    rsc_eval_hop,
    sat_req,
    units_needed,
)
from secmas.scenario.ddos import ddos_catalogue

CATALOGUE = {v.id: v for v in ddos_catalogue()}
NEEDS = tuple(req(v) for v in ddos_catalogue())
TOTAL = Amount(8, 16, 500)


def test_sat_req_worked_example() -> None:
    # Section 4.2.1: free 8 cores / 16 GB / 500 GB, VNF needs 2 / 4 / 50 → holds.
    assert sat_req(Amount(8, 16, 500), Amount(2, 4, 50))
    # One core short → fails.
    assert not sat_req(Amount(1, 16, 500), Amount(2, 4, 50))


def test_units_and_scaled_requirements() -> None:
    ad, cl = CATALOGUE["anomaly_detector"], CATALOGUE["classifier"]
    # Section 5.4.1: AD handles 2 MB/s per unit; 4 MB/s needs 2 units = 2 / 4 / 20.
    assert units_needed(ad, 4.0) == 2
    assert req(ad, 2) == Amount(2, 4, 20)
    # Classifier 1 MB/s per unit; 2 MB/s → 4 cores / 8 GB / 20 GB.
    assert req(cl, units_needed(cl, 2.0)) == Amount(4, 8, 20)
    assert units_needed(ad, 4.5) == 3  # ceil(4.5 / 2)
    assert units_needed(ad, 0.0) == 1
    assert units_needed(CATALOGUE["rate_limiter"], 100.0) == 1  # no throughput limit


def test_free_rsc_util() -> None:
    # Half of everything free: 3 / (2 + 2 + 2) = 0.5.
    assert free_rsc_util(Amount(4, 8, 250), TOTAL) == pytest.approx(0.5)
    # Ratios 0.25, 0.25, 0.2: 3 / (4 + 4 + 5) = 3/13.
    assert free_rsc_util(Amount(2, 4, 100), TOTAL) == pytest.approx(3 / 13)
    # No memory left: the harmonic mean tends to 0.
    assert free_rsc_util(Amount(2, 0, 100), TOTAL) == 0.0


def test_cons_rsc_util() -> None:
    # 2 / 4 / 50 on 8 / 16 / 500: ratios 0.25, 0.25, 0.1 → 3 / (4 + 4 + 10) = 1/6.
    assert cons_rsc_util(Amount(2, 4, 50), TOTAL) == pytest.approx(1 / 6)


def test_harmonic_mean() -> None:
    # 2 / (1/1 + 1/4) = 1.6
    assert harmonic_mean([1.0, 4.0]) == pytest.approx(1.6)


def test_full() -> None:
    # Smallest VNF needs 1 core / 1 GB / 2 GB: with 0.5 GB of memory nothing fits.
    assert full(Amount(4, 0.5, 100), NEEDS)
    assert not full(Amount(1, 1, 2), NEEDS)


def test_can_deploy() -> None:
    # Free 2 / 4 / 20; a Classifier (2 / 4 / 10) leaves 0 / 0 / 10: nothing else fits.
    assert not can_deploy(Amount(2, 4, 20), req(CATALOGUE["classifier"]), NEEDS)
    # A Rate Limiter (1 / 1 / 2) leaves 1 / 3 / 18: another Rate Limiter fits.
    assert can_deploy(Amount(2, 4, 20), req(CATALOGUE["rate_limiter"]), NEEDS)


def test_rsc_eval_hop() -> None:
    # Eq. 4.3: a full node costs 0; otherwise freeRscUtil (here 0.5).
    assert rsc_eval_hop(Amount(4, 0.5, 250), TOTAL, NEEDS) == 0.0
    assert rsc_eval_hop(Amount(4, 8, 250), TOTAL, NEEDS) == pytest.approx(0.5)


def test_rsc_eval_consumed_when_room_remains() -> None:
    # Eq. 4.4, first case: a Rate Limiter on an empty 8 / 16 / 500 PoP leaves room, so the
    # cost is consRscUtil = 3 / (8 + 16 + 250) = 3/274.
    got = rsc_eval(TOTAL, TOTAL, req(CATALOGUE["rate_limiter"]), NEEDS)
    assert got == pytest.approx(3 / 274)


def test_rsc_eval_whole_pop_when_rest_is_wasted() -> None:
    # Section 5.4.2 (agents 3 and 4): a Classifier fills a 2 / 4 / 20 PoP so nothing else
    # fits, yet a Rate Limiter would have left room: the cost is freeRscUtil = 1.
    small = Amount(2, 4, 20)
    assert rsc_eval(small, small, req(CATALOGUE["classifier"]), NEEDS) == pytest.approx(1.0)
    # With free 2 / 4 / 20 of 8 / 16 / 500 the same case costs 3 / (4 + 4 + 25) = 3/33.
    got = rsc_eval(small, TOTAL, req(CATALOGUE["classifier"]), NEEDS)
    assert got == pytest.approx(3 / 33)


def test_rsc_eval_consumed_when_no_choice_leaves_room() -> None:
    # Free 1 / 1 / 2: any VNF that fits fills it, ¬∃v′ canDeploy → consRscUtil.
    # Rate Limiter on total 8 / 16 / 500: 3 / (8 + 16 + 250) = 3/274.
    got = rsc_eval(Amount(1, 1, 2), TOTAL, req(CATALOGUE["rate_limiter"]), NEEDS)
    assert got == pytest.approx(3 / 274)

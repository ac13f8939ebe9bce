"""Realistic normal traffic for recordings (secmas.network.emulation.trafficprofile)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.network.emulation.trafficprofile import (
    COLD_SIZE,
    Bursts,
    TrafficProfile,
    cold_sizes,
    requests_now,
)


def test_the_daily_cycle_peaks_a_quarter_day_in_and_bottoms_three_quarters_in() -> None:
    profile = TrafficProfile(day_s=400.0, swing=0.5)
    assert profile.day(0.0) == pytest.approx(1.0)
    assert profile.day(100.0) == pytest.approx(1.5)
    assert profile.day(300.0) == pytest.approx(0.5)
    assert TrafficProfile(day_s=0.0).day(123.0) == 1.0


def test_the_off_rate_keeps_a_bursty_clients_mean_rate() -> None:
    # ON 6 s of every 36 on average: ON share 1/6; at 3 × while ON, OFF runs at
    # (1 − 3/6) / (5/6) = 0.6, and 1/6 · 3 + 5/6 · 0.6 = 1.
    profile = TrafficProfile(burst_on_s=6.0, burst_off_s=30.0, burst_factor=3.0)
    assert profile.on_share == pytest.approx(1 / 6)
    assert profile.off_factor == pytest.approx(0.6)


def test_a_bursty_client_keeps_its_mean_rate_over_time() -> None:
    profile = TrafficProfile(burst_on_s=6.0, burst_off_s=30.0, burst_factor=3.0)
    bursts = Bursts(profile, random.Random(4), 0.0)
    factors = [bursts.factor(t * 0.5) for t in range(400_000)]
    assert sum(factors) / len(factors) == pytest.approx(1.0, abs=0.05)
    assert sorted({round(f, 9) for f in factors}) == [0.6, 3.0]


def test_steady_clients_do_not_burst() -> None:
    bursts = Bursts(TrafficProfile(burst_on_s=0.0), random.Random(1), 0.0)
    assert {bursts.factor(t) for t in range(100)} == {1.0}


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"swing": 1.0}, "swing"),
        ({"day_s": -1.0}, "negative"),
        ({"burst_factor": 7.0}, "OFF rate would be negative"),
        ({"burst_factor": 0.5}, "OFF rate would be negative"),
        ({"cold_count": -1}, "cold_count"),
    ],
)
def test_impossible_profiles_are_refused(fields: dict[str, float], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        TrafficProfile(**fields)


@given(st.floats(min_value=0.0, max_value=5.0))
def test_requests_now_sends_the_expected_number_on_average(expected: float) -> None:
    rng = random.Random(7)
    sent = [requests_now(expected, rng) for _ in range(4000)]
    assert all(int(expected) <= n <= int(expected) + 1 for n in sent)
    assert sum(sent) / len(sent) == pytest.approx(expected, abs=0.05)


def test_a_whole_expectation_leaves_the_generator_untouched() -> None:
    """Steady video clients send one chunk a step without drawing, so the HTTP clients
    sharing the generator draw what they drew before profiles existed."""
    rng = random.Random(3)
    before = rng.getstate()
    assert requests_now(1.0, rng) == 1
    assert rng.getstate() == before


def test_cold_objects_are_distinct_files_and_only_with_cache_misses() -> None:
    assert cold_sizes(TrafficProfile(cold_count=3)) == {COLD_SIZE, COLD_SIZE + 1, COLD_SIZE + 2}
    assert cold_sizes(TrafficProfile(cold_every_s=0.0)) == set()
    assert cold_sizes(None) == set()


def test_a_profile_travels_as_json() -> None:
    profile = TrafficProfile(day_s=100.0, swing=0.2)
    assert TrafficProfile.from_json(profile.to_json()) == profile

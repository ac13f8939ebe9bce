"""Times a sender claims, bounded by the receiver's clock (`claimed_time`)."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.network.clock import ScaledClock, claimed_time

times = st.floats(allow_nan=True, allow_infinity=True)


@given(times, st.floats(0, 1e9), st.floats(0, 60))
def test_a_claimed_time_is_used_only_finite_and_never_after_now(at, now, ahead):
    try:
        used = claimed_time(at, now, ahead)
    except ValueError:
        assert not math.isfinite(at) or at > now + ahead
        return
    assert used == min(at, now) <= now


def test_skew_within_the_bound_is_taken_as_now_and_beyond_it_refused():
    assert claimed_time(10.0, now=12.0, ahead=5.0) == 10.0
    assert claimed_time(14.0, now=12.0, ahead=5.0) == 12.0  # clocks drift
    assert claimed_time(-60.0, now=0.5, ahead=5.0) == -60.0  # old, or before an origin
    with pytest.raises(ValueError, match=r"1e\+300 s is .* ahead of the receiver's clock"):
        claimed_time(1e300, now=12.0, ahead=5.0)
    for lie in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="not a finite number"):
            claimed_time(lie, now=12.0, ahead=5.0)


def test_a_held_clock_reads_0_until_it_begins_then_counts_from_there() -> None:
    """A run on the emulated network brings its agents up at time 0, as on the virtual
    clock, however long that takes; the scenario's time starts after."""
    clock = ScaledClock(2.0, held=True)
    time.sleep(0.05)
    assert clock.now() == 0.0
    clock.begin()
    time.sleep(0.05)
    assert clock.now() >= 0.1
    assert ScaledClock().now() >= 0.0

"""A move starts, within its window, where the forecast traffic is lowest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.mtd.timing import quietest_start


def test_the_quiet_valley_is_chosen() -> None:
    predicted = [3.0, 3.0, 3.0, 1.0, 0.5, 0.5, 3.0, 3.0, 3.0, 3.0]
    # 2-s migrations may start from 1 s to 6 s: [4, 6) has the lowest mean
    assert quietest_start(predicted, 1.0, earliest=1.0, latest=6.0, duration=2.0) == 4.0
    # a flat forecast keeps the earliest start
    assert quietest_start([2.0] * 5, 1.0, earliest=2.0, latest=4.0, duration=1.0) == 2.0


def test_bad_forecasts_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        quietest_start([], 1.0, earliest=0.0, latest=1.0, duration=1.0)
    with pytest.raises(ValueError, match="latest"):
        quietest_start([1.0], 1.0, earliest=2.0, latest=1.0, duration=1.0)


@given(
    st.lists(st.floats(0, 100), min_size=1, max_size=40),
    st.floats(0, 20),
    st.floats(0, 20),
    st.floats(0, 10),
)
def test_the_start_stays_in_its_window(values: list[float], a: float, b: float, d: float) -> None:
    earliest, latest = min(a, b), max(a, b)
    start = quietest_start(values, 1.0, earliest=earliest, latest=latest, duration=d)
    assert earliest - 1e-9 <= start <= max(earliest, latest) + 1e-9

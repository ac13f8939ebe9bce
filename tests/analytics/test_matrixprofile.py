"""The matrix profile (secmas.analytics.matrixprofile) against its definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.analytics.matrixprofile import BLOCK_CELLS, ab_join, self_join


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Yeh et al. (2016): Euclidean distance of the z-normalised subsequences; a constant
    one is at 0 from another constant one and at √m from any other."""
    m = len(a)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0 if np.ptp(a) == np.ptp(b) == 0 else math.sqrt(m)
    za, zb = (a - a.mean()) / a.std(), (b - b.mean()) / b.std()
    return float(np.linalg.norm(za - zb))


def brute_force(query: np.ndarray, reference: np.ndarray, m: int, zone: int | None) -> list[float]:
    out = []
    for i in range(len(query) - m + 1):
        candidates = [
            distance(query[i : i + m], reference[j : j + m])
            for j in range(len(reference) - m + 1)
            if zone is None or abs(i - j) > zone
        ]
        out.append(min(candidates, default=math.inf))
    return out


def test_a_hand_computed_ab_join() -> None:
    # [0, 1, 2] z-normalises to [-a, 0, a] (a = √1.5); so does [5, 6, 7]; [2, 1, 0] is its
    # mirror image, at distance √((2a)² + (2a)²) = √12.
    assert ab_join(np.array([0.0, 1, 2]), np.array([2.0, 1, 0, 5, 6, 7]), 3) == pytest.approx(
        [0.0], abs=1e-7
    )
    assert ab_join(np.array([0.0, 1, 2]), np.array([2.0, 1, 0]), 3) == pytest.approx([12**0.5])


def test_constant_and_non_finite_subsequences() -> None:
    flat, ramp = np.array([3.0, 3, 3]), np.array([1.0, 2, 3])
    assert ab_join(flat, np.array([7.0, 7, 7]), 3) == pytest.approx([0.0])
    assert ab_join(flat, ramp, 3) == pytest.approx([3**0.5])
    assert ab_join(np.array([1.0, np.nan, 3]), ramp, 3)[0] == math.inf
    assert ab_join(ramp, np.array([1.0, 2, np.inf, 1, 2, 3]), 3)[-1] == pytest.approx(0.0)


def test_the_self_join_skips_the_trivial_match_zone() -> None:
    series = np.sin(np.arange(40) / 2.0)
    # m = 8: neighbours within ⌈8/4⌉ = 2 steps are trivial matches, not neighbours
    assert self_join(series, 8) == pytest.approx(brute_force(series, series, 8, 2))
    assert np.all(np.isinf(self_join(np.arange(5.0), 4)))  # two subsequences, 1 step apart


series_values = st.lists(
    st.sampled_from([0.0, 1.0, 2.0]) | st.floats(-100, 100, allow_nan=False),
    min_size=4,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(series_values, series_values, st.integers(3, 4))
def test_joins_equal_their_definition(query: list[float], reference: list[float], m: int) -> None:
    q, r = np.array(query), np.array(reference)
    # nearly constant subsequences lose every digit to rounding; compare the well-posed ones
    if any(0 < np.ptp(x[i : i + m]) < 1e-3 for x in (q, r) for i in range(len(x) - m + 1)):
        return
    # squared: near 0 the square root turns a rounding of 2e-13 into 1e-6 (a repeated
    # [1.0, 1.1, 1.1, 1.1] gave 1.27e-6 for an exact match)
    expected = np.array(brute_force(q, r, m, None)) ** 2
    assert ab_join(q, r, m) ** 2 == pytest.approx(expected, abs=1e-9)
    expected = np.array(brute_force(r, r, m, math.ceil(m / 4))) ** 2
    assert self_join(r, m) ** 2 == pytest.approx(expected, abs=1e-9)


def test_blocks_give_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    query, reference = rng.standard_normal(120), rng.standard_normal(90)
    whole = ab_join(query, reference, 6), self_join(reference, 6)
    monkeypatch.setattr("secmas.analytics.matrixprofile.BLOCK_CELLS", 100)
    assert BLOCK_CELLS > 100
    np.testing.assert_allclose(ab_join(query, reference, 6), whole[0], rtol=1e-12)
    np.testing.assert_allclose(self_join(reference, 6), whole[1], rtol=1e-12)


def test_too_short_a_series_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 5 values"):
        ab_join(np.arange(4.0), np.arange(10.0), 5)

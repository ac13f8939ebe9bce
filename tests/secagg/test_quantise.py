"""Quantisation: clipping counted, the ring sized so sums never wrap, errors bounded."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.secagg.quantise import Quantiser, Ring


@given(
    st.lists(st.floats(-3, 3), min_size=1, max_size=50),
    st.floats(0.1, 2.0),
    st.integers(4, 24),
)
def test_each_value_is_within_half_a_step(values: list[float], clip: float, bits: int) -> None:
    q = Quantiser(clip, bits)
    x = np.array(values)
    out = q.quantise(x)
    assert out.clipped == int(np.sum(np.abs(x) > clip))
    back = q.dequantise(out.values)
    assert np.all(np.abs(back - np.clip(x, -clip, clip)) <= q.step / 2 + 1e-12)


def test_ring_is_chosen_so_the_sum_cannot_wrap() -> None:
    q = Quantiser(1.0, 16)
    assert q.ring(100).bits == 32  # 2 · 100 · 32767 < 2^32
    assert q.ring(70_000).bits == 64  # 2 · 70 000 · 32767 > 2^32
    assert Quantiser(1.0, 24).ring(1000).bits == 64
    with pytest.raises(ValueError, match="do not fit"):
        Quantiser(1.0, 48).ring(2**17)
    ring = q.ring(100)
    n, levels = 100, q.levels
    worst = ring.encode(np.full(1, levels))
    total = ring.zeros(1)
    for _ in range(n):
        np.add(total, worst, out=total)
    assert int(ring.decode(total)[0]) == n * levels
    total = ring.zeros(1)
    for _ in range(n):
        np.subtract(total, worst, out=total)
    assert int(ring.decode(total)[0]) == -n * levels


def test_stochastic_rounding_is_unbiased() -> None:
    q = Quantiser(1.0, 4, stochastic=True)  # step 1/7: 0.05 lies between two steps
    rng = np.random.default_rng(0)
    values = q.quantise(np.full(100_000, 0.05), rng).values
    assert abs(q.dequantise(values).mean() - 0.05) < 0.002
    assert q.error_bound(10) == pytest.approx(10 * q.step)


def test_invalid_settings_and_inputs() -> None:
    with pytest.raises(ValueError, match="positive"):
        Quantiser(0.0)
    with pytest.raises(ValueError, match="2–48 bits"):
        Quantiser(1.0, 50)
    with pytest.raises(ValueError, match="NaN"):
        Quantiser().quantise(np.array([np.nan]))
    with pytest.raises(ValueError, match="ring width"):
        Ring(16)

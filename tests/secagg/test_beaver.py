"""Two-party computation with a dealer: multiplication, sign bits, comparisons."""

from __future__ import annotations

import numpy as np

from secmas.secagg.beaver import TwoParty

EDGES = np.array([0, 1, -1, 2**62, -(2**62), 2**63 - 1, -(2**63), 12345, -12345], dtype=np.int64)


def signed(values: np.ndarray) -> np.ndarray:
    return values.view(np.int64)


def test_sign_bit_of_edge_and_random_values() -> None:
    engine = TwoParty()
    rng = np.random.default_rng(0)
    values = np.concatenate([EDGES, rng.integers(-(2**63), 2**63 - 1, 5000, dtype=np.int64)])
    bit = engine.b2a(engine.msb(engine.share(values.view(np.uint64))))
    assert np.array_equal(engine.open(bit), (values < 0).astype(np.uint64))
    assert engine.rounds > 0 and engine.bytes > 0 and engine.dealer.bytes > 0


def test_multiplication_wraps_mod_2_64() -> None:
    engine = TwoParty()
    rng = np.random.default_rng(1)
    x = rng.integers(-(2**31), 2**31, 1000, dtype=np.int64)
    y = rng.integers(-(2**31), 2**31, 1000, dtype=np.int64)
    product = engine.mul(engine.share(x.view(np.uint64)), engine.share(y.view(np.uint64)))
    assert np.array_equal(signed(engine.open(product)), x * y)


def test_shares_alone_look_random() -> None:
    engine = TwoParty()
    shared = engine.share(np.zeros(100_000, dtype=np.uint64))
    top = (shared.s0 >> np.uint64(58)).astype(int)
    counts = np.bincount(top, minlength=64)
    assert counts.min() > 1200  # 1 562 expected per bin


def test_compare_exchange_and_select() -> None:
    engine = TwoParty()
    rng = np.random.default_rng(2)
    a = rng.integers(-(2**40), 2**40, 500, dtype=np.int64)
    b = rng.integers(-(2**40), 2**40, 500, dtype=np.int64)
    b[:10] = a[:10]  # ties
    low, high = engine.compare_exchange(
        engine.share(a.view(np.uint64)), engine.share(b.view(np.uint64))
    )
    assert np.array_equal(signed(engine.open(low)), np.minimum(a, b))
    assert np.array_equal(signed(engine.open(high)), np.maximum(a, b))
    bit = engine.less_than(engine.share(a.view(np.uint64)), engine.share(b.view(np.uint64)))
    picked = engine.select(bit, engine.share(a.view(np.uint64)), engine.share(b.view(np.uint64)))
    assert np.array_equal(signed(engine.open(picked)), np.where(a < b, a, b))

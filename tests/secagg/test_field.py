"""Shamir sharing over GF(2³¹ − 1): any t shares give the secret back, the wrong ones don't."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.secagg.errors import ReconstructionError
from secmas.secagg.field import (
    PRIME,
    decode,
    decode_secret,
    encode_secret,
    lagrange_coefficients,
    random_elements,
    reconstruct,
    split,
)


@given(st.binary(min_size=0, max_size=64))
def test_secret_bytes_round_trip(secret: bytes) -> None:
    assert decode_secret(encode_secret(secret), len(secret)) == secret


@given(
    st.binary(min_size=32, max_size=32),
    st.integers(min_value=2, max_value=12),
    st.data(),
)
def test_any_threshold_subset_reconstructs(secret: bytes, n: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(min_value=1, max_value=n))
    xs = data.draw(
        st.lists(st.integers(1, PRIME - 1), min_size=n, max_size=n, unique=True), label="xs"
    )
    shares = split(encode_secret(secret), t, xs)
    chosen = data.draw(st.permutations(range(n)))[: data.draw(st.integers(t, n))]
    got = reconstruct([xs[i] for i in chosen], shares[chosen], t)
    assert decode_secret(got, 32) == secret


def test_fewer_than_threshold_shares_fail_or_mislead() -> None:
    secret = encode_secret(bytes(range(32)))
    shares = split(secret, 4, [1, 2, 3, 4, 5])
    with pytest.raises(ReconstructionError, match="3 shares, 4 needed"):
        reconstruct([1, 2, 3], shares[:3], 4)
    # t − 1 shares interpolated as if t were smaller give an unrelated value
    assert not np.array_equal(reconstruct([1, 2, 3], shares[:3], 3), secret)


def test_t_minus_one_shares_are_uniform() -> None:
    """One share of a degree-1 sharing is uniform whatever the secret (Shamir's privacy)."""
    zeros = np.zeros(20_000, dtype=np.int64)
    ones = np.full(20_000, PRIME - 1, dtype=np.int64)
    for secret in (zeros, ones):
        share = split(secret, 2, [7, 8])[0]
        counts = np.bincount((share * 16 // PRIME).astype(int), minlength=16)
        assert counts.min() > 1_000  # 1 250 expected per bin


def test_a_forged_extra_share_is_detected() -> None:
    secret = encode_secret(b"k" * 32)
    shares = split(secret, 3, [1, 2, 3, 4])
    shares[3, 0] = (shares[3, 0] + 1) % PRIME
    with pytest.raises(ReconstructionError, match="x = 4 is not on the polynomial"):
        reconstruct([1, 2, 3, 4], shares, 3)


def test_lagrange_coefficients_sum_to_one_at_zero() -> None:
    assert int(lagrange_coefficients([3, 9, 11, 20]).sum() % PRIME) == 1


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="distinct"):
        split(np.array([1]), 2, [1, 1])
    with pytest.raises(ValueError, match=r"\[1, "):
        split(np.array([1]), 1, [0])
    with pytest.raises(ValueError, match="threshold"):
        split(np.array([1]), 3, [1, 2])
    with pytest.raises(ReconstructionError, match="3-byte chunk"):
        decode_secret(np.array([1 << 24]), 3)
    values = random_elements(1000)
    assert values.min() >= 0 and values.max() < PRIME


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 8),
    st.integers(0, 6),
    st.data(),
)
def test_decode_corrects_what_berlekamp_welch_can_and_the_check_one_more(
    threshold: int, extra: int, data: st.DataObject
) -> None:
    """k = t + extra shares, some wrong in random places: up to ⌊extra/2⌋ wrong ones are
    corrected without a check; with the secret's check, up to max(⌊extra/2⌋, 1 if
    extra ≥ 1); never a wrong secret."""
    k = threshold + extra
    secret = random_elements(4)
    xs = data.draw(st.lists(st.integers(1, 1000), min_size=k, max_size=k, unique=True))
    shares = split(secret, threshold, xs)
    wrong = data.draw(st.sets(st.integers(0, k - 1), max_size=max(extra // 2, min(extra, 1))))
    for row in wrong:
        column = data.draw(st.integers(0, 3))
        shares[row, column] = (shares[row, column] + data.draw(st.integers(1, PRIME - 1))) % PRIME

    def check(candidate: np.ndarray) -> bool:
        return bool(np.array_equal(candidate, secret))

    decoded = decode(xs, shares, threshold, check)
    assert np.array_equal(decoded.secret, secret)
    assert set(decoded.wrong) <= {xs[r] for r in wrong}
    if len(wrong) <= extra // 2:
        unchecked = decode(xs, shares, threshold)
        assert np.array_equal(unchecked.secret, secret)
        assert set(unchecked.wrong) == {xs[r] for r in wrong}


def test_decode_with_exactly_t_shares_detects_a_wrong_one_only_with_a_check() -> None:
    secret = random_elements(11)
    shares = split(secret, 4, [1, 2, 3, 4])
    shares[1, 5] = (shares[1, 5] + 1) % PRIME
    with pytest.raises(ReconstructionError, match="exactly t shares: detected only"):
        decode([1, 2, 3, 4], shares, 4, lambda s: bool(np.array_equal(s, secret)))
    # without a check nothing can tell: t points always lie on one polynomial
    assert not np.array_equal(decode([1, 2, 3, 4], shares, 4).secret, secret)

"""The AES-256-CTR PRG: deterministic per key, uniform, and keys bound to their context."""

from __future__ import annotations

import numpy as np
import pytest

from secmas.secagg.prg import derive_key, expand, expand_into


def test_same_key_same_stream_other_key_other_stream() -> None:
    key = derive_key(b"s" * 32, b"self-mask", b"ctx")
    assert np.array_equal(expand(key, 1000), expand(key, 1000))
    assert np.array_equal(expand(key, 10), expand(key, 1000)[:10])
    other = derive_key(b"s" * 32, b"self-mask", b"ctx2")
    assert not np.array_equal(expand(key, 100), expand(other, 100))
    assert derive_key(b"s" * 32, b"a", b"") != derive_key(b"s" * 32, b"b", b"")


def test_stream_is_uniform_over_uint32_and_uint64() -> None:
    key = derive_key(bytes(32), b"test")
    words = expand(key, 200_000)
    assert words.dtype == np.uint32
    counts = np.bincount((words >> np.uint32(28)).astype(int), minlength=16)
    expected = len(words) / 16
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 45  # 15 degrees of freedom: p ≈ 1e-4
    wide = expand(key, 1000, np.uint64)
    assert wide.dtype == np.uint64 and wide.shape == (1000,)


def test_expand_into_adds_and_subtracts_mod_2_32() -> None:
    key = derive_key(bytes(range(32)), b"x")
    out = np.zeros(100, dtype=np.uint32)
    expand_into(key, out, +1)
    expand_into(key, out, -1)
    assert not out.any()


def test_short_secrets_and_bad_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="128 bits"):
        derive_key(b"short", b"x")
    with pytest.raises(ValueError, match="32 bytes"):
        expand(b"k" * 16, 10)

"""Sealed boxes: only the recipient's key in the right context opens them."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from secmas.trust.sealing import SealError, open_sealed, seal


def test_round_trip_with_context() -> None:
    key = X25519PrivateKey.generate()
    box = seal(b"pipeline secret", key.public_key().public_bytes_raw(), b"p1/epoch/1")
    assert open_sealed(box, key, b"p1/epoch/1") == b"pipeline secret"
    assert b"pipeline secret" not in box


def test_two_boxes_of_one_message_differ() -> None:
    public = X25519PrivateKey.generate().public_key().public_bytes_raw()
    assert seal(b"x", public) != seal(b"x", public)


def test_wrong_key_or_context_is_refused() -> None:
    key, other = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    box = seal(b"ref", key.public_key().public_bytes_raw(), b"step 3")
    with pytest.raises(SealError, match="not sealed to this key"):
        open_sealed(box, other, b"step 3")
    with pytest.raises(SealError, match="not sealed to this key"):
        open_sealed(box, key, b"step 4")


def test_bad_recipient_key_is_refused() -> None:
    with pytest.raises(SealError, match="recipient key"):
        seal(b"x", b"short")


@given(st.binary(max_size=120))
def test_garbage_only_raises_seal_error(data: bytes) -> None:
    key = X25519PrivateKey.generate()
    with pytest.raises(SealError):
        open_sealed(data, key)


@given(st.integers(min_value=0, max_value=60))
def test_any_flipped_byte_is_detected(position: int) -> None:
    key = X25519PrivateKey.generate()
    box = bytearray(seal(b"reference measurement", key.public_key().public_bytes_raw()))
    box[position % len(box)] ^= 0x01
    with pytest.raises(SealError):
        open_sealed(bytes(box), key)

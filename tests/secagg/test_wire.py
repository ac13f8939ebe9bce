"""The wire format: every message round-trips; anything malformed is a WireError."""

from __future__ import annotations

import contextlib
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.secagg.errors import WireError
from secmas.secagg.messages import (
    Advertise,
    Config,
    ConsistencySignature,
    Forwarded,
    KeyBook,
    MaskedInput,
    MpcShare,
    PartySum,
    PartyView,
    Setup,
    ShareCiphertexts,
    SignatureBook,
    Survivors,
    UnmaskShares,
)
from secmas.secagg.wire import decode, decode_share_payload, encode, encode_share_payload

SESSION = bytes(range(16))
ids = st.integers(0, 2**31 - 3)
keys = st.binary(min_size=32, max_size=32)
sigs = st.binary(min_size=64, max_size=64)
blobs = st.binary(max_size=200)
elements = st.lists(st.integers(0, 2**31 - 2), min_size=11, max_size=11).map(
    lambda v: np.array(v, dtype=np.int64)
)
adverts = st.builds(Advertise, ids, keys, keys, sigs)
vectors = st.one_of(
    st.lists(st.integers(0, 2**32 - 1), max_size=50).map(lambda v: np.array(v, np.uint32)),
    st.lists(st.integers(0, 2**64 - 1), max_size=50).map(lambda v: np.array(v, np.uint64)),
)
configs = st.builds(
    lambda n, t, length, clip, bits, ring: Config(
        SESSION, tuple(range(n)), min(t, n - 1) + 1, n - 1, length, clip, bits, ring
    ),
    st.integers(3, 30),
    st.integers(1, 29),
    st.integers(1, 10**6),
    st.floats(0.01, 100),
    st.integers(2, 32),
    st.sampled_from([32, 64]),
)
messages = st.one_of(
    st.builds(Setup, configs),
    adverts,
    st.builds(KeyBook, st.lists(adverts, max_size=5).map(tuple)),
    st.builds(ShareCiphertexts, ids, keys, st.lists(st.tuples(ids, blobs), max_size=5).map(tuple)),
    st.builds(Forwarded, st.lists(st.tuples(ids, blobs), max_size=5).map(tuple)),
    st.builds(MaskedInput, ids, vectors),
    st.builds(Survivors, st.lists(ids, max_size=20).map(tuple)),
    st.builds(ConsistencySignature, ids, sigs),
    st.builds(SignatureBook, st.lists(st.tuples(ids, sigs), max_size=5).map(tuple)),
    st.builds(
        UnmaskShares,
        ids,
        st.lists(st.tuples(ids, elements), max_size=4).map(tuple),
        st.lists(st.tuples(ids, elements), max_size=4).map(tuple),
    ),
    st.builds(MpcShare, ids, st.integers(0, 7), keys, sigs, blobs),
    st.builds(PartyView, st.integers(0, 7), st.lists(ids, max_size=9).map(tuple)),
    st.builds(PartySum, st.integers(0, 7), st.lists(ids, max_size=9).map(tuple), vectors),
)


def same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(same, a, b))
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and all(
            same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__
        )
    return a == b


@given(messages)
def test_every_message_round_trips(message: object) -> None:
    session, back = decode(encode(message, SESSION))  # type: ignore[arg-type]
    assert session == SESSION
    assert same(message, back)


@given(messages, st.data())
def test_truncated_or_extended_frames_are_refused(message: object, data: st.DataObject) -> None:
    frame = encode(message, SESSION)  # type: ignore[arg-type]
    cut = data.draw(st.integers(0, len(frame) - 1))
    with pytest.raises(WireError):
        decode(frame[:cut])
    with pytest.raises(WireError):
        decode(frame + b"\x00")


@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_wire_error(junk: bytes) -> None:
    with contextlib.suppress(WireError):
        decode(junk)


@given(messages, st.data())
def test_flipped_body_bytes_parse_or_raise_wire_error(message: object, data: st.DataObject) -> None:
    frame = bytearray(encode(message, SESSION))  # type: ignore[arg-type]
    position = data.draw(st.integers(0, len(frame) - 1))
    frame[position] ^= data.draw(st.integers(1, 255))
    with contextlib.suppress(WireError):
        decode(bytes(frame))


def test_header_checks_name_the_problem() -> None:
    frame = encode(Survivors((1, 2, 3)), SESSION)
    with pytest.raises(WireError, match="magic"):
        decode(b"XXXX" + frame[4:])
    with pytest.raises(WireError, match="version 1"):
        decode(frame[:4] + b"\x01" + frame[5:])
    with pytest.raises(WireError, match="kind 99"):
        decode(frame[:5] + b"\x63" + frame[6:])
    with pytest.raises(WireError, match="body length"):
        decode(frame[:-4])
    # a count larger than the frame can hold
    body = struct.pack("<I", 10**9)
    header = frame[:24] + struct.pack("<I", len(body))
    with pytest.raises(WireError, match="exceeds the frame"):
        decode(header + body)
    # a setup whose configuration is invalid
    setup = encode(Setup(Config(SESSION, (0, 1, 2), 2, 2, 5)), SESSION)
    with pytest.raises(WireError, match="invalid configuration"):
        decode(setup[:-1] + b"\x07")  # the last byte is the ring width: 7 bits


def test_share_payload_round_trip_and_refusal() -> None:
    a = np.arange(11, dtype=np.int64)
    b = np.arange(11, 22, dtype=np.int64)
    sender, recipient, x, y = decode_share_payload(encode_share_payload(3, 4, a, b))
    assert (sender, recipient) == (3, 4) and np.array_equal(x, a) and np.array_equal(y, b)
    with pytest.raises(WireError):
        decode_share_payload(encode_share_payload(3, 4, a, b)[:-1])
    with pytest.raises(WireError, match="outside the field"):
        decode_share_payload(encode_share_payload(3, 4, a, b)[:-4] + b"\xff\xff\xff\xff")
    with pytest.raises(TypeError):
        encode(object(), SESSION)  # type: ignore[arg-type]

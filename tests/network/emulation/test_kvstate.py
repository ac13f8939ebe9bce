"""The migrating CNF's state: versioned deltas, their wire frame, the digest (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.network.emulation.kvstate import (
    Delta,
    StateError,
    Store,
    decode_delta,
    encode_delta,
    parse_header,
)

KEYS = st.text(st.sampled_from("abcxyz/0123456789"), min_size=1, max_size=12)


def test_a_delta_holds_only_what_was_written_or_deleted_since() -> None:
    store = Store()
    store.put("session/0", b"aa")  # version 1
    store.put("session/1", b"bb")  # 2
    store.put("session/0", b"cc")  # 3
    store.delete("session/1")  # 4
    delta = store.delta(2)
    assert delta.version == 4
    assert delta.entries == (("session/0", b"cc"),)
    assert delta.deleted == ("session/1",)
    assert store.delta(4).entries == () and store.delta(4).deleted == ()


@given(st.lists(st.tuples(KEYS, st.binary(max_size=40), st.booleans()), max_size=30), st.data())
def test_full_copy_then_rounds_rebuild_the_source(ops: list, data: st.DataObject) -> None:
    source, destination = Store(), Store()
    cut = data.draw(st.integers(0, len(ops)))
    for key, value, remove in ops[:cut]:
        source.delete(key) if remove else source.put(key, value)
    destination.apply(decode_delta(encode_delta(source.delta(0))))
    since = destination.version
    for key, value, remove in ops[cut:]:
        source.delete(key) if remove else source.put(key, value)
    destination.apply(decode_delta(encode_delta(source.delta(since))))
    assert destination.values == source.values
    assert destination.digest() == source.digest()


def test_the_digest_tells_contents_apart() -> None:
    a, b = Store(), Store()
    a.put("k", b"1")
    b.put("k", b"2")
    assert a.digest() != b.digest()
    b.put("k", b"1")
    assert a.digest() == b.digest()


def test_delta_size_counts_keys_and_values() -> None:
    assert Delta(0, 2, (("ab", b"xyz"), ("c", b""))).size == 6


@pytest.mark.parametrize(
    ("frame", "what"),
    [
        (b"no header", "without a header"),
        (b"[1]\n", "bad delta header"),
        (b'{"since": 5, "version": 2, "entries": 0, "deleted": []}\n', "since 5"),
        (b'{"since": 0, "version": 1, "entries": 1, "deleted": []}\n\x00\x00', "truncated"),
        (
            b'{"since": 0, "version": 1, "entries": 1, "deleted": []}\n'
            + (2000).to_bytes(4, "big")
            + (1).to_bytes(4, "big"),
            "out of range",
        ),
        (encode_delta(Delta(0, 1, (("k", b"v"),))) + b"extra", "after the last"),
    ],
)
def test_malformed_frames_are_refused_by_name(frame: bytes, what: str) -> None:
    with pytest.raises(StateError, match=what):
        decode_delta(frame)


def test_bad_keys_and_values_are_refused() -> None:
    store = Store()
    for key in ("", "has space", "x" * 1025):
        with pytest.raises(StateError, match="bad key"):
            store.put(key, b"")
    with pytest.raises(StateError, match="at most"):
        store.put("k", b"x" * ((1 << 20) + 1))
    with pytest.raises(StateError):
        parse_header(b'{"since": -1, "version": 0, "entries": 0, "deleted": []}')


def test_post_copy_metadata_names_what_changed_and_a_fault_gets_current_values() -> None:
    store = Store()
    store.put("a", b"1")  # 1
    store.put("b", b"2")  # 2
    store.put("a", b"3")  # 3
    store.delete("b")  # 4
    assert store.changes(1) == {"version": 4, "changed": ["a"], "deleted": ["b"]}
    fault = store.select(["a", "b", "a"])
    assert fault.entries == (("a", b"3"),) and fault.deleted == ("b",)

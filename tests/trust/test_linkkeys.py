"""Link keys: one per direction, segment and epoch; epoch switch with grace; revocation."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.trust.linkkeys import (
    DEFAULT_GRACE,
    GROUP,
    EpochKeyring,
    KeyUnavailable,
    link_info,
    link_key,
)

S1, S2, S3 = bytes(range(32)), bytes(range(1, 33)), bytes(range(2, 34))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ring(me: str, clock: Clock | None = None, *, pipeline="p1", vni=5, epoch=1, secret=S1):
    keys = EpochKeyring(me, pipeline, vni, clock=clock or Clock())
    keys.install(epoch, secret)
    return keys


def test_the_key_is_hkdf_sha256_over_the_secret_with_the_link_in_info():
    info = (
        b"\x00\x0dsecmas/link/1" + b"\x00\x02p1" + b"\x00\x03\x00\x00\x05"
        b"\x00\x04\x00\x00\x00\x01" + b"\x00\x01a" + b"\x00\x01b"
    )
    assert link_info("p1", 5, 1, "a", "b") == info
    expected = HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(S1)
    assert link_key(S1, "p1", 5, 1, "a", "b") == expected
    assert ring("a").send_key("b") == (1, expected)
    assert ring("b").receive_key("a", 1, "b") == expected


def test_both_ends_agree_and_every_part_of_the_link_changes_the_key():
    a, b, c = ring("a"), ring("b"), ring("c")
    _, ab = a.send_key("b")
    assert b.receive_key("a", 1, "b") == ab
    _, to_group = a.send_key(GROUP)
    assert b.receive_key("a", 1, GROUP) == c.receive_key("a", 1, GROUP) == to_group
    variants = {
        ab,
        to_group,
        b.send_key("a")[1],  # the other direction
        a.send_key("c")[1],
        ring("a", pipeline="p2").send_key("b")[1],
        ring("a", vni=6).send_key("b")[1],
        ring("a", epoch=2).send_key("b")[1],
        ring("a", secret=S2).send_key("b")[1],
    }
    assert len(variants) == 8
    assert a.send_key("b")[1] is ab  # cached


names = st.text(min_size=0, max_size=6)


@settings(max_examples=300)
@given(
    st.tuples(names, st.integers(0, 2**24 - 1), st.integers(0, 2**32 - 1), names, names),
    st.tuples(names, st.integers(0, 2**24 - 1), st.integers(0, 2**32 - 1), names, names),
)
def test_distinct_links_never_share_an_info(one, two):
    assert (link_info(*one) == link_info(*two)) == (one == two)


def test_no_key_before_an_epoch_is_installed():
    keys = EpochKeyring("a", "p1", 5, clock=Clock())
    with pytest.raises(KeyUnavailable):
        keys.send_key("b")
    assert keys.receive_key("b", 0, "a") is None
    assert keys.epochs == ()


def test_the_previous_epoch_is_received_for_the_grace_period_only():
    clock = Clock()
    keys = ring("b", clock)
    assert keys.grace == DEFAULT_GRACE == 5.0
    old = keys.receive_key("a", 1, "b")
    clock.now = 200.0
    keys.install(2, S2)
    assert keys.epochs == (2, 1)
    assert keys.send_key("a")[0] == 2  # new frames go out under the new epoch at once
    assert keys.receive_key("a", 1, "b") == old
    assert keys.receive_key("a", 1, "b", now=204.9) == old
    assert keys.receive_key("a", 2, "b") is not None
    clock.now = 205.0
    assert keys.receive_key("a", 1, "b") is None
    assert keys.epochs == (2,)
    clock.now = 0.0  # a clock going back does not bring the epoch back
    assert keys.receive_key("a", 1, "b") is None


def test_only_two_epochs_are_held():
    clock = Clock()
    keys = ring("b", clock)
    keys.install(2, S2)
    keys.install(7, S3)  # epochs need not be consecutive
    assert keys.epochs == (7, 2)
    assert keys.receive_key("a", 1, "b") is None
    assert keys.receive_key("a", 2, "b") is not None
    assert keys.receive_key("a", 8, "b") is None  # not yet known


def test_the_grace_period_is_configurable_and_time_explicit():
    keys = EpochKeyring("b", "p1", 5, grace=0.5, clock=Clock())
    keys.install(1, S1, now=10.0)
    keys.install(2, S2, now=20.0)
    assert keys.receive_key("a", 1, "b", now=20.4) is not None
    assert keys.receive_key("a", 1, "b", now=20.5) is None


def test_installing_again_is_idempotent_but_epochs_only_move_forward():
    clock = Clock()
    keys = ring("b", clock)
    keys.install(2, S2)
    clock.now += 4.0
    keys.install(2, S2)  # a re-delivered push does not restart the grace period
    clock.now += 1.0
    assert keys.receive_key("a", 1, "b") is None
    with pytest.raises(ValueError, match="does not follow"):
        keys.install(2, S3)
    with pytest.raises(ValueError, match="does not follow"):
        keys.install(1, S1)
    with pytest.raises(ValueError, match="32 bytes"):
        keys.install(3, b"short")
    with pytest.raises(ValueError, match="uint32"):
        keys.install(2**32, S3)


def test_revoked_agents_get_no_keys_either_way():
    a, b = ring("a"), ring("b")
    b.revoke("a")
    assert b.receive_key("a", 1, "b") is None
    assert b.receive_key("a", 1, GROUP) is None
    with pytest.raises(KeyUnavailable):
        b.send_key("a")
    assert b.send_key("c")[0] == 1
    assert b.revoked == frozenset({"a"})
    a.revoke("a")  # an agent told it is revoked sends nothing more
    with pytest.raises(KeyUnavailable):
        a.send_key(GROUP)
    assert a.receive_key("b", 1, "a") is None


def test_ids_are_checked():
    with pytest.raises(ValueError):
        EpochKeyring(GROUP, "p1", 5)
    with pytest.raises(ValueError):
        EpochKeyring("x" * 65, "p1", 5)
    with pytest.raises(ValueError):
        EpochKeyring("a", "p1", 2**24)
    keys = ring("a")
    with pytest.raises(ValueError):
        keys.send_key("")
    with pytest.raises(ValueError, match="neither"):
        keys.receive_key("b", 1, "c")  # keys of links between others are not ours to hold
    with pytest.raises(ValueError):
        keys.revoke(GROUP)
    assert keys.receive_key(GROUP, 1, "a") is None  # a frame claiming to be from everyone
    assert keys.receive_key("\ud800", 1, "a") is None
    assert keys.receive_key("é" * 33, 1, "a") is None  # 66 bytes

"""Link keys: pairwise per direction, segment and epoch; group keys and signatures;
two-phase epoch rotation with grace; revocation."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import (
    DEFAULT_GRACE,
    DEFAULT_SWITCH,
    GROUP,
    MAX_EPOCHS,
    EpochKeyring,
    KeyUnavailable,
    PeerKeys,
    group_info,
    pair_info,
)

S1, S2, S3 = bytes(range(32)), bytes(range(1, 33)), bytes(range(2, 34))
IDS = {n: AgentIdentity.generate(n) for n in ("a", "b", "c")}
DIRECTORY = {n: PeerKeys.of(i) for n, i in IDS.items()}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ring(me: str, clock: Clock | None = None, *, pipeline="p1", vni=5, epoch=1, secret=S1, **kw):
    keys = EpochKeyring(IDS[me], pipeline, vni, DIRECTORY, clock=clock or Clock(), **kw)
    keys.install(epoch, secret)
    return keys


def hkdf(ikm: bytes, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=salt, info=info).derive(ikm)


def test_a_pair_key_is_hkdf_over_the_ends_x25519_value_salted_with_the_epoch_secret():
    a_pub, b_pub = DIRECTORY["a"].sealing, DIRECTORY["b"].sealing
    info = (
        b"\x00\x0dsecmas/pair/1" + b"\x00\x02p1" + b"\x00\x03\x00\x00\x05"
        b"\x00\x04\x00\x00\x00\x01"
        + b"\x00\x01a"
        + b"\x00\x01b"
        + b"\x00\x20"
        + a_pub
        + b"\x00\x20"
        + b_pub
    )
    assert pair_info("p1", 5, 1, "a", "b", a_pub, b_pub) == info
    shared = IDS["a"].sealing.exchange(IDS["b"].sealing.public_key())
    expected = hkdf(shared, S1, info)
    assert ring("a").send_key("b") == (1, expected)
    assert ring("b").receive_key("a", 1, "b") == expected


def test_a_group_key_is_hkdf_over_the_epoch_secret():
    info = (
        b"\x00\x0esecmas/group/1" + b"\x00\x02p1" + b"\x00\x03\x00\x00\x05"
        b"\x00\x04\x00\x00\x00\x01" + b"\x00\x01a" + b"\x00\x01*"
    )
    assert group_info("p1", 5, 1, "a") == info
    assert ring("a").send_key(GROUP) == (1, hkdf(S1, None, info))
    assert ring("c").receive_key("a", 1, GROUP) == hkdf(S1, None, info)


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
        c.send_key("b")[1],  # another sender to the same receiver
        ring("a", pipeline="p2").send_key("b")[1],
        ring("a", vni=6).send_key("b")[1],
        ring("a", epoch=2).send_key("b")[1],
        ring("a", secret=S2).send_key("b")[1],
    }
    assert len(variants) == 9
    assert a.send_key("b")[1] is ab  # cached


def test_a_third_member_cannot_derive_a_link_it_is_not_an_end_of():
    """c holds the secret and both public keys, and may claim to be anyone in `info`:
    its X25519 value with either end is not theirs."""
    _, ab = ring("a").send_key("b")
    c = IDS["c"]
    a_pub, b_pub = DIRECTORY["a"].sealing, DIRECTORY["b"].sealing
    info = pair_info("p1", 5, 1, "a", "b", a_pub, b_pub)
    for peer in ("a", "b"):
        shared = c.sealing.exchange(IDS[peer].sealing.public_key())
        assert hkdf(shared, S1, info) != ab
    with pytest.raises(ValueError, match="neither"):
        ring("c").receive_key("a", 1, "b")


names = st.text(min_size=0, max_size=6)
keys32 = st.binary(min_size=0, max_size=4)


@settings(max_examples=300)
@given(
    st.tuples(names, st.integers(0, 2**24 - 1), st.integers(0, 2**32 - 1), names, names, keys32),
    st.tuples(names, st.integers(0, 2**24 - 1), st.integers(0, 2**32 - 1), names, names, keys32),
)
def test_distinct_links_never_share_an_info(one, two):
    def info(t):
        return pair_info(*t[:5], t[5], b"r")

    assert (info(one) == info(two)) == (one == two)
    assert group_info(*one[:4]) != info(two)


def test_unknown_peers_and_bad_public_keys_get_no_key():
    low_order = PeerKeys(bytes(32), DIRECTORY["a"].signing)  # X25519 value all zeros
    keys = EpochKeyring(IDS["a"], "p1", 5, {**DIRECTORY, "z": low_order}, clock=Clock())
    keys.install(1, S1)
    with pytest.raises(KeyUnavailable, match="no registered keys"):
        keys.send_key("stranger")
    assert keys.receive_key("stranger", 1, "a") is None
    assert keys.receive_key("stranger", 1, GROUP) is None
    with pytest.raises(KeyUnavailable):
        keys.send_key("z")
    assert keys.receive_key("z", 1, "a") is None


def test_the_directory_is_read_live_and_a_changed_key_is_not_served_from_cache():
    directory = dict(DIRECTORY)
    keys = EpochKeyring(IDS["a"], "p1", 5, directory, clock=Clock())
    keys.install(1, S1)
    with pytest.raises(KeyUnavailable):
        keys.send_key("d")
    d = AgentIdentity.generate("d")
    directory["d"] = PeerKeys.of(d)  # an agent added to the running pipeline
    _, first = keys.send_key("d")
    directory["d"] = PeerKeys.of(AgentIdentity.generate("d"))
    assert keys.send_key("d")[1] != first


def test_signatures_are_checked_with_the_senders_registered_key():
    a, b = ring("a"), ring("b")
    signature = a.sign(b"frame")
    assert b.verify("a", signature, b"frame")
    assert a.verify("a", signature, b"frame")
    assert not b.verify("c", signature, b"frame")  # not c's
    assert not b.verify("a", signature, b"other frame")
    assert not b.verify("stranger", signature, b"frame")
    b.revoke("a")
    assert not b.verify("a", signature, b"frame")


def test_no_key_before_an_epoch_is_installed():
    keys = EpochKeyring(IDS["a"], "p1", 5, DIRECTORY, clock=Clock())
    with pytest.raises(KeyUnavailable):
        keys.send_key("b")
    assert keys.receive_key("b", 0, "a") is None
    assert keys.epochs == () and keys.sending is None


def test_rotation_is_two_phase_install_then_activate_then_retire():
    clock = Clock()
    keys = ring("b", clock)
    assert keys.grace == DEFAULT_GRACE == 5.0 and keys.switch_after == DEFAULT_SWITCH
    assert keys.sending == 1  # the first epoch is sent under at once
    old = keys.receive_key("a", 1, "b")
    keys.install(2, S2)
    assert keys.pending == (2,) and keys.epochs == (2, 1)
    assert keys.send_key("a")[0] == 1  # phase 1: still sending the old epoch...
    assert keys.receive_key("a", 2, "b") is not None  # ...but receiving the new one
    clock.now = 101.0
    keys.activate(2)  # phase 2: every member has it
    assert keys.send_key("a")[0] == 2 and keys.pending == ()
    assert keys.receive_key("a", 1, "b") == old
    assert keys.receive_key("a", 1, "b", now=105.9) == old
    clock.now = 106.0  # grace over
    assert keys.receive_key("a", 1, "b") is None
    assert keys.epochs == (2,)
    clock.now = 0.0  # a clock going back does not bring the epoch back
    assert keys.receive_key("a", 1, "b") is None
    keys.activate(2)  # again: nothing changes
    with pytest.raises(LookupError):
        keys.activate(9)


def test_a_member_that_misses_the_switch_switches_by_itself():
    clock = Clock()
    keys = ring("b", clock, switch_after=2.0, grace=1.0)
    keys.install(2, S2)
    assert keys.send_key("a", now=101.9)[0] == 1
    assert keys.send_key("a", now=102.0)[0] == 2
    assert keys.receive_key("a", 1, "b", now=102.9) is not None  # grace from the switch
    assert keys.receive_key("a", 1, "b", now=103.0) is None


def test_switch_after_zero_switches_at_once():
    keys = ring("b", switch_after=0.0)
    keys.install(2, S2)
    assert keys.send_key("a")[0] == 2 and keys.epochs == (2, 1)


def test_at_most_a_few_epochs_are_held():
    clock = Clock()
    keys = ring("b", clock)
    for epoch in range(2, MAX_EPOCHS + 3):  # installed faster than anyone switches
        keys.install(epoch, bytes([epoch]) * 32)
    assert len(keys.epochs) == MAX_EPOCHS
    assert keys.sending == min(keys.epochs)  # something is always sent under
    keys.activate(MAX_EPOCHS + 2)
    clock.now += DEFAULT_GRACE
    assert keys.epochs == (MAX_EPOCHS + 2,)
    assert keys.receive_key("a", 1, "b") is None


def test_activating_a_later_epoch_retires_a_skipped_pending_one_after_grace():
    clock = Clock()
    keys = ring("b", clock)
    keys.install(2, S2)
    keys.install(7, S3)  # epochs need not be consecutive
    keys.activate(7)
    assert keys.sending == 7 and keys.epochs == (7, 2, 1)
    assert keys.receive_key("a", 8, "b") is None  # not yet known
    clock.now += DEFAULT_GRACE
    assert keys.epochs == (7,)


def test_installing_again_is_idempotent_but_epochs_only_move_forward():
    clock = Clock()
    keys = ring("b", clock)
    keys.install(2, S2)
    keys.install(2, S2)  # a re-delivered push changes nothing
    assert keys.pending == (2,)
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


def test_ids_and_settings_are_checked():
    with pytest.raises(ValueError):
        EpochKeyring(AgentIdentity.generate(GROUP), "p1", 5, DIRECTORY)
    with pytest.raises(ValueError):
        EpochKeyring(AgentIdentity.generate("x" * 65), "p1", 5, DIRECTORY)
    with pytest.raises(ValueError):
        EpochKeyring(IDS["a"], "p1", 2**24, DIRECTORY)
    with pytest.raises(ValueError, match="switch_after"):
        EpochKeyring(IDS["a"], "p1", 5, DIRECTORY, switch_after=-1)
    keys = ring("a")
    with pytest.raises(ValueError):
        keys.send_key("")
    with pytest.raises(ValueError):
        keys.revoke(GROUP)
    assert keys.receive_key(GROUP, 1, "a") is None  # a frame claiming to be from everyone
    assert keys.receive_key("\ud800", 1, "a") is None
    assert keys.receive_key("é" * 33, 1, "a") is None  # 66 bytes


operations = st.lists(
    st.one_of(
        st.tuples(st.just("install"), st.integers(1, 3)),  # the next epoch, this many ahead
        st.tuples(st.just("activate"), st.integers(0, 6)),  # an epoch number, held or not
        st.tuples(st.just("tick"), st.floats(0, 8)),
    ),
    max_size=30,
)


@settings(max_examples=300)
@given(operations)
def test_epochs_only_move_forward_whatever_the_order_of_events(ops):
    """Any sequence of installs, switches and time: at most MAX_EPOCHS held, the send
    epoch held and never going back, and a key once gone never comes back."""
    clock = Clock()
    keys = ring("b", clock, switch_after=3.0, grace=2.0)
    newest, sent, gone = 1, 1, set()
    for kind, value in ops:
        if kind == "install":
            newest += value
            keys.install(newest, bytes([newest % 256]) * 32)
        elif kind == "activate":
            if value in keys.epochs:
                keys.activate(value)
            else:
                with pytest.raises(LookupError):
                    keys.activate(value)
        else:
            clock.now += value
        held = keys.epochs
        assert len(held) <= MAX_EPOCHS
        assert keys.sending in held and keys.sending >= sent
        sent = keys.sending
        for epoch in range(1, newest + 1):
            has = keys.receive_key("a", epoch, "b") is not None
            assert has == (epoch in held)
            assert not (has and epoch in gone)
            if not has:
                gone.add(epoch)


@settings(max_examples=200)
@given(
    st.permutations(["a", "b", "c"]),
    st.permutations(["a", "b", "c"]),
    st.lists(st.floats(0, 1.9), min_size=7, max_size=7),
)
def test_two_phase_rotation_never_leaves_a_frame_without_a_key(installs, switches, gaps):
    """Members install in any order, then switch in any order, time passing in between
    (less than the grace period each step, the installs within `switch_after`): every
    frame any member sends at any moment opens at every other member."""
    clock = Clock()
    rings = {n: ring(n, clock) for n in ("a", "b", "c")}

    def everyone_reads_everyone() -> None:
        for sender, keys in rings.items():
            for receiver in rings:
                if receiver != sender:
                    epoch, key = keys.send_key(receiver)
                    assert rings[receiver].receive_key(sender, epoch, receiver) == key

    steps = [("install", n) for n in installs] + [("activate", n) for n in switches]
    for (kind, name), gap in zip(steps, gaps, strict=False):
        if kind == "install":
            rings[name].install(2, S2)
        else:
            rings[name].activate(2)
        clock.now += gap
        everyone_reads_everyone()
    clock.now += DEFAULT_GRACE
    everyone_reads_everyone()
    assert {k.sending for k in rings.values()} == {2}

"""The secure channel over a real MemoryBus: confidentiality between agents and pipelines,
integrity of every header field, replay, epochs, revocation, replies, and a fuzzed parser."""

from __future__ import annotations

import asyncio
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.transport.channel_members import FLOOR, Clock, Registered, identity, inbox, recipient

from secmas.transport import Bus, BusClosed, MemoryBus, NoResponders, Subscription
from secmas.transport.channel import (
    GROUP,
    REPLY,
    REQUEST,
    SIGNED,
    Drop,
    FrameDropped,
    ReplayWindows,
    SecureBus,
    SecureChannel,
)
from secmas.trust.linkkeys import EpochKeyring

SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(100, 132))


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 300))


class Pipeline:
    """Agents of one pipeline segment: a keyring each (one clock) and their SecureBus."""

    def __init__(self, bus: MemoryBus, vni: int = 7, secret: bytes = SECRET, **options) -> None:
        self.bus, self.vni, self.secret, self.options = bus, vni, secret, options
        self.clock = Clock()
        self.keys: dict[str, EpochKeyring] = {}

    def keyring(self, name: str) -> EpochKeyring:
        keys = EpochKeyring(identity(name), "ddos", self.vni, Registered(), clock=self.clock)
        keys.install(1, self.secret)
        self.keys[name] = keys
        return keys

    def agent(self, name: str) -> SecureBus:
        return SecureBus(self.bus, name, self.vni, self.keyring(name), recipient, **self.options)

    def channel(self, name: str) -> SecureChannel:
        return SecureChannel(name, self.vni, self.keyring(name), recipient, **self.options)


class Tap:
    """A raw subscription on the inner bus: what an eavesdropper on the wire sees."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, bytes]] = []

    async def __call__(self, subject: str, data: bytes) -> None:
        self.frames.append((subject, data))


class Inbox:
    """A plaintext handler that records what it gets and may answer."""

    def __init__(self, answer: bytes | None = None) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.answer = answer

    async def __call__(self, subject: str, data: bytes) -> bytes | None:
        self.got.append((subject, data))
        return None if self.answer is None else self.answer + data


# Round trips


@pytest.mark.parametrize("cipher", ["aes-256-gcm", "chacha20-poly1305"])
def test_publish_and_request_between_two_agents(cipher):
    async def main():
        bus = MemoryBus()
        net = Pipeline(bus, cipher=cipher)
        a, b = net.agent("a"), net.agent("b")
        tap, got = Tap(), Inbox(answer=b"re:")
        await bus.subscribe(">", tap)
        sub = await b.subscribe(inbox("b"), got)
        assert isinstance(a, Bus) and isinstance(sub, Subscription)
        await a.publish(inbox("b"), b"secret plan")
        assert await a.request(inbox("b"), b"bid?", timeout=1) == b"re:bid?"
        await bus.flush()
        assert got.got == [(inbox("b"), b"secret plan"), (inbox("b"), b"bid?")]
        assert all(b"secret plan" not in f and b"re:bid?" not in f for _, f in tap.frames)
        assert a.channel_stats.sealed == 2 and a.channel_stats.opened == 1
        assert b.channel_stats.opened == 2 and b.channel_stats.sealed == 1
        assert not a.channel_stats.dropped and not b.channel_stats.dropped
        assert a.stats is bus.stats

    run(main())


def test_group_traffic_reaches_every_member_and_any_member_answers():
    async def main():
        bus = MemoryBus()
        net = Pipeline(bus)
        a, b, c = net.agent("a"), net.agent("b"), net.agent("c")
        got_b, got_c = Inbox(answer=b"b:"), Inbox()
        await b.subscribe(FLOOR, got_b)
        await c.subscribe("nfva.*", got_c)
        await a.publish(FLOOR, b"open 1")
        assert await a.request(FLOOR, b"who?", timeout=1) == b"b:who?"
        await bus.flush()
        assert got_b.got == got_c.got == [(FLOOR, b"open 1"), (FLOOR, b"who?")]

    run(main())


def test_a_third_agent_cannot_read_directed_traffic():
    async def main():
        bus = MemoryBus()
        net = Pipeline(bus)
        a, b, eve = net.agent("a"), net.agent("b"), net.agent("eve")
        got_b, got_eve = Inbox(), Inbox()
        await b.subscribe(inbox("b"), got_b)
        await eve.subscribe(">", got_eve)
        await a.publish(inbox("b"), b"for b only")
        await a.publish(FLOOR, b"for all")
        await bus.flush()
        assert got_b.got == [(inbox("b"), b"for b only")]
        assert got_eve.got == [(FLOOR, b"for all")]
        assert eve.channel_stats.dropped == {Drop.MISDIRECTED: 1}

    run(main())


def test_handler_errors_and_non_bytes_answers_count_as_on_a_plain_bus():
    async def main():
        bus = MemoryBus()
        net = Pipeline(bus)
        a, b = net.agent("a"), net.agent("b")

        async def broken(_subject, data):
            if data == b"boom":
                raise RuntimeError("boom")
            return "not bytes"

        await b.subscribe(inbox("b"), broken)
        await a.publish(inbox("b"), b"boom")
        with pytest.raises(TimeoutError):
            await a.request(inbox("b"), b"x", timeout=0.05)
        assert bus.stats.handler_errors == 2

    run(main())


# Replies cannot be forged


def test_a_forged_or_foreign_reply_is_dropped_and_the_genuine_one_awaited():
    async def main():
        bus = MemoryBus()
        net = Pipeline(bus)
        a, b, c = net.agent("a"), net.agent("b"), net.agent("c")
        outsider = Pipeline(bus, secret=OTHER_SECRET).channel("b")

        async def forge(_subject, frame):
            # An outsider and another member both answer first, on the reply subject the
            # request header carries in clear.
            n = frame[4]
            length = frame[18 + n]
            reply = frame[19 + n : 19 + n + length].decode()
            await bus.publish(reply, bytes(60))
            await bus.publish(reply, outsider.seal(reply, b"forged", to="a", flags=REPLY))
            await bus.publish(reply, c.channel.seal(reply, b"from c", to="a", flags=REPLY))

        await bus.subscribe(inbox("b"), forge)  # subscribed before b: runs first
        slow = asyncio.Event()

        async def answer(_subject, data):
            await slow.wait()
            return b"from b"

        await b.subscribe(inbox("b"), answer)
        asyncio.get_running_loop().call_later(0.02, slow.set)
        assert await a.request(inbox("b"), b"q", timeout=1) == b"from b"
        assert a.channel_stats.dropped == {Drop.VERSION: 1, Drop.AUTH: 1, Drop.RESPONDER: 1}

    run(main())


def test_a_request_with_only_forged_answers_times_out():
    async def main():
        bus = MemoryBus()
        net = Pipeline(bus)
        a = net.agent("a")
        outsider = Pipeline(bus, secret=OTHER_SECRET).agent("b")  # holds the wrong secret
        await outsider.subscribe(inbox("b"), Inbox(answer=b"fake"))
        with pytest.raises(TimeoutError) as raised:
            await a.request(inbox("b"), b"q", timeout=0.05)
        assert not isinstance(raised.value, NoResponders)
        assert outsider.channel_stats.dropped == {Drop.AUTH: 1}

    run(main())


def test_no_responders_fails_at_once():
    async def main():
        a = Pipeline(MemoryBus()).agent("a")
        with pytest.raises(NoResponders):
            await a.request(inbox("b"), b"q", timeout=5)

    run(main())


def test_a_late_reply_is_dropped():
    async def main():
        bus = MemoryBus()
        net = Pipeline(bus)
        a, b = net.agent("a"), net.agent("b")
        gate = asyncio.Event()

        async def late(_subject, data):
            await gate.wait()
            return b"late"

        await b.subscribe(inbox("b"), late)
        with pytest.raises(TimeoutError):
            await a.request(inbox("b"), b"q", timeout=0.02)
        gate.set()
        await bus.flush()
        assert a.channel_stats.dropped == {Drop.LATE_REPLY: 1}

    run(main())


# Integrity of each header field, the payload and the subject


def tamper(frame: bytes, offset: int, value: int) -> bytes:
    return frame[:offset] + bytes([value]) + frame[offset + 1 :]


def sealed(flags: int = 0):
    """A frame from `a` to `b` (sender id 1 byte: epoch at 6, seq at 10, flags at 18)."""
    net = Pipeline(MemoryBus())
    a, b = net.channel("a"), net.channel("b")
    reply = "_INBOX.x.1" if flags else None
    frame = a.seal(inbox("b"), b"payload", flags=flags, reply=reply)
    return a, b, frame


def dropped(channel: SecureChannel, frame: bytes, subject: str = inbox("b"), **kw) -> Drop:
    windows = ReplayWindows(channel.keys)
    with pytest.raises(FrameDropped) as raised:
        channel.open(subject, frame, windows, **kw)
    assert channel.stats.dropped[raised.value.reason] >= 1
    return raised.value.reason


def test_the_untampered_frame_opens():
    _, b, frame = sealed(REQUEST)
    opened = b.open(inbox("b"), frame, ReplayWindows(b.keys))
    assert (opened.sender, opened.epoch, opened.seq, opened.flags) == ("a", 1, 1, REQUEST)
    assert (opened.reply, opened.payload) == ("_INBOX.x.1", b"payload")


@pytest.mark.parametrize(
    ("offset", "value", "reason"),
    [
        (0, 2, Drop.VERSION),
        (1, 1, Drop.VNI),
        (3, 8, Drop.VNI),
        (4, 0, Drop.MALFORMED),  # sender id length
        (4, 65, Drop.MALFORMED),
        (5, ord("c"), Drop.AUTH),  # sender id: another member's key
        (5, 0xFF, Drop.MALFORMED),  # not UTF-8
        (5, ord("*"), Drop.MALFORMED),
        (9, 2, Drop.NO_KEY),  # epoch 2 not installed
        (17, 2, Drop.AUTH),  # sequence number: another nonce and header
        (18, REPLY, Drop.FLAGS),
        (18, SIGNED, Drop.FLAGS),  # a directed frame signed
        (22, 0, Drop.AUTH),  # ciphertext
        (-1, 0, Drop.AUTH),  # tag
    ],
)
def test_tampering_with_a_field_drops_the_frame_for_its_reason(offset, value, reason):
    _, b, frame = sealed()
    offset %= len(frame)
    if frame[offset] == value:
        value ^= 0x80
    assert dropped(b, tamper(frame, offset, value)) == reason


def test_tampering_with_a_request_frame():
    _, b, frame = sealed(REQUEST)
    assert dropped(b, tamper(frame, 18, 0)) == Drop.AUTH  # the reply subject read as payload
    assert dropped(b, tamper(frame, 19, 0)) == Drop.MALFORMED  # reply subject length 0
    assert dropped(b, tamper(frame, 19, 250)) == Drop.TRUNCATED
    assert dropped(b, tamper(frame, 21, ord("Y"))) == Drop.AUTH  # reply subject re-pointed
    assert dropped(b, tamper(frame, 21, 0xC3)) == Drop.MALFORMED  # not ASCII


def test_a_frame_cannot_be_moved_to_another_subject_or_cut_short():
    net = Pipeline(MemoryBus())
    a, b = net.channel("a"), net.channel("b")
    frame = a.seal(FLOOR, b"to the floor" * 8)
    assert dropped(b, frame, "nfva.other") == Drop.AUTH
    assert dropped(b, frame, inbox("b")) == Drop.FLAGS  # signed for the group, not for b
    assert dropped(b, frame[:-1], FLOOR) == Drop.AUTH
    assert dropped(b, frame[:-64], FLOOR) == Drop.AUTH  # the signature cut off
    assert dropped(b, frame[:4], FLOOR) == Drop.TRUNCATED
    assert dropped(b, frame[:98], FLOOR) == Drop.TRUNCATED  # 19 header, 16 tag, 64 signature
    assert dropped(b, tamper(frame, len(frame) - 1, frame[-1] ^ 1), FLOOR) == Drop.SIGNATURE
    assert dropped(b, frame, FLOOR, reply=True) == Drop.FLAGS  # not a reply


def test_tampering_on_the_bus_is_counted_never_raised():
    async def main():
        bus = MemoryBus()
        net = Pipeline(bus)
        a, b = net.agent("a"), net.agent("b")
        tap, got = Tap(), Inbox()
        await bus.subscribe(inbox("b"), tap)
        await b.subscribe(inbox("b"), got)
        await a.publish(inbox("b"), b"genuine")
        await bus.flush()
        frame = a.channel.seal(inbox("b"), b"not yet seen")
        await bus.publish(inbox("b"), tamper(frame, len(frame) - 1, frame[-1] ^ 1))
        await bus.publish(inbox("b"), tamper(frame, 1, frame[1] ^ 1))
        await bus.publish(inbox("b"), tap.frames[0][1])  # the genuine one, again
        await bus.publish(inbox("b"), b"")
        await bus.flush()
        assert got.got == [(inbox("b"), b"genuine")]
        assert b.channel_stats.dropped == {
            Drop.AUTH: 1,
            Drop.VNI: 1,
            Drop.REPLAY: 1,
            Drop.TRUNCATED: 1,
        }
        assert bus.stats.handler_errors == 0

    run(main())


# Replay


def test_a_captured_frame_replayed_is_dropped():
    async def main():
        bus = MemoryBus()
        net = Pipeline(bus)
        a, b = net.agent("a"), net.agent("b")
        tap, got = Tap(), Inbox(answer=b"ok")
        await bus.subscribe(inbox("b"), tap)
        await b.subscribe(inbox("b"), got)
        await a.publish(inbox("b"), b"move 10 Gb/s")
        await a.request(inbox("b"), b"start VNF", timeout=1)
        await bus.flush()
        for subject, frame in tap.frames:
            await bus.publish(subject, frame)
            await bus.publish(subject, frame)
        await bus.flush()
        assert [data for _, data in got.got] == [b"move 10 Gb/s", b"start VNF"]
        assert b.channel_stats.dropped == {Drop.REPLAY: 4}

    run(main())


def test_reordering_inside_the_window_is_accepted_once():
    net = Pipeline(MemoryBus(), window=8)
    a, b = net.channel("a"), net.channel("b")
    frames = [a.seal(inbox("b"), str(i).encode()) for i in range(1, 21)]  # seq 1..20
    windows = ReplayWindows(b.keys, 8)

    def opens(seq: int) -> bool:
        try:
            b.open(inbox("b"), frames[seq - 1], windows)
        except FrameDropped as drop:
            assert drop.reason == Drop.REPLAY
            return False
        return True

    assert opens(20) and opens(15) and opens(13)
    assert not opens(15) and not opens(12)  # a duplicate; older than 13..20
    assert opens(14) and not opens(14)
    assert not opens(20)


def test_each_subscription_keeps_its_own_windows():
    """One publish reaching two subscriptions of one agent opens in both."""

    async def main():
        bus = MemoryBus()
        net = Pipeline(bus)
        a, b = net.agent("a"), net.agent("b")
        one, two = Inbox(), Inbox()
        await b.subscribe(inbox("b"), one)
        await b.subscribe("nfva.agent.>", two)
        for i in range(100):
            await a.publish(inbox("b"), b"%d" % i)
        await bus.flush()
        assert len(one.got) == len(two.got) == 100
        assert not b.channel_stats.dropped

    run(main())


# Epochs and revocation


def test_old_epoch_frames_are_accepted_within_the_grace_period_only():
    async def main():
        bus = MemoryBus()
        net = Pipeline(bus)
        a, b = net.agent("a"), net.agent("b")
        got = Inbox()
        await b.subscribe(inbox("b"), got)
        old = [a.channel.seal(inbox("b"), b"old %d" % i) for i in range(2)]
        net.clock.now = 10.0
        for keys in net.keys.values():
            keys.install(2, OTHER_SECRET)
            keys.activate(2)
        await a.publish(inbox("b"), b"new")
        await bus.publish(inbox("b"), old[0])  # sealed before the switch, arrives after
        await bus.flush()
        net.clock.now = 15.0  # the grace period (5 s) is over
        await bus.publish(inbox("b"), old[1])
        await bus.flush()
        assert [data for _, data in got.got] == [b"new", b"old 0"]
        assert b.channel_stats.dropped == {Drop.NO_KEY: 1}

    run(main())


def test_frames_of_an_epoch_not_yet_received_are_dropped():
    net = Pipeline(MemoryBus())
    a, b = net.channel("a"), net.channel("b")
    a.keys.install(2, OTHER_SECRET)  # a fetched the new secret first
    a.keys.activate(2)  # and switched before b had it: what two-phase rotation prevents
    assert dropped(b, a.seal(inbox("b"), b"x")) == Drop.NO_KEY


def test_a_revoked_sender_is_refused_and_nothing_is_sent_to_it():
    async def main():
        bus = MemoryBus()
        net = Pipeline(bus)
        a, b = net.agent("a"), net.agent("b")
        got = Inbox()
        await b.subscribe(FLOOR, got)
        net.keys["b"].revoke("a")
        await a.publish(FLOOR, b"from a revoked agent")
        await bus.flush()
        assert got.got == []
        assert b.channel_stats.dropped == {Drop.REVOKED: 1}
        await b.publish(inbox("a"), b"x")  # nothing to seal it with: counted, not raised
        assert b.channel_stats.dropped == {Drop.REVOKED: 1, "unsendable": 1}
        with pytest.raises(NoResponders):
            await b.request(inbox("a"), b"x", 0.1)

    run(main())


# Segments and secrets


def test_pipelines_on_one_bus_cannot_read_or_inject_into_each_other():
    async def main():
        bus = MemoryBus()
        red, blue = Pipeline(bus, vni=100), Pipeline(bus, vni=200, secret=OTHER_SECRET)
        red_a, red_b = red.agent("a"), red.agent("b")
        blue_a, blue_b = blue.agent("a"), blue.agent("b")  # the same agent names
        red_got, blue_got = Inbox(), Inbox()
        await red_b.subscribe(inbox("b"), red_got)
        await blue_b.subscribe(inbox("b"), blue_got)
        await red_a.publish(inbox("b"), b"red")
        await blue_a.publish(inbox("b"), b"blue")
        await bus.flush()
        assert red_got.got == [(inbox("b"), b"red")]
        assert blue_got.got == [(inbox("b"), b"blue")]
        assert red_b.channel_stats.dropped == blue_b.channel_stats.dropped == {Drop.VNI: 1}

    run(main())


def test_a_forged_vni_still_needs_the_segment_key():
    """Same secret, another VNI: rewriting the VNI field gets past the VNI check only."""
    red, blue = Pipeline(MemoryBus(), vni=100), Pipeline(MemoryBus(), vni=200)
    frame = blue.channel("a").seal(inbox("b"), b"x")
    b = red.channel("b")
    assert dropped(b, frame) == Drop.VNI
    assert dropped(b, frame[:1] + (100).to_bytes(3, "big") + frame[4:]) == Drop.AUTH


def test_a_wrong_pipeline_secret_or_cipher_is_refused():
    honest = Pipeline(MemoryBus()).channel("b")
    wrong = Pipeline(MemoryBus(), secret=OTHER_SECRET).channel("a")
    assert dropped(honest, wrong.seal(inbox("b"), b"x")) == Drop.AUTH
    chacha = Pipeline(MemoryBus(), cipher="chacha20-poly1305").channel("a")
    assert dropped(honest, chacha.seal(inbox("b"), b"x")) == Drop.AUTH


# Nonces


def test_nonces_never_repeat_under_a_key():
    net = Pipeline(MemoryBus())
    a = net.channel("a")
    seen: set[tuple[bytes, int]] = set()
    for _ in range(2):
        for subject in (inbox("b"), inbox("c"), FLOOR, "nfva.x"):
            for _ in range(50):
                frame = a.seal(subject, b"x")
                epoch, seq, _flags = struct.unpack_from(">IQB", frame, 6)
                current, key = a.keys.send_key(recipient(subject) or GROUP)
                assert epoch == current
                assert (key, seq) not in seen
                seen.add((key, seq))
        a.keys.install(2, OTHER_SECRET)
        a.keys.activate(2)
    assert len(seen) == 2 * 4 * 50
    # Counters run per receiver: the floor's two subjects share one key and one sequence.
    last = a.seal(FLOOR, b"x")
    assert struct.unpack_from(">IQB", last, 6)[:2] == (2, 101)
    # A second SecureBus on the same keyring continues the sequence instead of restarting.
    again = SecureChannel("a", net.vni, a.keys, recipient)
    assert struct.unpack_from(">IQB", again.seal(FLOOR, b"x"), 6)[1] == 102


# Lifecycle


def test_close_ends_only_what_the_secure_bus_owns():
    async def main():
        bus = MemoryBus()
        net = Pipeline(bus)
        a, b, c = net.agent("a"), net.agent("b"), net.agent("c")
        gate = asyncio.Event()

        async def stall(_subject, data):
            await gate.wait()

        await b.subscribe(inbox("b"), stall)
        got = Inbox(answer=b"")
        await c.subscribe(inbox("c"), got)
        await a.subscribe(inbox("a"), Inbox())
        pending = asyncio.ensure_future(a.request(inbox("b"), b"q", timeout=5))
        await asyncio.sleep(0)
        await a.close()
        with pytest.raises(BusClosed):
            await pending
        await a.close()  # idempotent
        assert a.closed and not bus.closed
        assert [s.subject for s in bus._subs] == [inbox("b"), inbox("c")]
        for call in (a.publish(FLOOR, b"x"), a.subscribe(FLOOR, got), a.flush()):
            with pytest.raises(BusClosed):
                await call
        assert await b.request(inbox("c"), b"still here", timeout=1) == b"still here"
        gate.set()

    run(main())


def test_unsubscribe_stops_delivery():
    async def main():
        bus = MemoryBus()
        net = Pipeline(bus)
        a, b = net.agent("a"), net.agent("b")
        got = Inbox()
        sub = await b.subscribe(inbox("b"), got)
        assert sub.subject == inbox("b")
        await sub.unsubscribe()
        with pytest.raises(NoResponders):
            await a.request(inbox("b"), b"q", timeout=1)
        assert got.got == []

    run(main())


def test_constructor_checks():
    keys = EpochKeyring(identity("a"), "ddos", 7, Registered())
    with pytest.raises(ValueError):
        SecureChannel("a", 2**24, keys, recipient)
    with pytest.raises(ValueError):
        SecureChannel(GROUP, 7, keys, recipient)
    with pytest.raises(ValueError):
        SecureChannel("a", 7, keys, recipient, cipher="des")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SecureChannel("a", 7, keys, recipient, window=0)


# Fuzzing: garbage and mutated frames are counted drops, never exceptions


def fuzz_target():
    net = Pipeline(MemoryBus())
    a, b = net.channel("a"), net.channel("b")
    frames = [
        a.seal(inbox("b"), b"directed"),
        a.seal(FLOOR, b"group"),
        a.seal(inbox("b"), b"request", flags=REQUEST, reply="_INBOX.x.1"),
        a.seal("_INBOX.b.1", b"reply", to="b", flags=REPLY),
    ]
    return b, frames


TARGET, FRAMES = fuzz_target()
SUBJECTS = [inbox("b"), FLOOR, inbox("b"), "_INBOX.b.1"]


def opens_only_unchanged(index: int, frame: bytes) -> None:
    subject, original = SUBJECTS[index], FRAMES[index]
    windows = ReplayWindows(TARGET.keys)
    before = TARGET.stats.dropped.total()
    try:
        TARGET.open(subject, frame, windows, reply=index == 3)
    except FrameDropped:
        assert TARGET.stats.dropped.total() == before + 1
        return
    assert frame == original


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=120), st.integers(0, 3))
def test_random_bytes_never_open(data, index):
    opens_only_unchanged(index, data)


mutation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 200), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 200), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 200), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 200), st.just(0)),
)


@settings(max_examples=600)
@given(st.integers(0, 3), st.lists(mutation, min_size=1, max_size=4))
def test_mutated_frames_open_only_unchanged(index, mutations):
    frame = FRAMES[index]
    for kind, at, value in mutations:
        at = at % (len(frame) + 1)
        if kind == "set" and at < len(frame):
            frame = tamper(frame, at, value)
        elif kind == "cut":
            frame = frame[:at]
        elif kind == "insert":
            frame = frame[:at] + bytes([value]) + frame[at:]
        elif kind == "delete":
            frame = frame[:at] + frame[at + 1 :]
    opens_only_unchanged(index, frame)


@settings(max_examples=30)
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=20))
def test_garbage_on_the_bus_is_counted_and_never_reaches_the_handler(garbage):
    async def main():
        bus = MemoryBus()
        b = Pipeline(bus).agent("b")
        got = Inbox()
        await b.subscribe(">", got)
        for data in garbage:
            await bus.publish(inbox("b"), data)
            await bus.publish(FLOOR, data)
        await bus.flush()
        assert got.got == []
        assert b.channel_stats.dropped.total() == 2 * len(garbage)
        assert bus.stats.handler_errors == 0

    run(main())

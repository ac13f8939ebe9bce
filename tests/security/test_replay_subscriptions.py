"""Replay into a later subscription. Each subscription kept its own replay windows, so a
frame captured on the wire and published again reached every subscription of its receiver
made after the frame was first sent: an attested insider who taps the bus replays an
initiator's CANCEL to an agent that has just (re-)subscribed, or that re-joined the bus
on the same keys. Windows are now per sender and epoch and shared by every subscription
of a receiver: each test is the replay, refused."""

from __future__ import annotations

import asyncio

from tests.security.test_channel_attacks import VNI, Inbox, Members, Tap
from tests.transport.channel_members import FLOOR, inbox, recipient

from secmas.transport.channel import Drop, SecureBus


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def captured(net: Members) -> list[tuple[str, bytes]]:
    """Alice's CANCEL to bob and her call on the floor, as Mallory's tap saw them, once
    bob (subscribed to both) took them."""
    tap, first = Tap(), Inbox()
    await net.bus.subscribe("nfva.>", tap)
    await net.buses["bob"].subscribe("nfva.>", first)
    await net.buses["alice"].publish(inbox("bob"), b"CANCEL lease 7")
    await net.buses["alice"].publish(FLOOR, b"CFP ddos")
    await net.bus.flush()
    assert first.got == [b"CANCEL lease 7", b"CFP ddos"]
    return tap.frames


def test_a_frame_replayed_into_a_later_subscription_is_refused():
    async def main():
        net = Members()
        frames = await captured(net)
        bob = net.buses["bob"]
        later = {s: Inbox() for s in (inbox("bob"), FLOOR, "nfva.>")}
        for subject, handler in later.items():
            await bob.subscribe(subject, handler)
        for subject, frame in frames:
            await net.bus.publish(subject, frame)  # Mallory, on the raw bus
        await net.bus.flush()
        assert all(handler.got == [] for handler in later.values())
        assert bob.channel_stats.dropped == {Drop.REPLAY: 6}  # 2 for each later, 2 the first
        await net.buses["alice"].publish(inbox("bob"), b"ACCEPT lease 8")
        await net.bus.flush()
        assert [h.got for h in later.values()] == [[b"ACCEPT lease 8"], [], [b"ACCEPT lease 8"]]

    run(main())


def test_a_frame_replayed_to_an_agent_that_re_joined_on_the_same_keys_is_refused():
    async def main():
        net = Members()
        frames = await captured(net)
        await net.buses["bob"].close()
        rejoined = SecureBus(net.bus, "bob", VNI, net.keys["bob"], recipient)
        got = Inbox()
        await rejoined.subscribe("nfva.>", got)
        for subject, frame in frames:
            await net.bus.publish(subject, frame)
        await net.bus.flush()
        assert got.got == []
        assert rejoined.channel_stats.dropped == {Drop.REPLAY: 2}

    run(main())

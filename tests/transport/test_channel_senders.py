"""Handlers that learn who sealed each frame (`SecureBus.subscribe_from`,
`subscribe_authenticated`): the channel's authenticated sender, whatever the payload says;
None on a bus that seals nothing. Real MemoryBus, real link keys."""

from __future__ import annotations

import asyncio

from tests.transport.channel_members import inbox
from tests.transport.test_channel import Pipeline

from secmas.transport import MemoryBus
from secmas.transport.channel import subscribe_authenticated


class Senders:
    def __init__(self) -> None:
        self.got: list[tuple[str | None, bytes]] = []

    async def __call__(self, _subject: str, sender: str | None, data: bytes) -> None:
        self.got.append((sender, data))


def test_a_secure_handler_gets_the_sealer_not_the_name_in_the_payload():
    async def main() -> None:
        bus = MemoryBus()
        net = Pipeline(bus)
        alice, bob = net.agent("alice"), net.agent("bob")
        got = Senders()
        await subscribe_authenticated(alice, inbox("alice"), got)
        await bob.publish(inbox("alice"), b'{"sender": "carol"}')
        await bus.flush()
        assert got.got == [("bob", b'{"sender": "carol"}')]
        await bus.close()

    asyncio.run(main())


def test_on_a_bus_that_seals_nothing_the_sender_is_unknown():
    async def main() -> None:
        bus = MemoryBus()
        got = Senders()
        await subscribe_authenticated(bus, inbox("alice"), got)
        await bus.publish(inbox("alice"), b"plain")
        await bus.flush()
        assert got.got == [(None, b"plain")]
        await bus.close()

    asyncio.run(main())

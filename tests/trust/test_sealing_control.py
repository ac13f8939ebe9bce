"""The control plane over a bus: requests answered sealed by the party asked, nobody
listening told at once (a broker outage is not a silent party), frames that do not open
never reach a handler."""

from __future__ import annotations

import asyncio

import pytest

from secmas.transport.bus import NoResponders
from secmas.transport.memory import MemoryBus
from secmas.trust.control import ControlPlane
from secmas.trust.envelope import Opened
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import PeerKeys


def test_request_reply_and_refusals() -> None:
    async def main() -> None:
        bus = MemoryBus()
        ids = {n: AgentIdentity.generate(n) for n in ("mlfo", "pop1")}
        keys = {n: PeerKeys.of(i) for n, i in ids.items()}
        mlfo, pop1 = (ControlPlane(bus, ids[n], keys, "p") for n in ("mlfo", "pop1"))
        seen: list[Opened] = []

        async def echo(opened: Opened) -> bytes:
            seen.append(opened)
            return opened.payload[::-1]

        await pop1.serve("secmas.verify.p.pop1", echo)
        assert await mlfo.request("secmas.verify.p.pop1", "pop1", b"abc", 1.0) == b"cba"
        assert [o.sender for o in seen] == ["mlfo"]
        with pytest.raises(NoResponders):  # pop1 known, but nobody serves this subject
            await mlfo.request("secmas.verify.p.pop2", "pop1", b"x", 1.0)
        with pytest.raises(LookupError):
            await mlfo.request("secmas.verify.p.pop1", "pop9", b"x", 1.0)
        with pytest.raises(TimeoutError):  # asked "as pop1" by someone it cannot open
            stranger = AgentIdentity.generate("mlfo")
            await ControlPlane(bus, stranger, keys, "p").request(
                "secmas.verify.p.pop1", "pop1", b"x", 0.2
            )
        assert len(seen) == 1 and sum(pop1.stats.dropped.values()) == 1
        await mlfo.close()
        await pop1.close()
        await bus.close()

    asyncio.run(main())

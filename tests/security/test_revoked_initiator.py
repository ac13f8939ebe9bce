"""A revoked initiator keeps acting on an auction it started before it was revoked.

Found on the emulated engine: a tampered agent that was auctioning a goal when
its attestation failed lost its winner, ran its own auction again, bid in it and won it,
so a revoked agent went on placing VNFs. Once an agent knows it is revoked, no attempt of
an auction it initiated may ask anyone, and it may not pick itself.
"""

from __future__ import annotations

import asyncio

from tests.agents.test_auction import FIVE, AuctionRecord, Net, Performative, request, run, star


def test_a_revoked_initiator_does_not_run_its_auction_again_nor_win_it_itself():
    async def main() -> None:
        net = await Net.build(star(FIVE))
        names = list(net.boxes)
        a = net.boxes["A"]
        goal = request("linkRateLimited", "A", 0.0, "pop6~server")
        task = asyncio.ensure_future(a.auction(goal, {"hold": 30.0}, names, needed=lambda: True))
        await net.until(5)
        accepted = net.spy.of(Performative.ACCEPT_PROPOSAL)
        assert [s.receiver for s in accepted] == ["C"]  # C won and is working on it
        a.hooks.admits = lambda agent: agent != "A"  # A's attestation failed: it is revoked
        a.gone("C", "killed")  # its winner is lost: the auction would run again
        await net.until(60)
        record: AuctionRecord = await task
        assert record.outcome.winner is None
        assert [r.reason for r in record.outcome.refusals] == [
            "the initiator is not admitted (revoked)"
        ]
        assert len(net.spy.of(Performative.CFP)) == len(names)  # the first call only
        assert [s.receiver for s in net.spy.of(Performative.ACCEPT_PROPOSAL)] == ["C"]
        await net.close()

    run(main())

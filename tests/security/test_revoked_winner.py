"""A winner revoked while it downloads its VNF must not act once the download ends.

The attacker is an agent that wins an auction (C: the fastest download) and is then
revoked (a failed attestation) while its VNF is still downloading. In one process its
Mailbox shares the trust layer's view, so when the download finishes it must see that
it is no longer admitted and run nothing: its plan would install rules in the network
on behalf of an agent nobody trusts any more.
"""

from __future__ import annotations

import asyncio

from tests.agents.test_auction import FIVE, Net, request, run, star

from secmas.agents.acl import Performative
from secmas.agents.auction import AuctionRecord


def test_a_winner_revoked_during_its_download_runs_no_plan_and_the_goal_goes_elsewhere() -> None:
    async def main() -> None:
        net = await Net.build(star(FIVE))
        names = list(net.boxes)
        trusted = set(names)
        started: list[str] = []
        for box in net.boxes.values():
            box.admits = trusted.__contains__  # one trust view, as in one process
            box.on_start = lambda instance, _request: started.append(instance.pop)
        goal = request("linkRateLimited", "A", 0.0, "pop6~server")
        task = asyncio.ensure_future(net.boxes["A"].auction(goal, {}, names))
        await net.until(5)  # C won (T = 10 s) and is half-way through its download
        accepts = net.spy.of(Performative.ACCEPT_PROPOSAL)
        assert [s.receiver for s in accepts] == ["C"]
        trusted.discard("C")
        await net.until(200)
        record: AuctionRecord = await task

        assert all(by != "C" for by, _, _ in net.runs), net.runs
        assert started[0] == "C" and len(started) == 2  # C's download ended, then the new winner's
        failures = [s for s in net.spy.of(Performative.FAILURE) if s.message.sender == "C"]
        assert failures and "not admitted" in failures[0].message.content["reason"]
        assert record.achieved and record.outcome.winner is not None
        assert record.outcome.winner.bidder != "C"
        await net.close()

    run(main())

"""Attacks on the winner's lease and on the hand-over of a gone initiator's work.

The adversary is an admitted agent (B) that speaks for itself on the bus (forging another
agent's name is the sealed channel's to stop: test_channel_attacks.py). It tries to make a
healthy winner stop (a CANCEL for an auction that is not its own), to keep a dead winner's
lease alive (progress reports for a goal it did not win), and to take a goal without an
auction (claiming it has the goal "in hand" from a gone initiator, with a made-up result).
Each must fail: the goal runs exactly once, on the winner Eq. 3.1 picks.
"""

from __future__ import annotations

from tests.agents.test_leases import SETTINGS, Net, run

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.bidding import Bid
from secmas.agents.nfva.codec import bid_to_content
from secmas.agents.nfva.subjects import PROTOCOL, inbox
from secmas.network.clock import drive_clock


async def _say(
    net: Net, performative: Performative, to: str, conversation: str, content: dict
) -> None:
    """B, an admitted agent, sends a message in its own name."""
    message = ACLMessage(performative, "B", (to,), conversation, content, protocol=PROTOCOL)
    await net.bus.publish(inbox(to), message.encode())


def test_a_cancel_from_another_agent_than_the_initiator_does_not_stop_the_winner():
    async def main() -> None:
        net = Net(plan_s=40.0)
        await net.start()

        async def cancel() -> None:  # C downloads (T = 10 s), then its plan runs 40 s
            await _say(net, Performative.CANCEL, "C", net.called(), {"reason": "B says stop"})

        record = await net.auction(until=200, during=cancel, at=20.0)
        assert record.status == "done" and record.attempt == 1
        assert record.outcome.winner.bidder == "C"
        assert net.runs == [("C", 50.0)]  # run once, to its end
        assert not net.terminated
        await net.bus.close()

    run(main())


def test_progress_reports_from_another_agent_do_not_keep_a_dead_winners_lease():
    async def main() -> None:
        net = Net()
        await net.start()
        crashed = 5.0

        async def crash_and_cover() -> None:
            await net.boxes["C"].stop()  # C dies while downloading
            for _ in range(10):  # B reports progress on A's auction, in C's stead
                await _say(net, Performative.INFORM, "A", net.called(), {"progress": "downloading"})
                await drive_clock(net.clock, net.clock.now() + SETTINGS.lease_renew)

        record = await net.auction(until=300, during=crash_and_cover, at=crashed)
        assert record.status == "done" and record.attempt == 2
        # C's lease lapsed anyway, and its CANCEL went unanswered for a lease
        assert crashed < record.started <= crashed + 2 * SETTINGS.lease
        assert net.runs == [("B", record.ended)]
        await net.bus.close()

    run(main())


def test_a_claim_to_hold_the_goal_for_an_initiator_that_is_not_gone_is_not_taken():
    """B answers A's call with an INFORM saying it won this goal from another initiator
    that is gone (the hand-over a stand-in accepts) and that it is done, with a made-up
    result. No initiator is gone: A must run the auction as usual, not take B's word."""

    async def main() -> None:
        net = Net()
        await net.start("A", "C")  # B's mailbox is the adversary's own handler
        fake = Bid("B", "rate_limiter", T=0.0, C=0.0, D=0.0)

        async def rogue(_subject: str, data: bytes) -> None:
            cfp = ACLMessage.decode(data)
            if cfp.performative is not Performative.CFP:
                return
            claim = {
                "progress": "done",
                "bid": bid_to_content(fake),
                "for": "C",
                "result": {"beliefs": [["linkRateLimited", ["pop6~server"], True]]},
            }
            await net.bus.publish(
                inbox(cfp.sender),
                cfp.reply(Performative.INFORM, claim, sender="B").encode(),
            )

        await net.bus.subscribe(inbox("B"), rogue)
        record = await net.auction(until=200)
        assert record.status == "done"
        assert record.outcome.winner is not None and record.outcome.winner.bidder == "C"
        assert net.runs == [("C", record.ended)]
        assert "beliefs" not in record.result
        await net.bus.close()

    run(main())

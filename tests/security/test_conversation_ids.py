"""An attested insider calls for proposals under another initiator's next conversation ids.

Conversation ids were `<initiator>.<n>`: anyone could tell A's next ones. B, the insider,
sealing in its own name, called C (the best bidder) for proposals under A.1, A.2 and A.3
before A called: C held its resources for B's call, then refused A's own call for A.1 as
"not the initiator", and A's auction went to A's own bid, five times worse (T = 50 s
against C's 10 s). The refusal was journalled against A, the victim, not B.

Now an id is bound to its initiator: it begins with the initiator's name, then a token
only the initiator can make (`secmas.agents.conversations`), and a call under an id that
is not its sender's is refused and journalled against that sender.

The agents are the mailboxes of `test_nfva_senders.py`, each on its own SecureBus; the
full run is the ddos-6pop reference run with its trust layer, the insider (pop1) one of
its agents turned in memory after attestation, guessing each initiator's next ids from
the calls it gets.
"""

from __future__ import annotations

import asyncio
import functools

from tests.agents import test_resilience as resilience
from tests.security.test_nfva_senders import (
    INSIDER,
    SCENARIO,
    Insider,
    Sealed,
    refused,
    run,
    won_by_c_once,
)

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.auction import Mailbox
from secmas.agents.nfva.codec import request_to_content
from secmas.agents.nfva.records import AuctionRecord
from secmas.agents.nfva.subjects import PROTOCOL
from secmas.agents.senders import NOT_INITIATOR
from secmas.network.clock import settle
from secmas.pipeline.operate import OperateResult, operate
from secmas.report.acceptance import Timeline, acceptance

GUESSED = ("A.1", "A.2", "A.3")
"""A's next conversation ids as they were made (`<initiator>.<n>`)."""


async def auctioned(net: Sealed, squatted: tuple[str, ...]) -> AuctionRecord:
    """A's auction among A, B, C after B, the insider, called C for proposals in its own
    name under each of the `squatted` ids, open long enough to hold C's resources."""
    await net.start("A", "C")
    content = request_to_content(resilience.RATE_LIMIT, {})
    for conversation in squatted:
        call = ACLMessage(
            Performative.CFP, "B", ("C",), conversation, content, protocol=PROTOCOL, reply_by=100.0
        )
        await net.boxes["B"].send(call)
    await settle()
    record = await net.auction(until=200, needed=lambda: True)
    await net.bus.close()
    return record


def test_calls_under_the_initiators_next_conversation_ids_do_not_take_its_best_bid():
    """Before: C refused A's call for A.1 ("not the initiator: A.1 was called by B",
    journalled against A) and A's auction went to A itself, T = 50 s."""
    clean = run(auctioned(Sealed(), ()))
    net = Sealed()
    record = run(auctioned(net, GUESSED))
    assert record.outcome.winner == clean.outcome.winner
    won_by_c_once(net, record)
    assert refused(net) == [("C", "cfp", "B", "B", NOT_INITIATOR)] * len(GUESSED)
    assert {r.conversation for r in net.journal.refusals} == set(GUESSED)
    assert not net.boxes["C"].participant.holds.held


# -- a whole run ----------------------------------------------------------------------------

AHEAD = 2
"""How many of an initiator's next ids the insider squats at each call it gets."""


class Squatter(Insider):
    """`pop` still answers every call for proposals honestly, and meanwhile calls every
    other agent for proposals in its own name under the initiator's next `AHEAD` ids, as
    the id of the call it got gives them (`<initiator>.<n>` was followed by n + 1), each
    call open for a minute."""

    async def spoof(self, box: Mailbox, cfp: ACLMessage) -> None:
        if cfp.sender == self.pop:
            return
        head, _, n = cfp.conversation_id.rpartition(".")
        victims = tuple(p for p in self.others if p != cfp.sender)
        for ahead in range(1, AHEAD + 1):
            squat = ACLMessage(
                Performative.CFP,
                self.pop,
                victims,
                f"{head}.{int(n) + ahead}",
                cfp.content,
                protocol=PROTOCOL,
                reply_by=box.endpoint.clock.now() + 60.0,
            )
            await box.send(squat)
            self.sent += len(victims)


@functools.cache
def squatted_run(squatter: bool) -> tuple[OperateResult, Squatter | None]:
    insider = Squatter(INSIDER) if squatter else None
    loops = [] if insider is None else [insider]
    result = asyncio.run(asyncio.wait_for(operate(SCENARIO, loops=loops), 300))
    return result, insider


def winners(result: OperateResult) -> list[tuple[str, str, str | None, str]]:
    return sorted(
        (
            initiator,
            record.outcome.label,
            None if record.outcome.winner is None else record.outcome.winner.bidder,
            record.status,
        )
        for initiator, record in result.journal.auctions
    )


def test_a_run_with_an_insider_squatting_the_next_conversation_ids_runs_the_same_auctions():
    clean, _ = squatted_run(False)
    result, insider = squatted_run(True)
    assert insider is not None and insider.sent > 0
    verdict = acceptance(result.telemetry, Timeline.of(result.scenario), result.capacity.ok)
    assert verdict.passed, verdict.reasons
    assert result.trust is not None and result.trust["agents"][INSIDER]["trusted"]
    assert winners(result) == winners(clean)
    squats = result.journal.refusals
    assert len(squats) == insider.sent  # every squatting call refused, and journalled
    assert {(r.authenticated, r.performative) for r in squats} == {(INSIDER, "cfp")}
    assert {r.reason.split(":")[0] for r in squats} == {NOT_INITIATOR}

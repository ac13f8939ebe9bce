"""The initiator's role of NFV-A (GoalRequest): call for proposals among the candidates,
collect the answers until the deadline, award the goal by Eq. 3.1 (ACCEPT the winner,
REJECT the rest), wait for the winner's work (`winners`), and call again without a winner
that failed or was lost, for as long as the goal is needed.

Recovery (beyond 003): an agent that gave no answer while others did is left out of later
calls until it is heard from again (or its probation ends); a call that nobody at all
answered (the bus is down, or every candidate is gone) is repeated after an exponential
back-off instead of being given up. The dissertation's serialised mode (wait for the
ongoing negotiation, call for proposals to award, then a random back-off) is kept as an
option (`Floor`)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.bidding import Bid, GoalRequest, Refusal, candidate_ranges, shared_context
from secmas.agents.conversations import Conversations
from secmas.agents.floor import Floor
from secmas.agents.nfva.appraisal import (
    LEFT_OUT,
    Appraisal,
    answered,
    handed_over,
    in_hand_outcome,
)
from secmas.agents.nfva.codec import request_to_content
from secmas.agents.nfva.endpoint import Endpoint, next_message
from secmas.agents.nfva.hooks import Needed, Renew
from secmas.agents.nfva.records import AuctionRecord
from secmas.agents.nfva.subjects import PROTOCOL, inbox
from secmas.agents.nfva.winners import Winners
from secmas.agents.outcome import AuctionOutcome
from secmas.agents.plausibility import IMPLAUSIBLE
from secmas.agents.reputation import ReputationBook

logger = logging.getLogger(__name__)

SKIPPED = LEFT_OUT + "did not answer since t={:g} s"
FAILED_BEFORE = LEFT_OUT + "{status} in attempt {attempt}"

_ANSWERS = (
    Performative.PROPOSE,
    Performative.REFUSE,
    Performative.NOT_UNDERSTOOD,
    Performative.INFORM,  # the goal is in hand already (`Participant.hand_over`)
)


class Initiator:
    """An agent's initiator role: its calls for proposals, awards and winners."""

    def __init__(
        self,
        endpoint: Endpoint,
        seed: int,
        reputation: ReputationBook | None,
        peers: Sequence[str],
    ) -> None:
        self.endpoint = endpoint
        self.name, self.infra, self.clock = endpoint.name, endpoint.infra, endpoint.clock
        self.hooks = endpoint.hooks
        self.peers = tuple(peers)
        """Every agent that may take the floor in serialised mode (the directory): each one
        not known to be gone must grant it, besides the call's candidates."""
        self.winners = Winners(endpoint)
        self.appraisal = Appraisal(endpoint, reputation)
        self.floor = Floor(
            self.name,
            endpoint.bus,
            f"{endpoint.space}.floor",
            self.clock,
            gone=endpoint.known_gone,
            rng=random.Random(f"{seed}:{self.name}"),
            backoff=endpoint.settings.backoff,
            resend=endpoint.settings.backoff,
        )
        self._bidding = asyncio.Lock()
        self._conversations = Conversations(self.name)

    def skipped(self, agent: str) -> bool:
        """Whether `agent` is on probation (it stopped answering, not long ago) or known to
        be gone: a dead agent is never waited for again until it is heard from."""
        since = self.endpoint.silent.get(agent)
        on_probation = (
            since is not None and self.clock.now() < since + self.endpoint.settings.probation
        )
        return on_probation or agent in self.endpoint.departed

    async def auction(
        self,
        request: GoalRequest,
        payload: dict[str, Any],
        candidates: Sequence[str],
        needed: Needed | None = None,
        renew: Renew | None = None,
    ) -> AuctionRecord:
        """Run NFV-A for `request` among `candidates` until the goal is done.

        A winner that fails or is lost (no INFORM-DONE in time, or it is gone) is left out
        and the goal auctioned again among the others. Without `needed` this happens at
        most `settings.attempts` times; with it, for as long as `needed()` holds, and a
        call that nobody answered or that had no candidate left is repeated after a
        back-off (the exclusions start over), so a goal is never dropped while it is
        needed; `renew` gives the request anew after a back-off. Candidates that are
        not admitted (revoked after a failed attestation) or on probation (they stopped
        answering) get no CFP."""
        failed: dict[str, str] = {}
        wait = self.endpoint.settings.retry_wait
        attempt = 0
        while True:
            if self.endpoint.revoked():
                # revoked itself (before the call or between attempts): it asks nobody
                # (nobody would answer it) and acts on nothing
                now = self.clock.now()
                refusal = Refusal(self.name, "the initiator is not admitted (revoked)")
                outcome = AuctionOutcome(request, (), (refusal,))
                return AuctionRecord(outcome, "no-bids", now, now, 0, 0, attempt=attempt or 1)
            attempt += 1
            admitted = [c for c in candidates if self.endpoint.admitted(c)]
            left_out = {c: failed[c] for c in admitted if c in failed}
            left_out |= {
                c: SKIPPED.format(self.endpoint.silent.get(c, self.clock.now()))
                for c in admitted
                if c not in left_out and c != self.name and self.skipped(c)
            }
            asked = [c for c in admitted if c not in left_out]
            record = await self._one_auction(request, payload, asked, left_out, renew)
            request = record.outcome.request
            record.attempt = attempt
            self.appraisal.judge(record)
            lost = record.status in ("winner-lost", "failed")
            unanswered = record.status == "no-bids" and not answered(record.outcome)
            if not (lost or unanswered):
                return record
            if needed is None:
                if not lost or attempt >= self.endpoint.settings.attempts:
                    return record
            elif not needed():
                return record
            if lost:
                assert record.outcome.winner is not None
                failed[record.outcome.winner.bidder] = FAILED_BEFORE.format(
                    status=record.status, attempt=attempt
                )
                continue
            logger.info(
                "%s: nobody answered the call for %s; again in %g s",
                self.name,
                record.outcome.label,
                wait,
            )
            await self.clock.sleep(wait)
            wait = min(2 * wait, self.endpoint.settings.retry_wait_max)
            failed.clear()
            if renew is not None:
                request = await renew()

    async def _one_auction(
        self,
        request: GoalRequest,
        payload: dict[str, Any],
        candidates: Sequence[str],
        left_out: Mapping[str, str] | None = None,
        renew: Renew | None = None,
    ) -> AuctionRecord:
        """One call for proposals and its award, then the winner's work. In serialised
        mode (003 Section 5.1: "it waits for an ongoing negotiation to end", then a random
        back-off) the floor is held from the call to the award (until the winner is done
        when it reuses a running instance: that instance is busy until then, and the next
        call could not reuse it), and the request is given anew by `renew` once the floor is
        taken, so that a goal sized by traffic is measured after the previous award took
        effect, not before it waited."""
        skips = [Refusal(a, why) for a, why in (left_out or {}).items()]
        if not candidates:  # nobody to ask: the call ends at once, unanswered
            outcome = AuctionOutcome(request, (), tuple(skips))
            now = self.clock.now()
            return AuctionRecord(outcome, "no-bids", now, now, 0.0, 0)
        if self.endpoint.settings.serialised:
            await self.floor.take({*self.peers, *candidates})
        conversation = self._conversations.open()
        queue: asyncio.Queue[ACLMessage] = asyncio.Queue()
        self.endpoint.waiting[conversation] = queue
        self.endpoint.parties[conversation] = frozenset(candidates)
        floor = self.endpoint.settings.serialised
        try:
            if floor and renew is not None:  # sized now: after the previous award took effect
                request = await renew()
            async with self._bidding:  # one call for proposals at a time per initiator
                started, wall = self.clock.now(), time.perf_counter()
                cfp = ACLMessage(
                    Performative.CFP,
                    self.name,
                    tuple(candidates),
                    conversation,
                    request_to_content(self._ranged(request, candidates), payload),
                    reply_with=f"{conversation}.cfp",
                    protocol=PROTOCOL,
                    reply_by=started + self.endpoint.settings.bid_deadline,
                )
                await self.endpoint.send(cfp)
                replies = await self._collect(queue, set(candidates), cfp.reply_by or started)
                self._note_silent(candidates, replies)
                handed = handed_over(replies, self.endpoint.known_gone)
                if handed is None:
                    outcome = self.appraisal.outcome(request, payload, candidates, replies, skips)
                    sent = await self._notify(cfp, outcome)
                else:
                    outcome = in_hand_outcome(request, handed, replies, skips)
                    sent = await self._reject(cfp, replies)
                wall_ms = (time.perf_counter() - wall) * 1000
            if floor and not _reused(outcome, handed is not None):
                floor = False  # the negotiation ended with the award: the next may start
                await self.floor.give()
            messages = len(candidates) + len(replies) + sent
            status, result = "no-bids", {}
            if outcome.winner is not None:
                progress = {} if handed is None else handed[0].content
                status, result, reports = await self.winners.await_done(
                    outcome.winner, queue, conversation, progress
                )
                messages += reports
        finally:
            del self.endpoint.waiting[conversation], self.endpoint.parties[conversation]
            if floor:
                await self.floor.give()
        return AuctionRecord(
            outcome, status, started, self.clock.now(), wall_ms, messages, result=result
        )

    def _ranged(self, request: GoalRequest, candidates: Sequence[str]) -> GoalRequest:
        """The request with the ranges every candidate normalises its VNFs' bids over, when
        several VNFs achieve the goal (`candidate_ranges`); unchanged otherwise."""
        ranges = candidate_ranges(shared_context(self.infra), request, candidates)
        return request if ranges is None else replace(request, ranges=ranges)

    def _note_silent(self, candidates: Sequence[str], replies: dict[str, ACLMessage]) -> None:
        """Candidates that did not answer while someone did go on probation; when nobody
        answered, the bus itself may be down, and nobody is blamed."""
        if not replies:
            return
        for agent in candidates:
            if agent not in replies and agent != self.name:
                self.endpoint.silent[agent] = self.clock.now()  # its probation starts (again)

    async def _collect(
        self, queue: asyncio.Queue[ACLMessage], expected: set[str], deadline: float
    ) -> dict[str, ACLMessage]:
        replies: dict[str, ACLMessage] = {}
        timer = asyncio.ensure_future(self.clock.sleep(max(0.0, deadline - self.clock.now())))
        try:
            while expected - replies.keys():
                message = await next_message(queue, timer)
                if message is None:
                    break
                if message.sender in expected and message.performative in _ANSWERS:
                    replies.setdefault(message.sender, message)
        finally:
            timer.cancel()
        return replies

    async def _reject(self, cfp: ACLMessage, replies: dict[str, ACLMessage]) -> int:
        """REJECT-PROPOSAL to every bidder (another agent has the goal in hand already);
        how many were sent."""
        bidders = tuple(s for s, r in replies.items() if r.performative is Performative.PROPOSE)
        if bidders:
            await self.endpoint.send(
                ACLMessage(
                    Performative.REJECT_PROPOSAL,
                    self.name,
                    bidders,
                    cfp.conversation_id,
                    protocol=PROTOCOL,
                )
            )
        return len(bidders)

    async def _notify(self, cfp: ACLMessage, outcome: AuctionOutcome) -> int:
        """ACCEPT-PROPOSAL to the winner (with the goal; its first progress report is due
        within the lease), REJECT-PROPOSAL to the rest, and then to the bidders refused as
        implausible (so that they give back what their proposal holds); how many were
        sent. The rejections are one message whose frames differ only by receiver (encoded
        once, `frames`), sent in the order of the bids as before."""
        losers = tuple(bid.bidder for bid in outcome.bids if bid is not outcome.winner)
        refused = tuple(r.bidder for r in outcome.refusals if r.reason.startswith(IMPLAUSIBLE))
        rejections: Iterator[tuple[str, bytes]] = iter(())
        if losers or refused:
            rejections = ACLMessage(
                Performative.REJECT_PROPOSAL,
                self.name,
                losers + refused,
                cfp.conversation_id,
                protocol=PROTOCOL,
            ).frames()
        for bid in outcome.bids:
            if bid is not outcome.winner:
                receiver, frame = next(rejections)
                await self.endpoint.bus.publish(inbox(receiver, self.endpoint.space), frame)
                continue
            accept = ACLMessage(
                Performative.ACCEPT_PROPOSAL,
                self.name,
                (bid.bidder,),
                cfp.conversation_id,
                cfp.content,
                protocol=PROTOCOL,
                reply_by=self.clock.now() + self.endpoint.settings.lease,
            )
            await self.endpoint.send(accept)
            await self._announce_win(outcome.request, bid)
        for receiver, frame in rejections:
            await self.endpoint.bus.publish(inbox(receiver, self.endpoint.space), frame)
        return len(outcome.bids) + len(refused)

    async def _announce_win(self, request: GoalRequest, win: Bid) -> None:
        """Agents in other processes learn of the winner's virtual path from the
        initiator, before its next CFP: the same order in which one process sees it."""
        vnf = self.infra.catalogue.get(win.vnf)
        bandwidth = request.traffic if vnf is not None and vnf.throughput is not None else 0.0
        if self.hooks.announce is not None and bandwidth > 0:
            await self.hooks.announce("reserve", win.bidder, list(win.path), bandwidth)


def _reused(outcome: AuctionOutcome, handed: bool) -> bool:
    """Whether the award went to a winner that runs the goal on an instance it had."""
    return not handed and outcome.winner is not None and outcome.winner.instance is not None

"""What an initiator makes of a call's answers and of its award: each bid parsed and
checked against the topology (a bid that cannot be true is refused and judged a broken
promise), the bids weighed with their bidders' reputation by Eq. 3.1, a goal in hand
claimed by an agent whose initiator is gone, and each award judged a promise kept or
broken once the winner's work ended."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.bidding import Bid, GoalRequest, Refusal, move_time
from secmas.agents.nfva.codec import bid_from_content
from secmas.agents.nfva.endpoint import Endpoint
from secmas.agents.nfva.records import AuctionRecord
from secmas.agents.nfva.winners import GONE, OVERRAN
from secmas.agents.outcome import AuctionOutcome, goal_label
from secmas.agents.plausibility import implausible
from secmas.agents.reputation import Conduct, Promise, ReputationBook

logger = logging.getLogger(__name__)

SILENT = "no answer before the deadline"
LEFT_OUT = "left out: "
"""How the refusals of agents that got no CFP begin (on probation, or lost this goal before)."""
IN_HAND = "not needed: {agent} has the goal in hand (won from {initiator}, gone)"


class Appraisal:
    """An initiator's appraisal of bids and awards (its reputation book, when it has one)."""

    def __init__(self, endpoint: Endpoint, reputation: ReputationBook | None) -> None:
        self.endpoint = endpoint
        self.name, self.infra, self.clock = endpoint.name, endpoint.infra, endpoint.clock
        self.reputation = reputation
        """Whose judgements Eq. 3.1 weighs when `settings.reputation_weight` is above 0."""

    def outcome(
        self,
        request: GoalRequest,
        payload: Mapping[str, Any],
        candidates: Sequence[str],
        replies: dict[str, ACLMessage],
        skips: Sequence[Refusal] = (),
    ) -> AuctionOutcome:
        """The call's bids and refusals, the bids weighed with their bidders' reputation
        when `settings.reputation_weight` is above 0."""
        bids: list[Bid] = []
        refusals: list[Refusal] = list(skips)
        for sender, reply in replies.items():
            answer = self._answer(request, payload, sender, reply)
            if isinstance(answer, Bid):
                bids.append(answer)
            else:
                refusals.append(answer)
        for silent in sorted(set(candidates) - replies.keys()):
            refusals.append(Refusal(silent, SILENT))
        weight = self.endpoint.settings.reputation_weight
        standing: dict[str, float] = {}
        if weight and self.reputation is not None:
            standing = self.reputation.standing(b.bidder for b in bids)
        return AuctionOutcome(request, tuple(bids), tuple(refusals), standing, weight)

    def _answer(
        self, request: GoalRequest, payload: Mapping[str, Any], sender: str, reply: ACLMessage
    ) -> Bid | Refusal:
        """One answer to the call: its bid, or why it counts as a refusal (the bidder's
        own reason, a malformed proposal, or a bid that cannot be true: `implausible`, a
        bound the initiator recomputes from the topology broken, judged a broken promise
        and never scored by Eq. 3.1)."""
        if reply.performative is not Performative.PROPOSE:
            return Refusal(sender, str(reply.content.get("reason", "refused")))
        try:
            bid = bid_from_content(reply.content)
        except (KeyError, TypeError, ValueError):
            return Refusal(sender, "malformed proposal")
        move = move_time(payload, sender)
        why = implausible(
            self.infra, request, bid, sender, move, shared=self.endpoint.hooks.announce is None
        )
        if why is None:
            return bid
        logger.warning("%s: refused %s's bid: %s", self.name, sender, why)
        self._promise(sender, Conduct.IMPLAUSIBLE, request)
        return Refusal(sender, why)

    def judge(self, record: AuctionRecord) -> None:
        """The award of one call, judged: kept when the winner's plan acted, broken when it
        failed or was lost (how: from the record's reason)."""
        win = record.outcome.winner
        if win is None or record.status == "no-bids":
            return
        conduct = Conduct.KEPT
        if record.status == "failed":
            conduct = Conduct.FAILED
        elif record.status == "winner-lost":
            why = str(record.result.get("reason", ""))
            conduct = Conduct.LAPSED
            if why.startswith(GONE.format("")):
                conduct = Conduct.GONE
            elif why.startswith(OVERRAN.partition("{")[0]):
                conduct = Conduct.OVERRAN
        self._promise(win.bidder, conduct, record.outcome.request)

    def _promise(self, peer: str, conduct: Conduct, request: GoalRequest) -> None:
        if self.endpoint.hooks.promised is not None and peer != self.name:
            label = goal_label(request.goal, request.args)
            self.endpoint.hooks.promised(Promise(self.clock.now(), self.name, peer, conduct, label))


def handed_over(
    replies: Mapping[str, ACLMessage], gone: Callable[[str], bool]
) -> tuple[ACLMessage, Bid] | None:
    """The answer of an agent that has the goal in hand already, with the bid that won it
    the goal, if one came (a malformed one is ignored). The claim is taken only for work
    won from an initiator this agent knows is `gone` (the one whose goal it adopted): an
    agent's word alone never wins it a goal without an auction."""
    for sender, reply in replies.items():
        if reply.performative is not Performative.INFORM or "bid" not in reply.content:
            continue
        initiator = reply.content.get("for")
        if not isinstance(initiator, str) or initiator == sender or not gone(initiator):
            logger.warning("%s claims a goal in hand for %r, not known gone", sender, initiator)
            continue
        try:
            bid = bid_from_content(reply.content["bid"])
        except (KeyError, TypeError, ValueError):
            continue
        if bid.bidder == sender:
            return reply, bid
    return None


def in_hand_outcome(
    request: GoalRequest,
    handed: tuple[ACLMessage, Bid],
    replies: Mapping[str, ACLMessage],
    skips: Sequence[Refusal],
) -> AuctionOutcome:
    """The call's outcome when an agent has the goal in hand: the bid that won it the
    goal from the gone initiator is the only one; the others' answers are set aside."""
    reply, bid = handed
    why = IN_HAND.format(agent=reply.sender, initiator=reply.content.get("for", "?"))
    others = [Refusal(sender, why) for sender in replies if sender != reply.sender]
    return AuctionOutcome(request, (bid,), (*skips, *others))


def answered(outcome: AuctionOutcome) -> bool:
    """Whether any candidate answered the call (a bid, or a refusal it sent itself)."""
    return bool(outcome.bids) or any(
        r.reason != SILENT and not r.reason.startswith(LEFT_OUT) for r in outcome.refusals
    )

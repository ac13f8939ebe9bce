"""The NFV-A protocol (Chapter 3 of `003_…`): a Contract Net over the bus.

The initiator (GoalRequest plan) sends a CFP to every candidate agent, itself included;
each participant (GoalResponse plan) answers PROPOSE ⟨goal, T, C, D, VNF⟩ or REFUSE;
the initiator picks the winner by Eq. 3.1, sends ACCEPT-PROPOSAL to it and
REJECT-PROPOSAL to the others, and waits for INFORM-DONE or FAILURE. Every step has a
deadline on the run's clock, so a silent agent never stalls an auction.

Exactly-once execution (beyond 003, whose completion deadline was fixed): from ACCEPT on,
the winner holds a lease on the goal that it renews with a progress report (INFORM
`{"progress": "downloading" | "instantiating" | "acting" | "acted"}`) every `lease_renew`
seconds while it works; the initiator declares it lost only when no report came for
`lease` seconds, never because its plan is slow. The winner reports "acted", with the
beliefs achieved, the moment its plan has acted (`report_acted`), so an initiator that
loses it afterwards records the goal as done instead of running the plan again. A winner
whose lease lapsed is sent CANCEL: if it was alive but cut off it stops and gives back what
it took (a download's resources, an instance started for the goal, the path's bandwidth).
Lost messages: the bus delivers at most once, so the lease is kept where both sides read
it. The initiator confirms each progress report (CONFIRM), and the winner acts only while a
report it sent less than `lease` seconds ago is confirmed: a plan that has not acted when
its lease runs out unconfirmed stops there and gives back what it took, so a CANCEL that is
lost leaves no cut-off winner acting (its lease has ended before the initiator's, which
counts from the report's arrival). The winner sends its INFORM-DONE or FAILURE again until
it is confirmed; an initiator whose winner's lease lapsed waits a lease for the answer to
its CANCEL (what the winner acted on, or that it stopped), answers every report meanwhile
and after with CANCEL again, and calls again only then: a lost "acted" report never makes
the goal run twice.
Trust is checked at the act too, not only at the auction: a winner no longer admitted
(revoked after it won) gives the goal up the same way at its next progress report, at the
latest before its plan acts; told it is revoked, it gives up all it works on (`withdraw`).
A winner still working for (or done for) an initiator that is gone answers the call for
proposals of the stand-in that adopted the goal with its work in hand, reports to the
stand-in from then on, and the goal is not auctioned again.

Senders: a message counts only from the agent the secure channel authenticated as its
sender, and in that agent's role: a CFP, ACCEPT, REJECT or CANCEL in a conversation
from its initiator alone, answers from the agents it asked, reports on an awarded goal
from its winner alone (`secmas.agents.senders`); the rest is refused and journalled.
A conversation's id is bound to its initiator and unpredictable to the others
(`secmas.agents.conversations`): nobody can call under another initiator's id.

Recovery (beyond 003): a goal whose winner fails or is lost is auctioned again without
that winner, for as long as the initiator still needs it; an agent that gave no answer
while others did is left out of later calls for proposals until it is heard from again
(or its probation ends); a call that nobody at all answered (the bus is down, or every
candidate is gone) is repeated after an exponential back-off instead of being given up;
and an initiator told that an agent is gone (revoked, crashed, killed) stops waiting on
its lease and re-auctions at once; a gone agent is left out until it is back.

Beyond the dissertation, which ran one auction at a time, auctions may run concurrently:
a PROPOSE holds what the bid needs (PoP resources, or the idle instance it reuses) until
the proposal is accepted, rejected or expires, and the acceptance commits the hold, so two
auctions can never allocate the same resources twice. A hold is the bidder's own: its
later bids count it, a rival's bid never does (bids read committed state), so a bid does
not depend on which rival proposed first, in one process or across many. The
dissertation's serialised mode (wait for the ongoing negotiation, call for proposals to
award, then a random back-off) is kept as an option.

Structure: `Mailbox` (here) admits each message and routes it to a role, the
initiator's (`secmas.agents.nfva.initiator`) or the participant's
(`secmas.agents.nfva.participant`); what both share lives in `secmas.agents.nfva`
(subjects, settings, codec, records, hooks, the endpoint).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from secmas.agents.acl import ACLMessage, MalformedMessage, Performative
from secmas.agents.bidding import GoalRequest
from secmas.agents.bidfunction import bid_function
from secmas.agents.nfva.endpoint import Endpoint, next_message
from secmas.agents.nfva.hooks import Executor, Needed, Renew
from secmas.agents.nfva.hooks import Hooks as MailboxHooks
from secmas.agents.nfva.initiator import Initiator
from secmas.agents.nfva.participant import Participant
from secmas.agents.nfva.records import AuctionRecord
from secmas.agents.nfva.settings import AuctionSettings
from secmas.agents.nfva.subjects import SPACE, inbox
from secmas.agents.nfva.winners import REPORTS
from secmas.agents.reputation import ReputationBook
from secmas.agents.senders import OWN_CONVERSATION, misnamed, not_party, out_of_role
from secmas.network.clock import Clock
from secmas.network.infrastructure import Infrastructure
from secmas.scenario.model import DEFAULT_BID
from secmas.transport.bus import Bus, Subscription
from secmas.transport.channel import subscribe_authenticated

logger = logging.getLogger(__name__)


class Mailbox:
    """An agent's NFV-A mailbox: it admits each message (sealed by its sender, in its
    sender's role) and routes it to the role it is for, participant or initiator."""

    Hooks: ClassVar[type[MailboxHooks]] = MailboxHooks
    """The type of `hooks`, for a caller that imports `Mailbox` alone."""

    def __init__(
        self,
        name: str,
        infra: Infrastructure,
        bus: Bus,
        clock: Clock,
        executor: Executor,
        settings: AuctionSettings | None = None,
        seed: int = 0,
        hooks: MailboxHooks | None = None,
        space: str = SPACE,
        reputation: ReputationBook | None = None,
        peers: Sequence[str] = (),
        bid: str = DEFAULT_BID,
    ) -> None:
        """`executor` runs a won goal's plan; `hooks` are the agent's policies and listeners
        (none by default); `bid` names the bid function, a `secmas.bids` plug-in (the
        scenario's `auction.bid`): PluginError when it is not installed or no bid function."""
        self.name = name
        self.hooks = hooks or MailboxHooks()
        """Shared by both roles: change a hook in place (`hooks.admits = …`)."""
        settings = settings or AuctionSettings()
        self.endpoint = Endpoint(name, infra, bus, clock, settings, self.hooks, space)
        self.participant = Participant(self.endpoint, executor, bid_function(bid))
        self.initiator = Initiator(self.endpoint, seed, reputation, peers)
        self.excluded = 0
        """Messages ignored because their sender is not admitted."""
        self._subs: list[Subscription] = []

    def parts(self) -> tuple[object, ...]:
        """The objects this mailbox acts through: its endpoint (every message sent), its
        hooks, its roles and theirs. An attester watches each as it watches the mailbox:
        a method rebound on any of them does what one rebound on the mailbox would."""
        participant, initiator = self.participant, self.initiator
        return (
            self.endpoint,
            self.hooks,
            participant,
            participant.holds,
            initiator,
            initiator.winners,
            initiator.appraisal,
            initiator.floor,
        )

    async def start(self) -> None:
        """Listen on this agent's inbox (and the floor in serialised mode)."""
        mine = inbox(self.name, self.endpoint.space)
        self._subs.append(await subscribe_authenticated(self.endpoint.bus, mine, self._on_message))
        if self.endpoint.settings.serialised:
            self._subs.append(await self.initiator.floor.start())

    async def stop(self) -> None:
        """Stop answering (as a crashed agent would); held reservations are released."""
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()
        self.endpoint.cancel_tasks()
        self.participant.stop()

    async def send(self, message: ACLMessage) -> None:
        """Publish `message` to each receiver's inbox (`Endpoint.send`)."""
        await self.endpoint.send(message)

    async def auction(
        self,
        request: GoalRequest,
        payload: dict[str, Any],
        candidates: Sequence[str],
        needed: Needed | None = None,
        renew: Renew | None = None,
    ) -> AuctionRecord:
        """Run NFV-A for `request` among `candidates` until the goal is done
        (`Initiator.auction`)."""
        return await self.initiator.auction(request, payload, candidates, needed, renew)

    async def withdraw(self, reason: str) -> None:
        """Give up every goal this agent works on and has not acted on yet
        (`Participant.withdraw`): it was revoked."""
        await self.participant.withdraw(reason)

    def heard(self, agent: str) -> None:
        """`agent` is back (a message from it arrived): ask it again from now on."""
        self.endpoint.heard(agent)

    def gone(self, agent: str, reason: str) -> None:
        """`agent` is known to be gone (revoked, crashed, killed): it is left out of calls
        for proposals until it is heard from again, auctions waiting on its lease are
        re-run at once, and the floor it held (serialised mode) is no longer waited for."""
        self.endpoint.depart(agent)
        self.initiator.floor.changed()
        self.initiator.winners.gone(agent, reason)

    async def request(self, message: ACLMessage, wait: float) -> bool:
        """Send a REQUEST and wait up to `wait` seconds for its receiver's AGREE (FIPA
        Request protocol): False when none came, e.g. it crossed a broker outage (the bus
        delivers at most once), and the caller may send it again."""
        conversation = message.conversation_id
        queue: asyncio.Queue[ACLMessage] = asyncio.Queue()
        self.endpoint.waiting[conversation] = queue
        self.endpoint.parties[conversation] = frozenset(message.receivers)
        timer = asyncio.ensure_future(self.endpoint.clock.sleep(wait))
        try:
            await self.endpoint.send(message)
            while (reply := await next_message(queue, timer)) is not None:
                if reply.performative is Performative.AGREE and reply.sender in message.receivers:
                    return True
            return False
        finally:
            timer.cancel()
            if self.endpoint.waiting.get(conversation) is queue:
                del self.endpoint.waiting[conversation], self.endpoint.parties[conversation]

    async def _on_message(self, _subject: str, sender: str | None, data: bytes) -> None:
        """One NFV-A message, sealed by `sender` (None where the bus authenticates nobody):
        refused unless it names that sender and its role allows it (`secmas.agents.senders`)."""
        try:
            message = ACLMessage.decode(data)
        except MalformedMessage as exc:
            self.endpoint.malformed += 1
            logger.warning("%s: dropped a malformed NFV-A frame: %s", self.name, exc)
            return
        spoofed = misnamed(message, sender)
        if spoofed is not None:
            self.endpoint.refuse(message, sender, spoofed)
            return
        if not self.endpoint.admitted(message.sender):
            self.excluded += 1
            logger.info(
                "%s: ignored %s from untrusted %s", self.name, message.performative, message.sender
            )
            return
        self.endpoint.heard(message.sender)
        why = self._out_of_place(message)
        if why is not None:
            self.endpoint.refuse(message, sender, why)
            return
        match message.performative:
            case Performative.CFP:
                work = self.participant.in_hand(message)
                if work is None:
                    self.endpoint.spawn(self.participant.answer_cfp(message))
                else:
                    self.endpoint.spawn(self.participant.hand_over(work, message))
            case Performative.ACCEPT_PROPOSAL:
                self.endpoint.spawn(self.participant.accepted(message))
            case Performative.REJECT_PROPOSAL:
                self.participant.holds.release(message.conversation_id)
            case Performative.CANCEL:
                self.participant.cancel(message)
            case Performative.CONFIRM:
                self.participant.confirmed(message)
            case Performative.REQUEST if self.hooks.on_request is not None:
                self.hooks.on_request(message)
                agree = ACLMessage(
                    Performative.AGREE, self.name, (message.sender,), message.conversation_id, {}
                )
                self.endpoint.spawn(self.endpoint.send(agree))
            case _:
                queue = self.endpoint.waiting.get(message.conversation_id)
                if queue is not None:
                    queue.put_nowait(message)
                elif self.initiator.winners.closed(message.conversation_id):
                    self.initiator.winners.late(message)

    def _out_of_place(self, message: ACLMessage) -> str | None:
        """Why `message` is not its sender's to send: a call, award, rejection,
        cancellation or request in a conversation another agent opened or called (a bid
        held, a goal worked on), or an answer in a conversation of ours from an agent it
        does not wait for (after the award, a report on the goal from anyone but the
        winner; a bidder's late answer is only too late)."""
        conversation = message.conversation_id
        performative = message.performative
        if performative in OWN_CONVERSATION:
            requested = performative is Performative.REQUEST
            initiator = None if requested else self.participant.initiator_of(conversation)
            return out_of_role(message, initiator)
        winner = self.initiator.winners.winner_of(conversation)
        if winner is not None and performative in REPORTS:
            return not_party(message, frozenset({winner}))
        parties = self.endpoint.parties.get(conversation)
        return None if parties is None else not_party(message, parties)

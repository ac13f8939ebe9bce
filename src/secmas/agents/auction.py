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
award, then a random back-off) is
kept as an option.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from secmas.agents.acl import ACLMessage, MalformedMessage, Performative
from secmas.agents.bidding import (
    Bid,
    GoalRequest,
    Ranges,
    Refusal,
    candidate_ranges,
    compute_bid,
    move_time,
    shared_context,
)
from secmas.agents.conversations import Conversations
from secmas.agents.floor import Floor
from secmas.agents.outcome import AuctionOutcome, goal_label
from secmas.agents.plausibility import IMPLAUSIBLE, implausible
from secmas.agents.reputation import Conduct, Promise, ReputationBook
from secmas.agents.senders import (
    OWN_CONVERSATION,
    Refused,
    RefusedMessage,
    misnamed,
    not_party,
    out_of_role,
)
from secmas.network.clock import Clock
from secmas.network.infrastructure import CapacityError, Infrastructure, Instance
from secmas.network.resources import Amount, req
from secmas.scenario.model import Constraint, Preferences
from secmas.transport.bus import Bus, Subscription
from secmas.transport.channel import subscribe_authenticated

logger = logging.getLogger(__name__)

PROTOCOL = "nfv-a"
SPACE = "nfva"
"""The subject space of NFV-A; a pipeline sharing a server with others uses its own,
e.g. `nfva.<pipeline>`."""
FLOOR = f"{SPACE}.floor"


def inbox(agent: str, space: str = SPACE) -> str:
    """The bus subject an agent receives NFV-A messages on."""
    return f"{space}.agent.{agent}"


def inbox_owner(subject: str) -> str | None:
    """The agent an NFV-A inbox subject belongs to (any space); None for other subjects."""
    tokens = subject.split(".")
    if len(tokens) >= 3 and tokens[0] == SPACE and tokens[-2] == "agent":
        return tokens[-1]
    return None


@dataclass(frozen=True)
class AuctionSettings:
    """Deadlines (seconds on the run's clock) and the serialised mode of 003."""

    bid_deadline: float = 1.0
    lease_renew: float = 2.0
    """How often a winner reports its progress to the initiator while it works."""
    lease: float = 10.0
    """How long an initiator waits for the next progress report before it takes its winner
    for lost (five missed reports: longer than a brief broker outage, far shorter than a
    VNF download's T)."""
    handover: float = 60.0
    """How long a winner keeps the result of a goal it executed, to hand it to the stand-in
    of an initiator that is gone (goals are adopted after the board's silence rounds)."""
    attempts: int = 3
    """Attempts of an auction whose initiator cannot say whether the goal is still
    needed; with a `needed` test, attempts go on while it holds."""
    serialised: bool = False
    backoff: float = 0.5
    retry_wait: float = 2.0
    """First wait before a call nobody answered, or with no candidate left, is repeated;
    it doubles up to `retry_wait_max`."""
    retry_wait_max: float = 16.0
    probation: float = 30.0
    """How long an agent that did not answer is left out of calls for proposals before it
    is asked again (any message from it ends the probation at once)."""
    reputation_weight: float = 0.0
    """How much Eq. 3.1 weighs a bidder's reputation (`secmas.agents.reputation`): 0 is
    the dissertation's Eq. 3.1 (Table 5.8), 1 ranks bids by reputation alone."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.reputation_weight <= 1.0:
            raise ValueError(
                f"reputation_weight must be within [0, 1], got {self.reputation_weight:g}"
            )


REAL_TIME_BID_WALL_S = 0.25
"""Least wall time a call for proposals stays open on a scaled wall clock (agents as
processes at `speed`): room for a busy agent process to answer, and for another auction's
plan on a shared instance to run over the bus first (at 10x the seed's 1 s deadline is
100 ms of wall time, which a bidder answering an attestation challenge on a loaded 2-core
machine missed). A real-time deadline is the scenario's bound or this margin, whichever
is longer, never what the machine's load happens to allow."""


def paced(settings: AuctionSettings, speed: float) -> AuctionSettings:
    """`settings` for a run on a wall clock sped up `speed` times: the bid deadline is at
    least `REAL_TIME_BID_WALL_S` of wall time (one simulated second up to 4x)."""
    least = speed * REAL_TIME_BID_WALL_S
    return settings if settings.bid_deadline >= least else replace(settings, bid_deadline=least)


@dataclass
class AuctionRecord:
    """One auction as it happened: the outcome plus status, timings and messages."""

    outcome: AuctionOutcome
    status: str
    started: float
    ended: float
    wall_ms: float
    messages: int
    attempt: int = 1
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def achieved(self) -> bool:
        """Whether the winner reported INFORM-DONE."""
        return self.status == "done"


Executor = Callable[[GoalRequest, Bid, dict[str, Any]], Awaitable[dict[str, Any]]]
"""Runs the won goal's plan on the winner: (request, bid, payload) → result content."""

Started = Callable[[Instance, GoalRequest], None]
"""Told when the Orchestrator has downloaded and started a new VNF instance."""

Terminated = Callable[[str, str], Awaitable[object]]
"""Stops a VNF instance started for a goal that was cancelled: (instance id, cause); it
gives the resources back and journals the termination."""

Requested = Callable[[ACLMessage], None]
"""Told of a REQUEST (another agent asks this one to pursue a goal)."""

Admits = Callable[[str], bool]
"""Whether an agent may take part (attested and not revoked); others are ignored."""

Needed = Callable[[], bool]
"""Whether the initiator still needs the goal (it is not believed achieved, the agent runs):
failed or unanswered auctions are repeated while it holds."""

Renew = Callable[[], Awaitable[GoalRequest]]
"""The goal's request as it stands now (e.g. its traffic measured again), for an attempt that
follows a back-off."""

Acted = Callable[[dict[str, Any]], Awaitable[None]]

_ACTING: contextvars.ContextVar[Acted | None] = contextvars.ContextVar("acting", default=None)
"""Set by the winner's Mailbox around its executor: how the plan reports it has acted."""


async def report_acted(result: dict[str, Any]) -> None:
    """Called by a winner's plan the moment it has acted, with the result INFORM-DONE will
    carry (the beliefs achieved): the initiator learns it at once, so that losing the winner
    from now on never makes the plan run twice. Outside a won goal's plan it does nothing."""
    acted = _ACTING.get()
    if acted is not None:
        await acted(result)


SILENT = "no answer before the deadline"
LEFT_OUT = "left out: "
"""How the refusals of agents that got no CFP begin (on probation, or lost this goal before)."""
SKIPPED = LEFT_OUT + "did not answer since t={:g} s"
FAILED_BEFORE = LEFT_OUT + "{status} in attempt {attempt}"
GONE = "gone: {}"
LAPSED = "lease lapsed: no progress report for {:g} s"
OVERRAN = "overran its bid: still downloading {:g} s after the award, its T was {:g} s"
IN_HAND = "not needed: {agent} has the goal in hand (won from {initiator}, gone)"
LEASE_ENDED = "lease ended: no report confirmed for {:g} s"
"""Why a winner stops a plan that has not acted (its initiator may have given it up)."""
CANCELLED = "cancelled"
"""The progress a winner answers a CANCEL with once it stopped (or held nothing)."""
END = "end"
"""The reply-with token of a winner's INFORM-DONE or FAILURE, which the initiator confirms."""

Declines = Callable[[GoalRequest], Awaitable[str | None]]
"""A PoP's local policy on calls for proposals: the reason it refuses to bid for a goal (its
domain's security hygiene is too low for a sensitive goal, it is the PoP a moving target
leaves), or None to bid as usual. The reason goes back in the REFUSE and into the record."""

Announce = Callable[[str, str, list[str], float], Awaitable[None]]
"""Tells the agents in other processes that a virtual path was reserved or given back:
(op "reserve" | "release", holder, node path, MB/s)."""

Promised = Callable[[Promise], None]
"""Told of every promise an initiator judged: an award kept or broken, a bid refused as
implausible (the run's journal records it and keeps the reputation book)."""


def request_to_content(request: GoalRequest, payload: dict[str, Any]) -> dict[str, Any]:
    """A GoalRequest (and the goal's payload) as CFP content."""
    return {
        "goal": request.goal,
        "args": list(request.args),
        "auctioneer": request.auctioneer,
        "preferences": {
            "T": request.preferences.T,
            "C": request.preferences.C,
            "D": request.preferences.D,
        },
        "constraints": [
            {"measure": c.measure.value, "op": c.op.value, "value": c.value}
            for c in request.constraints
        ],
        "vnfs": list(request.vnfs),
        "traffic": request.traffic,
        "payload": payload,
        **(
            {}
            if request.predicted_traffic is None
            else {"predicted_traffic": request.predicted_traffic}
        ),
        **({} if request.ranges is None else {"ranges": ranges_to_content(request.ranges)}),
    }


def ranges_to_content(ranges: Ranges) -> dict[str, list[float]]:
    """A call's normalisation ranges as CFP content: {"T": [low, high], "C": …, "D": …}."""
    return {"T": list(ranges.T), "C": list(ranges.C), "D": list(ranges.D)}


def ranges_from_content(content: Any) -> Ranges | None:
    """Parse a call's ranges (absent: None); raises KeyError, TypeError or ValueError."""
    if content is None:
        return None
    bounds = []
    for component in ("T", "C", "D"):
        low, high = (float(v) for v in content[component])
        if not low <= high:
            raise ValueError(f"ranges.{component}: low {low} above high {high}")
        bounds.append((low, high))
    return Ranges(*bounds)


def request_from_content(content: dict[str, Any]) -> tuple[GoalRequest, dict[str, Any]]:
    """Parse CFP content; raises ValueError (pydantic) or KeyError on a bad frame."""
    request = GoalRequest(
        goal=str(content["goal"]),
        auctioneer=str(content["auctioneer"]),
        preferences=Preferences.model_validate(content["preferences"]),
        constraints=tuple(Constraint.model_validate(c) for c in content["constraints"]),
        vnfs=tuple(str(v) for v in content["vnfs"]),
        traffic=float(content["traffic"]),
        args=tuple(str(a) for a in content["args"]),
        predicted_traffic=(
            None
            if content.get("predicted_traffic") is None
            else float(content["predicted_traffic"])
        ),
        ranges=ranges_from_content(content.get("ranges")),
    )
    payload = content.get("payload") or {}
    if not isinstance(payload, dict):
        raise ValueError("payload must be an object")
    return request, payload


def bid_to_content(bid: Bid) -> dict[str, Any]:
    """A Bid as PROPOSE content."""
    return {
        "bidder": bid.bidder,
        "vnf": bid.vnf,
        "T": bid.T,
        "C": bid.C,
        "D": bid.D,
        "units": bid.units,
        "path": list(bid.path),
        "instance": bid.instance,
    }


def bid_from_content(content: dict[str, Any]) -> Bid:
    """Parse PROPOSE content; raises KeyError, TypeError or ValueError on a bad frame."""
    return Bid(
        bidder=str(content["bidder"]),
        vnf=str(content["vnf"]),
        T=float(content["T"]),
        C=float(content["C"]),
        D=float(content["D"]),
        units=int(content["units"]),
        path=tuple(str(p) for p in content["path"]),
        instance=None if content.get("instance") is None else str(content["instance"]),
    )


@dataclass
class Reservation:
    """What a PROPOSE holds until it is accepted, rejected or expires; once `committed`
    (accepted), `amount` is an allocation of the PoP rather than a hold."""

    bid: Bid
    amount: Amount
    bandwidth: float
    expires: float
    initiator: str
    """Who called for the bid: the only agent whose ACCEPT or REJECT counts."""
    committed: bool = False


@dataclass
class Work:
    """A goal this agent won and works on (or has done): whom it reports to, how far it got.

    `initiator` and `conversation` change when the initiator is gone and its stand-in's
    call for proposals for the same goal arrives: the work is handed over, not redone."""

    initiator: str
    conversation: str
    goal: str
    bid: Bid
    stage: str = "accepted"
    result: dict[str, Any] | None = None
    """What the plan achieved, once it acted."""
    ended: float | None = None
    cancelled: str | None = None
    """Why the initiator cancelled it (its lease lapsed), if it did."""
    task: asyncio.Task[Any] | None = field(default=None, repr=False)
    lease_until: float = 0.0
    """Until when the plan may act: `lease` after the last report the initiator confirmed."""
    sent: dict[str, float] = field(default_factory=dict, repr=False)
    """Reports not confirmed yet: reply-with token → when each was sent."""
    settled: bool = False
    """Whether the initiator confirmed the end of the work (its INFORM-DONE or FAILURE)."""
    _tokens: Iterator[int] = field(default_factory=itertools.count, repr=False)

    def progress(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """How far the work got (`extra` after the stage), with the result once it acted."""
        content: dict[str, Any] = {"progress": self.stage, **(extra or {})}
        if self.result is not None:
            content["result"] = self.result
        return content

    def report(self, sender: str, now: float) -> ACLMessage:
        """The progress report that renews the lease (FIPA INFORM) once it is confirmed."""
        token = str(next(self._tokens))
        self.sent[token] = now
        return ACLMessage(
            Performative.INFORM,
            sender,
            (self.initiator,),
            self.conversation,
            self.progress(),
            reply_with=token,
            protocol=PROTOCOL,
        )

    def confirmed(self, token: str | None, lease: float) -> None:
        """The initiator confirmed the report `token`: the lease runs `lease` from its
        sending (reports sent before it need no answer any more), or the end is known."""
        if token == END:
            self.settled = True
            return
        at = self.sent.get(token or "")
        if at is None:
            return
        self.lease_until = max(self.lease_until, at + lease)
        self.sent = {t: s for t, s in self.sent.items() if s > at}


@dataclass
class Closed:
    """A conversation whose wait for its winner is over. The winner's late reports are
    confirmed (its end, whose CONFIRM was lost), or, when it was given up, answered with
    the `cancel` again (the CANCEL was lost) until it says it stopped."""

    winner: str
    cancel: ACLMessage | None
    heard: float


Cancelled = Callable[[Work], None]
"""Told when a goal's work stopped before its plan acted (its initiator cancelled it, or
this agent was no longer admitted): what it took is given back by then."""

NOT_ADMITTED = "the winner is not admitted"
"""Why a winner gives up a goal it may no longer act on (revoked after it won it)."""


class Mailbox:
    """An agent's NFV-A endpoint: participant (GoalResponse) and initiator (GoalRequest)."""

    def __init__(
        self,
        name: str,
        infra: Infrastructure,
        bus: Bus,
        clock: Clock,
        executor: Executor,
        settings: AuctionSettings | None = None,
        seed: int = 0,
        on_start: Started | None = None,
        on_request: Requested | None = None,
        admits: Admits | None = None,
        announce: Announce | None = None,
        space: str = SPACE,
        declines: Declines | None = None,
        terminate: Terminated | None = None,
        on_cancel: Cancelled | None = None,
        promised: Promised | None = None,
        reputation: ReputationBook | None = None,
        refused: Refused | None = None,
        peers: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.space = space
        self.peers = tuple(peers)
        """Every agent that may take the floor in serialised mode (the directory): each one
        not known to be gone must grant it, besides the call's candidates."""
        self.infra = infra
        self.bus = bus
        self.clock = clock
        self.executor = executor
        self.settings = settings or AuctionSettings()
        self.on_start = on_start
        self.on_request = on_request
        self.admits = admits
        self.announce = announce
        self.declines = declines
        self.terminate = terminate
        self.on_cancel = on_cancel
        self.promised = promised
        self.refused = refused
        self.reputation = reputation
        """Whose judgements Eq. 3.1 weighs when `settings.reputation_weight` is above 0."""
        self.reservations: dict[str, Reservation] = {}
        self.malformed = 0
        self.excluded = 0
        self._waiting: dict[str, asyncio.Queue[ACLMessage]] = {}
        self._parties: dict[str, frozenset[str]] = {}
        """Conversation → the agents whose answers it waits for (`_waiting`)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._subs: list[Subscription] = []
        self._conversations = Conversations(name)
        self._rng = random.Random(f"{seed}:{name}")
        self._floor = Floor(
            name,
            bus,
            f"{space}.floor",
            clock,
            gone=self._known_gone,
            rng=self._rng,
            backoff=self.settings.backoff,
            resend=self.settings.backoff,
        )
        self._bidding = asyncio.Lock()
        self.silent: dict[str, float] = {}
        """Agents that stopped answering, with when: left out of calls for proposals."""
        self._awaiting: dict[str, asyncio.Future[str]] = {}
        """Conversation → resolved with a reason when its winner is known to be gone."""
        self._winners: dict[str, str] = {}
        self.works: dict[str, Work] = {}
        """Goals this agent won, by the conversation that awarded them: in progress, or
        done within `settings.handover` seconds."""
        self._gone: set[str] = set()
        """Agents known to be gone (until heard from again)."""
        self._queued: list[tuple[str, frozenset[str]]] = []
        """Calls for proposals waiting for an instance this PoP holds, first come first."""
        self._closed: dict[str, Closed] = {}
        """Conversations whose wait for the winner is over, for its late reports."""

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on this agent's inbox (and the floor in serialised mode)."""
        mine = inbox(self.name, self.space)
        self._subs.append(await subscribe_authenticated(self.bus, mine, self._on_message))
        if self.settings.serialised:
            self._subs.append(await self._floor.start())

    async def stop(self) -> None:
        """Stop answering (as a crashed agent would); held reservations are released."""
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()
        for task in list(self._tasks):
            task.cancel()
        for conversation in list(self.reservations):
            self._release(conversation)

    # -- messages ----------------------------------------------------------------------------
    async def send(self, message: ACLMessage) -> None:
        """Publish `message` to each receiver's inbox, naming that receiver alone: a call
        for proposals to N agents is then N small frames, not N copies of a frame that
        lists all N (each of which every receiver would parse: O(N²) per auction)."""
        if len(message.receivers) == 1:
            await self.bus.publish(inbox(message.receivers[0], self.space), message.encode())
            return
        for receiver, frame in message.frames():
            await self.bus.publish(inbox(receiver, self.space), frame)

    async def request(self, message: ACLMessage, wait: float) -> bool:
        """Send a REQUEST and wait up to `wait` seconds for its receiver's AGREE (FIPA
        Request protocol): False when none came, e.g. it crossed a broker outage (the bus
        delivers at most once), and the caller may send it again."""
        conversation = message.conversation_id
        queue: asyncio.Queue[ACLMessage] = asyncio.Queue()
        self._waiting[conversation] = queue
        self._parties[conversation] = frozenset(message.receivers)
        timer = asyncio.ensure_future(self.clock.sleep(wait))
        try:
            await self.send(message)
            while (reply := await _next(queue, timer)) is not None:
                if reply.performative is Performative.AGREE and reply.sender in message.receivers:
                    return True
            return False
        finally:
            timer.cancel()
            if self._waiting.get(conversation) is queue:
                del self._waiting[conversation], self._parties[conversation]

    async def _on_message(self, _subject: str, sender: str | None, data: bytes) -> None:
        """One NFV-A message, sealed by `sender` (None where the bus authenticates nobody):
        refused unless it names that sender and its role allows it (`secmas.agents.senders`)."""
        try:
            message = ACLMessage.decode(data)
        except MalformedMessage as exc:
            self.malformed += 1
            logger.warning("%s: dropped a malformed NFV-A frame: %s", self.name, exc)
            return
        spoofed = misnamed(message, sender)
        if spoofed is not None:
            self._refuse(message, sender, spoofed)
            return
        if not self._admitted(message.sender):
            self.excluded += 1
            logger.info(
                "%s: ignored %s from untrusted %s", self.name, message.performative, message.sender
            )
            return
        self.heard(message.sender)
        why = self._out_of_place(message)
        if why is not None:
            self._refuse(message, sender, why)
            return
        match message.performative:
            case Performative.CFP:
                work = self._in_hand(message)
                if work is None:
                    self._spawn(self._answer_cfp(message))
                else:
                    self._spawn(self._hand_over(work, message))
            case Performative.ACCEPT_PROPOSAL:
                self._spawn(self._accepted(message))
            case Performative.REJECT_PROPOSAL:
                self._release(message.conversation_id)
            case Performative.CANCEL:
                self._cancel(message)
            case Performative.CONFIRM:
                self._confirmed(message)
            case Performative.REQUEST if self.on_request is not None:
                self.on_request(message)
                agree = ACLMessage(
                    Performative.AGREE, self.name, (message.sender,), message.conversation_id, {}
                )
                self._spawn(self.send(agree))
            case _:
                queue = self._waiting.get(message.conversation_id)
                if queue is not None:
                    queue.put_nowait(message)
                elif message.conversation_id in self._closed:
                    self._late(message)

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
            return out_of_role(message, None if requested else self._initiator_of(conversation))
        winner = self._winners.get(conversation)
        if winner is not None and performative in _REPORTS:
            return not_party(message, frozenset({winner}))
        parties = self._parties.get(conversation)
        return None if parties is None else not_party(message, parties)

    def _initiator_of(self, conversation: str) -> str | None:
        """Who called the conversation this agent bid in or works on; None if neither."""
        held = self.reservations.get(conversation)
        if held is not None:
            return held.initiator
        for work in self.works.values():
            if work.conversation == conversation:
                return work.initiator
        return None

    def _refuse(self, message: ACLMessage, sender: str | None, reason: str) -> None:
        """Drop `message` and journal it, naming the agent that sealed it."""
        logger.warning("%s: refused %s: %s", self.name, message.performative, reason)
        if self.refused is not None:
            self.refused(
                RefusedMessage(
                    self.clock.now(),
                    self.name,
                    message.performative.value,
                    message.sender,
                    message.sender if sender is None else sender,
                    message.conversation_id,
                    reason,
                )
            )

    def _admitted(self, agent: str) -> bool:
        return self.admits is None or agent == self.name or self.admits(agent)

    # -- liveness ----------------------------------------------------------------------------
    def heard(self, agent: str) -> None:
        """`agent` is back (a message from it arrived): ask it again from now on."""
        self._gone.discard(agent)
        if self.silent.pop(agent, None) is not None:
            logger.info("%s: %s answers again", self.name, agent)

    def gone(self, agent: str, reason: str) -> None:
        """`agent` is known to be gone (revoked, crashed, killed): it is left out of calls
        for proposals until it is heard from again, auctions waiting on its lease are
        re-run at once, and the floor it held (serialised mode) is no longer waited for."""
        if agent != self.name and self._admitted(agent):  # (a revoked one gets no CFP)
            self._gone.add(agent)
            self.silent.setdefault(agent, self.clock.now())
        self._floor.changed()
        for conversation, winner in list(self._winners.items()):
            waiter = self._awaiting.get(conversation)
            if winner == agent and waiter is not None and not waiter.done():
                waiter.set_result(reason)

    def _known_gone(self, agent: str) -> bool:
        """Whether `agent` is known to be gone (told so, or no longer admitted)."""
        return agent != self.name and (agent in self._gone or not self._admitted(agent))

    def _skipped(self, agent: str) -> bool:
        """Whether `agent` is on probation (it stopped answering, not long ago) or known to
        be gone: a dead agent is never waited for again until it is heard from."""
        since = self.silent.get(agent)
        on_probation = since is not None and self.clock.now() < since + self.settings.probation
        return on_probation or agent in self._gone

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- participant (GoalResponse) ----------------------------------------------------------
    async def _answer_cfp(self, cfp: ACLMessage) -> None:
        try:
            request, payload = request_from_content(cfp.content)
        except (KeyError, TypeError, ValueError) as exc:
            self.malformed += 1
            await self.send(
                cfp.reply(Performative.NOT_UNDERSTOOD, {"reason": str(exc)}, sender=self.name)
            )
            return
        declined = None if self.declines is None else await self.declines(request)
        if declined is not None:
            await self.send(cfp.reply(Performative.REFUSE, {"reason": declined}, sender=self.name))
            return
        deadline = cfp.reply_by if cfp.reply_by is not None else self.clock.now()
        await self._wait_for_held_instance(cfp.conversation_id, request, deadline)
        outcome = compute_bid(
            self.infra,
            self.name,
            request,
            shared_context(self.infra),
            move_time(payload, self.name),
        )
        if isinstance(outcome, Bid):
            reason = self._reserve(cfp, request, outcome, deadline)
            if reason is None:
                await self.send(
                    cfp.reply(Performative.PROPOSE, bid_to_content(outcome), sender=self.name)
                )
                await self._expire(cfp.conversation_id)  # this task keeps the proposal's timer
                return
            outcome = Refusal(self.name, reason)
        await self.send(
            cfp.reply(Performative.REFUSE, {"reason": outcome.reason}, sender=self.name)
        )

    async def _wait_for_held_instance(
        self, conversation: str, request: GoalRequest, deadline: float
    ) -> None:
        """If this PoP's instances that could serve the goal are all taken by its own
        other auctions (a pending proposal holds one, or an accepted one's plan runs on
        it), wait until one is free before bidding; calls that wait are served first
        come, first served; at the latest until the CFP's deadline less a reply margin.

        Waiting for the plan too, not only the ACCEPT, and in arrival order, keeps the bid
        independent of message timing: an instance another auction only borrows for a
        quick plan is bid on again, and a call that waited is not overtaken by a later
        one (the next of a chain of auctions from another initiator) when the instance
        comes free. Only another auction that takes longer than this call's deadline to
        settle leaves this PoP bidding without the instance.
        """
        vnfs = frozenset(request.vnfs)
        if not self._all_taken(vnfs) and not any(vnfs & other for _, other in self._queued):
            return
        step = self.settings.bid_deadline / 20
        limit = deadline - 2 * step  # time left to send the answer
        entry = (conversation, vnfs)
        self._queued.append(entry)
        try:
            while self.clock.now() + step <= limit:
                ahead = self._queued[: self._queued.index(entry)]
                if not self._all_taken(vnfs) and not any(vnfs & v for _, v in ahead):
                    return
                await self.clock.sleep(step)
        finally:
            self._queued.remove(entry)

    def _all_taken(self, vnfs: frozenset[str]) -> bool:
        """This PoP has instances of `vnfs`, and every one is busy."""
        mine = [i for i in self.infra.instances.values() if i.pop == self.name and i.vnf in vnfs]
        return bool(mine) and all(i.busy for i in mine)

    def _reserve(
        self, cfp: ACLMessage, request: GoalRequest, bid: Bid, deadline: float
    ) -> str | None:
        """Hold the PoP resources (or the idle instance) `bid` needs; the reason if not.

        The virtual path's bandwidth is taken on acceptance instead: every bidder of one
        auction would otherwise hold the same shared links for bids of which one wins.
        """
        vnf = self.infra.catalogue[bid.vnf]
        amount = Amount() if bid.instance else req(vnf, bid.units)
        bandwidth = request.traffic if vnf.throughput is not None else 0.0
        try:
            self.infra.hold(self.name, amount)
        except CapacityError as exc:
            return f"resources taken meanwhile: {exc}"
        if bid.instance:
            self.infra.instances[bid.instance].busy = True
        expires = deadline + self.settings.bid_deadline
        self.reservations[cfp.conversation_id] = Reservation(
            bid, amount, bandwidth, expires, cfp.sender
        )
        return None

    def _release(self, conversation: str) -> None:
        held = self.reservations.pop(conversation, None)
        if held is None:
            return
        if held.committed:
            self.infra.release(self.name, held.amount)
        else:
            self.infra.unhold(self.name, held.amount)
        if held.bid.instance and held.bid.instance in self.infra.instances:
            self.infra.instances[held.bid.instance].busy = False

    def _commit(self, held: Reservation) -> None:
        """The proposal was accepted: its hold becomes an allocation the other agents see
        (CapacityError when it no longer fits; the caller answers FAILURE)."""
        if not held.committed:
            self.infra.commit(self.name, held.amount)
            held.committed = True

    async def _expire(self, conversation: str) -> None:
        held = self.reservations.get(conversation)
        if held is None:
            return
        await self.clock.sleep(max(0.0, held.expires - self.clock.now()))
        if self.reservations.get(conversation) is held:
            logger.info("%s: proposal %s expired unanswered", self.name, conversation)
            self._release(conversation)

    async def _accepted(self, accept: ACLMessage) -> None:
        held = self.reservations.pop(accept.conversation_id, None)
        if held is None:
            reason = "proposal expired"
            await self.send(
                accept.reply(Performative.FAILURE, {"reason": reason}, sender=self.name)
            )
            return
        bid = held.bid
        path = list(bid.path)
        try:
            request, payload = request_from_content(accept.content)
            self._commit(held)
            # the virtual path; with `announce`, the initiator has told the others already
            self.infra.reserve_path(path, held.bandwidth, tell=self.announce is None)
        except (CapacityError, KeyError, TypeError, ValueError) as exc:
            self.reservations[accept.conversation_id] = held
            self._release(accept.conversation_id)
            if self.announce is not None and held.bandwidth > 0:
                await self.announce("release", self.name, path, held.bandwidth)
            await self.send(
                accept.reply(Performative.FAILURE, {"reason": str(exc)}, sender=self.name)
            )
            return
        self._forget_old_works()
        work = Work(
            accept.sender, accept.conversation_id, goal_label(request.goal, request.args), bid
        )
        work.task = asyncio.current_task()
        lease_end = self.clock.now() + self.settings.lease
        work.lease_until = min(lease_end, accept.reply_by or lease_end)
        self.works[accept.conversation_id] = work
        lease = asyncio.ensure_future(self._renew_lease(work))
        try:
            performative, result = await self._work_on(work, request, held, payload)
        except asyncio.CancelledError:
            if work.cancelled is None:
                raise  # the agent stops (crashes): nothing more is sent
            if self.on_cancel is not None:
                self.on_cancel(work)
            return
        finally:
            lease.cancel()
            work.ended = self.clock.now()
            self.infra.release_path(path, held.bandwidth)
        await self._report_end(work, performative, result)

    async def _report_end(
        self, work: Work, performative: Performative, result: dict[str, Any]
    ) -> None:
        """INFORM-DONE or FAILURE, sent again every `lease_renew` seconds until the initiator
        confirms it (a lost one would have the goal run again), for `handover` seconds at
        most; to whoever the work reports to by then (a stand-in that took it over)."""
        until = self.clock.now() + self.settings.handover
        while not work.settled and self.clock.now() < until:
            await self.send(
                ACLMessage(
                    performative,
                    self.name,
                    (work.initiator,),
                    work.conversation,
                    result,
                    reply_with=END,
                    protocol=PROTOCOL,
                )
            )
            await self.clock.sleep(self.settings.lease_renew)

    async def _work_on(
        self, work: Work, request: GoalRequest, held: Reservation, payload: dict[str, Any]
    ) -> tuple[Performative, dict[str, Any]]:
        """Get the instance, run the plan on it: INFORM-DONE with the result, or FAILURE
        with the reason. When the initiator cancels the goal, an instance started for it
        is terminated (a download in progress gives its resources back)."""
        new = held.bid.instance is None
        work.stage = "downloading" if new else "instantiating"
        instance = await self._instance_for(request, held)
        try:
            instance.busy = True
            token = _ACTING.set(lambda result: self._acted(work, result))
            try:
                await self._may_act(work)
                work.stage = "acting"
                result = await self.executor(request, held.bid, payload)
            finally:
                _ACTING.reset(token)
                instance.busy = False
        except asyncio.CancelledError:
            if new and work.cancelled is not None and instance.id in self.infra.instances:
                await self._terminate(instance.id, f"{work.goal} cancelled: {work.cancelled}")
            raise
        except Exception as exc:  # a failed plan is reported, never lost
            logger.exception("%s: plan for %s failed", self.name, work.conversation)
            work.stage = "failed"
            return Performative.FAILURE, {"reason": str(exc)}
        result["instance"] = instance.id
        work.stage, work.result = "done", result
        return Performative.INFORM_DONE, result

    async def _terminate(self, instance: str, cause: str) -> None:
        if self.terminate is not None:
            await self.terminate(instance, cause)
        else:
            self.infra.terminate(instance)

    async def _instance_for(self, request: GoalRequest, held: Reservation) -> Instance:
        """The instance that runs the plan: the idle one bid on, or a new one.

        A new one is the Orchestrator's InstantiateVNF: download for T seconds, then start.
        Resources held for a download that never finishes (the agent stops, or the goal is
        cancelled) go back.
        """
        bid = held.bid
        if bid.instance is not None:
            return self.infra.instances[bid.instance]
        try:
            await self.clock.sleep(bid.download_s)
        except BaseException:
            self.infra.release(self.name, held.amount)
            raise
        instance = self.infra.adopt(self.name, bid.vnf, bid.units)
        if self.on_start is not None:
            self.on_start(instance, request)
        return instance

    async def _may_act(self, work: Work) -> None:
        """Trust is checked at the act, not only at the auction: a winner no longer admitted
        (revoked while it downloaded) gives the goal up instead of acting, as if cancelled.
        The plan starts only under a confirmed lease: without one (its reports or their
        CONFIRMs were lost, or it was given up) the winner waits, still reporting, for a
        CONFIRM or a CANCEL."""
        if self.admits is not None and not self.admits(self.name):
            work.cancelled = NOT_ADMITTED
            raise asyncio.CancelledError
        while not self._leased(work):
            await self.clock.sleep(self.settings.lease_renew / 4)

    def _leased(self, work: Work) -> bool:
        """Whether `work` may act now: its lease holds, or its initiator is known gone (the
        stand-in that adopts the goal takes the work over)."""
        return self.clock.now() < work.lease_until or self._known_gone(work.initiator)

    async def _renew_lease(self, work: Work) -> None:
        """Report progress every `lease_renew` seconds while the goal is worked on; a plan
        that has not acted when its lease runs out unconfirmed is stopped then (its
        initiator may have given it up and called again, the CANCEL lost) and gives back
        what it took; a winner no longer admitted renews nothing and gives the goal up (a
        download stops)."""
        renew = self.settings.lease_renew
        while True:
            ends = work.lease_until - self.clock.now()
            early = 0 < ends < renew  # the lease ends before the next report is due
            await self.clock.sleep(ends if early else renew)
            acting = work.stage == "acting" and work.result is None
            if acting and not self._leased(work):
                self._withdraw(work, LEASE_ENDED.format(self.settings.lease))
                return
            if early:
                continue
            if self.admits is not None and not self.admits(self.name):
                self._withdraw(work, NOT_ADMITTED)
                return
            await self.send(work.report(self.name, self.clock.now()))

    async def _acted(self, work: Work, result: dict[str, Any]) -> None:
        """The plan acted (`report_acted`): tell the initiator at once, with the result."""
        work.stage, work.result = "acted", dict(result)
        await self.send(work.report(self.name, self.clock.now()))

    def _cancel(self, cancel: ACLMessage) -> None:
        """The initiator cancelled a goal this agent works on (its lease lapsed: this agent
        was cut off): stop, give back what the work took, and answer how far it got. A plan
        that acted already cannot be undone: the answer carries its result, which stands.
        A goal this agent holds nothing of (the ACCEPT was lost) is answered "cancelled"
        too, after a proposal still held is given back."""
        self._release(cancel.conversation_id)
        answer: dict[str, Any] = {"progress": CANCELLED}
        for work in self.works.values():
            if work.conversation == cancel.conversation_id and work.initiator == cancel.sender:
                self._withdraw(work, str(cancel.content.get("reason", "cancelled")))
                if work.result is not None:
                    answer = work.progress()
                break
        self._spawn(self.send(cancel.reply(Performative.INFORM, answer, sender=self.name)))

    def _confirmed(self, confirm: ACLMessage) -> None:
        """The initiator confirmed a report of a goal this agent works on (or its end)."""
        for work in self.works.values():
            if work.conversation == confirm.conversation_id and work.initiator == confirm.sender:
                work.confirmed(confirm.in_reply_to, self.settings.lease)
                return

    async def withdraw(self, reason: str) -> None:
        """This agent may act no more (it was revoked): every goal it works on and has not
        acted on yet is given up as its initiator's CANCEL would have it (a download gives
        its resources back, an instance started for the goal is terminated, `on_cancel`
        is told); returns once each has wound down."""
        withdrawn = [w.task for w in list(self.works.values()) if self._withdraw(w, reason)]
        await asyncio.gather(*(t for t in withdrawn if t is not None), return_exceptions=True)

    def _withdraw(self, work: Work, reason: str) -> bool:
        """Stop `work` for `reason` unless it ended, acted (a plan that acted cannot be
        undone; its result stands) or is stopping already; whether it was stopped."""
        if work.ended is not None or work.result is not None or work.cancelled is not None:
            return False
        work.cancelled = reason
        logger.warning("%s: %s cancelled (%s)", self.name, work.goal, reason)
        if work.task is not None:
            work.task.cancel()
        return True

    def _forget_old_works(self) -> None:
        now = self.clock.now()
        for conversation, work in list(self.works.items()):
            if work.ended is not None and now > work.ended + self.settings.handover:
                del self.works[conversation]

    def _in_hand(self, cfp: ACLMessage) -> Work | None:
        """A goal this agent works on (or did) for an initiator that is gone, called for
        again by another agent (the stand-in that adopted it): that work is handed over."""
        if not self.works:  # the common case: every call for proposals passes here
            return None
        try:
            label = goal_label(str(cfp.content["goal"]), [str(a) for a in cfp.content["args"]])
        except (KeyError, TypeError):
            return None
        for work in self.works.values():
            if (
                work.goal == label
                and self._known_gone(work.initiator)
                and work.initiator != cfp.sender
                and work.cancelled is None
                and work.stage != "failed"
            ):
                return work
        return None

    async def _hand_over(self, work: Work, cfp: ACLMessage) -> None:
        """Answer the stand-in's call with the work in hand (its bid, its progress, the
        result if it acted) and report to the stand-in from now on."""
        logger.info(
            "%s: %s of gone %s handed to %s", self.name, work.goal, work.initiator, cfp.sender
        )
        content = work.progress({"bid": bid_to_content(work.bid), "for": work.initiator})
        work.initiator, work.conversation = cfp.sender, cfp.conversation_id
        work.lease_until = self.clock.now() + self.settings.lease  # from the stand-in now
        await self.send(cfp.reply(Performative.INFORM, content, sender=self.name))

    # -- initiator (GoalRequest) -------------------------------------------------------------
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
        wait = self.settings.retry_wait
        attempt = 0
        while True:
            if self.admits is not None and not self.admits(self.name):
                # revoked itself (before the call or between attempts): it asks nobody
                # (nobody would answer it) and acts on nothing
                now = self.clock.now()
                refusal = Refusal(self.name, "the initiator is not admitted (revoked)")
                outcome = AuctionOutcome(request, (), (refusal,))
                return AuctionRecord(outcome, "no-bids", now, now, 0, 0, attempt=attempt or 1)
            attempt += 1
            admitted = [c for c in candidates if self._admitted(c)]
            left_out = {c: failed[c] for c in admitted if c in failed}
            left_out |= {
                c: SKIPPED.format(self.silent.get(c, self.clock.now()))
                for c in admitted
                if c not in left_out and c != self.name and self._skipped(c)
            }
            asked = [c for c in admitted if c not in left_out]
            record = await self._one_auction(request, payload, asked, left_out, renew)
            request = record.outcome.request
            record.attempt = attempt
            self._judge(record)
            lost = record.status in ("winner-lost", "failed")
            unanswered = record.status == "no-bids" and not _answered(record.outcome)
            if not (lost or unanswered):
                return record
            if needed is None:
                if not lost or attempt >= self.settings.attempts:
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
            wait = min(2 * wait, self.settings.retry_wait_max)
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
        if self.settings.serialised:
            await self._floor.take({*self.peers, *candidates})
        conversation = self._conversations.open()
        queue: asyncio.Queue[ACLMessage] = asyncio.Queue()
        self._waiting[conversation] = queue
        self._parties[conversation] = frozenset(candidates)
        floor = self.settings.serialised
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
                    reply_by=started + self.settings.bid_deadline,
                )
                await self.send(cfp)
                replies = await self._collect(queue, set(candidates), cfp.reply_by or started)
                self._note_silent(candidates, replies)
                handed = _handed_over(replies, self._known_gone)
                if handed is None:
                    outcome = self._outcome(request, payload, candidates, replies, skips)
                    sent = await self._notify(cfp, outcome)
                else:
                    outcome = _in_hand_outcome(request, handed, replies, skips)
                    sent = await self._reject(cfp, replies)
                wall_ms = (time.perf_counter() - wall) * 1000
            if floor and not _reused(outcome, handed is not None):
                floor = False  # the negotiation ended with the award: the next may start
                await self._floor.give()
            messages = len(candidates) + len(replies) + sent
            status, result = "no-bids", {}
            if outcome.winner is not None:
                progress = {} if handed is None else handed[0].content
                status, result, reports = await self._await_done(
                    outcome.winner, queue, conversation, progress
                )
                messages += reports
        finally:
            del self._waiting[conversation], self._parties[conversation]
            if floor:
                await self._floor.give()
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
                self.silent[agent] = self.clock.now()  # its probation starts (again)

    def _outcome(
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
        weight = self.settings.reputation_weight
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
        why = implausible(self.infra, request, bid, sender, move, shared=self.announce is None)
        if why is None:
            return bid
        logger.warning("%s: refused %s's bid: %s", self.name, sender, why)
        self._promise(sender, Conduct.IMPLAUSIBLE, request)
        return Refusal(sender, why)

    def _judge(self, record: AuctionRecord) -> None:
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
        if self.promised is not None and peer != self.name:
            label = goal_label(request.goal, request.args)
            self.promised(Promise(self.clock.now(), self.name, peer, conduct, label))

    async def _collect(
        self, queue: asyncio.Queue[ACLMessage], expected: set[str], deadline: float
    ) -> dict[str, ACLMessage]:
        replies: dict[str, ACLMessage] = {}
        timer = asyncio.ensure_future(self.clock.sleep(max(0.0, deadline - self.clock.now())))
        try:
            while expected - replies.keys():
                message = await _next(queue, timer)
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
            await self.send(
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
                await self.bus.publish(inbox(receiver, self.space), frame)
                continue
            accept = ACLMessage(
                Performative.ACCEPT_PROPOSAL,
                self.name,
                (bid.bidder,),
                cfp.conversation_id,
                cfp.content,
                protocol=PROTOCOL,
                reply_by=self.clock.now() + self.settings.lease,
            )
            await self.send(accept)
            await self._announce_win(outcome.request, bid)
        for receiver, frame in rejections:
            await self.bus.publish(inbox(receiver, self.space), frame)
        return len(outcome.bids) + len(refused)

    async def _announce_win(self, request: GoalRequest, win: Bid) -> None:
        """Agents in other processes learn of the winner's virtual path from the
        initiator, before its next CFP: the same order in which one process sees it."""
        vnf = self.infra.catalogue.get(win.vnf)
        bandwidth = request.traffic if vnf is not None and vnf.throughput is not None else 0.0
        if self.announce is not None and bandwidth > 0:
            await self.announce("reserve", win.bidder, list(win.path), bandwidth)

    async def _await_done(
        self,
        win: Bid,
        queue: asyncio.Queue[ACLMessage],
        conversation: str,
        progress: Mapping[str, Any],
    ) -> tuple[str, dict[str, Any], int]:
        """INFORM-DONE or FAILURE from the winner, with the messages it sent meanwhile.

        Each progress report renews the winner's lease; it is lost when the lease lapses
        (no report for `settings.lease` seconds), or at once when it is known to be gone
        (see `gone`). A winner lost after it reported "acted" did the goal: the result it
        reported stands and nothing runs again. One lost before is sent CANCEL (it may be
        alive but cut off) so that it stops and gives back what it took, and its answer is
        waited for (`_answer_to_cancel`). Each report is confirmed (CONFIRM): the winner's
        lease holds only so. `progress` is what the winner reported before (a work handed
        over by its holder).

        The bid is a promise too: a winner still downloading a lease after its own T (a
        download takes T at most, `Mailbox._instance_for`) is lost the same way, however
        often it renews its lease."""
        acted = _acted_result(progress)
        if progress.get("progress") == "done" and acted is not None:
            self._close(conversation, win.bidder, None)
            return "done", acted, 0
        lost = asyncio.get_running_loop().create_future()
        self._awaiting[conversation], self._winners[conversation] = lost, win.bidder
        if not self._admitted(win.bidder):
            lost.set_result("not admitted")
        awarded = self.clock.now()
        expires, reports = awarded + self.settings.lease, 0
        due = None if progress else awarded + win.T + self.settings.lease
        cancel: ACLMessage | None = None
        try:
            while (
                message := await self._next_report(queue, lost, _until(expires, due))
            ) is not None:
                if message.sender != win.bidder:
                    continue
                reports += 1
                await self._confirm(message)
                if message.performative is Performative.INFORM_DONE:
                    return "done", dict(message.content), reports
                if message.performative is Performative.FAILURE:
                    if acted is not None:  # it acted, then failed: what it did stands
                        return "done", acted, reports
                    return "failed", dict(message.content), reports
                if message.performative is Performative.INFORM:
                    acted = _acted_result(message.content) or acted
                    expires = self.clock.now() + self.settings.lease
                    if message.content.get("progress") not in _DOWNLOADING:
                        due = None
            why = self._why_lost(lost, expires, due, awarded, win)
            if acted is not None:
                logger.warning("%s: %s lost after it acted (%s)", self.name, win.bidder, why)
                return "done", {**acted, "lost": why}, reports
            if win.bidder != self.name:
                self.silent.setdefault(win.bidder, self.clock.now())
            cancel = ACLMessage(
                Performative.CANCEL,
                self.name,
                (win.bidder,),
                conversation,
                {"reason": why},
                protocol=PROTOCOL,
            )
            await self.send(cancel)
            answer, answers = await self._answer_to_cancel(win, queue, lost, cancel)
            if answer is not None:
                cancel = None
                return answer[0], answer[1], reports + answers + 1
            return "winner-lost", {"reason": why}, reports + answers + 1
        finally:
            del self._awaiting[conversation], self._winners[conversation]
            self._close(conversation, win.bidder, cancel)

    async def _answer_to_cancel(
        self,
        win: Bid,
        queue: asyncio.Queue[ACLMessage],
        lost: asyncio.Future[str],
        cancel: ACLMessage,
    ) -> tuple[tuple[str, dict[str, Any]] | None, int]:
        """The winner's answer to `cancel`, waited for a lease (by then the winner's lease,
        confirmed no more, has ended: it starts no act), and how many reports came: its
        end ("done" or "failed", with the content) or the result it acted on ("done"),
        None when it stopped, stayed silent or is gone. Any other report meanwhile (a
        winner that did not get the CANCEL) is answered with the CANCEL again. A winner no
        longer admitted is not waited for: its answers count no more, and it gives its work
        up itself at the latest before it acts (`_may_act`)."""
        if not self._admitted(win.bidder):
            return None, 0
        until, reports = self.clock.now() + self.settings.lease, 0
        while (message := await self._next_report(queue, lost, until)) is not None:
            if message.sender != win.bidder:
                continue
            reports += 1
            content = dict(message.content)
            if message.performative is not Performative.INFORM:
                await self._confirm(message)
                failed = message.performative is Performative.FAILURE
                return ("failed" if failed else "done", content), reports
            acted = _acted_result(content)
            if acted is not None:
                reason = str(cancel.content["reason"])
                logger.warning("%s: %s acted before its CANCEL (%s)", self.name, win.bidder, reason)
                return ("done", {**acted, "lost": reason}), reports
            if content.get("progress") == CANCELLED:
                return None, reports
            await self.send(cancel)
        return None, reports

    async def _confirm(self, report: ACLMessage) -> None:
        """CONFIRM a winner's report that asks for it: its lease holds, or its end is known."""
        if report.reply_with is not None:
            await self.send(report.reply(Performative.CONFIRM, sender=self.name))

    def _close(self, conversation: str, winner: str, cancel: ACLMessage | None) -> None:
        """Keep the ended `conversation` for the winner's late reports (`_late`), those
        not heard of for `handover` seconds forgotten."""
        now = self.clock.now()
        for old, closed in list(self._closed.items()):
            if now > closed.heard + self.settings.handover:
                del self._closed[old]
        self._closed[conversation] = Closed(winner, cancel, now)

    def _late(self, report: ACLMessage) -> None:
        """A report from the winner of a closed conversation: its end confirmed again, or,
        if it was given up, the CANCEL sent again until it answers that it stopped."""
        closed = self._closed[report.conversation_id]
        if report.sender != closed.winner or report.performative not in _REPORTS:
            return
        closed.heard = self.clock.now()
        acted = report.performative is Performative.INFORM_DONE or _acted_result(report.content)
        if closed.cancel is not None and acted:
            logger.warning("%s: %s acted after it was given up", self.name, report.sender)
        elif closed.cancel is not None and report.performative is Performative.INFORM:
            if report.content.get("progress") == CANCELLED:
                del self._closed[report.conversation_id]
            else:
                self._spawn(self.send(closed.cancel))
            return
        self._spawn(self._confirm(report))

    def _why_lost(
        self,
        lost: asyncio.Future[str],
        expires: float,
        due: float | None,
        awarded: float,
        win: Bid,
    ) -> str:
        """Why a winner that sent no result is lost: gone, silent for a lease, or still
        downloading past its bid (while it renews its lease)."""
        if lost.done():
            return GONE.format(lost.result())
        now = self.clock.now()
        if due is not None and now >= due and now < expires:
            return OVERRAN.format(now - awarded, win.T)
        return LAPSED.format(self.settings.lease)

    async def _next_report(
        self, queue: asyncio.Queue[ACLMessage], lost: asyncio.Future[str], expires: float
    ) -> ACLMessage | None:
        """The next message of the conversation, or None once the lease ran out at
        `expires` or the winner is known to be gone."""
        if lost.done():
            return None
        lapse = asyncio.ensure_future(self.clock.sleep(max(0.0, expires - self.clock.now())))
        ends = asyncio.ensure_future(
            asyncio.wait({lapse, lost}, return_when=asyncio.FIRST_COMPLETED)
        )
        try:
            return await _next(queue, ends)
        finally:
            lapse.cancel()
            ends.cancel()


_DOWNLOADING = ("accepted", "downloading")
"""A winner's progress while its bid's T still runs (`Work.stage`)."""

_REPORTS = frozenset({Performative.INFORM, Performative.INFORM_DONE, Performative.FAILURE})
"""What the winner alone sends once a goal is awarded (`_await_done`)."""

_ANSWERS = (
    Performative.PROPOSE,
    Performative.REFUSE,
    Performative.NOT_UNDERSTOOD,
    Performative.INFORM,  # the goal is in hand already (`Mailbox._hand_over`)
)


def _until(expires: float, due: float | None) -> float:
    """When a winner is lost: its lease's expiry, or its bid's `due` time when earlier."""
    return expires if due is None else min(expires, due)


def _reused(outcome: AuctionOutcome, handed: bool) -> bool:
    """Whether the award went to a winner that runs the goal on an instance it had."""
    return not handed and outcome.winner is not None and outcome.winner.instance is not None


def _acted_result(progress: Mapping[str, Any]) -> dict[str, Any] | None:
    """The result a progress report carries once the winner acted, else None."""
    result = progress.get("result")
    if progress.get("progress") in ("acted", "done") and isinstance(result, dict):
        return dict(result)
    return None


def _handed_over(
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


def _in_hand_outcome(
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


def _answered(outcome: AuctionOutcome) -> bool:
    """Whether any candidate answered the call (a bid, or a refusal it sent itself)."""
    return bool(outcome.bids) or any(
        r.reason != SILENT and not r.reason.startswith(LEFT_OUT) for r in outcome.refusals
    )


async def _next(queue: asyncio.Queue[ACLMessage], timer: asyncio.Future[Any]) -> ACLMessage | None:
    """The next message in `queue`, or None once `timer` has fired. A message already
    queued is taken at once: a getter task and a wait per reply cost the initiator of a
    call to 100 agents more than the bidding's messages themselves."""
    if timer.done():
        return None
    if not queue.empty():
        return queue.get_nowait()
    getter = asyncio.ensure_future(queue.get())
    try:
        done, _ = await asyncio.wait({getter, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when the auction itself is cancelled: no getter outlives the run
        if not getter.done():
            getter.cancel()
    return getter.result() if getter in done else None

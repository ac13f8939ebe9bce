"""An attested insider speaks in another agent's name inside NFV-A.

The insider (B here, pop1 in the full run) passed attestation and sends over its own
authenticated links. The secure channel proves which agent sealed a frame, but the mailbox
read who sent a message from the JSON `sender` field: B sent REJECT-PROPOSAL and CANCEL
in the initiator's name, and a FAILURE in the winner's, and they counted. In a run, the
auctions' bids were released before their award, winners cancelled their leases, and the
DDoS mitigation failed while every agent stayed trusted. B could also reject or accept a
bid of an auction it did not run, in its own name.

Now the mailbox takes the channel's authenticated sender: a message naming another sender
is refused, as are ACCEPT, REJECT and CANCEL from anyone but the auction's initiator and
answers from anyone the conversation did not ask; each refusal is journalled.

Each mailbox runs on its own SecureBus over one MemoryBus, keyed with real link keys
(`secmas.trust.linkkeys`), on the virtual clock; the full run is the ddos-6pop reference
run with its trust layer, the insider one of its agents turned in memory after attestation.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from tests.agents import test_resilience as resilience
from tests.agents.test_leases import SETTINGS
from tests.security.insiders import blind_spot
from tests.transport.channel_members import identity, recipient

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.auction import Mailbox
from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.world import World
from secmas.agents.journal import Journal
from secmas.agents.nfva.codec import request_to_content
from secmas.agents.nfva.records import AuctionRecord
from secmas.agents.nfva.subjects import PROTOCOL
from secmas.agents.senders import NOT_INITIATOR, NOT_PARTY, SPOOFED
from secmas.pipeline.operate import OperateResult, operate
from secmas.report.acceptance import Timeline, acceptance
from secmas.scenario.loader import load_scenario
from secmas.transport.channel import SecureBus
from secmas.transport.memory import MemoryBus
from secmas.trust.linkkeys import EpochKeyring, PeerKeys

ROOT = Path(__file__).resolve().parents[2]
PIPELINE, VNI, SECRET = "nfva", 9, bytes(range(32))


class Sealed(resilience.Net):
    """Mailboxes A, B, C (T = 50, 25, 10 s: C wins A's auctions) each on its own SecureBus,
    journalling what they refuse; C's plan takes `plan_s` seconds."""

    def __init__(self, plan_s: float = 0.0) -> None:
        super().__init__(MemoryBus())
        self.plan_s = plan_s
        self.journal = Journal()
        directory = {n: PeerKeys.of(identity(n)) for n in self.boxes}
        for name, box in self.boxes.items():
            keys = EpochKeyring(identity(name), PIPELINE, VNI, directory, clock=self.clock.now)
            keys.install(1, SECRET)
            box.endpoint.bus = SecureBus(self.bus, name, VNI, keys, recipient)
            box.hooks.refused = self.journal.refused
            box.participant.executor = self._slow(name, box.participant.executor)

    def _slow(self, name: str, honest: Callable[..., Awaitable[dict]]) -> Callable[..., Any]:
        async def execute(*args: Any) -> dict:
            if name == "C":
                await self.clock.sleep(self.plan_s)
            return await honest(*args)

        return execute

    async def start(self, *names: str) -> None:
        for name in names or tuple(self.boxes):
            await self.boxes[name].start()

    async def say(self, performative: Performative, named: str, to: str, **content: Any) -> None:
        """B, the insider, sends over its own authenticated link, naming `named` as sender."""
        conversation = self.called()  # B, a candidate, has A's CFP
        message = ACLMessage(performative, named, (to,), conversation, content, protocol=PROTOCOL)
        await self.boxes["B"].send(message)

    async def attacked(self, attack: Callable[[], Awaitable[None]], at: float) -> AuctionRecord:
        """A's auction among A, B, C with `attack` at time `at`. B's own mailbox stays
        silent: A then awards at the bid deadline, which leaves the insider time to act."""
        await self.start("A", "C")
        record = await self.auction(until=200, during=attack, at=at, needed=lambda: True)
        await self.bus.close()
        return record


def won_by_c_once(net: Sealed, record: AuctionRecord) -> None:
    """The attack changed nothing: C won A's first call, ran the goal once, to its end."""
    assert record.status == "done" and record.attempt == 1
    assert record.outcome.winner is not None and record.outcome.winner.bidder == "C"
    assert net.runs == [("C", SETTINGS.bid_deadline + 10.0 + net.plan_s)]


def refused(net: Sealed) -> list[tuple[str, str, str, str, str]]:
    return [
        (r.agent, r.performative, r.named, r.authenticated, r.reason.split(":")[0])
        for r in net.journal.refusals
    ]


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))


# -- in another agent's name -----------------------------------------------------------------


def test_a_reject_proposal_in_the_initiators_name_does_not_release_the_winning_bid():
    """Before: C gave back the resources its PROPOSE held, answered A's ACCEPT with
    FAILURE ("proposal expired"), and the goal went to the insider in a second call."""
    net = Sealed()
    reject = functools.partial(net.say, Performative.REJECT_PROPOSAL, "A", "C")
    record = run(net.attacked(reject, at=SETTINGS.bid_deadline / 2))
    won_by_c_once(net, record)
    assert refused(net) == [("C", "reject-proposal", "A", "B", SPOOFED)]


def test_a_cancel_in_the_initiators_name_does_not_stop_the_winner():
    """Before: C, downloading, took the CANCEL for A's, gave the goal up and A, without a
    progress report from C for a lease, auctioned it again."""
    net = Sealed(plan_s=20.0)
    cancel = functools.partial(net.say, Performative.CANCEL, "A", "C", reason="B says stop")
    record = run(net.attacked(cancel, at=5.0))
    won_by_c_once(net, record)
    assert refused(net) == [("C", "cancel", "A", "B", SPOOFED)]


def test_a_failure_in_the_winners_name_does_not_end_its_award():
    """Before: A took the FAILURE for C's, left C out and awarded the goal again, while C
    went on with it: the goal ran twice."""
    net = Sealed()
    failure = functools.partial(net.say, Performative.FAILURE, "C", "A", reason="B says")
    record = run(net.attacked(failure, at=5.0))
    won_by_c_once(net, record)
    assert refused(net) == [("A", "failure", "C", "B", SPOOFED)]


# -- in its own name, out of its role ----------------------------------------------------------


def test_a_reject_proposal_from_an_agent_that_did_not_run_the_auction_is_refused():
    net = Sealed()
    reject = functools.partial(net.say, Performative.REJECT_PROPOSAL, "B", "C")
    record = run(net.attacked(reject, at=SETTINGS.bid_deadline / 2))
    won_by_c_once(net, record)
    assert refused(net) == [("C", "reject-proposal", "B", "B", NOT_INITIATOR)]


def test_an_accept_proposal_from_an_agent_that_did_not_run_the_auction_is_refused():
    """Before: C committed its bid to B (and would work for B), then answered A's own
    ACCEPT with FAILURE: the auction's winner worked for the wrong initiator."""
    net = Sealed()
    accept = functools.partial(net.say, Performative.ACCEPT_PROPOSAL, "B", "C")
    record = run(net.attacked(accept, at=SETTINGS.bid_deadline / 2))
    won_by_c_once(net, record)
    assert [w.initiator for w in net.boxes["C"].participant.works.values()] == ["A"]
    assert refused(net) == [("C", "accept-proposal", "B", "B", NOT_INITIATOR)]


def test_a_call_for_proposals_in_a_conversation_another_agent_called_is_refused():
    """B calls for proposals under A's conversation id after C bid in it: C's bid would
    then be B's to accept, and A's award refused. (Before C bid: test_conversation_ids.)"""
    net = Sealed()
    content = request_to_content(resilience.RATE_LIMIT, {})
    squat = functools.partial(net.say, Performative.CFP, "B", "C", **content)
    record = run(net.attacked(squat, at=SETTINGS.bid_deadline / 2))
    won_by_c_once(net, record)
    assert refused(net) == [("C", "cfp", "B", "B", NOT_INITIATOR)]


def test_a_progress_report_from_an_agent_the_auction_did_not_award_is_journalled():
    """A, having awarded C, hears a progress report from B on its conversation; it never
    counted (test_lease_attacks), and now it is refused and journalled too."""
    net = Sealed(plan_s=20.0)
    report = functools.partial(net.say, Performative.INFORM, "B", "A", progress="acting")
    record = run(net.attacked(report, at=5.0))
    won_by_c_once(net, record)
    assert refused(net) == [("A", "inform", "B", "B", NOT_PARTY)]


# -- a whole run ----------------------------------------------------------------------------

SCENARIO = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")
INSIDER = "pop1"
"""Bids in every auction of the reference run, wins none: it hears of every call."""


class Insider:
    """A step loop that turns `pop` into the insider once the agents run: it still answers
    every call for proposals honestly, and meanwhile, in the initiator's name, sends every
    other agent a REJECT-PROPOSAL just before the award and CANCELs while the winner works."""

    def __init__(self, pop: str) -> None:
        self.pop = pop
        self.sent = 0
        self.others: tuple[str, ...] = ()
        self.trust_layer: Any = None

    def attach(self, world: World, attestations: Any, trust_layer: Any = None) -> None:
        del attestations
        self.others = tuple(p for p in world.directory if p != self.pop)
        self.trust_layer = trust_layer

    async def start(self, agents: Sequence[PoPAgent]) -> None:
        [agent] = [a for a in agents if a.pop == self.pop]
        box = agent.mailbox
        # attested: the lie is in what it says
        blind_spot(self.trust_layer, self.pop, box, *box.parts())
        honest = box.participant.answer_cfp

        async def answer(cfp: ACLMessage) -> None:
            box.endpoint.spawn(self.spoof(box, cfp))
            await honest(cfp)

        box.participant.answer_cfp = answer  # type: ignore[method-assign]

    async def spoof(self, box: Mailbox, cfp: ACLMessage) -> None:
        award = cfp.reply_by if cfp.reply_by is not None else box.endpoint.clock.now()
        await box.endpoint.clock.sleep(max(0.0, award - box.endpoint.clock.now()) * 0.9)
        await self.tell(box, cfp, Performative.REJECT_PROPOSAL)
        for _ in range(4):
            await box.endpoint.clock.sleep(box.endpoint.settings.lease_renew)
            await self.tell(box, cfp, Performative.CANCEL)

    async def tell(self, box: Mailbox, cfp: ACLMessage, performative: Performative) -> None:
        victims = tuple(p for p in self.others if p != cfp.sender)
        content = {"reason": "stop"} if performative is Performative.CANCEL else {}
        message = ACLMessage(
            performative, cfp.sender, victims, cfp.conversation_id, content, protocol=PROTOCOL
        )
        await box.send(message)
        self.sent += len(victims)

    async def after_step(self, now: float) -> None:
        del now

    def report(self) -> dict[str, Any]:
        return {}


@functools.cache
def insider_run() -> tuple[OperateResult, Insider]:
    insider = Insider(INSIDER)
    result = asyncio.run(asyncio.wait_for(operate(SCENARIO, loops=[insider]), 300))
    return result, insider


def test_a_run_with_an_insider_spoofing_the_initiators_reject_and_cancel_still_mitigates():
    """Before: bids released before every award and winners cancelled: the mitigation
    failed (3 of 5 auctions ended with no bids, acceptance at 50 % / 50 %)."""
    result, insider = insider_run()
    assert SCENARIO.attack is not None
    verdict = acceptance(result.telemetry, Timeline.of(result.scenario), result.capacity.ok)
    assert verdict.passed, verdict.reasons
    assert insider.sent > 0
    assert result.trust is not None and result.trust["agents"][INSIDER]["trusted"]
    assert {record.status for _, record in result.journal.auctions} <= {"done", "no-bids"}
    started = {p.vnf for p in result.journal.placements if p.kind == "start"}
    assert "anomaly_detector" in started  # the run before the fix never placed one
    spoofs = result.journal.refusals
    assert len(spoofs) == insider.sent  # every spoofed message refused, and journalled
    assert {(r.authenticated, r.reason.split(":")[0]) for r in spoofs} == {(INSIDER, SPOOFED)}
    assert {r.named for r in spoofs} <= {i for i, _ in result.journal.auctions}

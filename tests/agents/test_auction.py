"""The NFV-A protocol over the bus: Mailboxes as participants and initiators.

Everything runs for real: a MemoryBus, a VirtualClock advanced with `drive_clock`, and an
Infrastructure whose PoP and link state the reservations change. A wildcard subscription
on the agents' inboxes (`Spy`) sees every NFV-A message, so the tests can check who was
sent what, and reconstruct which resources each conversation holds at any quiet moment.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import make_scenario

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.auction import Mailbox
from secmas.agents.bidding import Bid, BidContext, GoalRequest, compute_bid, normalise
from secmas.agents.nfva.codec import bid_from_content, request_from_content, request_to_content
from secmas.agents.nfva.hooks import Hooks
from secmas.agents.nfva.records import AuctionRecord
from secmas.agents.nfva.settings import AuctionSettings, paced
from secmas.agents.nfva.subjects import inbox
from secmas.network.clock import VirtualClock, drive_clock, settle
from secmas.network.infrastructure import Infrastructure, Instance
from secmas.network.resources import Amount, req
from secmas.scenario.ddos import ddos_goals
from secmas.scenario.model import Preferences, Scenario
from secmas.transport.memory import MemoryBus

EPS = 1e-6
GOALS = {g.name: g for g in ddos_goals()}
VNF_OF = {g.name: g.vnfs[0] for g in ddos_goals()}


def run(coro: Any) -> Any:
    """Run a test coroutine with a wall-clock guard (virtual time is free)."""
    return asyncio.run(asyncio.wait_for(coro, 300))


def star(pops: list[tuple[str, float, float, float, float, float, float]]) -> Scenario:
    """PoPs (id, U, M, D, B, L, P%) on one switch S, the repository behind S.

    Every path between two PoPs is pop–S–pop and a switch has no resources, so one
    bidder's reservation never changes another bidder's T or D.
    """
    return make_scenario(
        pops=[(p, u, m, d) for p, u, m, d, *_ in pops],
        links=[(p, "S", b, lat, loss) for p, _, _, _, b, lat, loss in pops],
        repository="S",
        switches=[{"id": "S"}],
    )


def request(goal: str, auctioneer: str, traffic: float = 0.0, *args: str) -> GoalRequest:
    return GoalRequest.for_goal(GOALS[goal], auctioneer, traffic, args)


@dataclass
class Seen:
    """One message as the spy saw it."""

    time: float
    receiver: str
    message: ACLMessage


@dataclass
class Spy:
    """Sees every frame on every agent inbox (a wildcard subscriber on the real bus)."""

    clock: VirtualClock
    seen: list[Seen] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    async def handle(self, subject: str, data: bytes) -> None:
        try:
            message = ACLMessage.decode(data)
        except ValueError:
            self.raw.append(data)
            return
        self.seen.append(Seen(self.clock.now(), subject.rsplit(".", 1)[1], message))

    def of(self, performative: Performative, conversation: str | None = None) -> list[Seen]:
        return [
            s
            for s in self.seen
            if s.message.performative is performative
            and (conversation is None or s.message.conversation_id == conversation)
        ]


@dataclass
class Net:
    """Mailboxes on a real bus and clock; executors log each run and may hold the VNF."""

    infra: Infrastructure
    bus: MemoryBus
    clock: VirtualClock
    spy: Spy
    boxes: dict[str, Mailbox]
    runs: list[tuple[str, str, float]]
    started: dict[str, Instance]

    @classmethod
    async def build(
        cls,
        scenario: Scenario,
        names: list[str] | None = None,
        settings: AuctionSettings | None = None,
        *,
        start: bool = True,
    ) -> Net:
        infra = Infrastructure.from_scenario(scenario)
        bus, clock = MemoryBus(), VirtualClock()
        spy = Spy(clock)
        await bus.subscribe("nfva.agent.*", spy.handle)
        runs: list[tuple[str, str, float]] = []
        started: dict[str, Instance] = {}
        boxes: dict[str, Mailbox] = {}
        for name in names or list(infra.pops):

            async def execute(
                req_: GoalRequest, bid: Bid, payload: dict[str, Any], name: str = name
            ) -> dict[str, Any]:
                runs.append((name, _job(req_), clock.now()))
                hold = float(payload.get("hold", 0.0))
                if hold > 0:
                    await clock.sleep(hold)
                return {"by": name, "job": _job(req_)}

            def on_start(instance: Instance, req_: GoalRequest) -> None:
                assert _job(req_) not in started, f"{_job(req_)} started twice"
                started[_job(req_)] = instance

            boxes[name] = Mailbox(
                name, infra, bus, clock, execute, settings, seed=3, hooks=Hooks(on_start=on_start)
            )
        net = cls(infra, bus, clock, spy, boxes, runs, started)
        if start:
            for box in boxes.values():
                await box.start()
        return net

    async def until(self, t: float, check: Any = None) -> None:
        """Advance the virtual clock to `t` timer by timer, calling `check` at every quiet
        point (after each batch of timers due at one time has run and the agents settled)."""
        await drive_clock(self.clock, self.clock.now())
        if check is not None:
            check()
        while (due := self.clock.next_timer()) is not None and due <= t:
            await drive_clock(self.clock, due)
            if check is not None:
                check()
        await drive_clock(self.clock, t)
        if check is not None:
            check()

    async def close(self) -> None:
        for box in self.boxes.values():
            await box.stop()
        await self.bus.close()


def _job(request: GoalRequest) -> str:
    return request.args[0] if request.args else request.goal


def eq_31_winner(bids: tuple[Bid, ...], prefs: Any) -> str:
    """Eq. 3.1 by hand: min of pf_T·T̂ + pf_C·Ĉ + pf_D·(1 − D̂), ties to the lower bidder id."""
    t, c, d = (normalise([getattr(b, k) for b in bids]) for k in "TCD")
    score = {
        b.bidder: prefs.T * t[i] + prefs.C * c[i] + prefs.D * (1 - d[i]) for i, b in enumerate(bids)
    }
    return min(score, key=lambda bidder: (score[bidder], bidder))


# The full-auction network: A is the auctioneer; C has the widest path from the repository
# (T = 500/50 = 10 s), B 25 s, A 50 s; D is too small for any VNF; E's link loses 10 %
# of packets, beyond the 8 % every goal allows.
FIVE = [
    ("A", 4, 8, 100, 10, 5, 0.0),
    ("B", 4, 8, 100, 20, 5, 0.0),
    ("C", 4, 8, 100, 50, 5, 0.0),
    ("D", 0.5, 0.5, 1, 50, 5, 0.0),
    ("E", 4, 8, 100, 50, 5, 10.0),
]


def test_full_auction_cfp_bids_winner_accept_reject_and_inform_done():
    async def main() -> None:
        net = await Net.build(star(FIVE))
        names = list(net.boxes)
        goal = request("linkRateLimited", "A", 0.0, "pop6~server")
        expected = {n: compute_bid(net.infra, n, goal, BidContext(net.infra)) for n in names}
        task = asyncio.ensure_future(net.boxes["A"].auction(goal, {"x": 1}, names))
        await net.until(30)
        record: AuctionRecord = await task

        # CFP to every candidate, the initiator included, carrying the goal and a deadline.
        cfps = net.spy.of(Performative.CFP)
        assert sorted(s.receiver for s in cfps) == names
        conversation = cfps[0].message.conversation_id
        assert {s.message.conversation_id for s in cfps} == {conversation}
        assert all(s.message.reply_by == 1.0 and s.message.sender == "A" for s in cfps)
        assert cfps[0].message.content == request_to_content(goal, {"x": 1})

        # A, B and C bid; D and E refuse with their reason.
        proposals = net.spy.of(Performative.PROPOSE, conversation)
        assert sorted(s.message.sender for s in proposals) == ["A", "B", "C"]
        refusals = {
            s.message.sender: s.message.content["reason"]
            for s in net.spy.of(Performative.REFUSE, conversation)
        }
        assert refusals.keys() == {"D", "E"}
        assert refusals["D"].startswith("sat_req fails for 1×rate_limiter")
        assert refusals["E"].startswith("no path to A satisfies the goal constraints")
        for bid in record.outcome.bids:
            snapshot = expected[bid.bidder]
            assert isinstance(snapshot, Bid)
            assert (bid.vnf, bid.T, bid.D, bid.units) == (
                snapshot.vnf,
                snapshot.T,
                snapshot.D,
                snapshot.units,
            )
        assert {b.bidder: b.T for b in record.outcome.bids} == {"A": 50.0, "B": 25.0, "C": 10.0}

        # Winner by Eq. 3.1; ACCEPT-PROPOSAL (with the goal) to it, REJECT to the others.
        win = record.outcome.winner
        assert win is not None and win.bidder == "C"
        assert win.bidder == eq_31_winner(record.outcome.bids, goal.preferences)
        accepts = net.spy.of(Performative.ACCEPT_PROPOSAL, conversation)
        assert [s.receiver for s in accepts] == ["C"]
        assert accepts[0].message.content == cfps[0].message.content
        assert accepts[0].time == 0.0
        # its first progress report is due within the lease, however long its plan takes
        assert accepts[0].message.reply_by == AuctionSettings().lease
        rejects = net.spy.of(Performative.REJECT_PROPOSAL, conversation)
        assert sorted(s.receiver for s in rejects) == ["A", "B"]

        # INFORM-DONE from the winner once its VNF is downloaded (T = 10 s) and its plan ran.
        dones = net.spy.of(Performative.INFORM_DONE, conversation)
        assert [(s.message.sender, s.receiver, s.time) for s in dones] == [("C", "A", 10.0)]
        # meanwhile it renewed its lease every 2 s while downloading
        reports = net.spy.of(Performative.INFORM, conversation)
        assert [(s.time, s.message.content) for s in reports] == [
            (t, {"progress": "downloading"}) for t in (2.0, 4.0, 6.0, 8.0)
        ]
        assert net.runs == [("C", "pop6~server", 10.0)]
        instance = net.started["pop6~server"]
        assert (instance.pop, instance.vnf, instance.units) == ("C", "rate_limiter", 1)

        # The record.
        assert record.status == "done" and record.achieved
        assert record.attempt == 1
        assert record.started == 0.0 and record.ended == 10.0
        assert record.wall_ms >= 0.0
        assert record.result == {"by": "C", "job": "pop6~server", "instance": instance.id}
        assert record.result == dones[0].message.content
        assert record.messages == 5 + 5 + 3 + 4 + 1  # CFPs, answers, accept/rejects, reports, done
        assert {r.bidder for r in record.outcome.refusals} == {"D", "E"}
        assert len(record.outcome.scores) == 3
        assert record.outcome.label == "linkRateLimited(pop6~server)"

        # Only the winner's instance holds resources; losers got theirs back.
        assert net.infra.pops["C"].used == req(net.infra.catalogue["rate_limiter"])
        for pop in "ABDE":
            assert net.infra.pops[pop].used == Amount()
        assert all(not box.participant.holds.held for box in net.boxes.values())
        await net.close()

    run(main())


def test_refusals_carry_their_reason_and_no_bids_means_status_no_bids():
    async def main() -> None:
        # A classifier for 3 MB/s needs 3 units (6 cores, 12 GB, 30 GB): nobody fits it.
        net = await Net.build(star(FIVE))
        names = list(net.boxes)
        goal = request("flowRecord", "A", 3.0, "10.0.0.100")
        record = await _auction(net, "A", goal, names, until=5)
        assert record.status == "no-bids"
        assert not record.achieved
        assert record.outcome.bids == () and record.outcome.winner is None
        assert record.result == {}
        reasons = {r.bidder: r.reason for r in record.outcome.refusals}
        assert reasons.keys() == set(names)
        for pop in "ABCD":
            assert reasons[pop].startswith("sat_req fails for 3×classifier")
        assert reasons["E"].startswith("sat_req fails")
        assert record.messages == 5 + 5  # CFPs and refusals, nothing more
        assert not net.spy.of(Performative.ACCEPT_PROPOSAL)
        assert not net.spy.of(Performative.REJECT_PROPOSAL)
        assert record.ended == record.started == 0.0  # every answer came: no wait
        assert net.runs == []
        assert all(p.used == Amount() for p in net.infra.pops.values())
        await net.close()

    run(main())


def test_bandwidth_constraint_refusal_and_the_auctioneer_bidding_for_itself():
    async def main() -> None:
        # A detector for 3.5 MB/s (2 units) must receive that traffic over its virtual path:
        # B's 3 MB/s link cannot carry it; the auctioneer bids on the empty path (C = D = 0).
        net = await Net.build(star([("A", 4, 8, 100, 10, 5, 0.0), ("B", 4, 8, 100, 3, 5, 0.0)]))
        goal = request("anomalousUsage", "A", 3.5, "l")
        record = await _auction(net, "A", goal, ["A", "B"], until=100)
        assert [(r.bidder, r.reason) for r in record.outcome.refusals] == [
            ("B", "no path to A satisfies the goal constraints")
        ]
        [bid] = record.outcome.bids
        assert (bid.bidder, bid.units, bid.path, bid.C, bid.D) == ("A", 2, ("A",), 0.0, 0.0)
        assert record.status == "done" and record.ended == 50.0  # T = 500 MB / 10 MB/s
        await net.close()

    run(main())


async def _auction(
    net: Net,
    initiator: str,
    goal: GoalRequest,
    names: list[str],
    until: float,
    payload: dict[str, Any] | None = None,
) -> AuctionRecord:
    task = asyncio.ensure_future(net.boxes[initiator].auction(goal, payload or {}, names))
    await net.until(until)
    assert task.done(), "the auction did not finish"
    return task.result()


def test_proposals_reserve_until_the_award_and_rejected_ones_release():
    async def main() -> None:
        # Nobody answers at once: E is silent (never started), so the auction waits for the
        # deadline and the proposals stay reserved until then.
        net = await Net.build(star(FIVE), start=False)
        for name in "ABCD":
            await net.boxes[name].start()
        names = list(net.boxes)
        goal = request("anomalousUsage", "A", 3.0, "l")  # 2 units: 2 cores, 4 GB, 20 GB
        need = req(net.infra.catalogue["anomaly_detector"], 2)
        task = asyncio.ensure_future(net.boxes["A"].auction(goal, {}, names))
        await drive_clock(net.clock, 0.5)
        for pop in "ABC":
            # a hold, not an allocation: rivals' bids read committed state only
            assert net.infra.pops[pop].held == need and net.infra.pops[pop].used == Amount()
            [held] = net.boxes[pop].participant.holds.held.values()
            assert held.amount == need and held.bid.units == 2 and not held.committed
            assert held.expires == 1.0 + AuctionSettings().bid_deadline
        assert net.infra.pops["D"].held == Amount()
        # While held, B's own next bid fits around its hold (B cannot promise a second
        # detector); every other agent still sees B's committed state.
        assert net.infra.pops["B"].unheld == Amount(2, 4, 80)
        assert net.infra.free("B") == net.infra.total("B")

        await net.until(60)
        record = task.result()
        win = record.outcome.winner
        assert record.status == "done"
        # B's path B–S–A ends at A, whose rscEvalhop (Eq. 4.3) is read on committed state,
        # never on A's own pending proposal of this auction: freeRscUtil(A) = 1, so
        # C = 20 × (consRscUtil(B) + 0) + 10 × (0 + 1), consRscUtil = 3 / (4/2 + 8/4 + 100/20).
        bids = {b.bidder: b for b in record.outcome.bids}
        assert abs(bids["B"].C - (20 * 3 / 9 + 10 * 1)) < EPS
        assert win.bidder == eq_31_winner(record.outcome.bids, goal.preferences)
        assert {b.bidder for b in record.outcome.bids} == {"A", "B", "C"}
        assert record.started == 0.0
        assert net.spy.of(Performative.ACCEPT_PROPOSAL)[0].time == 1.0  # the bid deadline
        # Losers released at REJECT; the winner's hold was committed and became its instance.
        for pop in "ABC":
            assert net.infra.pops[pop].used == (need if pop == win.bidder else Amount()), pop
            assert net.infra.pops[pop].held == Amount(), pop
        assert net.started["l"].units == 2 and net.started["l"].pop == win.bidder
        assert all(not box.participant.holds.held for box in net.boxes.values())
        await net.close()

    run(main())


def test_an_unanswered_proposal_expires_and_releases():
    async def main() -> None:
        net = await Net.build(star(FIVE), ["B"])
        goal = request("linkRateLimited", "A", 0.0, "x")
        # A CFP from an initiator that never comes back (no Mailbox listens for A).
        cfp = ACLMessage(
            Performative.CFP,
            "A",
            ("B",),
            "A.ghost.1",
            request_to_content(goal, {}),
            reply_with="A.ghost.1.cfp",
            protocol="nfv-a",
            reply_by=1.0,
        )
        await net.bus.publish(inbox("B"), cfp.encode())
        await drive_clock(net.clock, 0.1)
        [propose] = net.spy.of(Performative.PROPOSE, "A.ghost.1")
        assert propose.receiver == "A"
        assert bid_from_content(propose.message.content).bidder == "B"
        one = req(net.infra.catalogue["rate_limiter"])
        assert net.infra.pops["B"].held == one
        assert net.boxes["B"].participant.holds.held["A.ghost.1"].expires == 2.0

        await drive_clock(net.clock, 1.99)
        assert net.infra.pops["B"].held == one  # still held just before expiry
        await drive_clock(net.clock, 2.0)
        assert net.infra.pops["B"].held == Amount()
        assert not net.boxes["B"].participant.holds.held

        # A late ACCEPT is answered with FAILURE: nothing is held for it any more.
        late = ACLMessage(
            Performative.ACCEPT_PROPOSAL, "A", ("B",), "A.ghost.1", cfp.content, protocol="nfv-a"
        )
        await net.bus.publish(inbox("B"), late.encode())
        await drive_clock(net.clock, 3.0)
        [failure] = net.spy.of(Performative.FAILURE, "A.ghost.1")
        assert failure.message.content == {"reason": "proposal expired"}
        assert net.runs == [] and not net.started
        assert net.infra.pops["B"].used == Amount()
        await net.close()

    run(main())


def test_malformed_frames_are_dropped_and_counted_without_crashing():
    async def main() -> None:
        net = await Net.build(star(FIVE), ["A", "B", "C"])
        frames = [
            b"",
            b"not json",
            b"\xff\xfe",
            b"[1, 2, 3]",
            b'{"performative": "cfp"}',
            b'{"performative": "dance", "sender": "A", "receivers": ["B"], "conversation_id": "c"}',
            b'{"performative": "cfp", "sender": "A", "receivers": ["B"], '
            b'"conversation_id": "c", "extra": 1}',
            b'{"performative":"cfp","sender":"A","sender":"Z","receivers":["B"],'
            b'"conversation_id":"c"}',
        ]
        for frame in frames:
            await net.bus.publish(inbox("B"), frame)
        await settle()
        assert net.boxes["B"].endpoint.malformed == len(frames)
        assert net.bus.stats.handler_errors == 0

        # A well-formed frame whose CFP content is not a goal: NOT-UNDERSTOOD, also counted.
        bad_cfp = ACLMessage(Performative.CFP, "A", ("B",), "A.bad.1", {"goal": "x"})
        await net.bus.publish(inbox("B"), bad_cfp.encode())
        await settle()
        assert net.boxes["B"].endpoint.malformed == len(frames) + 1
        [nu] = net.spy.of(Performative.NOT_UNDERSTOOD, "A.bad.1")
        assert nu.message.sender == "B" and nu.receiver == "A"
        assert "reason" in nu.message.content

        # B still takes part in auctions afterwards.
        goal = request("linkRateLimited", "A", 0.0, "after")
        record = await _auction(net, "A", goal, ["A", "B", "C"], until=60)
        assert record.status == "done"
        assert {b.bidder for b in record.outcome.bids} == {"A", "B", "C"}
        assert net.boxes["A"].endpoint.malformed == net.boxes["C"].endpoint.malformed == 0
        await net.close()

    run(main())


def test_serialised_mode_runs_auctions_one_after_another():
    async def main() -> None:
        settings = AuctionSettings(serialised=True, backoff=0.5)
        net = await Net.build(star(FIVE), ["A", "B", "C"], settings)
        names = ["A", "B", "C"]
        tasks = [
            asyncio.ensure_future(
                net.boxes[initiator].auction(
                    request("linkRateLimited", initiator, 0.0, f"job{i}"), {"hold": 2.0}, names
                )
            )
            for i, initiator in enumerate(["A", "B", "C", "A", "B", "C"])
        ]
        await net.until(400)
        records = [t.result() for t in tasks]
        assert all(r.status == "done" for r in records)
        # Negotiations (call for proposals to award) never overlap; a winner's work may
        # overlap the next negotiation (003 Section 5.1 waits for the negotiation to end).
        calls = {s.message.conversation_id: s.time for s in net.spy.of(Performative.CFP)}
        awards = {
            s.message.conversation_id: s.time for s in net.spy.of(Performative.ACCEPT_PROPOSAL)
        }
        assert calls.keys() == awards.keys() and len(calls) == 6
        spans = sorted((calls[c], awards[c]) for c in calls)
        for (_, award), (call, _) in itertools.pairwise(spans):
            assert call > award, spans
        assert sorted(r.started for r in records) == [call for call, _ in spans]
        # Each auction took the floor after a random back-off: none started at time 0.
        assert all(start > 0 for start, _ in spans)
        await net.close()

    run(main())


def test_serialised_floor_waits_for_a_winner_that_reuses_its_instance():
    """A's idle Rate Limiter wins both calls (no download); the second call waits until A
    is done with it (5 s), or it would find the instance busy and place another one (003
    Section 5.4.1: the Rate Limiter already there won every flowRateLimited auction)."""

    async def main() -> None:
        settings = AuctionSettings(serialised=True, backoff=0.5)
        net = await Net.build(star(FIVE), ["A", "B", "C"], settings)
        net.infra.deploy("A", "rate_limiter")
        names = ["A", "B", "C"]
        tasks = [
            asyncio.ensure_future(
                net.boxes[initiator].auction(
                    request("linkRateLimited", initiator, 0.0, f"job{i}"), {"hold": 5.0}, names
                )
            )
            for i, initiator in enumerate(["B", "C"])
        ]
        await net.until(100)
        first, second = sorted((t.result() for t in tasks), key=lambda r: r.started)
        assert first.status == second.status == "done"
        assert {first.outcome.winner.instance, second.outcome.winner.instance} == {
            i.id for i in net.infra.instances.values()
        }  # the one instance, twice
        assert second.started > first.ended
        await net.close()

    run(main())


def test_concurrent_mode_overlaps_auctions():
    """Without serialisation, auctions from different initiators overlap in time."""

    async def main() -> None:
        net = await Net.build(star(FIVE), ["A", "B", "C"])
        names = ["A", "B", "C"]
        tasks = [
            asyncio.ensure_future(
                net.boxes[i].auction(request("linkRateLimited", i, 0.0, f"j{i}"), {}, names)
            )
            for i in names
        ]
        await net.until(100)
        records = [t.result() for t in tasks]
        assert all(r.started == 0.0 for r in records)
        assert all(r.status == "done" for r in records)
        await net.close()

    run(main())


# -- concurrency stress ----------------------------------------------------------------------


@dataclass
class Ledger:
    """What each conversation holds, rebuilt from the spy's messages (the ground truth
    the Infrastructure's counters must agree with)."""

    net: Net
    violations: list[str] = field(default_factory=list)
    checks: int = 0
    peak_reservations: int = 0

    def conversations(self) -> tuple[dict, dict, dict]:
        """Accepted-and-unanswered winning bids, and each conversation's job and traffic."""
        job: dict[str, str] = {}
        traffic: dict[str, float] = {}
        bids: dict[tuple[str, str], Bid] = {}
        accepted: dict[tuple[str, str], Bid] = {}
        for s in self.net.spy.seen:
            m = s.message
            key = (m.conversation_id, m.sender)
            match m.performative:
                case Performative.CFP:
                    job[m.conversation_id] = m.content["args"][0]
                    traffic[m.conversation_id] = float(m.content["traffic"])
                case Performative.PROPOSE:
                    bids[key] = bid_from_content(m.content)
                case Performative.ACCEPT_PROPOSAL:
                    accepted[(m.conversation_id, s.receiver)] = bids[
                        (m.conversation_id, s.receiver)
                    ]
                case Performative.INFORM_DONE | Performative.FAILURE:
                    accepted.pop(key, None)
        return accepted, job, traffic

    def check(self) -> None:
        self.checks += 1
        infra, boxes = self.net.infra, self.net.boxes
        now = self.net.clock.now()
        accepted, job, traffic = self.conversations()
        expected: dict[str, Amount] = defaultdict(Amount)
        pending: dict[str, Amount] = defaultdict(Amount)
        holders: Counter[str] = Counter()
        for instance in infra.instances.values():
            expected[instance.pop] += req(infra.catalogue[instance.vnf], instance.units)
        held_now = sum(len(box.participant.holds.held) for box in boxes.values())
        self.peak_reservations = max(self.peak_reservations, held_now)
        for box in boxes.values():
            for held in box.participant.holds.held.values():
                pending[box.name] += held.amount
                if held.bid.instance:
                    holders[held.bid.instance] += 1
        bandwidth: dict[tuple[str, str], float] = defaultdict(float)
        for (conversation, pop), bid in accepted.items():
            started = self.net.started.get(job[conversation])
            if bid.instance:
                holders[bid.instance] += 1
            elif started is None:  # still downloading: the committed hold is in flight
                expected[pop] += req(infra.catalogue[bid.vnf], bid.units)
            else:
                holders[started.id] += 1
            if infra.catalogue[bid.vnf].throughput is not None:
                for a, b in itertools.pairwise(bid.path):
                    bandwidth[tuple(sorted((a, b)))] += traffic[conversation]
        for pop, state in infra.pops.items():
            if not (state.used + state.held).fits_in(_plus(state.total, EPS)):
                self.violations.append(
                    f"t={now}: {pop} used {state.used} + held {state.held} > {state.total}"
                )
            if not _close(state.used, expected[pop]):
                self.violations.append(
                    f"t={now}: {pop} used {state.used} but instances + downloads hold "
                    f"{expected[pop]}"
                )
            if not _close(state.held, pending[pop]):
                self.violations.append(
                    f"t={now}: {pop} held {state.held} but its proposals hold {pending[pop]}"
                )
        for link in infra.links:
            if link.reserved > link.bandwidth + EPS:
                self.violations.append(f"t={now}: link {link.a}-{link.b} over-reserved")
            want = bandwidth[tuple(sorted((link.a, link.b)))]
            if abs(link.reserved - want) > EPS:
                self.violations.append(
                    f"t={now}: link {link.a}-{link.b} reserved {link.reserved}, expected {want}"
                )
        for instance_id, count in holders.items():
            if count > 1:
                self.violations.append(f"t={now}: {instance_id} held by {count} conversations")
        for instance in infra.instances.values():
            if instance.busy != (holders[instance.id] == 1):
                self.violations.append(
                    f"t={now}: {instance.id} busy={instance.busy} with "
                    f"{holders[instance.id]} holders"
                )


def _plus(amount: Amount, eps: float) -> Amount:
    return Amount(*(x + eps for x in amount))


def _close(a: Amount, b: Amount) -> bool:
    return all(math.isclose(x, y, abs_tol=EPS) for x, y in zip(a, b, strict=True))


STRESS_GOALS = [
    ("linkRateLimited", 0.0),
    ("splitTrafficLink", 0.0),
    ("anomalousUsage", 1.0),
    ("anomalousUsage", 3.0),
    ("flowRecord", 1.0),
    ("flowRecord", 0.5),
]


async def stress(
    pops: list[tuple[str, float, float, float, float, float, float]],
    auctions: int,
    seed: int,
    initiators: int = 4,
) -> tuple[Net, Ledger, list[AuctionRecord]]:
    """`auctions` auctions from several initiators at random times, with random holds;
    invariants checked at every quiet point of the clock."""
    rng = random.Random(seed)
    net = await Net.build(star([*pops, ("silent", 8, 16, 100, 50, 1, 0.0)]), start=False)
    names = list(net.boxes)
    for name in names[:-1]:
        await net.boxes[name].start()
    # The silent PoP never answers, so every call for proposals stays open until its
    # deadline and proposals hold their reservations while other auctions bid.
    ledger = Ledger(net)
    chosen = names[:initiators]
    terminated: list[str] = []

    async def one(i: int) -> AuctionRecord:
        initiator = rng.choice(chosen)
        goal, traffic = rng.choice(STRESS_GOALS)
        # Bursts of simultaneous auctions; between bursts, terminations free some room.
        start = rng.choice([0.0, 60.0, 120.0, 180.0]) + rng.uniform(0, 2)
        hold = rng.choice([0.0, 0.0, 1.5, 4.0, 9.0])
        terminate = rng.random() < 0.5
        await net.clock.sleep(start)
        record = await net.boxes[initiator].auction(
            request(goal, initiator, traffic, f"job{i}"), {"hold": hold}, names
        )
        instance = net.infra.instances.get(record.result.get("instance", ""))
        if terminate and instance is not None and not instance.busy:
            net.infra.terminate(instance.id)  # scale to zero: frees room for later auctions
            terminated.append(instance.id)
        return record

    tasks = [asyncio.ensure_future(one(i)) for i in range(auctions)]
    await net.until(5000, check=ledger.check)
    assert all(t.done() for t in tasks), "some auction never finished"
    records = [t.result() for t in tasks]
    ledger.check()

    # At the end nothing is held but the instances.
    assert all(not box.participant.holds.held for box in net.boxes.values())
    assert all(link.reserved == 0 for link in net.infra.links)
    assert not any(i.busy for i in net.infra.instances.values())
    for pop, state in net.infra.pops.items():
        held = sum(
            (
                req(net.infra.catalogue[i.vnf], i.units)
                for i in net.infra.instances.values()
                if i.pop == pop
            ),
            Amount(),
        )
        assert _close(state.used, held), pop

    # Every won auction is exactly one instance (new, or an idle one reused), and its plan
    # ran exactly once, on the winner; no other auction ran a plan.
    runs = Counter((pop, job) for pop, job, _ in net.runs)
    assert all(count == 1 for count in runs.values()), runs
    for i, record in enumerate(records):
        job = f"job{i}"
        assert record.status in ("done", "no-bids", "failed"), record.status
        win = record.outcome.winner
        ran = [pop for pop, j in runs if j == job]
        if record.status != "done":
            assert ran == [], (job, record.status, ran)
            continue
        assert ran == [win.bidder]
        assert record.result["by"] == win.bidder
        if win.instance is None:
            assert net.started[job].id == record.result["instance"]
            assert net.started[job].pop == win.bidder
        else:
            assert job not in net.started
            assert record.result["instance"] == win.instance
    new = [r for r in records if r.status == "done" and r.outcome.winner.instance is None]
    assert len(net.started) == len(new)
    assert len({i.id for i in net.started.values()}) == len(new)
    assert set(net.infra.instances) == {i.id for i in net.started.values()} - set(terminated)
    assert not ledger.violations, ledger.violations[:5]
    await net.close()
    return net, ledger, records


# Tight PoPs: 2–4 cores and 4–8 GB, so a few detectors or one classifier fill one.
TIGHT = [
    ("P1", 2, 4, 30, 20, 5, 0.0),
    ("P2", 3, 5, 40, 25, 8, 0.0),
    ("P3", 4, 8, 60, 12, 3, 1.0),
    ("P4", 2, 3, 20, 50, 10, 0.0),
    ("P5", 3, 6, 25, 15, 6, 2.0),
    ("P6", 1, 2, 10, 40, 4, 0.0),
]


def test_many_concurrent_auctions_never_allocate_twice():
    async def main() -> None:
        _, ledger, records = await stress(TIGHT, auctions=48, seed=11)
        statuses = Counter(r.status for r in records)
        # The test is meaningful: auctions overlapped, many won, and capacity ran out.
        assert statuses["done"] >= 15, statuses
        assert statuses["no-bids"] >= 1, statuses
        assert ledger.checks > 100
        assert ledger.peak_reservations >= 5  # proposals of overlapping auctions coexisted
        reused = [r for r in records if r.status == "done" and r.outcome.winner.instance]
        assert reused  # idle instances were bid on and reused too
        starts = sorted(r.started for r in records)
        assert sum(1 for a, b in itertools.pairwise(starts) if b - a < 1.0) > 10
        reasons = [r.reason for rec in records for r in rec.outcome.refusals]
        assert any(reason.startswith("sat_req fails") for reason in reasons)

    run(main())


pop_sizes = st.tuples(st.integers(1, 4), st.integers(2, 8), st.integers(10, 60), st.integers(3, 30))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(
    sizes=st.lists(pop_sizes, min_size=3, max_size=6),
    auctions=st.integers(5, 30),
    seed=st.integers(0, 10_000),
)
def test_property_no_double_allocation(sizes, auctions, seed):
    pops = [
        (f"Q{i}", cpu, mem, disk, bw, 3 + i, 0.0) for i, (cpu, mem, disk, bw) in enumerate(sizes)
    ]
    run(stress(pops, auctions, seed, initiators=min(3, len(pops))))


def test_agents_that_are_not_admitted_get_no_cfp_and_are_ignored():
    """A revoked agent (failed attestation) neither receives CFPs nor gets its own CFPs
    answered; what it sends is counted and dropped."""

    async def main() -> None:
        net = await Net.build(star(FIVE))
        names = list(net.boxes)
        trusted = {"A", "B", "D", "E"}  # C, the best bidder, was revoked
        for name, box in net.boxes.items():
            if name != "C":  # C itself does not know it was revoked
                box.hooks.admits = trusted.__contains__
        goal = request("linkRateLimited", "A", 0.0, "pop6~server")
        task = asyncio.ensure_future(net.boxes["A"].auction(goal, {}, names))
        await net.until(60)
        record: AuctionRecord = await task
        cfps = net.spy.of(Performative.CFP)
        assert sorted(s.receiver for s in cfps) == ["A", "B", "D", "E"]
        assert record.outcome.winner is not None and record.outcome.winner.bidder == "B"
        assert "C" not in {r.bidder for r in record.outcome.refusals}

        rogue = asyncio.ensure_future(
            net.boxes["C"].auction(request("linkRateLimited", "C", 0.0, "x~y"), {}, names)
        )
        await net.until(120)
        ignored = await rogue
        assert [b.bidder for b in ignored.outcome.bids] == ["C"]  # only its own bid
        assert net.boxes["A"].excluded >= 1 and net.boxes["B"].excluded >= 1
        await net.close()

    run(main())


def test_a_request_is_agreed_to_and_one_lost_on_the_bus_is_reported_unagreed():
    """FIPA Request: the receiver of a REQUEST answers AGREE; a REQUEST nobody received
    (its receiver not listening, as across a broker outage) gets none within the wait."""

    async def body() -> None:
        infra = Infrastructure.from_scenario(star(FIVE[:2]))
        bus, clock = MemoryBus(), VirtualClock()
        heard: list[str] = []

        async def nothing(*_: Any) -> dict[str, Any]:
            return {}

        a = Mailbox("A", infra, bus, clock, nothing)
        b = Mailbox(
            "B",
            infra,
            bus,
            clock,
            nothing,
            hooks=Hooks(on_request=lambda m: heard.append(m.sender)),
        )
        await a.start()
        ask = ACLMessage(Performative.REQUEST, "A", ("B",), "A.req.1", {"goal": "x"})
        lost = asyncio.ensure_future(a.request(ask, 2.0))
        await drive_clock(clock, 2.0)
        assert await lost is False and heard == []
        await b.start()
        agreed = asyncio.ensure_future(a.request(ask, 2.0))
        await drive_clock(clock, 4.0)
        assert await agreed is True and heard == ["A"]
        for box in (a, b):
            await box.stop()
        await bus.close()

    run(body())


def test_a_predicted_peak_crosses_the_bus_in_the_call_for_proposals() -> None:
    base = GoalRequest("anomalousUsage", "pop6", Preferences(T=0.5, C=0.5, D=0.0), traffic=1.0)
    for request in (base, replace(base, predicted_traffic=2.5)):
        content = json.loads(json.dumps(request_to_content(request, {})))
        assert request_from_content(content) == (request, {})
    assert "predicted_traffic" not in request_to_content(base, {})  # off: the frame as before


def test_a_call_for_proposals_names_each_receiver_alone_on_the_wire():
    """N small frames, not N copies of one frame listing all N agents (which every
    receiver would parse: O(N²) bytes per auction)."""

    async def main() -> None:
        net = await Net.build(star(FIVE))
        goal = request("linkRateLimited", "A", 0.0, "x")
        task = asyncio.ensure_future(net.boxes["A"].auction(goal, {}, list(net.boxes)))
        await net.until(100)
        assert task.result().status == "done"
        cfps = net.spy.of(Performative.CFP)
        assert sorted(s.receiver for s in cfps) == sorted(net.boxes)
        assert all(s.message.receivers == (s.receiver,) for s in cfps)
        await net.close()

    run(main())


@pytest.mark.parametrize(
    ("speed", "deadline", "expected"),
    [(1.0, 1.0, 1.0), (4.0, 1.0, 1.0), (10.0, 1.0, 2.5), (40.0, 1.0, 10.0), (10.0, 5.0, 5.0)],
)
def test_a_real_time_call_stays_open_a_quarter_second_of_wall_time_at_least(
    speed: float, deadline: float, expected: float
) -> None:
    """The scenario's deadline, or 250 ms of wall time at `speed`, whichever is longer."""
    settings = AuctionSettings(bid_deadline=deadline, serialised=True)
    chosen = paced(settings, speed)
    assert chosen.bid_deadline == pytest.approx(expected)
    assert chosen.bid_deadline / speed >= 0.25 or chosen.bid_deadline == deadline
    assert chosen.serialised and chosen.lease == settings.lease

"""Reputation: the beta rule, the book of promises, Eq. 3.1 weighed with it, and the
promises an initiator's Mailbox judges (kept, lapsed, overran, implausible) on a real bus
and virtual clock."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.agents.test_auction import FIVE, Net, request, run, star
from tests.agents.test_bidding import TABLE_5_8, WINNERS

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.auction import Mailbox
from secmas.agents.bidding import Bid, utilities, winner
from secmas.agents.journal import Journal, apply_json, auction_to_json
from secmas.agents.nfva.records import AuctionRecord
from secmas.agents.nfva.settings import AuctionSettings
from secmas.agents.outcome import AuctionOutcome
from secmas.agents.plausibility import IMPLAUSIBLE
from secmas.agents.reputation import (
    Conduct,
    Promise,
    ReputationBook,
    Tally,
    beta_reputation,
    tallies_by_observer,
    weighed,
)
from secmas.network.resources import Amount
from secmas.scenario.model import Preferences

# -- the rule --------------------------------------------------------------------------------


def test_beta_reputation_is_the_mean_of_beta_kept_plus_1_broken_plus_1():
    assert beta_reputation(0, 0) == 0.5  # never seen
    assert beta_reputation(1, 0) == pytest.approx(2 / 3)
    assert beta_reputation(0, 1) == pytest.approx(1 / 3)
    assert beta_reputation(8, 2) == pytest.approx(9 / 12)
    with pytest.raises(ValueError, match="must not be negative"):
        beta_reputation(-1, 0)


@given(st.integers(0, 50), st.integers(0, 50))
def test_one_more_kept_promise_raises_it_one_more_broken_lowers_it(kept: int, broken: int):
    now = beta_reputation(kept, broken)
    assert 0 < now < 1
    assert beta_reputation(kept + 1, broken) > now > beta_reputation(kept, broken + 1)


def test_weighed_is_eq_3_1_at_weight_0_and_reputation_alone_at_1():
    assert weighed(0.37, 0.1, 0.0) == 0.37
    assert weighed(0.37, 0.25, 1.0) == 0.75
    assert weighed(0.4, 0.5, 0.5) == pytest.approx(0.5 * 0.4 + 0.5 * 0.5)


def promise(observer: str, peer: str, conduct: Conduct = Conduct.KEPT) -> Promise:
    return Promise(1.0, observer, peer, conduct, "g()")


def test_the_book_adds_up_every_observers_promises_and_ignores_self_judgement():
    book = ReputationBook()
    for p in (
        promise("A", "B"),
        promise("A", "B", Conduct.LAPSED),
        promise("C", "B"),
        promise("C", "A", Conduct.IMPLAUSIBLE),
        promise("B", "B"),  # no agent rates itself
    ):
        book.add(p)
    assert book.tally("B") == Tally(kept=2, broken=1)
    assert book.tally("A") == Tally(kept=0, broken=1)
    assert book.tally("nobody") == Tally()
    assert book.standing(["A", "B", "D"]) == {"A": 1 / 3, "B": 3 / 5, "D": 0.5}
    assert book.peers() == ["A", "B"]
    assert len(book.promises) == 4
    assert tallies_by_observer(book) == {
        "A": [("B", Tally(1, 1))],
        "C": [("A", Tally(0, 1)), ("B", Tally(1, 0))],
    }
    report = book.report(0.3)
    assert report["weight"] == 0.3
    assert report["peers"]["B"] == {"kept": 2, "broken": 1, "reputation": 0.6}
    assert report["promises"][0] == {
        "time": 1.0,
        "observer": "A",
        "peer": "B",
        "conduct": "kept",
        "goal": "g()",
    }


# -- Eq. 3.1 weighed -------------------------------------------------------------------------


@pytest.mark.parametrize("auction", sorted(TABLE_5_8))
def test_with_weight_0_table_5_8_is_unchanged_whatever_the_reputations(auction: str):
    weights, rows = TABLE_5_8[auction]
    prefs = Preferences(T=weights[0], C=weights[1], D=weights[2])
    bids = [Bid(bidder=a, vnf="v", T=t, C=c, D=d) for a, t, c, d, _ in rows]
    standing = {a: 0.01 for a, *_ in rows}
    assert utilities(bids, prefs, standing, 0.0) == utilities(bids, prefs)
    best = winner(bids, prefs, standing, 0.0)
    assert best is not None and best.bidder == WINNERS[auction]


def test_a_high_weight_turns_the_award_away_from_a_peer_that_broke_its_promises():
    weights, rows = TABLE_5_8["linkRateLimited"]
    prefs = Preferences(T=weights[0], C=weights[1], D=weights[2])
    bids = [Bid(bidder=a, vnf="v", T=t, C=c, D=d) for a, t, c, d, _ in rows]
    standing = {"5": beta_reputation(0, 3)}  # agent 5, Table 5.8's winner, broke three
    assert winner(bids, prefs, standing, 0.5).bidder == "5"  # type: ignore[union-attr]
    assert winner(bids, prefs, standing, 0.8).bidder == "1"  # type: ignore[union-attr]


@pytest.mark.parametrize("weight", [-0.1, 1.5, float("nan")])
def test_the_weight_is_checked(weight: float):
    with pytest.raises(ValueError, match=r"reputation_weight must be within \[0, 1\]"):
        AuctionSettings(reputation_weight=weight)


# -- judged by the initiator -----------------------------------------------------------------


async def judged_net(settings: AuctionSettings | None = None) -> tuple[Net, Journal]:
    """FIVE on a star; every Mailbox records its judgements in one journal (one process)."""
    net = await Net.build(star(FIVE), settings=settings)
    journal = Journal()
    for box in net.boxes.values():
        box.hooks.promised, box.initiator.appraisal.reputation = journal.promise, journal.reputation
    return net, journal


def lying(box: Mailbox, **lie: float) -> None:
    """`box`'s PROPOSEs carry `lie`'s values instead of its own."""
    honest_send = box.endpoint.send

    async def send(message: ACLMessage) -> None:
        if message.performative is Performative.PROPOSE:
            message = replace(message, content={**message.content, **lie})
        await honest_send(message)

    box.endpoint.send = send  # type: ignore[method-assign]


def test_an_implausible_bid_is_refused_rejected_and_judged_a_broken_promise():
    async def main() -> None:
        net, journal = await judged_net()
        lying(net.boxes["C"], T=0.0)  # its true T is 10 s (500 MB over 50 MB/s)
        names = list(net.boxes)
        goal = request("linkRateLimited", "A", 0.0, "pop6~server")
        task = asyncio.ensure_future(net.boxes["A"].auction(goal, {}, names))
        await net.until(60)
        record: AuctionRecord = await task
        assert record.status == "done" and record.outcome.winner.bidder == "B"  # type: ignore[union-attr]
        [why] = [r.reason for r in record.outcome.refusals if r.bidder == "C"]
        assert why.startswith(IMPLAUSIBLE + "T = 0 s is below 10 s")
        rejected = [s.receiver for s in net.spy.of(Performative.REJECT_PROPOSAL)]
        assert "C" in rejected and not net.boxes["C"].participant.holds.held  # its hold given back
        assert record.messages == 5 + 5 + 3 + 12 + 1  # the refused one's REJECT counted
        assert [(p.observer, p.peer, p.conduct) for p in journal.reputation.promises] == [
            ("A", "C", Conduct.IMPLAUSIBLE),
            ("A", "B", Conduct.KEPT),
        ]
        await net.close()

    run(main())


def test_a_winner_that_lets_its_lease_lapse_is_judged_lapsed_and_the_goal_goes_on():
    async def main() -> None:
        net, journal = await judged_net(AuctionSettings(lease=6.0))  # lapses before T = 10 s
        silent = net.boxes["C"]
        honest_send = silent.endpoint.send

        async def send(message: ACLMessage) -> None:
            if message.performative in (Performative.INFORM, Performative.INFORM_DONE):
                return  # no progress, no result: wins and falls silent
            await honest_send(message)

        silent.endpoint.send = send  # type: ignore[method-assign]
        goal = request("linkRateLimited", "A", 0.0, "pop6~server")
        task = asyncio.ensure_future(net.boxes["A"].auction(goal, {}, list(net.boxes)))
        await net.until(120)
        record = await task
        assert record.status == "done" and record.attempt == 2
        conducts = [(p.peer, p.conduct) for p in journal.reputation.promises]
        assert conducts == [("C", Conduct.LAPSED), ("B", Conduct.KEPT)]
        await net.close()

    run(main())


def test_a_winner_still_downloading_a_lease_past_its_own_t_is_lost_though_it_renews():
    """C's link to the repository is 50 MB/s wide but 40 of it is reserved: its true T is
    50 s. It bids 10 s, the bound at capacity, so the bid passes, wins, and its download
    runs on while it renews its lease: the initiator gives up on it at 10 + 10 s."""

    async def main() -> None:
        net, journal = await judged_net()
        net.infra.link("C", "S").reserved = 40.0
        lying(net.boxes["C"], T=10.0)
        goal = request("linkRateLimited", "A", 0.0, "pop6~server")
        task = asyncio.ensure_future(net.boxes["A"].auction(goal, {}, list(net.boxes)))
        await net.until(120)
        record = await task
        assert record.status == "done" and record.outcome.winner.bidder != "C"  # type: ignore[union-attr]
        cancels = net.spy.of(Performative.CANCEL)
        assert [(s.receiver, s.time) for s in cancels] == [("C", 20.0)]
        assert cancels[0].message.content["reason"] == (
            "overran its bid: still downloading 20 s after the award, its T was 10 s"
        )
        assert [p.conduct for p in journal.reputation.promises if p.peer == "C"] == [
            Conduct.OVERRAN
        ]
        assert net.infra.pops["C"].used == Amount()  # what its download took is given back
        await net.close()

    run(main())


def test_with_the_weight_on_the_initiator_turns_from_a_peer_that_broke_its_promises():
    async def main() -> None:
        net, journal = await judged_net(AuctionSettings(reputation_weight=0.8))
        for _ in range(2):
            journal.promise(Promise(0.0, "B", "C", Conduct.LAPSED, "earlier()"))
        goal = request("linkRateLimited", "A", 0.0, "pop6~server")
        task = asyncio.ensure_future(net.boxes["A"].auction(goal, {}, list(net.boxes)))
        await net.until(60)
        record = await task
        outcome = record.outcome
        assert outcome.weight == 0.8 and outcome.standing["C"] == pytest.approx(0.25)
        assert outcome.winner.bidder == "B"  # type: ignore[union-attr]  # C without the weight
        assert winner(outcome.bids, goal.preferences).bidder == "C"  # type: ignore[union-attr]
        await net.close()

    run(main())


def test_promises_and_weighed_auctions_cross_processes_in_the_journal_relay():
    journal, merged = Journal(), Journal()
    journal.promise(promise("A", "B", Conduct.OVERRAN))
    [judged] = journal.reputation.promises
    apply_json(merged, json.loads(json.dumps({"event": "promise", **asdict(judged)})))
    assert merged.reputation.promises == journal.reputation.promises
    weights, rows = TABLE_5_8["linkRateLimited"]
    prefs = Preferences(T=weights[0], C=weights[1], D=weights[2])
    bids = tuple(Bid(bidder=a, vnf="v", T=t, C=c, D=d) for a, t, c, d, _ in rows)
    goal = replace(request("linkRateLimited", "A"), preferences=prefs)
    outcome = AuctionOutcome(goal, bids, (), {"5": 0.2}, 0.8)
    record = AuctionRecord(outcome, "done", 0.0, 1.0, 0.1, 3)
    apply_json(merged, json.loads(json.dumps(auction_to_json("A", record))))
    [(_, relayed)] = merged.auctions
    assert relayed.outcome.winner == outcome.winner and outcome.winner.bidder == "1"  # type: ignore[union-attr]
    assert relayed.outcome.scores == outcome.scores

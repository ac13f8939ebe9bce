"""A lying but attested agent in NFV-A auctions.

The trust layer proves which code an agent runs, not that what it says is true. Here one
enrolled, attested agent of the reference run lies on the wire: every PROPOSE it sends
carries the most favourable T, C and D (zero, or zero with a D beyond any path, since a
higher D scores better in Eq. 3.1), and once it wins it never acts, while its lease is
renewed. Before bids were checked it won every auction it entered and held the mitigation
hostage. A second agent bids honestly but breaks its promises: it wins, then lets its
lease lapse; it loses reputation, and with the scenario's reputation weight on it stops
winning.

The attackers are the run's own `PoPAgent`s, their mailbox's `send` and executor bound
anew in memory by a step loop once the agents run, and kept attested (`insiders.blind_spot`:
this test is about what an attested agent can still do; the rebinding itself is caught
in `test_agent_parts_watched.py`).
"""

from __future__ import annotations

import asyncio
import functools
import types
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.security.insiders import blind_spot

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.auction import Mailbox
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.world import World
from secmas.agents.nfva.endpoint import Endpoint
from secmas.agents.nfva.records import AuctionRecord
from secmas.agents.outcome import goal_label
from secmas.agents.reputation import Conduct, Tally
from secmas.pipeline.operate import OperateResult, operate
from secmas.report.acceptance import Timeline, acceptance
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")
LIAR = "pop1"
"""Downloads in 50 s, bids in every auction of the reference run, wins none honestly."""
BREAKER = "pop5"
"""At the repository (T = 0): the honest winner of most auctions of the reference run."""

Lie = Callable[[dict[str, Any]], dict[str, Any]]


def zero(bid: dict[str, Any]) -> dict[str, Any]:
    """T = C = D = 0, as an attacker first set it."""
    return bid | {"T": 0.0, "C": 0.0, "D": 0.0}


def fast_and_cheap(bid: dict[str, Any]) -> dict[str, Any]:
    """T = C = 0 and the path's true D: only what the initiator cannot measure, it thinks."""
    return bid | {"T": 0.0, "C": 0.0}


def most_favourable(bid: dict[str, Any]) -> dict[str, Any]:
    """T = C = 0 and a decentralisation no path has: the best score Eq. 3.1 can give."""
    return bid | {"T": 0.0, "C": 0.0, "D": 1e6}


class Attacker:
    """A step loop that turns one agent of the run into an attacker once it runs: its
    mailbox is corrupted, and its executor holds every goal it wins and never acts."""

    def __init__(self, pop: str, corrupt: Callable[[Mailbox], None]) -> None:
        self.pop = pop
        self.corrupt = corrupt
        self.awarded: list[str] = []
        """The goals it won and started to work on (the goal's label)."""
        self.trust_layer: Any = None

    def attach(self, world: World, attestations: Any, trust_layer: Any = None) -> None:
        del world, attestations
        self.trust_layer = trust_layer

    async def start(self, agents: Sequence[PoPAgent]) -> None:
        [agent] = [a for a in agents if a.pop == self.pop]
        blind_spot(self.trust_layer, self.pop, agent.mailbox, *agent.mailbox.parts())
        self.corrupt(agent.mailbox)
        agent.mailbox.participant.executor = self.hold

    async def hold(self, request: GoalRequest, bid: Bid, payload: dict[str, Any]) -> dict:
        del bid, payload
        self.awarded.append(goal_label(request.goal, request.args))
        await asyncio.Event().wait()
        return {}

    async def after_step(self, now: float) -> None:
        del now

    def report(self) -> dict[str, Any]:
        return {}


def lying(lie: Lie) -> Callable[[Mailbox], None]:
    """Every PROPOSE carries `lie`'s values; a won goal is held and never acted on (the
    lease is renewed all the same, so only the bid itself gives the lie away)."""

    def corrupt(box: Mailbox) -> None:
        honest_send = box.endpoint.send

        async def send(self: Endpoint, message: ACLMessage) -> None:
            if message.performative is Performative.PROPOSE:
                message = replace(message, content=lie(dict(message.content)))
            await honest_send(message)

        box.endpoint.send = types.MethodType(send, box.endpoint)  # type: ignore[method-assign]

    return corrupt


def breaking_promises(box: Mailbox) -> None:
    """Honest bids; a won goal is never acted on and no progress is reported, so its
    lease lapses and the initiator auctions it again."""
    honest_send = box.endpoint.send

    async def send(self: Endpoint, message: ACLMessage) -> None:
        if message.performative is Performative.INFORM and "progress" in message.content:
            return
        await honest_send(message)

    box.endpoint.send = types.MethodType(send, box.endpoint)  # type: ignore[method-assign]


def run(scenario: Scenario, attacker: Attacker) -> OperateResult:
    return asyncio.run(asyncio.wait_for(operate(scenario, loops=[attacker]), 300))


def with_reputation(weight: float) -> Scenario:
    data = SCENARIO.model_dump(mode="json", by_alias=True, exclude_none=True)
    return Scenario.model_validate(data | {"auction": {"reputation_weight": weight}})


def passed(result: OperateResult) -> bool:
    assert SCENARIO.attack is not None
    return acceptance(result.telemetry, Timeline.of(result.scenario), result.capacity.ok).passed


def attested(result: OperateResult, pop: str) -> bool:
    assert result.trust is not None
    return bool(result.trust["agents"][pop]["trusted"])


def refusals_of(result: OperateResult, pop: str) -> list[str]:
    return [
        refusal.reason
        for _, record in result.journal.auctions
        for refusal in record.outcome.refusals
        if refusal.bidder == pop
    ]


# -- the lie in the bid ----------------------------------------------------------------------


@functools.cache
def lied(lie: Lie) -> tuple[OperateResult, Attacker]:
    attacker = Attacker(LIAR, lying(lie))
    return run(SCENARIO, attacker), attacker


@pytest.mark.parametrize(
    "lie", [zero, fast_and_cheap, most_favourable], ids=["zero", "T-C-zero", "most-favourable"]
)
def test_an_attested_agent_lying_in_its_bids_wins_nothing_and_the_mitigation_proceeds(
    lie: Lie,
) -> None:
    result, attacker = lied(lie)
    assert attested(result, LIAR), "the liar must stay attested: the lie is in what it says"
    # before bids were checked, it was awarded the first goal it bid for and the run's
    # mitigation waited on it for ever (attack reduction 1 %)
    assert attacker.awarded == []
    implausible = [r for r in refusals_of(result, LIAR) if r.startswith("implausible bid")]
    assert len(implausible) >= 5, refusals_of(result, LIAR)
    assert all(" below " in r or " is not " in r for r in implausible), implausible
    assert not [p for p in result.journal.placements if p.pop == LIAR]
    executed = {e.agent for e in result.journal.executions}
    assert executed and LIAR not in executed
    assert passed(result)


# -- promises broken -------------------------------------------------------------------------


@functools.cache
def broken(weight: float) -> tuple[OperateResult, Attacker]:
    attacker = Attacker(BREAKER, breaking_promises)
    return run(with_reputation(weight), attacker), attacker


def test_an_agent_that_breaks_its_promises_loses_reputation_and_keeps_winning_without_it():
    result, attacker = broken(0.0)
    assert attested(result, BREAKER)
    assert len(attacker.awarded) >= 3  # Eq. 3.1 alone: it wins goal after goal, lets each lapse
    book = result.journal.reputation
    assert book.tally(BREAKER) == Tally(kept=0, broken=len(attacker.awarded))
    assert {p.conduct for p in book.promises if p.peer == BREAKER} == {Conduct.LAPSED}
    honest = [peer for peer in book.peers() if peer != BREAKER]
    assert honest and all(book.tally(peer).kept for peer in honest)
    assert all(book.reputation(BREAKER) < book.reputation(peer) for peer in honest)
    recorded = result.reputation_ledger
    assert recorded is not None and recorded["skipped"] == {}
    assert set(recorded["reports"]) == {p.observer for p in book.promises}


def test_with_the_reputation_weight_on_a_promise_breaker_stops_winning():
    result, attacker = broken(0.8)
    assert attested(result, BREAKER)
    [goal] = attacker.awarded  # its first broken promise only
    records = [record for _, record in result.journal.auctions]
    [first] = [r for r in records if r.outcome.label == goal]
    assert first.status == "done" and first.outcome.winner.bidder != BREAKER
    outbid = [r for r in records if r.started > first.started and _bid_in(r, BREAKER)]
    assert outbid  # it still bids, honestly, and its reputation now loses it the award
    assert all(r.outcome.winner.bidder != BREAKER for r in outbid)
    assert result.journal.reputation.tally(BREAKER) == Tally(kept=0, broken=1)


def _bid_in(record: AuctionRecord, pop: str) -> bool:
    return any(bid.bidder == pop for bid in record.outcome.bids)

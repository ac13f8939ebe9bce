"""Chaining on the ddos-6pop network: the virtual path a steering follows, and the
bandwidth it reserves in the infrastructure while it lives (on a real DataPlane)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.ddos.chaining import Chains, links_of
from secmas.network.dataplane import DataPlane, Steer
from secmas.network.dataplane.controller import LocalController
from secmas.network.infrastructure import Infrastructure
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")
IP = "10.0.0.100"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 300))


def chains(pop: str, steps: int = 30) -> tuple[Chains, DataPlane, Infrastructure]:
    plane = DataPlane(SCENARIO)
    plane.run_until(steps)
    infra = Infrastructure.from_scenario(SCENARIO)
    return Chains(pop, LocalController(plane), infra), plane, infra


def request(goal: str, auctioneer: str) -> GoalRequest:
    return GoalRequest.for_goal(SCENARIO.goal(goal), auctioneer)


def reserved(infra: Infrastructure) -> dict[frozenset[str], float]:
    return {frozenset((link.a, link.b)): link.reserved for link in infra.links if link.reserved}


def test_the_bids_path_backwards_when_the_auctioneer_is_where_the_traffic_is() -> None:
    chain, _, _ = chains("pop4")
    bid = Bid("pop4", "classifier", 0, 0, 0, path=("pop4", "pop3", "pop2", "pop5"))
    via = chain.virtual_path(request("flowRecord", "pop5"), bid, "pop5")
    assert via == ("pop5", "pop2", "pop3", "pop4")


@pytest.mark.parametrize("pop", ["pop1", "pop2", "pop3", "pop4"])
def test_elsewhere_the_traffic_goes_by_the_auctioneer_then_the_bids_path(pop: str) -> None:
    """The classifier's auctioneer is the detector's PoP (pop5); the traffic is at pop6."""
    chain, _, infra = chains(pop)
    bid = Bid(pop, "classifier", 0, 0, 0, path=(pop, "pop5") if pop in ("pop1", "pop2") else ())
    via = chain.virtual_path(request("flowRecord", "pop5"), bid, "pop6")
    assert via[0] == "pop6" and via[-1] == pop
    assert len(set(via)) == len(via)  # loops cut out
    for a, b in itertools.pairwise(via):
        infra.link(a, b)  # every hop is a link
    if bid.path:
        assert via[-2:] == ("pop5", pop)


def test_a_steering_reserves_what_it_moves_until_its_last_holder_lets_go() -> None:
    async def main() -> None:
        chain, plane, infra = chains("pop5")
        released: list[Steer] = []
        chain.on_release = released.append
        moved = await chain.steered_rate("pop6", IP, None)
        # what reaches pop6 without crossing pop5: the traffic of pop3 and pop4's clients
        over_pop5 = {s.flow for s in plane.flows_via("pop5", IP)}
        assert moved == pytest.approx(
            sum(s.last.rate for s in plane.flows_via("pop6", IP) if s.flow not in over_pop5)
        )
        first = await chain.steer(("pop6", "pop5"), IP, None, moved)
        second = await chain.steer(("pop6", "pop5"), IP, None, moved)
        assert first == second == Steer("pop6", IP, ("pop6", "pop5"))
        assert list(plane.rules.values()) == [first]  # one rule, one reservation
        assert reserved(infra) == pytest.approx({frozenset(("pop5", "pop6")): moved})
        await chain.release(first)
        assert reserved(infra) and plane.rules  # the other holder still needs it
        assert released == []
        await chain.release(second)
        assert reserved(infra) == {} and plane.rules == {} and chain.held == {}
        assert released == [first]  # told once, when the rule went
        await chain.release(second)  # no longer held: nothing to tell
        assert released == [first]

    run(main())


def test_links_the_auction_holds_already_are_not_reserved_again() -> None:
    async def main() -> None:
        chain, _, infra = chains("pop4")
        via = ("pop6", "pop5", "pop2", "pop3", "pop4")
        covered = links_of(("pop4", "pop3", "pop2", "pop5"))
        await chain.steer(via, IP, None, 1.5, covered)
        assert reserved(infra) == {frozenset(("pop5", "pop6")): 1.5}

    run(main())


def test_a_steering_takes_no_more_than_a_link_has_left() -> None:
    """pop4–pop6 carries 5 MB/s: 7 MB/s steered over it fill it, never beyond."""

    async def main() -> None:
        chain, plane, infra = chains("pop4")
        await chain.steer(("pop6", "pop4"), IP, None, 7.0)
        link = infra.link("pop6", "pop4")
        assert link.reserved == link.bandwidth == 5.0
        plane.step()
        assert plane.rate("pop6", "pop4") <= 5.0 + 1e-9

    run(main())

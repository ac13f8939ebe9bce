"""The bid function as a plug-in: the built-in U registers in the `secmas.bids` group as
any distribution would, a scenario chooses one by name (`auction.bid`), every agent's
mailbox bids with it, and a name nobody installed is refused at load, naming the field
and the installed ones. The second bid function is a real distribution installed for the
test (a `.dist-info` folder on the import path, as pip installs one)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.agents.test_auction import run

from secmas.agents.bidding import Bid, GoalRequest, compute_bid
from secmas.agents.bidfunction import BidFunction, bid_function
from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.world import World
from secmas.agents.nfva.records import AuctionRecord
from secmas.cli.main import default_scenario_path
from secmas.network.clock import VirtualClock, drive_clock
from secmas.plugins import PluginError, plugin, rescan
from secmas.scenario.loader import ScenarioError, load_scenario, parse_scenario
from secmas.scenario.model import Scenario

PROMISED_T = 1000.0

FLAT = f'''
"""A bid function that promises the download bound it can guarantee, {PROMISED_T:g} s,
instead of estimating T from the path: Eq. 3.1 then ranks the bids by C and D alone."""

from dataclasses import replace

from secmas.agents.bidding import Bid, compute_bid


def bid(infra, pop, request, ctx, move_s):
    outcome = compute_bid(infra, pop, request, ctx, move_s)
    return replace(outcome, T={PROMISED_T}) if isinstance(outcome, Bid) else outcome
'''


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The distribution `flatbid` 1.0, installed for the test: bid function `flat`."""
    info = tmp_path / "flatbid-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flatbid\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[secmas.bids]\nflat = flatbid_mod:bid\n")
    (tmp_path / "flatbid_mod.py").write_text(FLAT)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "flatbid_mod", raising=False)
    rescan()
    yield tmp_path
    sys.modules.pop("flatbid_mod", None)
    rescan()


REFERENCE = default_scenario_path().read_text()
"""The reference scenario (six PoPs, the repository at pop5's switch), as YAML."""


def test_the_built_in_is_registered_as_a_plug_in_and_is_the_default() -> None:
    found = plugin("secmas.bids", "nfva")
    assert (found.distribution, found.target) == ("secmas", "secmas.agents.bidding:compute_bid")
    assert bid_function("nfva") is compute_bid
    assert isinstance(compute_bid, BidFunction)
    assert parse_scenario(REFERENCE).auction.bid == "nfva"


async def auction(scenario: Scenario) -> tuple[AuctionRecord, dict[str, PoPAgent]]:
    """pop1's auction of linkRateLimited among every PoP's agent, built from `scenario`
    (each plan only says who ran it, so the record is the auction's alone)."""
    world = World.simulated(scenario)
    agents = {pop: PoPAgent(pop, world) for pop in world.directory}

    async def execute(request: GoalRequest, bid: Bid, payload: dict[str, Any]) -> dict[str, Any]:
        return {"ran": bid.bidder}

    for agent in agents.values():
        agent.mailbox.participant.executor = execute
        await agent.mailbox.start()
    spec = next(g for g in scenario.goals if g.name == "linkRateLimited")
    goal = GoalRequest.for_goal(spec, "pop1", 0.0, ("pop6~server",))
    task = asyncio.ensure_future(agents["pop1"].mailbox.auction(goal, {}, list(agents)))
    assert isinstance(world.clock, VirtualClock)
    await drive_clock(world.clock, 2 * PROMISED_T)
    for agent in agents.values():
        await agent.mailbox.stop()
    return await task, agents


def test_a_bid_function_a_scenario_chooses_changes_who_wins(site: Path) -> None:
    async def main() -> None:
        built_in, _ = await auction(parse_scenario(REFERENCE))
        flat, agents = await auction(parse_scenario(REFERENCE + "auction: {bid: flat}\n"))
        assert built_in.achieved and flat.achieved
        assert built_in.outcome.winner is not None and flat.outcome.winner is not None
        # the built-in's T decides: pop5 sits at the repository, its download takes 0 s
        assert built_in.outcome.winner.bidder == "pop5"
        assert {b.bidder: b.T for b in built_in.outcome.bids}["pop5"] == 0.0
        # every agent bid with the plug-in: the same bidders, T its promise, C and D as before
        assert all(a.mailbox.participant.bid.__module__ == "flatbid_mod" for a in agents.values())
        assert {b.bidder: b.T for b in flat.outcome.bids} == dict.fromkeys(agents, PROMISED_T)
        before = {b.bidder: (b.C, b.D) for b in built_in.outcome.bids}
        assert {b.bidder: (b.C, b.D) for b in flat.outcome.bids} == before
        # ... so C and D decide, and another agent wins (and runs the plan)
        assert flat.outcome.winner.bidder != "pop5"
        assert flat.result["ran"] == flat.outcome.winner.bidder

    run(main())


def test_an_unknown_bid_function_is_refused_at_load_naming_the_field_and_the_installed(
    site: Path, tmp_path: Path
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(REFERENCE + "auction:\n  bid: cheapest\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    [problem] = caught.value.problems
    assert "auction.bid" in str(problem)
    assert "'cheapest'" in str(problem) and "installed: flat, nfva" in str(problem)


def test_a_plug_in_that_is_no_bid_function_is_named(site: Path) -> None:
    (site / "flatbid_mod.py").write_text(FLAT + "\nbid = 3\n")
    with pytest.raises(PluginError, match=r"bid function 'flat' \(flatbid 1.0.*is no BidFunction"):
        bid_function("flat")

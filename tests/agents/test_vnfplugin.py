"""A VNF of a user's own, installed as pip installs a distribution (a `.dist-info` folder
with its entry points on the import path): the scenario names the VNF and its goal, an
agent auctions the goal, and the winner runs the plug-in's plan; a VNF no plug-in
provides is refused with the installed ones named."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from secmas.agents.auction import AuctionSettings
from secmas.agents.bdi import Belief, Goal
from secmas.agents.ddos.agent import PoPAgent, World
from secmas.agents.ddos.facts import DIAGNOSE
from secmas.network.clock import drive_clock, settle
from secmas.plugins import PluginError, rescan
from secmas.scenario.loader import ScenarioError, parse_scenario
from secmas.scenario.model import Scenario
from secmas.scenario.validation import runnable_text

ROOT = Path(__file__).resolve().parents[2]
IP = "10.0.0.100"
BUILT_IN = "anomaly_detector, classifier, conn_guard, link_monitor, load_balancer, "

LOGGER = '''
from secmas.agents.bdi import Belief, Var
from secmas.agents.vnfplugin import VNFPlugin, WonPlan


class FlowLogger(VNFPlugin):
    """Records the flows towards an address crossing its PoP."""

    name = "flow_logger"

    def build(self):
        return self.context.controller

    def plans(self):
        return (WonPlan("LogFlows", Belief("flowLogged", (Var("x"),)), self._log),)

    async def _log(self, ctx, request, bid):
        ip = request.args[0]
        flows = await self.vnf.flows_via(self.context.pop, ip)
        self.context.act("logFlows", f"{len(flows)} flows to {ip} at {self.context.pop}")
        ctx.believe(Belief("flowLogged", (ip,)))
        return True
'''

EXTRA = """
  - {id: flow_logger, requirements: {cpu: 1, memory: 1, disk: 2}, image_size: 20}
"""
GOAL = """
  - name: flowLogged
    preferences: {T: 0.2, C: 0.8, D: 0.0}
    constraints: [{measure: P, op: "<=", value: 8}]
    vnfs: [flow_logger]
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on the import path into which a test installs distributions."""
    monkeypatch.syspath_prepend(str(tmp_path))
    rescan()
    yield tmp_path
    sys.modules.pop("flowlog_mod", None)
    rescan()


def install_logger(site: Path) -> None:
    """Install the distribution `flowlog` 1.0: its metadata, entry point and module."""
    info = site / "flowlog-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flowlog\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[secmas.vnfs]\nflow_logger = flowlog_mod:FlowLogger\n")
    (site / "flowlog_mod.py").write_text(LOGGER)
    rescan()


def with_logger() -> str:
    """The reference scenario with the logger in its catalogue and its goal."""
    text = (ROOT / "scenarios" / "ddos-6pop.yaml").read_text(encoding="utf-8")
    text = text.replace("\nvnfs:\n", "\nvnfs:" + EXTRA, 1)
    return text.replace("\ngoals:\n", "\ngoals:" + GOAL, 1)


async def serve(scenario: Scenario) -> World:
    """Post flowLogged(IP) to pop1 a few seconds into the attack, and step the network
    until pop1 believes it achieved (or a minute has passed)."""
    world = World.simulated(scenario, settings=AuctionSettings())
    assert world.plane is not None
    agents = {pop: PoPAgent(pop, world, seed=scenario.seed) for pop in world.directory}
    for agent in agents.values():
        await agent.start()
    world.plane.run_until(25)
    world.clock.advance(world.plane.now)
    await agents["pop1"].post(Goal(Belief("flowLogged", (IP,)), priority=DIAGNOSE))
    for _ in range(60):
        world.plane.step()
        await drive_clock(world.clock, world.plane.now)
        await settle()
        if agents["pop1"].bdi.beliefs.holds(Belief("flowLogged", (IP,))):
            break
    for agent in agents.values():
        await agent.stop()
    await world.bus.close()
    return world


def test_an_installed_vnf_plugin_serves_its_goal(site: Path) -> None:
    install_logger(site)
    scenario = runnable_text(with_logger(), "logger.yaml")
    world = asyncio.run(asyncio.wait_for(serve(scenario), 300))
    [record] = [r for _, r in world.journal.auctions if r.outcome.label == f"flowLogged({IP})"]
    assert record.achieved
    winner = record.outcome.winner
    assert winner is not None and winner.vnf == "flow_logger"
    logged = [a for a in world.journal.actions if a.action == "logFlows"]
    assert [a.agent for a in logged] == [winner.bidder]
    assert logged[0].detail.endswith(f"flows to {IP} at {winner.bidder}")
    started = [p for p in world.journal.placements if p.kind == "start"]
    assert any(p.vnf == "flow_logger" and p.pop == winner.bidder for p in started)


def test_a_vnf_no_plugin_provides_is_named_with_the_installed_ones() -> None:
    with pytest.raises(ScenarioError) as refused:
        runnable_text(with_logger(), "logger.yaml")
    message = str(refused.value)
    assert "logger.yaml" in message and "vnfs[0].id" in message
    assert "'flow_logger'" in message and f"installed: {BUILT_IN}rate_limiter" in message
    scenario = parse_scenario(with_logger(), "logger.yaml")  # well formed, not runnable
    with pytest.raises(PluginError, match=r"'flow_logger' is installed \(installed: anomaly"):
        PoPAgent("pop1", World.simulated(scenario))

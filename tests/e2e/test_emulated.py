"""The agents defend a real network: a short emulated run, judged from real counters,
and a Classifier whose PoP decides which real flows it sees.

Needs root, network namespaces, Mininet and nftables (CI has them); skipped otherwise,
with what is missing. The trust layer is off in the run here (the demo runs it); the
data plane, the agents, their auctions and the report are the real ones.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.e2e.line_runs import ATTACK_START, short_line_scenario
from tests.e2e.vnf_instances import check_vnfs_in_their_pops
from tests.network.emulation.conftest import SERVER, leftovers, line_scenario, needs_emulation

from secmas.agents.ddos.vnfs import ClassifierVNF
from secmas.network.clock import ScaledClock
from secmas.network.dataplane import Steer, TrafficSplit, split_part
from secmas.network.emulation.controller import EmulatedController
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import emulation_plan
from secmas.network.emulation.workload import Workload
from secmas.pipeline.emulated import operate_emulated
from secmas.report.acceptance import Timeline, acceptance

pytestmark = [needs_emulation, pytest.mark.usefixtures("alone")]


def test_agents_cut_a_real_syn_flood_and_real_requests_succeed(tmp_path: Path) -> None:
    before = set(leftovers())
    scenario = short_line_scenario(50, security={"enabled": False})
    result = asyncio.run(operate_emulated(scenario, workdir=tmp_path))
    actions = [a.action for a in result.journal.actions]
    assert "blockFlow" in actions, actions
    server = result.emulation["server_packets"]
    peak = max(s["attack_pps"] for s in server if s["t"] >= ATTACK_START)
    end = [s["attack_pps"] for s in server if s["t"] >= server[-1]["t"] - 15]
    assert sum(end) / len(end) <= 0.1 * peak  # attack packets reaching the server fell ≥ 90 %
    [window] = [w for w in result.emulation["requests"] if w["phase"] == "end window"]
    assert window["requests"] > 0 and window["success"] >= 0.9
    accepted = acceptance(result.telemetry, Timeline.of(result.scenario), result.capacity.ok)
    assert accepted.attack_reduction is not None and accepted.attack_reduction >= 0.9
    check_vnfs_in_their_pops(result)
    assert set(leftovers()) <= before


def test_moving_a_classifier_to_another_pop_changes_which_flows_it_sees(
    tmp_path: Path,
) -> None:
    network = EmulatedNetwork(emulation_plan(line_scenario()))
    with network:
        workload = Workload(network, tmp_path, 1.0, 1)
        workload.start_service()
        workload.start_attack()
        controller = EmulatedController(network, ScaledClock(), 1.0)

        async def steps(count: int) -> None:
            for _ in range(count):
                await controller.sample()
                await asyncio.sleep(1.0)
            await controller.sample()

        async def seen() -> dict[str, list[str]]:
            return {
                pop: await ClassifierVNF(controller, pop).malicious_sources(SERVER, None)
                for pop in ("B", "D")
            }

        asyncio.run(steps(3))
        attackers = sorted(network.plan.attack_sources)
        assert asyncio.run(seen()) == {"B": attackers, "D": []}
        asyncio.run(controller.add_rule(TrafficSplit("A", SERVER, 2)))
        asyncio.run(controller.add_rule(Steer("A", SERVER, ("A", "D", "C"), part=1)))
        asyncio.run(steps(3))
        moved = asyncio.run(seen())["D"]
        assert moved == [ip for ip in attackers if split_part(ip, 2) == 1] != []
        workload.stop()

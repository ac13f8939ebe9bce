"""A user's attack (`tests/network/pulse_attack.py`, installed as a distribution of its
own) launched on a small emulated network: each bot's process runs in the attacker
namespace, sends its burst at its time, and the routers count its packets. The network
and every process go, whatever the test finds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.network.conftest import PULSE
from tests.network.emulation.conftest import SERVER, line_scenario, needs_emulation

from secmas.network.clock import ScaledClock
from secmas.network.emulation.controller import EmulatedController
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import emulation_plan
from secmas.network.emulation.workload import Workload


@needs_emulation
def test_the_emulated_engine_launches_it_and_counts_its_packets(
    pulse: Path, tmp_path: Path, no_leftovers: None
) -> None:
    attack = PULSE | {
        "attackers": 1,
        "start": 0,
        "stop": 6,
        "rate": 0.1,
        "parameters": {"period": 2},
    }
    plan = emulation_plan(line_scenario(attack=attack))
    bots = plan.attack_sources
    network = EmulatedNetwork(plan)
    network.start()
    try:
        workload = Workload(network, tmp_path / "run", 1.0, 1)
        try:
            workload.start_attack()
            controller = EmulatedController(network, ScaledClock(), 1.0)
            asyncio.run(controller.sample())
            seen: dict[str, float] = {}
            for _ in range(5):
                time.sleep(1.0)
                asyncio.run(controller.sample())
                for stats in asyncio.run(controller.flows_via("B", SERVER)):
                    seen[stats.flow.src_ip] = seen.get(stats.flow.src_ip, 0) + stats.last.bytes
        finally:
            workload.stop()
    finally:
        network.stop()
    counted = [bot for bot in bots if seen.get(bot, 0) > 0]
    assert len(counted) >= 2, (bots, seen)  # the bursts of second 0 and 2 at least

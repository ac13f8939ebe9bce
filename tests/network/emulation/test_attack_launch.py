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

PATIENCE = 40.0
"""Seconds the bursts may take to show."""


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
    assert len(bots) == 3  # a burst at 0, 2 and 4 s, each from a bot of its own
    network = EmulatedNetwork(plan)
    network.start()
    try:
        workload = Workload(network, tmp_path, 1.0, 1)
        try:
            workload.start_attack()
            seen = _bytes_from(bots, EmulatedController(network, ScaledClock(), 1.0))
        finally:
            workload.stop()
    finally:
        network.stop()
    assert all(seen.values()), seen


def _bytes_from(bots: list[str], controller: EmulatedController) -> dict[str, float]:
    """Bytes each bot's flow brought to B towards the server, sampled every second until
    every bot was seen or `PATIENCE` seconds passed (a busy machine starts the processes
    late, and a bot's burst is timed from its process's start)."""
    seen = dict.fromkeys(bots, 0.0)
    asyncio.run(controller.sample())
    deadline = time.monotonic() + PATIENCE
    while not all(seen.values()) and time.monotonic() < deadline:
        time.sleep(1.0)
        asyncio.run(controller.sample())
        for stats in asyncio.run(controller.flows_via("B", SERVER)):
            if stats.flow.src_ip in seen:
                seen[stats.flow.src_ip] += stats.last.bytes
    return seen

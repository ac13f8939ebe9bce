"""An emulated network's controller served on the bus, as agents in their own processes
ask it: real counters out, nftables rules in, refusals answered with their reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.network.emulation.conftest import SERVER, line_scenario, needs_emulation

from secmas.network.clock import ScaledClock
from secmas.network.dataplane import FlowBlock
from secmas.network.dataplane.controller import (
    ControllerError,
    ControllerService,
    RemoteController,
)
from secmas.network.emulation.controller import EmulatedController
from secmas.network.emulation.firewall import TABLE
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import emulation_plan
from secmas.network.emulation.workload import Workload
from secmas.transport.memory import MemoryBus

pytestmark = needs_emulation


def test_an_emulated_controller_answers_remote_vnfs(tmp_path: Path, no_leftovers: None) -> None:
    with EmulatedNetwork(emulation_plan(line_scenario())) as network:
        workload = Workload(network, tmp_path, 1.0, 1)
        workload.start_service()
        workload.start_attack()
        controller = EmulatedController(network, ScaledClock(), 1.0)
        attacker = network.plan.attack_sources[0]

        async def serve() -> tuple[set[str], str, int, str]:
            for _ in range(3):
                await controller.sample()
                await asyncio.sleep(1.0)
            await controller.sample()
            bus = MemoryBus()
            service = ControllerService(controller, bus, "p")
            await service.start()
            remote = RemoteController(bus, "p", SERVER, 1.0)
            seen = {s.flow.src_ip for s in await remote.flows_via("A", SERVER)}
            rule = await remote.add_rule(FlowBlock("A", attacker, SERVER))
            blocks = network.namespace("A").run(["nft", "list", "chain", "inet", TABLE, "blocks"])
            with pytest.raises(ControllerError) as refused:
                await remote.flows_via("nowhere", SERVER)
            await remote.remove_rule(rule)
            await service.stop()
            await bus.close()
            return seen, blocks, service.refused, str(refused.value)

        try:
            seen, blocks, refused, reason = asyncio.run(serve())
        finally:
            workload.stop()
    assert set(network.plan.attack_sources) <= seen  # the flood's real flows at A
    assert f"ip saddr {attacker} ip daddr {SERVER} drop" in blocks
    assert refused == 1 and "unknown node 'nowhere'" in reason
    assert controller.rules == {}

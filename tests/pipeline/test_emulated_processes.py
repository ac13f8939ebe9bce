"""Agents in their PoPs on the emulated network, piece by piece: the run's bus served
inside the control host, and the IML driver that starts an agent inside its PoP's named
namespace, from whose address the agent joins the bus over the emulated links."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from tests.network.emulation.conftest import line_scenario, needs_emulation

from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import emulation_plan
from secmas.pipeline.agent_process import ready_subject
from secmas.pipeline.emulated_processes import (
    agents_in_pops,
    bus_clients,
    control_servers,
    serve_control,
)
from secmas.pipeline.iml import AgentLaunch
from secmas.pipeline.mlfo import pipeline_name
from secmas.scenario.topology import dump_scenario
from secmas.transport.broker import MISSING_BINARY, find_nats_server
from secmas.trust.control import MLFO

pytestmark = [
    needs_emulation,
    pytest.mark.skipif(find_nats_server() is None, reason=MISSING_BINARY),
]


def test_an_agent_runs_in_its_pop_and_joins_the_bus_from_its_address(tmp_path: Path) -> None:
    scenario = line_scenario(security={"enabled": False})
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(dump_scenario(scenario), encoding="utf-8")
    pipeline = pipeline_name(scenario.id)
    with EmulatedNetwork(emulation_plan(scenario, control=True)) as network:
        control = network.plan.control
        assert control is not None
        servers = control_servers(network, tmp_path, scenario)

        async def start_agent() -> tuple[dict[str, int], int, dict[str, object]]:
            access = await serve_control(servers, network)
            assert access.agent_bus is not None and access.ledger is None
            mlfo = await access.bus.connect(MLFO, name="secmas-mlfo")
            ready = asyncio.Event()

            async def on_ready(_subject: str, _data: bytes) -> None:
                ready.set()

            await mlfo.subscribe(ready_subject(pipeline, "B"), on_ready)
            iml = agents_in_pops(network, tmp_path, ["B"])
            launch = AgentLaunch(
                "B",
                scenario_file,
                access.agent_bus.rotated(0),
                pipeline,
                bus_ca=access.bus.ca_file,
                bus_nkey=access.bus.nkey("B"),
            )
            try:
                iml.start(launch)
                await asyncio.wait_for(ready.wait(), 60.0)
                described = iml.describe()
                inside = os.stat(f"/proc/{described['pids']['B']}/ns/net").st_ino
                clients = bus_clients(servers, network)
                await asyncio.to_thread(clients.look)
            finally:
                iml.stop_all()
                await mlfo.close()
            return described["hosts"], inside, clients.seen

        try:
            hosts, inside, seen = asyncio.run(start_agent())
        finally:
            servers.stop()
        named = network.named("B")
        assert hosts == {"B": named.name}
        assert inside == os.stat(named).st_ino  # the agent's process is in B's namespace
        agent, mlfo = seen["secmas-agent-B"], seen["secmas-mlfo"]
        assert agent["ip"] == control.agents["B"]  # it crossed the links from B's address
        assert mlfo["ip"] == control.root_port.ip  # the MLFO came over the management link
    assert not list((tmp_path / "bus").glob("*.nk"))  # the seeds went with the servers

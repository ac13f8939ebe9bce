"""Agents as containers inside their PoPs on the emulated network, the trust layer on:
the short run of `test_emulated_processes` with each PoP's agent a container of the agent
image (`secmas.deploy.containers`, as `secmas.api.popagents` chooses where podman is),
judged from real counters.

Each agent's container joins its PoP's named namespace (`--network ns:PATH`) and reaches
the run's NATS server and ledger on the control host over the emulated links; the chain's
external check is the check of each container against the image's reference. Needs
root, podman, mmdebstrap, Mininet, nftables and nats-server (skipped otherwise, naming
what is missing); the agent image is the session's (`tests.containers`). Nothing is left
behind, even when the run fails: no container, namespace name, run record or agent
process.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from tests.containers import Reference, containers_in_pops, remove_labelled
from tests.e2e.test_emulated_processes import (
    ATTACK_START,
    BUS_PORT,
    ESTABLISHED,
    agent_processes,
    nothing_left,  # noqa: F401 (a fixture)
    short_scenario,
)
from tests.network.emulation.conftest import needs_emulation

from secmas.deploy.containers import LABEL
from secmas.deploy.image import AgentImage
from secmas.deploy.podman import podman, podman_json
from secmas.network.emulation.registry import NETNS_DIR
from secmas.pipeline.emulated import EmulatedResult
from secmas.pipeline.processes import operate_processes
from secmas.report.acceptance import acceptance
from secmas.scenario.topology import dump_scenario
from secmas.transport.broker import MISSING_BINARY, find_nats_server

pytestmark = [
    needs_emulation,
    pytest.mark.skipif(find_nats_server() is None, reason=MISSING_BINARY),
]


@pytest.mark.usefixtures("nothing_left")
def test_agents_in_containers_in_their_pops_cut_a_real_flood(
    agent_image: AgentImage, image_reference: Reference, tmp_path: Path
) -> None:
    scenario = short_scenario()
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(dump_scenario(scenario), encoding="utf-8")
    agents, drivers = containers_in_pops(agent_image, image_reference)
    processes: dict[int, tuple[int, list[tuple[str, str, int, str]]]] = {}
    names: dict[str, int] = {}
    inspected: dict[str, dict[str, Any]] = {}

    def look(_now: float, _duration: float) -> None:
        """Once the traffic runs: each agent's process, namespace and sockets, the
        namespace names, and each agent's container as podman sees it."""
        if processes:
            return
        processes.update(agent_processes())
        names.update({p.name: os.stat(p).st_ino for p in NETNS_DIR.iterdir()})
        started = [a.agent for a in drivers[0].agents.values()]
        inspected.update({c["Name"]: c for c in podman_json(["inspect", *started])})

    try:
        run = operate_processes(
            scenario, scenario_file, workdir=tmp_path / "run", progress=look, pop_agents=agents
        )
        result = asyncio.run(run)
    finally:
        for driver in drivers:  # the run removes them; this only guards a failed run
            remove_labelled(f"{LABEL}={driver.run_id}")
    assert isinstance(result, EmulatedResult)
    emulation = result.emulation

    # nothing of the run's agents is left: containers, sidecars, processes
    [driver] = drivers
    assert not podman(["ps", "--all", "--quiet", "--filter", f"label={LABEL}={driver.run_id}"])
    assert not set(processes) & set(agent_processes())

    # the attack was cut on real packets, and real requests succeeded
    server = emulation["server_packets"]
    peak = max(s["attack_pps"] for s in server if s["t"] >= ATTACK_START)
    end = [s["attack_pps"] for s in server if s["t"] >= server[-1]["t"] - 4]
    assert peak > 0 and sum(end) / len(end) <= 0.5 * peak, [s["attack_pps"] for s in server]
    assert {"limitIP", "blockFlow"} & {a.action for a in result.journal.actions}
    before, during = (w for w in emulation["requests"] if w["phase"] != "end window")
    assert before["requests"] > 0 and before["success"] >= 0.95, before
    assert during["requests"] > 0 and during["success"] >= 0.8, during
    accepted = acceptance(result.telemetry, ATTACK_START, result.capacity.ok)
    assert accepted.attack_reduction is not None and accepted.attack_reduction >= 0.5

    # the trust layer ran, its external check the containers' against the image's reference
    trust = result.trust
    assert trust is not None
    assert all(e["result"] == "pass" for e in trust["attestations"])
    assert all(a["trusted"] for a in trust["agents"].values())
    external = trust["external_measurement"]
    assert external["measured_by"].startswith("container check")
    assert external["reference_root"] == image_reference.manifest.root
    assert external["checks"] > 0 and not external["failed"]

    # each agent ran in a container of the image in its PoP's namespace, and its control
    # traffic crossed the emulated links from its PoP's address
    plane = emulation["control_plane"]
    assert plane["agents_as"]["kind"] == "containers"
    assert plane["image"] == agent_image.id
    control = plane["control_host"]["address"]
    assert set(plane["agents"]) == {p.id for p in scenario.pops}
    for pop, agent in plane["agents"].items():
        container = inspected[agent["container"]]
        assert container["State"]["Pid"] == agent["pid"], pop
        assert container["Image"] == agent_image.id, pop
        assert container["HostConfig"]["NetworkMode"] == f"ns:{NETNS_DIR / agent['namespace']}"
        namespace, sockets = processes[agent["pid"]]
        assert namespace == names[agent["namespace"]], pop
        assert (agent["address"], control, BUS_PORT, ESTABLISHED) in sockets, pop
        assert agent["connection"]["ip"] == agent["address"], pop  # as the server saw it
        assert agent["connection"]["in_msgs"] > 0, pop
    latency = plane["tick_latency"]["phases"]
    for phase in ("before attack", "during attack"):
        for pop, figures in latency[phase]["agents"].items():
            assert figures["reported"] > 0 and figures["median_ms"] > 0, (phase, pop)

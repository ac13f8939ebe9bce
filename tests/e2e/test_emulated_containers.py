"""Agents as containers inside their PoPs on the emulated network, the trust layer on:
the short run of `test_emulated_processes` (`agents_in_pops`) with each PoP's agent a
container of the agent image (`secmas.deploy.containers`, as `secmas.api.popagents`
chooses where podman is), judged from real counters.

Each agent's container joins its PoP's named namespace (`--network ns:PATH`) and reaches
the run's NATS server and ledger on the control host over the emulated links; the chain's
external check is the check of each container against the image's reference. Needs
root, podman, mmdebstrap, Mininet, nftables and nats-server (skipped otherwise, naming
what is missing); the agent image is the session's (`tests.containers`). Nothing is left
behind, even when the run fails: no container, namespace name, run record or agent
process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.containers import Reference, containers_in_pops
from tests.e2e.agents_in_pops import (
    NEEDS,
    Seen,
    agent_processes,
    check_defended_from_pops,
    nothing_left,  # noqa: F401 (a fixture)
    run_in_pops,
    short_scenario,
)

from secmas.deploy.containers import LABEL
from secmas.deploy.image import AgentImage
from secmas.deploy.podman import podman, podman_json
from secmas.network.emulation.registry import NETNS_DIR

pytestmark = NEEDS


@pytest.mark.usefixtures("nothing_left")
def test_agents_in_containers_in_their_pops_cut_a_real_flood(
    agent_image: AgentImage, image_reference: Reference, tmp_path: Path
) -> None:
    scenario = short_scenario()
    seen = Seen()
    inspected: dict[str, dict[str, Any]] = {}

    def look(_now: float, _duration: float) -> None:
        """Once the traffic runs: what `Seen` sees, and each agent's container as podman
        sees it."""
        if seen.look():
            started = [a.agent for a in drivers[0].agents.values()]
            inspected.update({c["Name"]: c for c in podman_json(["inspect", *started])})

    with containers_in_pops(agent_image, image_reference) as (agents, drivers):
        result = run_in_pops(scenario, tmp_path, look, agents)

    # nothing of the run's agents is left: containers, sidecars, processes
    [driver] = drivers
    assert not podman(["ps", "--all", "--quiet", "--filter", f"label={LABEL}={driver.run_id}"])
    # (of this run: another test's agents may run beside it)
    ours = {agent["pid"] for agent in result.emulation["control_plane"]["agents"].values()}
    assert not ours & set(agent_processes())

    trust = check_defended_from_pops(result, scenario, seen)

    # the external check was the containers' against the image's reference
    external = trust["external_measurement"]
    assert external["measured_by"].startswith("container check")
    assert external["reference_root"] == image_reference.manifest.root

    # each agent ran in a container of the image in its PoP's namespace
    plane = result.emulation["control_plane"]
    assert plane["agents_as"]["kind"] == "containers"
    assert plane["image"] == agent_image.id
    for pop, agent in plane["agents"].items():
        container = inspected[agent["container"]]
        assert container["State"]["Pid"] == agent["pid"], pop
        assert container["Image"] == agent_image.id, pop
        assert container["HostConfig"]["NetworkMode"] == f"ns:{NETNS_DIR / agent['namespace']}"

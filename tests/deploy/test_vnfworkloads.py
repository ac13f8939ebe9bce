"""VNF instances as containers in their PoPs (`secmas.deploy.vnfworkloads`) on a real
emulated network: the image's layer is pulled over the shaped links from the registry in
the repository's PoP, the container runs in the PoP's namespace, and its own counters see
the flows that cross that PoP, and only those, until traffic is steered through it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.containers import vnf_tools_missing
from tests.network.emulation.conftest import SERVER, leftovers, line_scenario, needs_emulation

from secmas.deploy.vnfimages import layer_bytes, prepare_registry
from secmas.deploy.vnfworkloads import VNFWorkloads
from secmas.network.clock import ScaledClock
from secmas.network.dataplane import Steer, TrafficSplit, split_part
from secmas.network.emulation.controller import EmulatedController
from secmas.network.emulation.namespaces import netns_inode
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import emulation_plan
from secmas.network.emulation.workload import Workload

pytestmark = [needs_emulation, pytest.mark.usefixtures("alone")]

IMAGE_MB = 10.0


@dataclass
class Running:
    network: EmulatedNetwork
    vnfs: VNFWorkloads
    controller: EmulatedController

    def seen(self, instance: str) -> dict[str, dict[str, int]]:
        """Sources → counts, as the instance's own counters say after one more second."""
        time.sleep(1.5)
        counters = self.vnfs.counters(instance)
        assert counters is not None, f"{instance} wrote no counters"
        return counters["sources"]


def tools() -> None:
    """Skip where VNF containers cannot run (./scripts/setup --test installs what lacks)."""
    reason = vnf_tools_missing()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tools()
    scenario = line_scenario()
    registry = prepare_registry({"classifier": layer_bytes(IMAGE_MB, scenario.network.scale)})
    folder = tmp_path_factory.mktemp("vnfs")
    network = EmulatedNetwork(emulation_plan(scenario))
    network.start()
    try:
        workload = Workload(network, folder, 1.0, 1)
        workload.start_service()
        workload.start_attack()
        vnfs = VNFWorkloads(network, registry, "A", folder / "vnfs", time.monotonic)
        controller = EmulatedController(network, ScaledClock(), 1.0, vnfs=vnfs)
        try:
            vnfs.start()
            yield Running(network, vnfs, controller)
        finally:
            vnfs.close()
            workload.stop()
    finally:
        network.stop()


def test_a_pull_crosses_the_shaped_links_and_is_timed(running: Running) -> None:
    plan = running.network.plan
    image = running.vnfs.registry.images["classifier"]
    seconds = asyncio.run(running.controller.pull_image("C", "classifier", 1.0))
    assert seconds is not None
    # A → B → C over shaped links: a pull can be slower than the widest of them, not faster
    rate = max(link.mbit for link in plan.links) * 1e6 / 8  # bytes a second
    assert seconds >= 0.8 * image.layer_bytes / rate


def test_the_container_runs_in_its_pops_namespace_and_sees_what_crosses_it(
    running: Running,
) -> None:
    network, vnfs = running.network, running.vnfs
    asyncio.run(running.controller.start_vnf("classifier@C#1", "C", "classifier"))
    asyncio.run(running.controller.start_vnf("classifier@D#2", "D", "classifier"))
    for instance, pop in (("classifier@C#1", "C"), ("classifier@D#2", "D")):
        workload = vnfs.workloads[instance]
        assert workload.namespace == network.plan.name(pop)
        pid = vnfs._store(pop).podman(["inspect", "--format", "{{.State.Pid}}", workload.container])
        assert netns_inode(int(pid)) == netns_inode(network.namespace(pop).pid)
    attackers = set(network.plan.attack_sources)
    on_path = running.seen("classifier@C#1")
    assert attackers <= set(on_path)
    assert all(on_path[ip]["syns"] > 0 for ip in attackers)
    assert not set(running.seen("classifier@D#2")) & attackers  # D is beside the path
    asyncio.run(running.controller.add_rule(TrafficSplit("A", SERVER, 2)))
    asyncio.run(running.controller.add_rule(Steer("A", SERVER, ("A", "D", "C"), part=1)))
    steered = {ip for ip in attackers if split_part(ip, 2) == 1}
    assert steered and steered <= set(running.seen("classifier@D#2"))


def test_a_stopped_instance_keeps_its_counters_and_nothing_is_left(running: Running) -> None:
    before = set(leftovers())
    asyncio.run(running.controller.start_vnf("classifier@B#3", "B", "classifier"))
    running.seen("classifier@B#3")
    asyncio.run(running.controller.stop_vnf("classifier@B#3"))
    workload = running.vnfs.workloads["classifier@B#3"]
    assert workload.stopped is not None and workload.counters is not None
    store = running.vnfs._store("B")
    assert store.podman(["ps", "--all", "--quiet"]).strip() == ""
    assert set(leftovers()) <= before


def test_close_removes_every_container_store_and_the_registry(tmp_path: Path) -> None:
    tools()
    scenario = line_scenario()
    registry = prepare_registry({"classifier": layer_bytes(IMAGE_MB, scenario.network.scale)})
    before = set(leftovers())
    with EmulatedNetwork(emulation_plan(scenario)) as network:
        vnfs = VNFWorkloads(network, registry, "A", tmp_path / "vnfs", time.monotonic)
        vnfs.start()
        pids = []
        for instance, pop in (("classifier@A#1", "A"), ("classifier@C#2", "C")):
            container = vnfs.run(instance, pop, "classifier").container
            inspect = ["inspect", "--format", "{{.State.ConmonPid}} {{.State.Pid}}", container]
            pids += vnfs._store(pop).podman(inspect).split()
        rows = vnfs.close()
        assert [row["pop"] for row in rows] == ["A", "C"]
        assert all(row["stopped"] is not None for row in rows)
        assert not any((tmp_path / "vnfs" / "stores").iterdir())
        assert vnfs._registry_process is None
        deadline = time.monotonic() + 10  # a container's monitor exits just after it
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
            time.sleep(0.1)
        assert not [
            Path(f"/proc/{p}/cmdline").read_bytes() for p in pids if Path(f"/proc/{p}").exists()
        ]
    assert set(leftovers()) <= before

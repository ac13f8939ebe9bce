"""A real CNF on the line network for tests of its remedies: nginx in the server's
namespace, an emulated controller over it, and a client that fetches from the service
address over new connections (`bed`)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.network.emulation.conftest import SERVER, leftovers, line_scenario, needs_emulation

from secmas.network.clock import ScaledClock
from secmas.network.emulation.cnfcgroup import unavailable
from secmas.network.emulation.cnfexporter import CNFCollector, read_stub_status
from secmas.network.emulation.cnfnginx import NginxCNF
from secmas.network.emulation.cnfservice import RealCNF
from secmas.network.emulation.controller import EmulatedController
from secmas.network.emulation.namespaces import Namespace
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import emulation_plan

NEEDS_CNF = [
    needs_emulation,
    pytest.mark.skipif(
        shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
        reason="Debian package nginx-light not installed",
    ),
    pytest.mark.skipif(unavailable() is not None, reason=f"no CNF cgroup: {unavailable()}"),
    pytest.mark.usefixtures("alone"),
]
"""What a test of the bed needs: root, namespaces, Mininet, nftables, a cgroup hierarchy
and Debian's nginx; it runs alone."""

FETCH = """
import http.client, sys
server, source, count, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
served = 0
for _ in range(count):
    try:
        connection = http.client.HTTPConnection(server, 8000, wait, (source, 0))
        connection.request("GET", "/bytes/100")
        answer = connection.getresponse()
        served += answer.status == 200 and len(answer.read()) == 100
        connection.close()
    except OSError:
        pass
print(served)
"""
"""Fetches `count` times from `source`, each over a new connection given `wait` seconds;
prints how many were served."""


@dataclass
class Bed:
    network: EmulatedNetwork
    cnf: RealCNF
    controller: EmulatedController

    @property
    def collector(self) -> CNFCollector | None:
        return self.cnf.collector

    @property
    def client(self) -> Namespace:
        return self.network.namespace(self.network.plan.groups[0].name)

    def fetch(self, count: int, wait: float = 5.0) -> int:
        """Requests served of `count`, from the first client's address."""
        source = self.network.plan.groups[0].clients[0].ip
        command = [sys.executable, "-c", FETCH, SERVER, source, str(count), str(wait)]
        return int(self.client.run(command).strip())

    def namespace(self, node: str) -> Namespace:
        return self.network.namespace(node)


def accepted(instance: NginxCNF) -> int:
    return read_stub_status(instance.layout.status_socket).accepts


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Bed]:
    before = set(leftovers())
    scenario = line_scenario(cnfs=[{"id": "web", "host": "server", "pop": "C"}])
    network = EmulatedNetwork(emulation_plan(scenario))
    network.start()
    try:
        spec = scenario.cnfs[0]
        cnf = RealCNF(network, spec, tmp_path / "cnf", [8000, 8080])
        cnf.start({100})
        try:
            yield Bed(network, cnf, EmulatedController(network, ScaledClock(), 1.0, {"web": cnf}))
        finally:
            cnf.stop()
    finally:
        network.stop()
    assert set(leftovers()) <= before

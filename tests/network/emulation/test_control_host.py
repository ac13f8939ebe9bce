"""The control host of a run whose agents live in their PoPs: reached from every PoP's
own address over the emulated links, from this process over the management link; PoP
namespaces under names that `ip netns exec` finds, removed when the run ends or, after
a SIGKILL, by a clean."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.network.emulation.conftest import line_scenario, needs_emulation

from secmas.network.emulation.network import EmulatedNetwork, call_inside
from secmas.network.emulation.plan import emulation_plan
from secmas.network.emulation.registry import NETNS_DIR, clean_dead_runs

pytestmark = needs_emulation

PORT = 4222


@pytest.fixture
def network(no_leftovers: None) -> Iterator[EmulatedNetwork]:
    with EmulatedNetwork(emulation_plan(line_scenario(), control=True)) as built:
        yield built


def connect_from(name: str, address: str) -> str:
    """Connect from inside the named namespace `name`; the local address it used."""
    code = (
        f"import socket; print(socket.create_connection(({address!r}, {PORT}), 5).getsockname()[0])"
    )
    done = subprocess.run(
        ["ip", "netns", "exec", name, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


def test_each_pop_reaches_the_control_host_from_its_own_address(network: EmulatedNetwork) -> None:
    control = network.plan.control
    assert control is not None
    server = call_inside(
        network.namespace(control.name), lambda: socket.create_server(("0.0.0.0", PORT))
    )
    with server:
        assert server.getsockname() == ("0.0.0.0", PORT)  # the control host's own port
        for pop, address in control.agents.items():
            path = network.named(pop)
            shell = network.namespace(pop).pid
            assert os.stat(path).st_ino == os.stat(f"/proc/{shell}/ns/net").st_ino
            assert connect_from(path.name, control.ip) == address
            accepted, (peer, _port) = server.accept()
            accepted.close()
            assert peer == address  # what the control host saw
        here = socket.create_connection((control.management_port.ip, PORT), 5)
        with here:
            assert here.getsockname()[0] == control.root_port.ip
            server.accept()[0].close()
    outside = socket.create_server((control.root_port.ip, PORT))  # this namespace's end
    with outside, pytest.raises(subprocess.CalledProcessError):  # no way out of the network
        connect_from(network.named("A").name, control.root_port.ip)
    names = [network.named(pop).name for pop in control.agents]
    network.stop()
    assert not [n for n in names if (NETNS_DIR / n).exists()]


def test_code_inside_a_namespace_raises_what_it_raises(network: EmulatedNetwork) -> None:
    control = network.plan.control
    assert control is not None

    def unknown_address() -> socket.socket:
        return socket.create_server((network.plan.server_ip, PORT))  # not the control host's

    with pytest.raises(OSError, match="assign"):
        call_inside(network.namespace(control.name), unknown_address)


NAMED_RUN = """
import sys, time
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import emulation_plan
from tests.network.emulation.conftest import line_scenario

network = EmulatedNetwork(emulation_plan(line_scenario(), prefix=sys.argv[1], control=True))
network.start()
print(network.named("A").name, flush=True)
time.sleep(120)
"""


def test_a_sigkilled_runs_namespace_names_go_with_its_clean() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", NAMED_RUN, "sn4me"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[3],
    )
    assert process.stdout is not None
    name = process.stdout.readline().strip()
    assert name.startswith("sn4me") and (NETNS_DIR / name).exists()
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (NETNS_DIR / name).exists()  # the name keeps the namespace alive
    # this clean, or another test's worker's that came first (cleans are machine-wide)
    clean_dead_runs()
    assert not (NETNS_DIR / name).exists()

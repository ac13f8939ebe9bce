"""The VXLAN overlay driver against the kernel, with agent traffic across it.

Three network namespaces stand in for hosts on one underlay LAN (a bridge in B, with a
veth to A and one to C), so C's packets do reach B: only the VNI keeps C out. A and B
join segment VNI; a nats-server in B listens on B's overlay address only; an agent in
A (a separate process, as agents run) asks a responder in B through it. C, on another
VNI, cannot open a TCP connection to that server, and can once it joins the same VNI.

Without privileges (CI may lack root, CAP_NET_ADMIN or the vxlan module) the kernel
tests skip with `overlay_available`'s reason; the spec checks run everywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import secmas
from secmas.transport.broker import MISSING_BINARY, NatsServer, find_nats_server
from secmas.transport.overlay import (
    OverlayError,
    VxlanOverlay,
    VxlanSpec,
    overlay_available,
)

REASON = overlay_available(namespaces=True)
needs_overlay = pytest.mark.skipif(REASON is not None, reason=f"VXLAN overlay: {REASON}")
needs_nats = pytest.mark.skipif(find_nats_server() is None, reason=MISSING_BINARY)

VNI = 4242
OTHER_VNI = 4243
SUBJECT = f"pipeline.{VNI}.ping"
A_UNDERLAY, B_UNDERLAY, C_UNDERLAY = "10.200.0.1", "10.200.0.2", "10.200.0.3"
A_OVERLAY, B_OVERLAY, C_OVERLAY = "192.168.77.1", "192.168.77.2", "192.168.77.3"
VXLAN_HEADROOM = 50
"""Outer IPv4 + UDP + VXLAN + inner Ethernet headers: the kernel's MTU reduction."""
BLOCKED_TIMEOUT_S = 1.0
"""How long C tries; a working overlay connects in milliseconds (see the control)."""
SRC = str(Path(secmas.__file__).resolve().parents[1])

RESPONDER = f"""
import asyncio, sys
from secmas.transport.nats import NatsBus

async def main(url):
    bus = await NatsBus.connect(url, name="responder-b")
    async def answer(subject, data):
        return b"pong " + data
    await bus.subscribe({SUBJECT!r}, answer)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # until the test says stop
    await bus.close()

asyncio.run(main(sys.argv[1]))
"""

REQUESTER = f"""
import asyncio, json, sys
from secmas.transport.nats import NatsBus

async def main(url):
    bus = await NatsBus.connect(url, name="requester-a")
    try:
        answers = [await bus.request({SUBJECT!r}, b"%d" % i, timeout=5) for i in range(3)]
    finally:
        await bus.close()
    print(json.dumps([answer.decode() for answer in answers]))

asyncio.run(main(sys.argv[1]))
"""


# --- what runs everywhere ------------------------------------------------------------


def test_availability_is_a_reason_or_none() -> None:
    assert REASON is None or (isinstance(REASON, str) and REASON)


def test_spec_defaults_and_checks() -> None:
    spec = VxlanSpec(VNI, "eth0", "10.0.0.1", "192.168.77.1/24", ("10.0.0.2",))
    assert spec.name == f"vxlan{VNI}"
    assert str(spec.overlay.network) == "192.168.77.0/24"
    with pytest.raises(ValueError, match="VNI"):
        VxlanSpec(0, "eth0", "10.0.0.1", "192.168.77.1/24")
    with pytest.raises(ValueError, match="VNI"):
        VxlanSpec(1 << 24, "eth0", "10.0.0.1", "192.168.77.1/24")
    with pytest.raises(TypeError):
        VxlanSpec(True, "eth0", "10.0.0.1", "192.168.77.1/24")
    with pytest.raises(ValueError, match="interface name"):
        VxlanSpec(VNI, "eth0", "10.0.0.1", "192.168.77.1/24", ifname="x" * 16)
    with pytest.raises(ValueError, match="IPv4"):
        VxlanSpec(VNI, "eth0", "10.0.0.1", "192.168.77.1/24", ("fd00::2",))
    with pytest.raises(TypeError, match="tuple"):
        VxlanSpec(VNI, "eth0", "10.0.0.1", "192.168.77.1/24", "10.0.0.2")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        VxlanSpec(VNI, "eth0", "10.0.0.1", "not an address")


# --- namespaces, underlay, overlay ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hosts:
    """The namespaces' names; the overlays of A and B (C builds its own per test)."""

    a: str
    b: str
    c: str
    overlay_a: VxlanOverlay
    overlay_b: VxlanOverlay


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    """Run the block with this thread in namespace `ns`: sockets opened and processes
    started there belong to it (setns affects the calling thread, children inherit it)."""
    from pyroute2 import netns

    netns.pushns(ns)
    try:
        yield
    finally:
        netns.popns()


def _veth(ns: str, peer_ns: str, name: str, peer_name: str) -> None:
    """A veth pair from `ns` to `peer_ns`, created inside the namespaces so its names
    never meet the host's interfaces."""
    from pyroute2 import IPRoute

    with IPRoute(netns=ns, flags=0) as ipr:
        ipr.link("add", ifname=name, kind="veth", peer=peer_name)
        (peer,) = ipr.link_lookup(ifname=peer_name)
        ipr.link("set", index=peer, net_ns_fd=peer_ns)


def _up(ns: str, ifname: str, address: str | None = None) -> None:
    from pyroute2 import IPRoute

    with IPRoute(netns=ns, flags=0) as ipr:
        (index,) = ipr.link_lookup(ifname=ifname)
        if address is not None:
            ipr.addr("add", index=index, address=address, prefixlen=24)
        ipr.link("set", index=index, state="up")


def _bridge(ns: str, name: str, ports: list[str]) -> None:
    """A bridge in `ns` joining `ports` (brought up): the underlay switch."""
    from pyroute2 import IPRoute

    with IPRoute(netns=ns, flags=0) as ipr:
        ipr.link("add", ifname=name, kind="bridge")
        (bridge,) = ipr.link_lookup(ifname=name)
        for port in ports:
            (index,) = ipr.link_lookup(ifname=port)
            ipr.link("set", index=index, master=bridge, state="up")


def _link(ns: str, ifname: str) -> dict[str, int]:
    """The interface's MTU and packet counters, as the kernel reports them now."""
    from pyroute2 import IPRoute

    with IPRoute(netns=ns, flags=0) as ipr:
        (index,) = ipr.link_lookup(ifname=ifname)
        (msg,) = ipr.link("get", index=index)
        stats = msg.get("IFLA_STATS64")
        return {"mtu": msg.get("mtu"), "tx": stats["tx_packets"], "rx": stats["rx_packets"]}


def _remove(names: list[str]) -> None:
    """Remove the namespaces that exist; their veths and VXLAN interfaces go with them."""
    from pyroute2 import netns

    present = set(netns.listnetns())
    for name in names:
        if name in present:
            netns.remove(name)


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    """A, B and C on the underlay 10.200.0.0/24 (B's bridge joins the veths from A and
    C); A and B on segment VNI, B also flooding to C, so C hears B's segment traffic and
    drops it only for its VNI."""
    from pyroute2 import netns

    pid = os.getpid()
    a, b, c = (f"vxlan_{role}_{pid}" for role in "abc")
    _remove([a, b, c])
    try:
        for name in (a, b, c):
            netns.create(name)
            _up(name, "lo")
        _veth(a, b, "ul0", "ula")
        _veth(c, b, "ul0", "ulc")
        _bridge(b, "br0", ["ula", "ulc"])
        _up(a, "ul0", A_UNDERLAY)
        _up(b, "br0", B_UNDERLAY)
        _up(c, "ul0", C_UNDERLAY)
        overlay_a = VxlanOverlay(
            VxlanSpec(VNI, "ul0", A_UNDERLAY, f"{A_OVERLAY}/24", (B_UNDERLAY,), netns=a)
        ).up()
        overlay_b = VxlanOverlay(
            VxlanSpec(VNI, "br0", B_UNDERLAY, f"{B_OVERLAY}/24", (A_UNDERLAY,), netns=b)
        ).up()
        overlay_b.add_remote(C_UNDERLAY)
        yield Hosts(a, b, c, overlay_a, overlay_b)
    finally:
        _remove([a, b, c])


@pytest.fixture(scope="module")
def server(hosts: Hosts) -> Iterator[NatsServer]:
    """nats-server in B, listening on B's overlay address only (ready-checked from B)."""
    with inside(hosts.b):
        running = NatsServer(host=B_OVERLAY).start()
    try:
        yield running
    finally:
        running.stop()


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    """A Python child (an agent process); it runs in the namespace of the calling thread."""
    path = os.pathsep.join(filter(None, (SRC, os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _line(process: subprocess.Popen[str], timeout: float) -> str:
    """The process's next output line, or fail with its error output."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"no output within {timeout} s (status {process.returncode}):\n{err}")
    return line.strip()


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.communicate()


def _connects(host: str, port: int, timeout: float) -> bool | type[OSError]:
    """True when a TCP connection opens, else the kind of failure."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError as exc:
        return type(exc)


# --- kernel tests --------------------------------------------------------------------


@needs_overlay
def test_overlay_is_configured_as_specified(hosts: Hosts) -> None:
    assert hosts.overlay_a.exists and hosts.overlay_b.exists
    assert hosts.overlay_a.remotes() == [B_UNDERLAY]
    assert sorted(hosts.overlay_b.remotes()) == [A_UNDERLAY, C_UNDERLAY]
    underlay = _link(hosts.a, "ul0")["mtu"]
    assert _link(hosts.a, hosts.overlay_a.spec.name)["mtu"] == underlay - VXLAN_HEADROOM


@needs_overlay
def test_an_overlay_tied_to_no_device_follows_the_routes(hosts: Hosts) -> None:
    # a router's peers lie behind different links: its interface names none, and the
    # kernel routes each encapsulated packet (its MTU: an Ethernet underlay's less the
    # VXLAN headroom)
    spec = VxlanSpec(4301, None, A_UNDERLAY, "192.168.79.1/24", (B_UNDERLAY,), netns=hosts.a)
    with VxlanOverlay(spec) as free:
        assert free.remotes() == [B_UNDERLAY]
        link = _link(hosts.a, spec.name)
        assert link["mtu"] == 1500 - VXLAN_HEADROOM
    assert not free.exists


@needs_overlay
@needs_nats
def test_agents_talk_through_the_overlay(hosts: Hosts, server: NatsServer) -> None:
    vxlan = hosts.overlay_a.spec.name
    before = _link(hosts.a, vxlan)
    with inside(hosts.b):
        responder = _python(RESPONDER, server.url)
    try:
        assert _line(responder, 10) == "ready"
        with inside(hosts.a):
            requester = _python(REQUESTER, server.url)
        try:
            assert json.loads(_line(requester, 10)) == ["pong 0", "pong 1", "pong 2"]
        finally:
            _stop(requester)
    finally:
        _stop(responder)
    after = _link(hosts.a, vxlan)
    # A reaches 192.168.77.0/24 only through the VXLAN interface: the traffic crossed it
    assert after["tx"] - before["tx"] >= 3 and after["rx"] - before["rx"] >= 3


@needs_overlay
@needs_nats
def test_another_vni_cannot_reach_the_server(hosts: Hosts, server: NatsServer) -> None:
    def spec(vni: int) -> VxlanSpec:
        return VxlanSpec(vni, "ul0", C_UNDERLAY, f"{C_OVERLAY}/24", (B_UNDERLAY,), netns=hosts.c)

    with inside(hosts.c):
        # the underlay carries C's packets to B: nothing listens there, B says so at once
        assert _connects(B_UNDERLAY, server.port, BLOCKED_TIMEOUT_S) is ConnectionRefusedError
    with VxlanOverlay(spec(OTHER_VNI)), inside(hosts.c):
        reached = _connects(B_OVERLAY, server.port, BLOCKED_TIMEOUT_S)
    # not even refused: B's kernel dropped the frames (ARP included) of a VNI it lacks
    assert reached is not True, "a different VNI reached the server"
    assert reached is not ConnectionRefusedError, "a different VNI reached B's stack"
    # control: the same namespace, underlay and address on the server's VNI gets through
    with VxlanOverlay(spec(VNI)), inside(hosts.c):
        assert _connects(B_OVERLAY, server.port, 5.0) is True


@needs_overlay
def test_failed_up_leaves_nothing_and_down_is_idempotent(hosts: Hosts) -> None:
    # the kernel refuses a second interface for a VNI (and port) a namespace already has
    clash = VxlanOverlay(
        VxlanSpec(VNI, "ul0", A_UNDERLAY, "192.168.78.1/24", netns=hosts.a, ifname="vxclash")
    )
    with pytest.raises(OverlayError, match="cannot create"):
        clash.up()
    assert not clash.exists
    with pytest.raises(OverlayError, match="no underlay device"):
        VxlanOverlay(VxlanSpec(4300, "nothere", A_UNDERLAY, "192.168.78.1/24", netns=hosts.a)).up()
    missing = f"vxlan_missing_{os.getpid()}"
    with pytest.raises(OverlayError, match="cannot enter"):
        VxlanOverlay(VxlanSpec(4300, "ul0", A_UNDERLAY, "192.168.78.1/24", netns=missing)).up()
    from pyroute2 import netns

    assert missing not in netns.listnetns(), "the driver must not create namespaces"

    extra = VxlanOverlay(VxlanSpec(4301, "ul0", A_UNDERLAY, "192.168.79.1/24", netns=hosts.a))
    with extra:
        assert extra.exists and extra.remotes() == []
        extra.add_remote(B_UNDERLAY)
        assert extra.remotes() == [B_UNDERLAY]
        extra.remove_remote(B_UNDERLAY)
        assert extra.remotes() == []
    assert not extra.exists
    extra.down()
    with pytest.raises(OverlayError, match="not up"):
        extra.add_remote(B_UNDERLAY)

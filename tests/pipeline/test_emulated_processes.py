"""Agents in their PoPs on the emulated network, piece by piece: the run's bus served
inside the control host, the pipeline's VXLAN overlay among the control host and the PoPs,
and the IML driver that starts an agent inside its PoP's named namespace, from whose
overlay address the agent joins the bus, its frames crossing the emulated links.

What crossed is read off the wire: a raw socket in the PoP's namespace sees every frame
of every interface there, the segment's UDP datagrams on the links and the Ethernet
frames they carry on the VXLAN interface."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.network.emulation.conftest import line_scenario, needs_emulation

from secmas.network.emulation.network import EmulatedNetwork, call_inside
from secmas.network.emulation.plan import emulation_plan
from secmas.pipeline.agent_process import ready_subject
from secmas.pipeline.controloverlay import CONTROL, ControlOverlay, plan_overlay
from secmas.pipeline.emulated_processes import (
    BUS_PORT,
    agents_in_pops,
    bus_clients,
    control_servers,
    joined,
    serve_control,
)
from secmas.pipeline.iml import AgentLaunch
from secmas.pipeline.mlfo import pipeline_name
from secmas.pipeline.processes import RunServers
from secmas.scenario.topology import dump_scenario
from secmas.transport.broker import MISSING_BINARY, find_nats_server
from secmas.transport.overlay import VXLAN_PORT
from secmas.trust.control import MLFO

VNI = 4711
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
NATS_VERBS = (b"CONNECT ", b"PUB ", b"HPUB ", b"SUB ", b"MSG ", b"HMSG ", b"PING\r\n")
"""What NATS's text protocol would show of an agent's traffic outside TLS."""

pytestmark = [
    needs_emulation,
    pytest.mark.skipif(find_nats_server() is None, reason=MISSING_BINARY),
]


@dataclass(frozen=True)
class Segment:
    """An IPv4 TCP or UDP packet read off an Ethernet frame."""

    src: str
    dst: str
    protocol: int
    sport: int
    dport: int
    payload: bytes


def ip_packet(frame: bytes) -> Segment | None:
    """The TCP or UDP packet an Ethernet frame carries; None for anything else."""
    if len(frame) < 34 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
        return None
    header = frame[14:]
    length = (header[0] & 0x0F) * 4
    protocol = header[9]
    src, dst = socket.inet_ntoa(header[12:16]), socket.inet_ntoa(header[16:20])
    body = header[length : struct.unpack("!H", header[2:4])[0]]
    if protocol == socket.IPPROTO_UDP:
        sport, dport = struct.unpack("!HH", body[:4])
        return Segment(src, dst, protocol, sport, dport, body[8:])
    if protocol == socket.IPPROTO_TCP:
        sport, dport = struct.unpack("!HH", body[:4])
        return Segment(src, dst, protocol, sport, dport, body[(body[12] >> 4) * 4 :])
    return None


def capture(network: EmulatedNetwork, node: str) -> socket.socket:
    """A raw socket that receives every frame of every interface of `node`'s namespace."""

    def opened() -> socket.socket:
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
        raw.setblocking(False)
        return raw

    return call_inside(network.namespace(node), opened)


def drained(raw: socket.socket) -> list[tuple[str, bytes]]:
    """(interface, frame) of every frame the socket holds."""
    frames = []
    while True:
        try:
            frame, address = raw.recvfrom(1 << 16)
        except BlockingIOError:
            return frames
        frames.append((address[0], frame))


def test_an_agent_joins_the_bus_over_the_overlay_from_its_pop(tmp_path: Path) -> None:
    scenario = line_scenario(security={"enabled": False})
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(dump_scenario(scenario), encoding="utf-8")
    pipeline = pipeline_name(scenario.id)
    with EmulatedNetwork(emulation_plan(scenario, control=True)) as network:
        control = network.plan.control
        assert control is not None
        overlay = plan_overlay(control, VNI)
        servers = control_servers(network, tmp_path, scenario, overlay)
        wire = capture(network, "B")

        async def start_agent() -> tuple[dict[str, int], int, dict[str, object]]:
            async with joined(overlay, network):
                joined_up = await in_pop(network, servers, overlay, scenario_file, pipeline)
                frames.extend(drained(wire))  # while the interfaces they came in on are there
            return joined_up

        frames: list[tuple[str, bytes]] = []
        try:
            hosts, inside, seen = asyncio.run(start_agent())
        finally:
            servers.stop()
            wire.close()
        named = network.named("B")
        assert hosts == {"B": named.name}
        assert inside == os.stat(named).st_ino  # the agent's process is in B's namespace
        agent, mlfo = seen["secmas-agent-B"], seen["secmas-mlfo"]
        assert agent["ip"] == overlay.overlay["B"]  # it came over the overlay
        assert mlfo["ip"] == control.root_port.ip  # the MLFO came over the management link
        check_frames(frames, overlay.underlay, overlay.overlay)
    assert not list((tmp_path / "bus").glob("*.nk"))  # the seeds went with the servers


async def in_pop(
    network: EmulatedNetwork,
    servers: RunServers,
    overlay: ControlOverlay,
    scenario_file: Path,
    pipeline: str,
) -> tuple[dict[str, int], int, dict[str, object]]:
    """B's agent started inside B over the overlay, until it is ready: the driver's hosts,
    the agent's network namespace, and the bus server's clients."""
    folder = scenario_file.parent
    access = await serve_control(servers, network, overlay)
    assert access.agent_bus is not None and access.ledger is None
    mlfo = await access.bus.connect(MLFO, name="secmas-mlfo")
    ready = asyncio.Event()

    async def on_ready(_subject: str, _data: bytes) -> None:
        ready.set()

    await mlfo.subscribe(ready_subject(pipeline, "B"), on_ready)
    iml = agents_in_pops(network, folder, ["B"])
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


def check_frames(
    frames: list[tuple[str, bytes]], underlay: dict[str, str], overlay: dict[str, str]
) -> None:
    """On B's links the segment is UDP between members' underlay addresses (B, a router,
    forwards others' too); the agent's traffic is the part between B's and the control
    host's, TCP between their overlay addresses inside, as on B's VXLAN interface; and what
    it carries is TLS: no NATS verb in the clear after the server's greeting (the only
    thing NATS sends before TLS starts)."""
    on_links = [
        p
        for name, f in frames
        if name != f"vxlan{VNI}"
        and (p := ip_packet(f)) is not None
        and p.protocol == socket.IPPROTO_UDP
        and VXLAN_PORT in (p.sport, p.dport)
    ]
    assert on_links and all({p.src, p.dst} <= set(underlay.values()) for p in on_links)
    ends = {underlay["B"], underlay[CONTROL]}
    mine = [p for p in on_links if {p.src, p.dst} == ends]
    carried = [ip_packet(p.payload[8:]) for p in mine]  # past the VXLAN header
    bus = [
        p
        for p in carried
        if p is not None and p.protocol == socket.IPPROTO_TCP and BUS_PORT in (p.sport, p.dport)
    ]
    assert bus and all({p.src, p.dst} == {overlay["B"], overlay[CONTROL]} for p in bus)
    on_vxlan = [ip_packet(f) for name, f in frames if name == f"vxlan{VNI}"]
    assert any(p is not None and p.dport == BUS_PORT for p in on_vxlan)
    sent = [p.payload for p in bus if p.dport == BUS_PORT and p.payload]
    assert sent and sent[0][:1] == b"\x16"  # the agent's first bytes: a TLS handshake
    answered = [p.payload for p in bus if p.sport == BUS_PORT and p.payload]
    assert answered[0].startswith(b"INFO ")  # the server's greeting, before TLS
    for payload in sent + answered[1:]:
        assert not any(verb in payload for verb in NATS_VERBS), payload[:80]

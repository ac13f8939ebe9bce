"""Agents as processes inside their PoPs on the emulated network, the trust layer on: a
short real-time run of the emulated reference scenario, judged from real counters.

Each PoP's `secmas agent` runs inside its PoP's namespace and reaches the run's NATS
server (TLS, nkeys) and ledger (HTTPS) on the control host over the emulated links; the
data plane is real (a SYN flood from raw sockets, nftables rules), served to the agents
by the MLFO's controller over the bus. Needs root, Mininet, nftables (CI has them) and
nats-server; skipped otherwise, naming what is missing. Nothing is left behind, even when
the run fails: the run takes its network, names and processes down itself, and the test
checks it.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.network.emulation.conftest import leftovers, needs_emulation

from secmas.network.emulation.registry import NETNS_DIR, live_runs
from secmas.pipeline.emulated import EmulatedResult
from secmas.pipeline.processes import operate_processes
from secmas.report.acceptance import acceptance
from secmas.scenario.loader import load_scenario
from secmas.scenario.topology import dump_scenario
from secmas.transport.broker import MISSING_BINARY, find_nats_server

pytestmark = [
    needs_emulation,
    pytest.mark.skipif(find_nats_server() is None, reason=MISSING_BINARY),
]

REFERENCE = Path(__file__).resolve().parents[2] / "src" / "secmas" / "data" / "ddos-emulated.yaml"
ATTACK_START = 5.0
BUS_PORT = 4222
ESTABLISHED = "01"  # TCP_ESTABLISHED in /proc/net/tcp


def short_scenario() -> Any:
    """ddos-emulated in 30 s: the attack at 5 s, images of 10 MB (downloads of about a
    second), the trust layer on as the file has it."""
    scenario = load_scenario(REFERENCE)
    traffic = scenario.traffic.model_copy(update={"duration": 30})
    attack = scenario.attack.model_copy(update={"start": ATTACK_START})
    vnfs = tuple(v.model_copy(update={"image_size": 10}) for v in scenario.vnfs)
    return scenario.model_copy(update={"traffic": traffic, "attack": attack, "vnfs": vnfs})


def tcp(pid: int) -> list[tuple[str, str, int, str]]:
    """(local address, remote address, remote port, state) of the TCP sockets in the
    network namespace of process `pid`."""

    def endpoint(text: str) -> tuple[str, int]:
        host, port = text.split(":")
        return socket.inet_ntoa(bytes.fromhex(host)[::-1]), int(port, 16)

    rows = []
    for row in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        (local, _), (remote, port) = endpoint(fields[1]), endpoint(fields[2])
        rows.append((local, remote, port, fields[3]))
    return rows


def agent_processes() -> dict[int, tuple[int, list[tuple[str, str, int, str]]]]:
    """Every `secmas agent` process now: its network namespace and that namespace's TCP
    sockets, by PID."""
    seen = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"secmas" in argv and b"agent" in argv:
                seen[int(entry.name)] = (os.stat(entry / "ns" / "net").st_ino, tcp(int(entry.name)))
        except OSError:
            continue  # gone meanwhile
    return seen


def run_names() -> set[str]:
    """Names of PoP namespaces (`<prefix>r<N>`) of emulated runs no longer alive."""
    if not NETNS_DIR.is_dir():
        return set()
    live = live_runs()
    found = [n for n in os.listdir(NETNS_DIR) if re.fullmatch(r"s[a-z0-9]{4}r\d+", n)]
    return {n for n in found if not any(n.startswith(prefix) for prefix in live)}


@pytest.fixture
def nothing_left() -> Iterator[None]:
    """No run record, interface or namespace name of the run remains, pass or fail."""
    before, names = set(leftovers()), run_names()
    yield
    assert set(leftovers()) <= before
    assert run_names() <= names, f"namespace names left: {sorted(run_names() - names)}"


def test_agents_in_their_pops_cut_a_real_flood_over_the_emulated_links(
    tmp_path: Path, nothing_left: None
) -> None:
    scenario = short_scenario()
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(dump_scenario(scenario), encoding="utf-8")
    seen: dict[int, tuple[int, list[tuple[str, str, int, str]]]] = {}
    names: dict[str, int] = {}

    def look(now: float, _duration: float) -> None:
        """Once the traffic runs: each agent's namespace and sockets, and the names."""
        if not seen:
            seen.update(agent_processes())
            names.update({p.name: os.stat(p).st_ino for p in NETNS_DIR.iterdir()})

    result = asyncio.run(
        operate_processes(scenario, scenario_file, workdir=tmp_path / "run", progress=look)
    )
    assert isinstance(result, EmulatedResult)
    emulation = result.emulation

    # the attack was cut on real packets, and real requests succeeded
    server = emulation["server_packets"]
    peak = max(s["attack_pps"] for s in server if s["t"] >= ATTACK_START)
    end = [s["attack_pps"] for s in server if s["t"] >= server[-1]["t"] - 4]
    # cut to at most half of its peak (an IP limit: about a fifth; flow blocks: none)
    assert peak > 0 and sum(end) / len(end) <= 0.5 * peak, [s["attack_pps"] for s in server]
    assert {"limitIP", "blockFlow"} & {a.action for a in result.journal.actions}
    before, during = (w for w in emulation["requests"] if w["phase"] != "end window")
    assert before["requests"] > 0 and before["success"] >= 0.95, before
    assert during["requests"] > 0 and during["success"] >= 0.8, during
    accepted = acceptance(result.telemetry, ATTACK_START, result.capacity.ok)
    assert accepted.attack_reduction is not None and accepted.attack_reduction >= 0.5

    # the trust layer ran: every agent attested, its channel sealed, measured from outside
    trust = result.trust
    assert trust is not None
    assert [e["kind"] for e in trust["attestations"][:6]] == ["initial"] + ["mutual"] * 5
    assert all(e["result"] == "pass" for e in trust["attestations"])
    assert all(a["trusted"] for a in trust["agents"].values())
    assert trust["external_measurement"]["checks"] > 0
    assert not trust["external_measurement"]["failed"]

    # each agent ran in its PoP's namespace, its control traffic crossed the emulated links
    plane = emulation["control_plane"]
    assert plane["agents_as"]["kind"] == "processes"  # the default (containers: the caller's)
    control = plane["control_host"]["address"]
    assert set(plane["agents"]) == {p.id for p in scenario.pops}
    for pop, agent in plane["agents"].items():
        namespace, sockets = seen[agent["pid"]]
        assert namespace == names[agent["namespace"]], pop
        assert (agent["address"], control, BUS_PORT, ESTABLISHED) in sockets, pop
        assert agent["connection"]["ip"] == agent["address"], pop  # as the server saw it
        assert agent["connection"]["in_msgs"] > 0, pop
    latency = plane["tick_latency"]["phases"]
    for phase in ("before attack", "during attack"):
        for pop, figures in latency[phase]["agents"].items():
            assert figures["reported"] > 0 and figures["median_ms"] > 0, (phase, pop)

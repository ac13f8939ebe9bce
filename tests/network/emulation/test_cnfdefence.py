"""The enforcement on the emulated CNF, its pure parts, and the nginx configuration checked
by the real nginx."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.network.emulation.cnfattacks import AttackSettings, inside_command
from secmas.network.emulation.cnfdefence import (
    GuardSettings,
    guard_ruleset,
    held_sockets,
    intruders,
    parse_guard,
    relayed_held,
)
from secmas.network.emulation.cnffront import front_ruleset
from secmas.network.emulation.cnfnginx import NginxLayout, nginx_config, write_docroot

SS = """ESTAB      0 0 10.0.0.100:8000 10.66.0.1:40001
ESTAB      0 0 10.0.0.100:8000 10.66.0.1:40002
SYN-RECV   0 0 10.0.0.100:8000 10.66.0.1:40003
ESTAB      0 0 10.0.0.100:8000 10.1.0.7:50000
LISTEN     0 1024 10.0.0.100:8000 0.0.0.0:*
TIME-WAIT  0 0 10.0.0.100:8000 10.1.0.7:50001
TIME-WAIT  0 0 10.0.0.100:8000 10.1.0.7:50002
TIME-WAIT  0 0 10.0.0.100:8000 10.1.0.7:50003
ESTAB      0 0 10.0.0.100:22 10.66.0.2:1
ESTAB      0 0 10.0.0.100:22 10.66.0.2:2
ESTAB      0 0 10.0.0.100:22 10.66.0.2:3
"""


def test_held_sockets_count_open_service_connections_only() -> None:
    assert held_sockets(SS, {8000}) == {"10.66.0.1": 3, "10.1.0.7": 1}
    assert held_sockets(SS, {22}) == {"10.66.0.2": 3}


def tracked(state: str, source: str, port: int, answered_by: str, extra: str = "") -> str:
    """One TCP line of /proc/net/nf_conntrack towards the service address."""
    original = f"src={source} dst=10.0.0.100 sport=40000 dport={port}"
    reply = f"src={answered_by} dst=10.0.0.100 sport={port} dport=40000"
    return f"ipv4     2 tcp      6 100 {state} {original} {extra}{reply} mark=0 zone=0 use=2"


CONNTRACK = "\n".join(
    [
        tracked("ESTABLISHED", "10.66.0.1", 8000, "10.251.0.2"),
        tracked("SYN_SENT", "10.66.0.1", 8000, "10.251.0.2", "[UNREPLIED] "),
        tracked("TIME_WAIT", "10.66.0.1", 8000, "10.251.0.2"),
        tracked("ESTABLISHED", "10.1.0.7", 8000, "10.0.0.100"),
        tracked("ESTABLISHED", "10.1.0.8", 22, "10.251.0.2"),
        "ipv4     2 udp      17 20 src=10.1.0.9 dst=10.0.0.100 sport=53 dport=8000 "
        "src=10.251.0.2 dst=10.0.0.100 sport=8000 dport=53 mark=0 zone=0 use=2",
    ]
)


def test_relayed_held_counts_what_the_front_sends_elsewhere_and_holds() -> None:
    # held or being opened, relayed to an instance elsewhere; not a closed one, not one
    # the service address answers itself (`ss` counts those), not another port or UDP
    assert relayed_held(CONNTRACK, "10.0.0.100", {8000}) == {"10.66.0.1": 2}
    assert relayed_held("", "10.0.0.100", {8000}) == {}


def test_intruders_are_what_is_not_nginx() -> None:
    parents = {100: 1, 101: 100, 102: 100, 200: 100, 201: 200, 400: 1, 401: 400}
    # 200 is a child of the master too (a worker); 201, its child, is not nginx's
    assert intruders([100, 101, 102, 200, 201, 300], {100}, parents) == [201, 300]
    # a replica's master (400) and its worker are the CNF's too
    assert intruders([100, 101, 300, 400, 401], {100, 400}, parents) == [300]


def test_guard_ruleset_names_ports_and_limits() -> None:
    settings = GuardSettings(rate=7, burst=9, held=5, timeout=11)
    text = guard_ruleset("10.0.0.100", [8080, 8000], settings)
    assert "ip daddr 10.0.0.100 tcp dport { 8000, 8080 }" in text
    assert "limit rate over 7/second burst 9 packets" in text
    assert "ct count over 5" in text and "timeout 11s" in text
    assert "hook prerouting" in text  # before the front hands the connection on
    # a PoP that sees the requests only does not count connections held
    steered = guard_ruleset("10.0.0.100", [8000], settings, counting=False)
    assert "ct count" not in steered and "limit rate over 7/second" in steered


def test_the_front_spreads_new_connections_and_sources_the_ones_that_leave() -> None:
    text = front_ruleset("10.0.0.100", [8080, 8000], ["10.0.0.100", "10.251.0.4", "10.251.0.4"])
    assert "numgen inc mod 3 map { 0 : 10.0.0.100, 1 : 10.251.0.4, 2 : 10.251.0.4 }" in text
    assert "ip daddr { 10.251.0.4 } tcp dport { 8000, 8080 } snat to 10.0.0.100" in text
    assert "snat" not in front_ruleset("10.0.0.100", [8000], ["10.0.0.100"])


def test_parse_guard() -> None:
    listing = {
        "nftables": [
            {"metainfo": {}},
            {"counter": {"name": "dropped", "packets": 42, "bytes": 2520}},
            {"set": {"name": "offenders", "elem": [{"elem": {"val": "10.66.0.2"}}, "10.66.0.1"]}},
        ]
    }
    assert parse_guard(json.dumps(listing)) == (42, ["10.66.0.1", "10.66.0.2"])


def test_attacks_inside_the_cnf() -> None:
    settings = AttackSettings(cpu_load=50, leak_growth="8K")
    assert inside_command("high_cpu", settings, "stress-ng")[:5] == [
        "stress-ng",
        "--cpu",
        "1",
        "--cpu-load",
        "50",
    ]
    assert "--bigheap-growth" in inside_command("high_memory", settings, "stress-ng")
    with pytest.raises(ValueError, match="not an attack inside"):
        inside_command("slowloris", settings, "stress-ng")


@pytest.mark.skipif(
    shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
    reason="Debian package nginx-light not installed",
)
def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    layout = NginxLayout(tmp_path)
    (tmp_path / "tmp").mkdir()
    write_docroot(layout, [10, 2048])
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    shared = tmp_path / "shared.log"
    for config in (
        nginx_config(layout, "127.0.0.1", [8000, 8080]),
        nginx_config(layout, "127.0.0.1", [8000], access_log=shared, header_timeout=5),
    ):
        layout.config.write_text(config)
        done = subprocess.run(
            [nginx, "-t", "-c", str(layout.config), "-p", str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert "client_header_timeout 5s;" in config and f"access_log {shared} cnf;" in config
    assert "reuseport" in config  # replicas share the address
    assert (tmp_path / "www" / "bytes" / "2048").stat().st_size == 2048


@given(depth=st.integers(min_value=0, max_value=40))
def test_the_status_socket_always_fits_a_unix_socket_address(depth: int) -> None:
    """nginx refuses to start on a socket path over 107 bytes (a pytest folder under xdist
    passed it): a long run folder puts the socket in the temporary folder instead."""
    root = Path("/tmp/pytest-of-root/pytest-1/popen-gw0/test_a_run0") / ("folder/" * depth)
    socket = NginxLayout(root).status_socket
    assert len(os.fsencode(socket)) <= 107
    assert socket == NginxLayout(root).status_socket  # the same run finds it again
    if len(os.fsencode(root / "status.sock")) <= 107:
        assert socket == root / "status.sock"


def test_a_relative_run_folder_gives_nginx_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nginx reads a relative -c path from its -p prefix: `secmas demo --out runs/x`
    passed runs/x/… twice over and nginx did not start."""
    monkeypatch.chdir(tmp_path)
    layout = NginxLayout(Path("runs/x"))
    assert layout.config == tmp_path / "runs/x/nginx.conf" and layout.root.is_absolute()

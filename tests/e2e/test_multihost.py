"""Agents on several hosts: network namespaces as the hosts, one run over a host list.

The test builds a small network of its own: a Linux bridge in a namespace of its own,
an "infra" namespace serving the NATS bus (TLS, an nkey per client) and the JSON-RPC
ledger on its one address, three agent hosts, and a veth into the root namespace, where
this process runs the MLFO and the host-list driver. Each agent is started in its host's
namespace through the host list's template (`ip netns exec … {command}`), gets its
secrets over the template's stdin, and only connects out. Everything is removed
afterwards, even when the test fails.

Run as a script (inside the infra namespace) this file serves that namespace's bus and
ledger until its input ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from secmas.ledger.accounts import Account
from secmas.ledger.keyfile import LedgerKeys
from secmas.ledger.rpcnode import LEDGER_TOKEN_ENV
from secmas.ledger.rpcserver import LedgerServer
from secmas.pipeline.busaccess import SERVER, BusAccess, issue_pipeline_users
from secmas.pipeline.hosts import HostProcesses, load_hosts
from secmas.pipeline.mlfo import pipeline_name
from secmas.transport.address import BusAddress
from secmas.transport.broker import MISSING_BINARY, NatsServer, find_nats_server
from secmas.transport.tls import CA_FILE, issue_run_pki, write_secret

NATS_PORT = 4222
LEDGER_PORT = 8545
LEDGER_FILES = ("ledger.token", "mlfo.key", "secaas.key")
SPEED = 5.0
"""Simulated seconds per wall second. Agents on hosts reach the bus and the ledger over
the lab's links, and every ledger call of theirs is a JSON-RPC call: at 10× a busy
machine let the last stages of the mitigation come late in the run's end window (two
suites of three saw legitimate traffic at 84 %, acceptance asks 90 %); at 5× every
simulated second has twice the wall time for them."""
HOSTS = ("h1", "h2", "h3")
READY = "infra ready"
LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def serve_infra(folder: Path, address: str, pipeline: str, pops: list[str]) -> None:
    """The infra namespace's bus and ledger, bound to `address` only, until stdin ends:
    a CA and a server certificate for `address`, an nkey per client, the ledger's token
    and its MLFO's and SECaaS's keys, in `folder`."""
    certificate = issue_run_pki(folder, [SERVER], hosts=(address,))[SERVER]
    users = issue_pipeline_users(folder, pipeline, pops)
    bus = NatsServer(NATS_PORT, host=address, tls=certificate, users=users)
    ledger = LedgerServer(address, LEDGER_PORT)
    secrets = (ledger.token, ledger.mlfo_key, ledger.secaas_key)
    for name, secret in zip(LEDGER_FILES, secrets, strict=True):
        write_secret(folder / name, secret.encode())
    with bus, ledger:
        print(READY, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    serve_infra(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].split(","))
    sys.exit(0)

from tests.e2e import test_processes as reference  # noqa: E402 (the script needs none of it)

from secmas.pipeline.outside import operate_processes  # noqa: E402

if find_nats_server() is None:
    pytest.skip(f"multi-host runs need a server: {MISSING_BINARY}", allow_module_level=True)
if os.geteuid() != 0 or shutil.which("ip") is None:
    pytest.skip("multi-host runs build network namespaces: needs root and iproute2 (ip)",
                allow_module_level=True)  # fmt: skip


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass(frozen=True)
class Lab:
    """The namespaces, addresses and servers of one test network."""

    tag: str
    subnet: int
    """The third octet of 10.213.x.0/24."""

    def ns(self, role: str) -> str:
        return f"smh{self.tag}-{role}"

    def address(self, role: str) -> str:
        last = {"root": 1, "infra": 2} | {h: 11 + i for i, h in enumerate(HOSTS)}
        return f"10.213.{self.subnet}.{last[role]}"

    @property
    def root_link(self) -> str:
        return f"smh{self.tag}r"

    @property
    def roles(self) -> tuple[str, ...]:
        return ("infra", *HOSTS)


def _build(lab: Lab) -> None:
    lan = lab.ns("lan")
    ip("netns", "add", lan)
    ip("-n", lan, "link", "add", "br0", "type", "bridge")
    ip("-n", lan, "link", "set", "br0", "up")
    for role in lab.roles:
        ns, port = lab.ns(role), f"p-{role}"
        ip("netns", "add", ns)
        ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", lan)
        ip("-n", lan, "link", "set", port, "master", "br0", "up")
        ip("-n", ns, "addr", "add", f"{lab.address(role)}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "link", "set", "lo", "up")
    ip("link", "add", lab.root_link, "type", "veth", "peer", "name", "p-root", "netns", lan)
    ip("-n", lan, "link", "set", "p-root", "master", "br0", "up")
    ip("addr", "add", f"{lab.address('root')}/24", "dev", lab.root_link)
    ip("link", "set", lab.root_link, "up")


def _tear_down(lab: Lab) -> None:
    """Kill what still runs in the lab's namespaces (only ours), then remove them; the
    veths and the bridge go with them."""
    for role in (*lab.roles, "lan"):
        ns = lab.ns(role)
        if not Path(f"/run/netns/{ns}").exists():
            continue
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        for pid in pids.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    subprocess.run(["ip", "link", "del", lab.root_link], capture_output=True, check=False)


@pytest.fixture
def lab() -> Iterator[Lab]:
    tag = f"{os.getpid() % 100000}"
    built = Lab(tag, int(tag) % 250 + 1)
    try:
        _build(built)
    except RuntimeError as exc:
        _tear_down(built)
        pytest.skip(f"cannot build network namespaces here: {exc}")
    try:
        yield built
    finally:
        _tear_down(built)
        left = [n for n in os.listdir("/run/netns") if n.startswith(f"smh{tag}-")]
        assert not left and not Path(f"/sys/class/net/{built.root_link}").exists(), left


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@pytest.fixture
def infra(lab: Lab, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """This file as a script in the infra namespace: the bus and the ledger."""
    pops = [p.id for p in reference.SCENARIO.pops]
    server = subprocess.Popen(
        ["ip", "netns", "exec", lab.ns("infra"), sys.executable, __file__, str(tmp_path / "bus"),
         lab.address("infra"), pipeline_name(reference.SCENARIO.id), ",".join(pops)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=_die_with_parent,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], 60.0)
        assert ready and server.stdout.readline().strip() == READY, "infra did not start"
        yield server
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def sockets(pid: int) -> list[tuple[str, int, str]]:
    """(local address, port, state) of the TCP sockets of `pid`'s network namespace."""
    found = []
    for row in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        local, state = row.split()[1], row.split()[3]
        host, port = local.split(":")
        found.append((socket.inet_ntoa(bytes.fromhex(host)[::-1]), int(port, 16), state))
    return found


def host_list(lab: Lab, path: Path) -> Path:
    """h1 runs pop1 and pop2; h2 and h3 share the rest, round-robin."""
    entries = [
        f"  - name: {h}\n"
        f"    address: {lab.address(h)}\n"
        f"    start: ip netns exec {lab.ns(h)} {{command}}\n"
        f"    python: {sys.executable}\n"
        f"    local: true\n" + ("    pops: [pop1, pop2]\n" if h == "h1" else "")
        for h in HOSTS
    ]
    path.write_text("hosts:\n" + "".join(entries))
    return path


def test_agents_on_namespace_hosts_mitigate_the_attack(
    lab: Lab, infra: subprocess.Popen[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = f"http://{lab.address('infra')}:{LEDGER_PORT}"
    token, mlfo, secaas = ((tmp_path / "bus" / name).read_text() for name in LEDGER_FILES)
    monkeypatch.setenv(LEDGER_TOKEN_ENV, token)  # as a user hands a served ledger's token
    scenario = reference.SCENARIO
    scenario = scenario.model_copy(
        update={"security": scenario.security.model_copy(update={"ledger": ledger})}
    )
    folder = tmp_path / "bus"
    bus = BusAccess(BusAddress.parse(f"tls://{lab.address('infra')}:{NATS_PORT}"),
                    folder / CA_FILE, folder)  # fmt: skip
    driver = HostProcesses(
        load_hosts(host_list(lab, tmp_path / "hosts.yaml")), tmp_path, [p.id for p in scenario.pops]
    )
    seen: dict[str, tuple[int, list[tuple[str, int, str]]]] = {}

    def look(_now: float, _duration: float) -> None:
        """While the agents run: each one's network namespace and its sockets."""
        for pop, pid in driver.describe().get("pids", {}).items():
            if pop not in seen:
                seen[pop] = (os.stat(f"/proc/{pid}/ns/net").st_ino, sockets(pid))

    result = asyncio.run(
        operate_processes(
            scenario,
            reference.SCENARIO_FILE,
            workdir=tmp_path / "run",
            bus=bus,
            speed=SPEED,
            progress=look,
            iml=driver,
            ledger_keys=LedgerKeys(Account.from_key(mlfo), Account.from_key(secaas)),
        )
    )
    run = reference.report(result)

    hosts = driver.describe()["hosts"]
    assert hosts == {"pop1": "h1", "pop2": "h1", "pop3": "h2", "pop4": "h3", "pop5": "h2",
                     "pop6": "h3"}  # fmt: skip
    for pop, host in hosts.items():
        namespace, agent_sockets = seen[pop]
        assert namespace == os.stat(f"/run/netns/{lab.ns(host)}").st_ino, pop
        assert not [s for s in agent_sockets if s[2] == LISTEN], f"{pop} listens"
        assert {a for a, _, _ in agent_sockets} == {lab.address(host)}, pop  # only its own
    listening = {(a, p) for a, p, s in sockets(infra.pid) if s == LISTEN}
    assert listening == {(lab.address("infra"), NATS_PORT), (lab.address("infra"), LEDGER_PORT)}

    assert run["acceptance"]["passed"], run["acceptance"]
    assert run["acceptance"]["attack_reduction"] == pytest.approx(
        reference.in_process()["acceptance"]["attack_reduction"], abs=0.02
    )
    assert reference.strategy(run) == reference.strategy(reference.in_process())
    assert reference.kinds(run) == reference.kinds(reference.in_process())
    trust = run["trust"]
    assert trust["ledger"] == ledger
    assert [e["kind"] for e in trust["attestations"][:6]] == ["initial"] + ["mutual"] * 5
    assert all(e["result"] == "pass" for e in trust["attestations"])
    assert all(a["trusted"] and a["heartbeats"] > 0 for a in trust["agents"].values())
    measured = trust["external_measurement"]
    assert measured["checks"] > 0 and not measured["failed"]
    channel = trust["channel"]["agents"]
    assert set(channel) == set(hosts)
    assert all(c["sealed"] > 0 and not c["dropped"] for c in channel.values())
    assert not list(tmp_path.glob("run/enrolment-*.json"))

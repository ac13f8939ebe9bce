"""The host list (loading, errors, assignment, start templates) and the host-list driver,
run here through the simplest template (`{command}`: the host is this machine)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.pipeline.agentuser import agent_user
from secmas.pipeline.hostlaunch import PID_PREFIX
from secmas.pipeline.hosts import HostListError, HostProcesses, load_hosts, parse_hosts
from secmas.pipeline.iml import BUS_AUTH_ENV, AgentLaunch, IMLDriver
from secmas.transport.broker import MISSING_BINARY, NatsServer, find_nats_server

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_FILE = ROOT / "scenarios" / "ddos-6pop.yaml"
POPS = ["pop1", "pop2", "pop3", "pop4", "pop5"]
SSH = "ssh -o BatchMode=yes secmas@{address} {command}"


def two_hosts(second: str = "") -> str:
    return (
        "hosts:\n"
        "  - name: edge1\n"
        "    address: 10.0.1.11\n"
        f"    start: {SSH}\n"
        "    python: /opt/secmas/bin/python\n"
        "    workdir: /var/lib/secmas\n"
        "    pops: [pop2]\n"
        "  - name: edge2\n"
        "    address: edge2.example\n"
        "    start: ip netns exec {name} {command}\n" + second
    )


def copied_host(first: str, second: str, second_start: str = SSH) -> str:
    """Two hosts started alike, at the addresses `first` and `second`."""
    return (
        "hosts:\n"
        f"  - name: edge1\n    address: {first}\n    start: {SSH}\n"
        f"  - name: edge2\n    address: {second}\n    start: {second_start}\n"
    )


def test_hosts_at_one_address_started_differently_are_two_hosts(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text(copied_host("10.0.1.11", "10.0.1.11", SSH.replace("ssh", "ssh -p 2202")))
    assert [h.name for h in load_hosts(path).hosts] == ["edge1", "edge2"]


def test_a_host_list_assigns_listed_pops_and_shares_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text(
        two_hosts() + "  - name: edge3\n    address: 10.0.1.13\n    start: '{command}'\n"
    )
    hosts = load_hosts(path)
    placed = {pop: host.name for pop, host in hosts.assign(POPS).items()}
    assert placed == {
        "pop2": "edge1",
        "pop1": "edge2",
        "pop3": "edge3",
        "pop4": "edge2",
        "pop5": "edge3",
    }
    edge1, edge2, _ = hosts.hosts
    assert edge1.argv() == [
        "ssh", "-o", "BatchMode=yes", "secmas@10.0.1.11",
        "/opt/secmas/bin/python", "-m", "secmas.pipeline.hostlaunch", "--dir", "/var/lib/secmas",
    ]  # fmt: skip
    assert edge2.argv() == [
        "ip", "netns", "exec", "edge2", "python3", "-m", "secmas.pipeline.hostlaunch",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        (two_hosts().replace(" {command}\n    python", "\n    python"), ":4: hosts[0].start:",
         "needs the word {command} exactly once"),
        (two_hosts().replace("{name}", "{user}"), ":10: hosts[1].start:",
         "unknown placeholder {user}"),
        (two_hosts().replace("ssh -o", "ssh 'o"), ":4: hosts[0].start:", "cannot be split"),
        (two_hosts().replace("/opt/secmas/bin/python", "'/opt/my env/python'"),
         ":5: hosts[0].python:", "should match pattern"),
        (two_hosts().replace("/var/lib/secmas", "var/lib"), ":6: hosts[0].workdir:",
         "absolute path"),
        (two_hosts("    pops: [pop3, pop2]\n"), ":11: hosts[1].pops[1]:",
         "pop2 already runs on edge1"),
        (two_hosts().replace("edge2\n", "edge1\n", 1), ":8: hosts[1].name:",
         "edge1 is also host 0"),
        (two_hosts("    user: root\n"), ":11: hosts[1].user:", "Extra inputs"),
        (copied_host("10.0.1.11", "10.0.1.11"), ":6: hosts[1].address:",
         "edge2 and edge1 are both at 10.0.1.11 and started the same way: one machine listed "
         "twice; give each host its own address or start command"),
        (copied_host("edge1.example", "EDGE1.example."),
         ":6: hosts[1].address:", "edge2 and edge1 are both at EDGE1.example."),
        (copied_host("::1", "0:0::1"),
         ":6: hosts[1].address:", "edge2 and edge1 are both at 0:0::1"),
        ("hosts: []\n", ":1: hosts:", "at least 1 item"),
        ("- a\n", ": (top level):", "expected a mapping with a hosts: list"),
        ("hosts: [a\n", ":2: (top level):", "YAML syntax"),
    ],
)  # fmt: skip
def test_host_list_errors_name_the_file_line_field_and_reason(
    tmp_path: Path, text: str, where: str, reason: str
) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text(text)
    with pytest.raises(HostListError) as caught:
        load_hosts(path)
    message = str(caught.value)
    assert f"{path}{where}" in message and reason in message, message


def test_an_unreadable_host_list_is_named() -> None:
    with pytest.raises(HostListError, match=r"^/nonexistent/hosts.yaml: \(top level\): cannot"):
        load_hosts("/nonexistent/hosts.yaml")


def test_assignment_errors_name_the_pop_and_its_line() -> None:
    hosts = parse_hosts(two_hosts("    pops: [pop9]\n"), "h.yaml")
    with pytest.raises(HostListError) as caught:
        hosts.assign(POPS)
    assert str(caught.value).splitlines() == [
        "h.yaml:11: hosts[1].pops[0]: pop9 is not a PoP of the scenario "
        "(pop1, pop2, pop3, pop4, pop5)",
        "h.yaml:2: hosts: no host runs pop1, pop3, pop4, pop5: list them under a host's pops, "
        "or leave one host's pops out to share them",
    ]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300) | st.builds(two_hosts, st.text(max_size=60)))
def test_any_text_loads_or_is_refused_with_a_host_list_error(text: str) -> None:
    try:
        parse_hosts(text)
    except HostListError as exc:
        assert exc.problems and all(str(p).startswith("<host list>") for p in exc.problems)


def local_driver(tmp_path: Path, pops: list[str]) -> HostProcesses:
    hosts = parse_hosts(
        "hosts:\n  - name: here\n    address: 127.0.0.1\n    start: '{command}'\n"
        f"    python: {sys.executable}\n    local: true\n"
    )
    return HostProcesses(hosts, tmp_path, pops)


def agent_running(driver: HostProcesses, pop: str) -> int:
    """The agent's PID once its process runs `secmas agent` (not yet its launcher, nor
    the step that makes it the agent user)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pid = driver.remotes[pop].pid
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if pid else []
        if argv[1:4] == [b"-m", b"secmas", b"agent"]:
            return pid
        time.sleep(0.05)
    raise AssertionError(f"{pop} did not start: {driver.log_tail(pop)}")


@pytest.mark.skipif(find_nats_server() is None, reason=MISSING_BINARY)
def test_the_driver_hands_secrets_over_stdin_and_stops_its_agents(tmp_path: Path) -> None:
    """Nothing secret on a command line; the credential moves to the host's private
    folder (0700, files 0600) and leaves this side; kill crashes, stop removes the folder."""
    credential = tmp_path / "enrolment-pop1.json"
    credential.write_text('{"one-time": "credential"}')
    driver: IMLDriver = local_driver(tmp_path, ["pop1", "pop2"])
    assert isinstance(driver, HostProcesses)
    with NatsServer() as server:  # without a ledger, each agent waits for the run's start
        driver.start(AgentLaunch("pop1", SCENARIO_FILE, server.url, "p", bus_auth="u:s3cret",
                                 enrolment=credential))  # fmt: skip
        driver.start(AgentLaunch("pop2", SCENARIO_FILE, server.url, "p"))
        pid = agent_running(driver, "pop1")
        launcher = driver.remotes["pop1"].process.pid
        for process in (pid, launcher):
            assert b"s3cret" not in Path(f"/proc/{process}/cmdline").read_bytes()
        assert f"{BUS_AUTH_ENV}=u:s3cret".encode() in Path(f"/proc/{pid}/environ").read_bytes()
        folder = Path(f"/proc/{pid}/cwd").resolve()
        assert folder.stat().st_mode & 0o777 == 0o700
        placed = {f.name: f.stat().st_mode & 0o777 for f in folder.iterdir()}
        assert placed == {"scenario.yaml": 0o600, "enrolment.json": 0o600}
        assert (folder / "enrolment.json").read_text() == '{"one-time": "credential"}'
        assert not credential.exists()
        pids = {"pop1": pid, "pop2": agent_running(driver, "pop2")}
        hosts = {"pop1": "here", "pop2": "here"}
        user = agent_user()
        users = {"pop1": user.report(), "pop2": user.report()}
        described = {"driver": "hosts", "hosts": hosts, "agent_users": users, "pids": pids}
        assert driver.describe() == described
        assert os.stat(f"/proc/{pid}").st_uid == user.uid  # never root's (the measurer's)
        assert folder.stat().st_uid == user.uid

        driver.kill("pop1")
        assert driver.dead() == ["pop1"]
        assert driver.remotes["pop1"].process.returncode == 137  # SIGKILL, as a crash
        assert f"{PID_PREFIX}{pid}" in driver.log_tail("pop1")
        assert not folder.exists()
        driver.stop_all()
    assert sorted(driver.dead()) == ["pop1", "pop2"]
    assert not Path(f"/proc/{driver.describe()['pids']['pop2']}").exists()


@pytest.mark.parametrize("local", [True, False])
def test_an_agents_cpu_seconds_grow_while_it_works_on_this_machine_only(
    tmp_path: Path, local: bool
) -> None:
    """What the bring-up's wait reads as progress: an agent started through its launcher
    here (importing the package, failing on its scenario) spends CPU, launcher's and
    agent's, read from /proc; a host not marked local (its PIDs another machine's) is
    never read, though this one ran it."""
    hosts = parse_hosts(
        "hosts:\n  - name: here\n    address: 127.0.0.1\n    start: '{command}'\n"
        f"    python: {sys.executable}\n    local: {str(local).lower()}\n"
    )
    driver = HostProcesses(hosts, tmp_path, ["pop1"])
    scenario = tmp_path / "nope.yaml"
    scenario.write_text("id: [\n")
    driver.start(AgentLaunch("pop1", scenario, "nats://127.0.0.1:1", "pipe"))
    try:
        seen = [driver.cpu_seconds().get("pop1", 0.0)]
        while not driver.dead():
            seen.append(driver.cpu_seconds().get("pop1", seen[-1]))
        if local:
            assert max(seen) > 0.05 and seen[0] < max(seen)
        else:
            assert set(seen) == {0.0}
    finally:
        driver.stop_all()

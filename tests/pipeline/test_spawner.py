"""The agent spawner: agents forked from one process that loaded them once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from secmas.api import embedded_path
from secmas.pipeline.spawner import SpawnedAgent, Spawner, SpawnerError, spawner_argv
from secmas.trust.allowlist import agent_command, agent_environment

SCENARIO = embedded_path("ddos-6pop")


def start(tmp_path: Path) -> Spawner:
    with (tmp_path / "spawner.log").open("wb") as log:
        argv = spawner_argv(tmp_path)
        return Spawner.start(argv, agent_environment(os.environ), str(tmp_path), log)


@pytest.fixture
def spawner(tmp_path: Path) -> Iterator[Spawner]:
    started = start(tmp_path)
    try:
        yield started
    finally:
        started.close(10.0)


def spawn(spawner: Spawner, tmp_path: Path, name: str, argv: list[str], **env: str) -> SpawnedAgent:
    with (tmp_path / f"{name}.log").open("wb") as log:
        return SpawnedAgent(spawner.spawn(argv, env, str(tmp_path), log), spawner)


def agent_argv(bus: str = "nats://127.0.0.1:1") -> list[str]:
    return [sys.executable, "-m", "secmas", "agent", str(SCENARIO), "--pop", "pop1",
            "--bus", bus, "--pipeline", "p"]  # fmt: skip


def wait_for(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_an_agent_runs_in_the_forked_interpreter_and_shows_the_spawners_start(
    spawner: Spawner, tmp_path: Path
) -> None:
    # the bus never answers: the agent waits for it while it is looked at
    silent = socket.create_server(("127.0.0.1", 0))
    bus = f"nats://127.0.0.1:{silent.getsockname()[1]}"
    agent = spawn(spawner, tmp_path, "pop1", agent_argv(bus), SECMAS_BUS_AUTH="user:secret")
    proc = Path(f"/proc/{agent.pid}")
    argv = (proc / "cmdline").read_bytes().split(b"\0")[:-1]
    assert [a.decode() for a in argv] == spawner_argv(tmp_path)
    assert agent_command().problems(spawner_argv(tmp_path)) == []
    wait_for(lambda: (proc / "comm").read_text() == "agent pop1\n")  # for ps and top
    assert os.readlink(proc / "cwd") == str(tmp_path)
    # the launch's secret reached the agent, never an environment a measurer reads
    assert b"SECMAS_BUS_AUTH" not in (proc / "environ").read_bytes()
    assert agent.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        agent.wait(0.1)
    agent.kill()
    assert agent.wait(30) == -9
    wait_for(lambda: not proc.exists())
    silent.close()


def test_an_agent_that_fails_says_why_and_its_status_comes_back(
    spawner: Spawner, tmp_path: Path
) -> None:
    scenario = tmp_path / "nope.yaml"
    scenario.write_text("id: [\n")
    argv = agent_argv()
    argv[4] = str(scenario)
    agent = spawn(spawner, tmp_path, "bad", argv)
    assert agent.wait(60) == 2  # bad input, as `secmas agent` exits on it
    assert "YAML syntax" in (tmp_path / "bad.log").read_text()


def test_another_command_is_executed_with_its_environment_and_no_spawner_descriptor(
    spawner: Spawner, tmp_path: Path
) -> None:
    script = (
        "import os, sys; print(sys.argv[1:], os.environ['EXTRA'], "
        "sorted(int(f) for f in os.listdir('/proc/self/fd'))); raise SystemExit(3)"
    )
    agent = spawn(spawner, tmp_path, "other", [sys.executable, "-c", script, "x"], EXTRA="yes")
    assert agent.wait(60) == 3
    # an adversary's code in an agent's process has no way to the spawner's socket
    assert (tmp_path / "other.log").read_text().strip() == "['x'] yes [0, 1, 2, 3]"


def test_a_command_that_cannot_run_exits_126(spawner: Spawner, tmp_path: Path) -> None:
    agent = spawn(spawner, tmp_path, "missing", [str(tmp_path / "no-such-program")])
    assert agent.wait(60) == 126
    assert "no-such-program" in (tmp_path / "missing.log").read_text()


def test_closing_the_driver_end_ends_the_children_and_the_spawner(tmp_path: Path) -> None:
    spawner = start(tmp_path)
    sleeper = spawn(
        spawner, tmp_path, "sleeper", [sys.executable, "-c", "import time; time.sleep(600)"]
    )
    spawner.close(10.0)
    assert spawner.process.returncode == 0
    wait_for(lambda: not Path(f"/proc/{sleeper.pid}").exists(), 10.0)
    with pytest.raises(SpawnerError, match=r"ended|not answering"):
        spawn(spawner, tmp_path, "late", [sys.executable, "-c", "pass"])


def test_a_child_of_a_killed_spawner_ends_and_is_reported_killed(tmp_path: Path) -> None:
    spawner = start(tmp_path)
    try:
        sleeper = spawn(
            spawner, tmp_path, "s", [sys.executable, "-c", "import time; time.sleep(600)"]
        )
        spawner.process.kill()
        spawner.process.wait()
        assert sleeper.wait(30) < 0  # the parent-death signal, or the driver's kill after it
        wait_for(lambda: not Path(f"/proc/{sleeper.pid}").exists(), 10.0)
    finally:
        spawner.close(10.0)


def test_a_malformed_request_is_refused_and_the_spawner_serves_on(
    spawner: Spawner, tmp_path: Path
) -> None:
    with (tmp_path / "x.log").open("wb") as log:
        socket.send_fds(spawner.control, [b"{not json"], [log.fileno()])
    assert "refused" in (spawner._receive(30.0) or {})
    agent = spawn(spawner, tmp_path, "after", [sys.executable, "-c", "pass"])
    assert agent.wait(60) == 0


def test_started_by_hand_it_says_what_it_needs(tmp_path: Path) -> None:
    for stdin in (subprocess.DEVNULL, None):
        done = subprocess.run(
            spawner_argv(tmp_path), stdin=stdin, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2
        assert "standard input must be the driver's socket" in done.stderr
        assert "Traceback" not in done.stderr
    done = subprocess.run(spawner_argv(tmp_path)[:3], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--run" in done.stderr

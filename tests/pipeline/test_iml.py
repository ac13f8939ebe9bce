"""The IML driver interface and the local-process driver."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from secmas.api import embedded_path
from secmas.pipeline import iml
from secmas.pipeline.agentuser import agent_user
from secmas.pipeline.iml import AgentLaunch, IMLDriver, LocalProcesses, process_cpu_seconds
from secmas.trust import compiled
from secmas.trust.compiled import SHARED_STORE_ENV
from secmas.trust.sourcestore import SourceStore


def test_launch_is_the_secmas_agent_command_line() -> None:
    launch = AgentLaunch("pop1", Path("s.yaml"), "nats://h:4222", "pipe", "http://l:8545", 5.0)
    assert launch.argv("py") == [
        "py", "-m", "secmas", "agent", "s.yaml", "--pop", "pop1",
        "--bus", "nats://h:4222", "--pipeline", "pipe", "--ledger", "http://l:8545",
        "--tamper-at", "5.0",
    ]  # fmt: skip
    bare = AgentLaunch("pop1", Path("s.yaml"), "nats://h:4222", "pipe").argv("py")
    assert "--ledger" not in bare and "--tamper-at" not in bare


def test_local_processes_start_report_kill_and_stop(tmp_path: Path) -> None:
    driver: IMLDriver = LocalProcesses(tmp_path)
    # an agent whose scenario does not load exits at once, saying why, in its log
    scenario = tmp_path / "nope.yaml"
    scenario.write_text("id: [\n")
    driver.start(AgentLaunch("pop1", scenario, "nats://127.0.0.1:1", "pipe"))
    driver.start(AgentLaunch("pop2", scenario, "nats://127.0.0.1:1", "pipe"))
    assert isinstance(driver, LocalProcesses)
    driver.procs["pop2"].wait(30)
    driver.kill("pop1")
    assert sorted(driver.dead()) == ["pop1", "pop2"]
    assert "YAML syntax" in driver.log_tail("pop2")
    described = driver.describe()
    assert set(described["pids"]) == {"pop1", "pop2"}
    assert described["agent_user"] == agent_user().report()
    seats = list(driver.seats.values())
    driver.stop_all()
    assert not any(seat.exists() for seat in seats)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root starts agents as another user")
def test_a_separated_agent_gets_copies_of_its_files_in_a_folder_of_its_own(
    tmp_path: Path,
) -> None:
    credential = tmp_path / "enrolment-pop1.json"
    credential.write_text("{}")
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("id: [\n")
    driver = LocalProcesses(tmp_path)
    driver.start(AgentLaunch("pop1", scenario, "nats://127.0.0.1:1", "p", enrolment=credential))
    try:
        seat = driver.seats["pop1"]
        user = agent_user()
        assert {(p.name, p.stat().st_uid, p.stat().st_mode & 0o777) for p in seat.iterdir()} == {
            ("scenario.yaml", user.uid, 0o600), ("enrolment.json", user.uid, 0o600),
        }  # fmt: skip
        assert (seat.stat().st_uid, seat.stat().st_mode & 0o777) == (user.uid, 0o700)
        assert not credential.exists()  # handed over: the driver keeps no copy
        # What it measures it reads from root's store, copied where it may read, not write.
        (copy,) = Path(driver.measured or "").glob("measured-*.db")
        for path, mode in ((copy, 0o644), (copy.parent, 0o755)):
            assert (path.stat().st_uid, path.stat().st_mode & 0o777) == (0, mode)
        assert driver._share_measured() == {SHARED_STORE_ENV: str(copy)}  # made once
        packaged = Path(iml.__file__)
        version = compiled._version_key(compiled.FileVersion.of(packaged.stat()))
        assert SourceStore(copy, shared=True).get(str(packaged), version) is not None
        # the spawner it was forked from lives in a folder of root's it may not write
        home = driver.spawner_home
        assert home is not None and (home.stat().st_uid, home.stat().st_mode & 0o777) == (
            0, 0o755,
        )  # fmt: skip
    finally:
        driver.stop_all()
    assert not copy.parent.exists() and not home.exists()


def test_an_agent_processs_cpu_seconds_grow_while_it_works(tmp_path: Path) -> None:
    """What the bring-up's wait reads as progress: a real agent process (forked from the
    spawner, which imported the package) loading its scenario and waiting for a bus that
    never answers spends CPU, read from /proc; none once reaped."""
    driver = LocalProcesses(tmp_path)
    silent = socket.create_server(("127.0.0.1", 0))
    bus = f"nats://127.0.0.1:{silent.getsockname()[1]}"
    driver.start(AgentLaunch("pop1", embedded_path("ddos-6pop"), bus, "pipe"))
    try:
        seen = [0.0]
        deadline = time.monotonic() + 60.0
        while seen[-1] < 0.05 and time.monotonic() < deadline:
            time.sleep(0.01)
            seen.append(driver.cpu_seconds().get("pop1", seen[-1]))
        assert seen[-1] >= 0.05 and seen == sorted(seen)
        driver.kill("pop1")
        assert process_cpu_seconds(driver.procs["pop1"].pid) is None  # reaped: gone
    finally:
        driver.stop_all()
        silent.close()

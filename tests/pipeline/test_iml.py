"""The IML driver interface and the local-process driver."""

from __future__ import annotations

from pathlib import Path

from secmas.pipeline.iml import AgentLaunch, IMLDriver, LocalProcesses


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
    # an agent that cannot reach its bus exits at once, saying why, in its log
    driver.start(AgentLaunch("pop1", Path("nope.yaml"), "nats://127.0.0.1:1", "pipe"))
    driver.start(AgentLaunch("pop2", Path("nope.yaml"), "nats://127.0.0.1:1", "pipe"))
    assert isinstance(driver, LocalProcesses)
    driver.procs["pop2"].wait(30)
    driver.kill("pop1")
    assert sorted(driver.dead()) == ["pop1", "pop2"]
    assert "nope.yaml" in driver.log_tail("pop2")
    assert set(driver.describe()["pids"]) == {"pop1", "pop2"}
    driver.stop_all()

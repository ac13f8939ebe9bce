"""Stopping a revoked agent for good (`secmas.pipeline.iml.stop_agent`): gently (SIGTERM,
then SIGKILL after a grace) where the driver can, else by its kill; the run's teardown
then finds it ended. Real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from secmas.pipeline.iml import LocalProcesses, stop_agent


def _sleeper(ignores_sigterm: bool) -> subprocess.Popen[bytes]:
    """A process that runs until stopped (optionally deaf to SIGTERM), once it is set up."""
    deaf = "signal.signal(signal.SIGTERM, signal.SIG_IGN); " if ignores_sigterm else ""
    code = f"import signal, time; {deaf}print('up', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    return proc


def test_a_revoked_agent_is_terminated_then_killed_after_its_grace(tmp_path: Path) -> None:
    driver = LocalProcesses(tmp_path)
    driver.procs = {"pop1": _sleeper(False), "pop2": _sleeper(True)}
    assert stop_agent(driver, "pop1") == "terminated"
    assert stop_agent(driver, "pop2", grace=0.2) == "killed after 0.2 s"
    assert stop_agent(driver, "pop1") == "had ended already"
    assert driver.procs["pop1"].returncode == -signal.SIGTERM
    assert driver.procs["pop2"].returncode == -signal.SIGKILL
    assert sorted(driver.dead()) == ["pop1", "pop2"]
    driver.stop_all()  # the run's teardown does not trip on them


@dataclass
class KillOnly:
    """A driver that can only kill an agent (as the container and remote-host ones)."""

    procs: dict[str, subprocess.Popen[bytes]]

    def dead(self) -> list[str]:
        return [p for p, proc in self.procs.items() if proc.poll() is not None]

    def kill(self, agent: str) -> None:
        self.procs[agent].kill()
        self.procs[agent].wait()


def test_a_driver_that_cannot_terminate_kills_the_revoked_agent() -> None:
    driver = KillOnly({"pop1": _sleeper(True)})
    assert stop_agent(driver, "pop1") == "killed"  # type: ignore[arg-type]
    assert driver.procs["pop1"].returncode == -signal.SIGKILL

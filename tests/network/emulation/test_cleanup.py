"""No namespace, veth, bridge, nftables table or process survives a run: not when it
ends, not when it is interrupted (SIGTERM, as Ctrl-C), not when it is SIGKILLed (then
`secmas dataplane clean` removes what is left), and a clean never touches a live run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.network.emulation.conftest import needs_emulation

from secmas.network.emulation.registry import (
    RUN_DIR,
    clean_dead_runs,
    interfaces_with_prefix,
    live_runs,
    process_start,
)
from secmas.procstat import read_stat

pytestmark = needs_emulation

RUN = """
import sys, time
from pathlib import Path
from secmas.interrupt import terminate_as_interrupt
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import emulation_plan
from secmas.network.emulation.workload import Workload
from tests.network.emulation.conftest import line_scenario

plan = emulation_plan(line_scenario(), prefix=sys.argv[1])
with terminate_as_interrupt(), EmulatedNetwork(plan) as network:
    workload = Workload(network, Path(sys.argv[2]), 1.0, 1)
    workload.start_service()
    workload.start_attack()
    print("ready", flush=True)
    time.sleep(120)
"""


def start_run(prefix: str, workdir: Path) -> subprocess.Popen[str]:
    """A run in a process of its own, once its network carries traffic."""
    process = subprocess.Popen(
        [sys.executable, "-c", RUN, prefix, str(workdir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[3],
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def recorded_pids(prefix: str) -> list[int]:
    import json

    data = json.loads((RUN_DIR / f"{prefix}.json").read_text())
    return [int(pid) for pid in data["processes"]]


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in pids if process_start(pid) is not None and _not_zombie(pid)]
        time.sleep(0.1)
    return alive


def _not_zombie(pid: int) -> bool:
    stat = read_stat(pid)
    return stat is not None and stat.state != "Z"


def test_a_sigkilled_run_leaves_only_what_clean_removes(tmp_path: Path) -> None:
    process = start_run("sk1ll", tmp_path)
    pids = recorded_pids("sk1ll")
    assert interfaces_with_prefix("sk1ll") and "sk1ll" in live_runs()
    process.send_signal(signal.SIGKILL)
    process.wait()
    # the kernel's death signal took the traffic processes and shells down with the run
    assert wait_gone(pids) == []
    # this clean, or another test's worker's that came first (cleans are machine-wide:
    # once this one also removed `test_control_host`'s killed run)
    clean_dead_runs()
    assert interfaces_with_prefix("sk1ll") == []
    assert not (RUN_DIR / "sk1ll.json").exists()


def test_a_terminated_run_cleans_up_after_itself(tmp_path: Path) -> None:
    process = start_run("st3rm", tmp_path)
    pids = recorded_pids("st3rm")
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert wait_gone(pids) == []
    assert interfaces_with_prefix("st3rm") == []
    assert not (RUN_DIR / "st3rm.json").exists()


def test_clean_leaves_a_live_run_alone(tmp_path: Path) -> None:
    process = start_run("l1ve0", tmp_path)
    try:
        assert "l1ve0" not in [c.prefix for c in clean_dead_runs()]
        assert interfaces_with_prefix("l1ve0")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert interfaces_with_prefix("l1ve0") == []


def test_the_clean_command_reports_and_needs_root() -> None:
    from typer.testing import CliRunner

    from secmas.cli.main import app

    result = CliRunner().invoke(app, ["dataplane", "clean"])
    assert result.exit_code == 0, result.output
    assert "dead runs cleaned" in result.output
    if os.geteuid() != 0:
        pytest.skip("the root check needs a non-root user")

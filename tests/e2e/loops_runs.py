"""Runs of an embedded scenario with the agents in one process and as OS processes, for
the tests that every step loop works with agents as processes:
`test_processes_ssla.py` (the SSLA manager, `spoofed-injection`),
`test_processes_closed_loop.py` (the security closed loop, `cnf-attack`, the cached
reference models) and `test_processes_adaptive.py` (CTI hygiene and moving target
defence, `adaptive-defence`). Each processes run, beside a real nats-server, must reach
the acceptance and the loop outcomes of the same scenario and seed in one process; the
loops are built by `secmas.api` for either mode. Three files, so that the test workers
can share them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from secmas.api import InProcess, Processes, embedded_path
from secmas.api import run as api_run
from secmas.transport.broker import MISSING_BINARY, find_nats_server

NEEDS_NATS = pytest.mark.skipif(
    find_nats_server() is None, reason=f"multi-process runs need a server: {MISSING_BINARY}"
)
SPEED = 10.0
"""Simulated seconds per wall second: 180–300 s scenarios in 18–30 s of operation."""


def run(name: str, folder: Path, processes: bool, speed: float = SPEED) -> dict[str, Any]:
    """The embedded scenario run as `secmas demo --scenario NAME [--processes]` runs it:
    the application layer builds its loops (its policy, its closed loop with the cached
    reference models, its CTI and MTD sections) in either mode; `speed` paces only the
    processes run (one process runs on its virtual clock)."""
    placement = Processes(speed=speed) if processes else InProcess()
    return api_run(embedded_path(name), out=folder, placement=placement).report


def in_process(name: str, folder: Path) -> dict[str, Any]:
    return run(name, folder, processes=False)


def same_acceptance(run_: dict[str, Any], reference: dict[str, Any]) -> None:
    accepted, expected = run_["acceptance"], reference["acceptance"]
    assert accepted["passed"] and expected["passed"], (accepted, expected)
    for key, value in expected.items():
        if isinstance(value, float):
            assert accepted[key] == pytest.approx(value, abs=0.03), key

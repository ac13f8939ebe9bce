"""A whole `secmas` command in a subprocess, for the benchmarks that time whole runs:
`PYTHONPATH` on a source tree, its own `$SECMAS_HOME`, and what report.json says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TIMEOUT_S = 3600


def secmas(src: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m secmas ARGS` on the sources in `src`, with `home` as `$SECMAS_HOME`."""
    env = os.environ | {"PYTHONPATH": str(src), "SECMAS_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "secmas", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT_S,
        check=False,
    )


def sign_release(src: Path, home: Path) -> None:
    """`secmas wrap --release` of the tree, as `scripts/setup` does; SystemExit on failure."""
    signed = secmas(src, home, "wrap", "--release", str(src / "secmas"))
    if signed.returncode != 0:
        raise SystemExit(f"secmas wrap --release failed: {signed.stderr[-500:]}")


def timed_run(
    src: Path, home: Path, scenario: Path, out: Path, *flags: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`secmas run SCENARIO FLAGS` into `out`: its wall seconds, exit code and acceptance
    (or the last line of its error), and its report.json (None when it wrote none)."""
    began = time.perf_counter()
    done = secmas(src, home, "run", str(scenario), "--out", str(out), "--force", *flags)
    row: dict[str, Any] = {"wall_s": time.perf_counter() - began, "exit": done.returncode}
    report_file = out / "report.json"
    if done.returncode != 0 or not report_file.exists():
        row["error"] = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return row, None
    report = json.loads(report_file.read_text())
    row["passed"] = report["acceptance"]["passed"]
    return row, report

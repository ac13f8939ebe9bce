"""`secmas demo` on a busy machine: acceptance and journal under 2× CPU oversubscription.

Measured, in one run, each `secmas demo` its own subprocess with `PYTHONPATH` on this
tree's `src` and one empty `$SECMAS_HOME` (the first run measures cold):

- in one process (the simulator, on the virtual clock): `--idle-rounds` runs on the idle
  machine give the reference journal (report.json's auctions without `wall_ms`,
  placements, actions, executions and attestation verdicts, as
  `bench_security_overhead.journal`); then `--rounds` runs beside `stress-ng --cpu
  2×CPUs`, each checked for exit 0, acceptance, and a journal identical to the idle one;
- on the emulated network (real namespaces, real packets, real time; root only):
  `--emulated-rounds` runs of `secmas demo --dataplane emulated` beside the same load,
  each checked for exit 0 and acceptance.

    .venv/bin/python benchmarks/bench_demo_load.py [--rounds 10] [--emulated-rounds 10]

Writes benchmarks/results/demo_load.json and .md (or under `--out`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_security_overhead import digest, journal, median, timed_demo
from load import cpu_load, workers
from machine import describe

RESULTS = Path(__file__).parent / "results"
NAME = "demo_load"
TIMEOUT_S = {"in-process": 300, "emulated": 600}


def demo(engine: str, folder: Path) -> dict[str, Any]:
    """One `secmas demo` in a subprocess: exit code, acceptance, wall time, journal."""
    options = ["--dataplane", "emulated"] if engine == "emulated" else []
    row, report = timed_demo(folder, options, TIMEOUT_S[engine])
    row = {"engine": engine} | row | {"command_wall_s": round(row["command_wall_s"], 2)}
    if report is not None:
        row["journal_sha256"] = digest(journal(report))
    return row


def rounds(engine: str, load: str, count: int, scratch: Path) -> list[dict[str, Any]]:
    """`count` demos of `engine`, each said as it ends."""
    rows = []
    for index in range(count):
        row = demo(engine, scratch / f"{engine}-{load}-{index}") | {"load": load}
        print(
            f"{engine} {load} {index + 1}/{count}: exit {row['exit_code']}, passed "
            f"{row['passed']}, {row['command_wall_s']:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        rows.append(row)
    return rows


def tally(rows: list[dict[str, Any]], reference: str | None) -> dict[str, Any]:
    """Passes (exit 0 and acceptance) and, against `reference`, identical journals."""
    summary: dict[str, Any] = {
        "runs": len(rows),
        "passed": sum(r["exit_code"] == 0 and r["passed"] for r in rows),
        "median_wall_s": median([r["command_wall_s"] for r in rows]),
    }
    if reference is not None:
        summary["journal_identical"] = sum(r.get("journal_sha256") == reference for r in rows)
    return summary


def markdown(result: dict[str, Any]) -> str:
    """The results as a table."""
    lines = [
        "# `secmas demo` under 2× CPU oversubscription",
        "",
        f"stress-ng --cpu {result['stress']['workers']} on {result['machine']['cpu_count']} "
        f"CPUs; load average at the end {result['stress'].get('load_average_at_end')}.",
        "",
        "| demo | load | runs | passed | journal identical to idle | median wall |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for case in result["cases"]:
        same = case.get("journal_identical")
        lines.append(
            f"| {case['engine']} | {case['load']} | {case['runs']} | {case['passed']} | "
            f"{'—' if same is None else same} | {case['median_wall_s']} s |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle-rounds", type=int, default=2, help="idle in-process runs")
    parser.add_argument("--rounds", type=int, default=10, help="loaded in-process runs")
    parser.add_argument(
        "--emulated-rounds", type=int, default=10, help="loaded emulated runs (0: none)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    args = parser.parse_args()
    if args.emulated_rounds and os.geteuid() != 0:
        parser.error("--emulated-rounds needs root (network namespaces); give 0 to skip them")
    machine = describe(["secmas"], load_average=os.getloadavg(), stress_workers=workers())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="secmas-demo-load-") as scratch:
        os.environ["SECMAS_HOME"] = str(Path(scratch) / "home")
        idle = rounds("in-process", "idle", args.idle_rounds, Path(scratch))
        with cpu_load(workers()) as stress:
            loaded = rounds("in-process", "loaded", args.rounds, Path(scratch))
            emulated = rounds("emulated", "loaded", args.emulated_rounds, Path(scratch))
    reference = idle[0].get("journal_sha256") if idle else None
    cases = [
        {"engine": "in-process", "load": "idle"} | tally(idle, reference),
        {"engine": "in-process", "load": "loaded"} | tally(loaded, reference),
    ]
    if emulated:
        cases.append({"engine": "emulated", "load": "loaded"} | tally(emulated, None))
    result = {
        "benchmark": NAME,
        "machine": machine,
        "stress": stress,
        "cases": cases,
        "runs": idle + loaded + emulated,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / f"{NAME}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()

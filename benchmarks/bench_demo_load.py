"""`secmas demo` on a busy machine: acceptance and journal under 2× CPU oversubscription.

Measured, in one run, each `secmas demo` its own subprocess with `PYTHONPATH` on this
tree's `src` and one empty `$SECMAS_HOME` (the first run measures cold):

- in one process (the simulator, on the virtual clock): `--idle-rounds` runs on the idle
  machine give the reference journal (report.json's auctions without `wall_ms`,
  placements, actions, executions and attestation verdicts, as
  `bench_security_overhead.journal`); then `--rounds` runs beside `stress-ng --cpu
  2×CPUs`, each checked for exit 0, acceptance, and a journal identical to the idle one;
- on the emulated network (real namespaces, real packets, real time; root only):
  `--emulated-idle-rounds` runs of `secmas demo --dataplane emulated` on the idle
  machine, then `--emulated-rounds` beside `stress-ng --cpu --emulated-stress`, each
  checked for exit 0 and acceptance.

Every run is also read for Table 5.8's story (`secmas.report.story.departures`): the
link limit, the detector, the IP limit at pop5, the Classifier refused, the split, the
two parts' Classifiers at pop3 and pop4, the flows limited.

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
from secmas.report.story import departures, sequence

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
        auctions = report.get("auctions") or []
        row["story"] = departures(auctions)
        row["auctions"] = sequence(auctions)
        emulation = report.get("emulation") or {}
        instances = emulation.get("vnf_instances") or []
        if emulation:
            row["vnf_workloads"] = emulation.get("vnf_workloads")
        row["vnf_pulls"] = [
            [i["vnf"], i["pop"], i["estimated_s"], i["pulled_s"]] for i in instances
        ]
    return row


def pull_ratios(rows: list[dict[str, Any]]) -> list[float]:
    """Measured pull over the bid's T, for every pull a bid estimated above 1 s."""
    return [
        pulled / estimated
        for row in rows
        for _vnf, _pop, estimated, pulled in row.get("vnf_pulls", [])
        if estimated is not None and estimated > 1.0
    ]


def rounds(engine: str, load: str, count: int, scratch: Path) -> list[dict[str, Any]]:
    """`count` demos of `engine`, each said as it ends."""
    rows = []
    for index in range(count):
        row = demo(engine, scratch / f"{engine}-{load}-{index}") | {"load": load}
        print(
            f"{engine} {load} {index + 1}/{count}: exit {row['exit_code']}, passed "
            f"{row['passed']}, story {row.get('story', 'no report')}, "
            f"{row['command_wall_s']:.1f} s",
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
        "told_story": sum(r.get("story") == [] for r in rows),
        "median_wall_s": round(median([r["command_wall_s"] for r in rows]), 2),
    }
    if reference is not None:
        summary["journal_identical"] = sum(r.get("journal_sha256") == reference for r in rows)
    ratios = pull_ratios(rows)
    if ratios:
        summary["pulls"] = len(ratios)
        summary["pull_over_T_median"] = round(median(ratios), 2)
        summary["pull_over_T_range"] = [round(min(ratios), 2), round(max(ratios), 2)]
    return summary


def markdown(result: dict[str, Any]) -> str:
    """The results as a table."""
    lines = [
        "# `secmas demo` under 2× CPU oversubscription",
        "",
        f"Loaded: stress-ng --cpu {result['stress']['workers']} on "
        f"{result['machine']['cpu_count']} CPUs (in process; load average at the end "
        f"{result['stress'].get('load_average_at_end')}), --cpu "
        f"{result['emulated_stress']['workers']} beside the emulated runs (load average "
        f"at the end {result['emulated_stress'].get('load_average_at_end')}).",
        "",
        "| demo | load | runs | passed | told Table 5.8's story | journal identical to idle "
        "| median wall |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case in result["cases"]:
        same = case.get("journal_identical")
        lines.append(
            f"| {case['engine']} | {case['load']} | {case['runs']} | {case['passed']} | "
            f"{case['told_story']} | {'—' if same is None else same} | "
            f"{case['median_wall_s']} s |"
        )
    pulled = [case for case in result["cases"] if "pulls" in case]
    if pulled:
        lines += ["", "VNF image pulls over the emulated links against the bid's T (T > 1 s):", ""]
        lines += [
            f"- {c['engine']}, {c['load']}: {c['pulls']} pulls, measured/T median "
            f"{c['pull_over_T_median']} (range {c['pull_over_T_range'][0]}–"
            f"{c['pull_over_T_range'][1]})"
            for c in pulled
        ]
    departed = [r for r in result["runs"] if r.get("story")]
    if departed:
        lines += ["", "Runs that left the story:", ""]
        lines += [f"- {r['engine']}, {r['load']}: {'; '.join(r['story'])}" for r in departed]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle-rounds", type=int, default=2, help="idle in-process runs")
    parser.add_argument("--rounds", type=int, default=10, help="loaded in-process runs")
    parser.add_argument(
        "--emulated-idle-rounds", type=int, default=10, help="idle emulated runs (0: none)"
    )
    parser.add_argument(
        "--emulated-rounds", type=int, default=10, help="loaded emulated runs (0: none)"
    )
    parser.add_argument(
        "--emulated-stress", type=int, default=2, help="stress-ng workers beside them"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    args = parser.parse_args()
    if (args.emulated_rounds or args.emulated_idle_rounds) and os.geteuid() != 0:
        parser.error("emulated rounds need root (network namespaces); give 0 to skip them")
    machine = describe(["secmas"], load_average=os.getloadavg(), stress_workers=workers())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="secmas-demo-load-") as scratch:
        os.environ["SECMAS_HOME"] = str(Path(scratch) / "home")
        idle = rounds("in-process", "idle", args.idle_rounds, Path(scratch))
        quiet = rounds("emulated", "idle", args.emulated_idle_rounds, Path(scratch))
        with cpu_load(workers()) as stress:
            loaded = rounds("in-process", "loaded", args.rounds, Path(scratch))
        with cpu_load(args.emulated_stress) as emulated_stress:
            emulated = rounds("emulated", "loaded", args.emulated_rounds, Path(scratch))
    reference = idle[0].get("journal_sha256") if idle else None
    cases = [
        {"engine": engine, "load": load}
        | tally(rows, reference if engine == "in-process" else None)
        for engine, load, rows in (
            ("in-process", "idle", idle),
            ("in-process", "loaded", loaded),
            ("emulated", "idle", quiet),
            ("emulated", "loaded", emulated),
        )
        if rows  # a case given 0 rounds is left out
    ]
    result = {
        "benchmark": NAME,
        "machine": machine,
        "stress": stress,
        "emulated_stress": emulated_stress,
        "cases": cases,
        "runs": idle + loaded + quiet + emulated,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / f"{NAME}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()

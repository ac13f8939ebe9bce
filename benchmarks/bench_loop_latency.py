"""The near-real-time loop itself: from a data-plane event to the enforced rule, with the
trust layer off, on, and on while the deciding agents are being attested.

The reference six-PoP DDoS scenario (`scenarios/ddos-6pop.yaml`) runs the loop three
times: over-usage → link rate limit, intrusion → address rate limit, malicious flows →
flow blocks (`secmas.report.looplatency`; report.json's `loop`). Each episode's wall time
from the step that showed the event to the rule its winner installed (detected,
auctioned, awarded, acted) is collected from `secmas run` subprocesses on this tree's
sources, side by side in one run, rounds interleaved (off, on, attested, off, …):

- `off`: `--insecure` (no wrapping, attestation or keys; plain messages);
- `on`: the scenario as shipped (sealed channel, a mutual attestation step every 10 s,
  unannounced measurements about once a minute);
- `attested`: the same with a mutual step every second and an unannounced measurement
  about every second, so that the deciding agents are measured or verifying while they
  decide; only the episodes during which they were (the episode's `attested`) count for
  its "while attested" figures;

for agents in one process (virtual clock: the loop costs no simulated time, only real
time) and as processes over a local nats-server (`--processes`, a scaled wall clock at
the default speed), idle and beside `stress-ng --cpu 2×CPUs`. Reported per case: count,
p50 and p99 (nearest rank) of event-to-rule, of its two stages (step to detection,
detection to rule), and the on/off and attested/off ratios of p50 and p99 against the
target of ≤ 1.2×.

    .venv/bin/python benchmarks/bench_loop_latency.py [--quick] [--no-load]

Writes benchmarks/results/loop_latency.json and .png (or under `--out`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from baseline import labelled_bars, matching, write_results
from load import LOADS, loaded_result, under_each_load, workers
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
NAME = "loop_latency"
SCENARIO = ROOT / "scenarios" / "ddos-6pop.yaml"
SECURITY = ("off", "on", "attested")
PLACEMENTS = ("in-process", "processes")
TARGET = 1.2
"""Event-to-rule p99 with security on (and while attested) against off, at most."""
TIMEOUT_S = {"in-process": 300, "processes": 600}
ATTESTED = {"period": 1, "random": {"mean_interval": 1}}
"""The `attested` case's attestation: a step every simulated second, and an unannounced
measurement about as often (the shortest the scenario allows: one per step)."""


def scenarios(folder: Path) -> dict[str, Path]:
    """The shipped scenario for `off` and `on`, and its always-attesting variant."""
    data = yaml.safe_load(SCENARIO.read_text())
    data["security"]["attestation"] |= ATTESTED
    attested = folder / "ddos-6pop-attested.yaml"
    attested.write_text(yaml.safe_dump(data, sort_keys=False))
    return {"off": SCENARIO, "on": SCENARIO, "attested": attested}


def run_once(scenario: Path, placement: str, security: str, out: Path) -> dict[str, Any]:
    """One `secmas run` in a subprocess: exit code, wall seconds, the loop's episodes."""
    command = [sys.executable, "-m", "secmas", "run", str(scenario), "--out", str(out)]
    command += ["--force"]
    command += ["--processes"] if placement == "processes" else []
    command += ["--insecure"] if security == "off" else []
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    started = time.perf_counter()
    row: dict[str, Any] = {"placement": placement, "security": security, "episodes": []}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=TIMEOUT_S[placement]
        )
        row["exit_code"] = done.returncode
        if done.returncode:
            row["error"] = done.stderr[-600:]
    except subprocess.TimeoutExpired:
        row["exit_code"], row["error"] = None, f"timed out after {TIMEOUT_S[placement]} s"
    row["command_wall_s"] = time.perf_counter() - started
    report = out / "report.json"
    if report.is_file():
        row["episodes"] = (json.loads(report.read_text()).get("loop") or {}).get("episodes", [])
    return row


def nearest_rank(values: list[float], share: float) -> float | None:
    """The `share` quantile by nearest rank (as report.json's `loop`); None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def figures(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Count, p50 and p99 of event-to-rule and of its stages over enforced `episodes`."""
    enforced = [e for e in episodes if e.get("total_ms") is not None]
    out: dict[str, Any] = {"episodes": len(enforced), "unenforced": len(episodes) - len(enforced)}
    for stage in ("total_ms", "detect_ms", "enforce_ms"):
        values = [float(e[stage]) for e in enforced]
        out[f"{stage}_p50"] = nearest_rank(values, 0.5)
        out[f"{stage}_p99"] = nearest_rank(values, 0.99)
    return out


def summary(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per placement, load and security: the pooled episodes' figures (and, for
    `attested`, those of the episodes the deciding agents were attested in); and the
    ratios against `off`."""
    rows, ratios = [], []
    for placement in PLACEMENTS:
        for load in LOADS:
            case: dict[str, dict[str, Any]] = {}
            for security in SECURITY:
                same = matching(runs, placement=placement, load=load, security=security)
                if not same:
                    continue
                pooled = [e for r in same for e in r["episodes"]]
                during = [e for e in pooled if e.get("attested")]
                case[security] = {
                    "placement": placement,
                    "load": load,
                    "security": security,
                    "rounds": len(same),
                    "exit_ok": sum(r["exit_code"] == 0 for r in same),
                    **figures(pooled),
                    "while_attested": figures(during),
                }
                rows.append(case[security])
            if "off" not in case:
                continue
            for security in ("on", "attested"):
                if security not in case:
                    continue
                basis = case[security] if security == "on" else case[security]["while_attested"]
                entry: dict[str, Any] = {
                    "placement": placement,
                    "load": load,
                    "security": security,
                    "target": TARGET,
                }
                for metric in ("total_ms_p50", "total_ms_p99"):
                    off, on = case["off"][metric], basis[metric]
                    entry[metric] = on / off if on and off else None
                entry["met"] = entry["total_ms_p99"] is not None and entry["total_ms_p99"] <= TARGET
                ratios.append(entry)
    return rows, ratios


def rounds_of(
    placement: str, load: str, rounds: int, files: dict[str, Path], scratch: Path
) -> list[dict[str, Any]]:
    """`rounds` rounds of `placement`, off, on and attested in each."""
    runs = []
    for round_ in range(rounds):
        for security in SECURITY:
            out = scratch / f"{placement}-{load}-{round_}-{security}"
            row = run_once(files[security], placement, security, out) | {
                "load": load,
                "round": round_,
            }
            totals = [e["total_ms"] for e in row["episodes"] if e.get("total_ms") is not None]
            print(
                f"{placement} {load} round {round_ + 1}/{rounds} {security}: exit "
                f"{row['exit_code']}, {row['command_wall_s']:.1f} s, event-to-rule ms "
                f"{[round(t, 1) for t in totals]}",
                file=sys.stderr,
                flush=True,
            )
            runs.append(row)
    return runs


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    placements = [p for p in PLACEMENTS if any(r["placement"] == p for r in rows)]
    fig, axes = plt.subplots(1, len(placements), figsize=(6 * len(placements), 4.4), squeeze=False)
    colours = {"off": "#9ab", "on": "#c63", "attested": "#822"}
    for axis, placement in zip(axes[0], placements, strict=True):
        cases = [(load, q) for load in LOADS for q in ("p50", "p99")]
        cases = [
            c for c in cases if any(r["placement"] == placement and r["load"] == c[0] for r in rows)
        ]
        for offset, security in zip((-0.27, 0.0, 0.27), SECURITY, strict=True):
            values = []
            for load, q in cases:
                case = matching(rows, placement=placement, load=load, security=security)
                row = case[0] if case else None
                basis = (row or {}).get("while_attested") if security == "attested" else row
                values.append((basis or {}).get(f"total_ms_{q}") or 0.0)
            label = "attested (while)" if security == "attested" else security
            labelled_bars(axis, offset, values, 0.27, label, colours[security])
        axis.set_xticks(range(len(cases)), [f"{load}\n{q}" for load, q in cases])
        axis.set_ylabel("event to enforced rule (wall ms)")
        axis.set_title(f"{placement}: trust layer off / on / attesting")
        axis.legend(fontsize=8)
    fig.suptitle("Near-real-time loop, ddos-6pop: data-plane event to enforced rule")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round each, idle only")
    parser.add_argument("--rounds", type=int, default=3, help="in-process rounds (default 3)")
    parser.add_argument(
        "--process-rounds", type=int, default=2, help="--processes rounds (default 2)"
    )
    parser.add_argument("--no-processes", action="store_true", help="skip --processes")
    parser.add_argument("--no-load", action="store_true", help="skip the loaded rounds")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    args = parser.parse_args()
    counts = {"in-process": 1 if args.quick else args.rounds}
    if not args.no_processes:
        counts["processes"] = 1 if args.quick else args.process_rounds
    loads = ("idle",) if args.no_load or args.quick else LOADS
    machine = describe(["secmas"], load_average=os.getloadavg(), stress_workers=workers())
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="secmas-loop-") as scratch:
        files = scenarios(Path(scratch))

        def measure(load: str) -> None:
            for placement, n in counts.items():
                runs.extend(rounds_of(placement, load, n, files, Path(scratch)))

        stress = under_each_load(loads, measure)
    rows, ratios = summary(runs)
    result = loaded_result(NAME, machine, stress, "off, on and attested") | {
        "rounds": counts,
        "loads": list(loads),
        "attested_case": ATTESTED,
        "rows": rows,
        "ratios": ratios,
        "runs": [{k: v for k, v in r.items() if k != "episodes"} for r in runs],
        "seconds": time.perf_counter() - started,
    }
    write_results(args.out, NAME, result, plot)
    for entry in ratios:
        print(
            f"{entry['placement']:10} {entry['load']:6} {entry['security']:8} p50 "
            f"{entry['total_ms_p50'] or 0:.2f}× p99 {entry['total_ms_p99'] or 0:.2f}× "
            f"(target ≤ {TARGET}×, {'met' if entry['met'] else 'not met'})"
        )


if __name__ == "__main__":
    main()

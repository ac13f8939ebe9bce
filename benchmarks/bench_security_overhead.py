"""What the trust layer costs a whole `secmas demo` run, idle and under CPU load.

Measured, side by side in one run: the reference six-PoP DDoS demo (`python -m secmas
demo`) secure against `--insecure` (no wrapping, attestation or keys), each as its own
subprocess with `PYTHONPATH` on this tree's `src`, rounds interleaved (secure, insecure,
secure, insecure …) so that a noisy machine slows both alike:

- in one process: the wall time of the whole command (`time.perf_counter` around the
  subprocess), report.json's `wall_seconds`, the exit code and `acceptance.passed`;
- the same with `--processes` (each agent its own OS process over a local nats-server),
  in fewer rounds;
- bring-up: a ring of 50 and of 200 agents (`secmas.experiment.generators.ring_scenario`)
  run securely in one process, the wall time of deployment steps 0–14 (report.json's
  `trust.timings_s`), against the target of ≤ 5 s at 50 agents;
- challenge round trips: report.json's `trust.challenge_round_trips` (wall time from a
  challenge to its evidence) of the six-agent demo and of the 50-agent ring, p99 against
  ≤ 20 ms at 6 agents and ≤ 100 ms at 50;
- journal determinism: each secure in-process round's journal (report.json's auctions
  without `wall_ms`, placements, actions without `wall`, executions, and
  trust.attestations reduced to kind, step, time, measured, verifier, result,
  root_of_trust) against the first idle secure round's, counted idle and loaded;
- cold start: the runs use an empty `$SECMAS_HOME`, so the very first secure run compiles
  every file it measures (as on a new machine) and the later ones read the store of
  measured files (`secmas.trust.sourcestore`); `cold` sets each mode's first secure run
  beside its median.

Every case runs on the idle machine and again under 2× CPU oversubscription: the script
starts `stress-ng --cpu 2×CPUs` (4 on the 2-core machine) for the loaded rounds and
always stops it. Reported: medians per case, the secure/insecure ratios of the medians
beside the targets (≤ 1.3× in one process, ≤ 1.1× with processes), pass counts
and journal-identical counts, the CPU count and load averages.

    .venv/bin/python benchmarks/bench_security_overhead.py [--quick] [--no-load]

Writes benchmarks/results/security_overhead.json and .png (or under `--out`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from baseline import labelled_bars, matching, write_results
from load import LOADS, loaded_result, under_each_load, workers
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
NAME = "security_overhead"
TARGETS = {"in-process": 1.3, "processes": 1.1}
"""The target bounds on secure/insecure wall time."""
BRING_UP_TARGET_S = {50: 5.0}
"""The target bound on bringing up a secure pipeline of N agents."""
CHALLENGE_P99_TARGET_MS = {6: 20.0, 50: 100.0}
"""The target bounds on the 99th percentile challenge round trip at N agents."""
RING = """\
import sys
from pathlib import Path
from secmas.api import run
from secmas.experiment.generators import ring_scenario
run(ring_scenario(int(sys.argv[1])), out=Path(sys.argv[2]), seed=0)
"""
SECURITY = ("secure", "insecure")
"""CPU-bound stress-ng workers per CPU in the loaded rounds."""
TIMEOUT_S = {"in-process": 300, "processes": 600}
ATTESTATION = ("kind", "step", "time", "measured", "verifier", "result", "root_of_trust")


def journal(report: dict[str, Any]) -> dict[str, Any]:
    """The run's decisions, free of wall-clock figures: what two rounds must share."""
    trust = report.get("trust") or {}
    return {
        "auctions": [
            {k: v for k, v in auction.items() if k != "wall_ms"}
            for auction in report.get("auctions", [])
        ],
        "placements": report.get("placements"),
        "actions": [
            {k: v for k, v in action.items() if k != "wall"} for action in report.get("actions", [])
        ],
        "executions": report.get("executions"),
        "attestations": [
            {k: entry.get(k) for k in ATTESTATION} for entry in trust.get("attestations", [])
        ],
    }


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def digest_of(run: dict[str, Any]) -> dict[str, str]:
    return {"journal_sha256": digest(run["journal"])} if "journal" in run else {}


def timed_demo(
    folder: Path, options: list[str], timeout: float
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`secmas demo --out folder --force OPTIONS` in a subprocess on this tree's sources: a
    row of its wall seconds, exit code (None: timed out), acceptance and, if it failed, the
    end of its stderr; and its report (None without one)."""
    command = [sys.executable, "-m", "secmas", "demo", "--out", str(folder), "--force"]
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [*command, *options], capture_output=True, text=True, env=env, timeout=timeout
        )
        code: int | None = done.returncode
        error = done.stderr[-600:] if done.returncode else ""
    except subprocess.TimeoutExpired:
        code, error = None, f"timed out after {timeout} s"
    row: dict[str, Any] = {
        "command_wall_s": time.perf_counter() - started,
        "exit_code": code,
        "passed": False,
    }
    if error:
        row["error"] = error
    report_file = folder / "report.json"
    if not report_file.is_file():
        return row, None
    report = json.loads(report_file.read_text())
    row["passed"] = bool((report.get("acceptance") or {}).get("passed"))
    return row, report


def demo(mode: str, security: str, folder: Path) -> dict[str, Any]:
    """One `secmas demo` in a subprocess: its timings, exit code, acceptance and journal."""
    options = ["--processes"] if mode == "processes" else []
    options += ["--insecure"] if security == "insecure" else []
    row, report = timed_demo(folder, options, TIMEOUT_S[mode])
    row["report_wall_s"] = None if report is None else report.get("wall_seconds")
    if report is not None:
        row |= trust_figures(report)
        if security == "secure" and mode == "in-process":
            row["journal"] = journal(report)
    return row


def trust_figures(report: dict[str, Any]) -> dict[str, Any]:
    """Bring-up wall time (deployment steps 0–14) and challenge round trips of a secure
    run's report; nothing for an insecure one."""
    trust = report.get("trust") or {}
    if not trust:
        return {}
    trips = trust.get("challenge_round_trips") or {}
    steps = trust.get("timings_s") or {}
    return {
        "bring_up_s": sum(steps.values()),
        "bring_up_steps_s": steps,
        "challenges": trips.get("count"),
        "challenge_p50_ms": trips.get("p50_ms"),
        "challenge_p99_ms": trips.get("p99_ms"),
    }


def bring_up(agents: int, load: str, folder: Path) -> dict[str, Any]:
    """A secure ring of `agents` agents in one process: bring-up and challenge figures."""
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-c", RING, str(agents), str(folder)],
            capture_output=True,
            text=True,
            env=env,
            timeout=TIMEOUT_S["processes"],
        )
        code: int | None = done.returncode
        tail = done.stderr[-400:] if done.returncode else ""
    except subprocess.TimeoutExpired:
        code, tail = None, f"timed out after {TIMEOUT_S['processes']} s"
    row: dict[str, Any] = {
        "agents": agents,
        "load": load,
        "command_wall_s": time.perf_counter() - started,
        "exit_code": code,
    }
    if tail:
        row["error"] = tail
    report_file = folder / "report.json"
    if report_file.is_file():
        row |= trust_figures(json.loads(report_file.read_text()))
    target = BRING_UP_TARGET_S.get(agents)
    if target is not None:
        row["bring_up_target_s"] = target
        row["bring_up_met"] = row.get("bring_up_s") is not None and row["bring_up_s"] <= target
    limit = CHALLENGE_P99_TARGET_MS.get(agents)
    if limit is not None:
        row["challenge_p99_target_ms"] = limit
        p99 = row.get("challenge_p99_ms")
        row["challenge_p99_met"] = p99 is not None and p99 <= limit
    print(
        f"bring-up {agents} agents {load}: {row.get('bring_up_s') or 0:.2f} s, challenge p99 "
        f"{row.get('challenge_p99_ms')} ms, exit {code}",
        file=sys.stderr,
        flush=True,
    )
    return row


def rounds_of(mode: str, load: str, rounds: int, scratch: Path) -> list[dict[str, Any]]:
    """`rounds` rounds of `mode`, secure then insecure in each."""
    runs = []
    for round_ in range(rounds):
        for security in SECURITY:
            folder = scratch / f"{mode}-{load}-{round_}-{security}"
            row = demo(mode, security, folder) | {
                "mode": mode,
                "load": load,
                "security": security,
                "round": round_,
            }
            print(
                f"{mode} {load} round {round_ + 1}/{rounds} {security}: "
                f"{row['command_wall_s']:.2f} s, exit {row['exit_code']}, "
                f"passed {row['passed']}",
                file=sys.stderr,
                flush=True,
            )
            runs.append(row)
    return runs


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(secure: float | None, insecure: float | None) -> float | None:
    return secure / insecure if secure and insecure else None


def summary(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Medians and pass counts per case (rows), and secure/insecure per mode and load."""
    rows, ratios = [], []
    for mode in TARGETS:
        for load in LOADS:
            case = {}
            for security in SECURITY:
                same = matching(runs, mode=mode, load=load, security=security)
                if not same:
                    continue
                case[security] = {
                    "mode": mode,
                    "load": load,
                    "security": security,
                    "rounds": len(same),
                    "command_wall_s": median([r["command_wall_s"] for r in same]),
                    "report_wall_s": median([r["report_wall_s"] for r in same]),
                    "exit_ok": sum(r["exit_code"] == 0 for r in same),
                    "passed": sum(r["passed"] for r in same),
                }
                if security == "secure":  # where the time goes, in every placement
                    p99 = median([r.get("challenge_p99_ms") for r in same])
                    case[security] |= {
                        "bring_up_s": median([r.get("bring_up_s") for r in same]),
                        "bring_up_steps_s": step_medians(same),
                        "challenge_p99_ms": p99,
                        "challenge_p99_target_ms": CHALLENGE_P99_TARGET_MS[6],
                        "challenge_p99_met": p99 is not None and p99 <= CHALLENGE_P99_TARGET_MS[6],
                    }
                rows.append(case[security])
            if len(case) < 2:
                continue
            entry: dict[str, Any] = {"mode": mode, "load": load, "target": TARGETS[mode]}
            for metric in ("command_wall_s", "report_wall_s"):
                value = ratio(case["secure"][metric], case["insecure"][metric])
                entry[metric] = value
                entry[f"{metric}_met"] = value is not None and value <= TARGETS[mode]
            ratios.append(entry)
    return rows, ratios


def step_medians(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """Each deployment step's median seconds over `runs` (with `--processes`, step 2 is
    the agent processes starting and joining)."""
    names = dict.fromkeys(n for r in runs for n in r.get("bring_up_steps_s") or {})
    return {n: median([(r.get("bring_up_steps_s") or {}).get(n) for r in runs]) for n in names}


def cold(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each mode's first secure run (the measured-file store still empty for its files)
    against the median of the secure runs of the same load."""
    found: dict[str, Any] = {}
    for mode in TARGETS:
        secure = [r for r in runs if (r["mode"], r["security"]) == (mode, "secure")]
        if secure:
            same = [r["command_wall_s"] for r in secure if r["load"] == secure[0]["load"]]
            found[mode] = {
                "load": secure[0]["load"],
                "first_command_wall_s": secure[0]["command_wall_s"],
                "median_command_wall_s": median(same),
            }
    return found


def determinism(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """How many secure in-process rounds' journals equal the first idle one's, per load."""
    secure = [r for r in runs if r["mode"] == "in-process" and r["security"] == "secure"]
    reference = next((r["journal"] for r in secure if "journal" in r and r["load"] == "idle"), None)
    out: dict[str, Any] = {"reference": "first idle secure in-process round"}
    for load in LOADS:
        chosen = [r for r in secure if r["load"] == load]
        if not chosen:
            continue
        same = [reference is not None and r.get("journal") == reference for r in chosen]
        out[load] = {
            "rounds": len(chosen),
            "identical": sum(same),
            "differing_parts": [
                sorted(k for k in reference if r.get("journal", {}).get(k) != reference[k])
                for r, equal in zip(chosen, same, strict=True)
                if reference is not None and not equal
            ],
        }
    return out


def plot(rows: list[dict[str, Any]], bring_ups: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in TARGETS if any(r["mode"] == m for r in rows)]
    panels = len(modes) + bool(bring_ups)
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4.2), squeeze=False)
    colours = {"secure": "#c63", "insecure": "#9ab"}
    for axis, mode in zip(axes[0][: len(modes)], modes, strict=True):
        loads = [
            load for load in LOADS if any(r["mode"] == mode and r["load"] == load for r in rows)
        ]
        for offset, security in ((-0.2, "secure"), (0.2, "insecure")):
            values = [
                sum(
                    r["command_wall_s"] or 0.0
                    for r in matching(rows, mode=mode, load=load, security=security)
                )
                for load in loads
            ]
            labelled_bars(axis, offset, values, 0.4, security, colours[security])
        axis.set_xticks(range(len(loads)), loads)
        axis.set_ylabel("median wall time of the command (s)")
        axis.set_title(f"secmas demo, {mode} (target ≤ {TARGETS[mode]}×)")
        axis.legend(fontsize=8)
    if bring_ups:
        plot_bring_up(axes[0][-1], bring_ups)
    fig.suptitle("Trust layer overhead: secure vs --insecure, idle vs 2× CPU load")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_bring_up(axis: Any, bring_ups: list[dict[str, Any]]) -> None:
    """Bring-up wall time per ring size, idle and loaded, with the 50-agent target."""
    sizes = sorted({r["agents"] for r in bring_ups})
    seconds = {(r["agents"], r["load"]): r.get("bring_up_s") or 0.0 for r in bring_ups}
    for offset, load in ((-0.2, "idle"), (0.2, "loaded")):
        values = [seconds.get((n, load), 0.0) for n in sizes]
        bars = axis.bar([x + offset for x in range(len(sizes))], values, 0.4, label=load)
        axis.bar_label(bars, fmt="%.1f", fontsize=8)
    for x, n in enumerate(sizes):
        if n in BRING_UP_TARGET_S:
            axis.hlines(BRING_UP_TARGET_S[n], x - 0.4, x + 0.4, colors="k", linestyles="dashed")
    axis.set_xticks(range(len(sizes)), [f"{n} agents" for n in sizes])
    axis.set_ylabel("secure bring-up, steps 0-14 (s)")
    axis.set_title("bring-up in one process (dashed: target)")
    axis.legend(fontsize=8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, no --processes runs")
    parser.add_argument("--rounds", type=int, help="in-process rounds per load (default 3)")
    parser.add_argument(
        "--process-rounds", type=int, default=2, help="--processes rounds per load (default 2)"
    )
    parser.add_argument("--no-processes", action="store_true", help="skip the --processes runs")
    parser.add_argument("--no-load", action="store_true", help="skip the loaded rounds")
    parser.add_argument(
        "--agents",
        type=int,
        nargs="*",
        default=[50, 200],
        help="ring sizes whose secure bring-up is timed (default 50 200; none: skip)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 3)
    modes = {"in-process": rounds}
    if not (args.quick or args.no_processes):
        modes["processes"] = args.process_rounds
    loads = ("idle",) if args.no_load else LOADS
    machine = describe(["secmas"], load_average=os.getloadavg(), stress_workers=workers())
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    bring_ups: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="secmas-overhead-") as scratch:
        # An empty store of measured files: the first secure run compiles cold, as on a
        # new machine (`cold` in the JSON); the later ones find what it kept.
        os.environ["SECMAS_HOME"] = str(Path(scratch) / "home")

        def measure(load: str) -> None:
            for mode, n in modes.items():
                runs.extend(rounds_of(mode, load, n, Path(scratch)))
            for agents in args.agents:
                bring_ups.append(bring_up(agents, load, Path(scratch) / f"ring-{agents}-{load}"))

        stress = under_each_load(loads, measure)
    rows, ratios = summary(runs)
    result = loaded_result(NAME, machine, stress, "secure and --insecure") | {
        "rounds": modes,
        "loads": list(loads),
        "rows": rows,
        "ratios": ratios,
        "bring_up": bring_ups,
        "determinism": determinism(runs),
        "cold": cold(runs),
        "runs": [{k: v for k, v in r.items() if k != "journal"} | digest_of(r) for r in runs],
        "seconds": time.perf_counter() - started,
    }
    write_results(args.out, NAME, result, lambda rows, path: plot(rows, bring_ups, path))
    for row in rows:
        print(
            f"{row['mode']:10} {row['load']:6} {row['security']:8}: command "
            f"{row['command_wall_s']:.2f} s, report {row['report_wall_s'] or 0:.2f} s, "
            f"passed {row['passed']}/{row['rounds']}"
        )
    for entry in ratios:
        print(
            f"{entry['mode']:10} {entry['load']:6} secure/insecure: command "
            f"{entry['command_wall_s'] or 0:.3f}× (report {entry['report_wall_s'] or 0:.3f}×), "
            f"target ≤ {entry['target']}×: "
            f"{'met' if entry['command_wall_s_met'] else 'not met'}"
        )
    for row in bring_ups:
        print(
            f"bring-up {row['agents']:4} agents {row['load']:6}: {row.get('bring_up_s') or 0:.2f} s"
            f", challenge p99 {row.get('challenge_p99_ms')} ms"
        )
    for load in loads:
        same = result["determinism"].get(load)
        if same:
            print(f"journal identical ({load}): {same['identical']}/{same['rounds']}")


if __name__ == "__main__":
    main()

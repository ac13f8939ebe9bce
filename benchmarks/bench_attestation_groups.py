"""Attestation groups against the seed's single chain as the pipeline grows.

`001_…`'s chain measures one agent a period along one plan, so each agent waits
agents × period between two attestations. With `security.attestation.interval` the MLFO
splits the agents into groups sized for that interval (`secmas.trust.groups`), each its
own chain on the registry, the groups measuring each other in guest steps.

For each size, a ring of N PoPs (`secmas.experiment.generators.ring_scenario`, the
reference DDoS strategy, 120 simulated s) runs as a whole `secmas run` in a subprocess
with its own `$SECMAS_HOME`, side by side: insecure; secure with one chain (the
baseline: the scenario without an interval); secure with groups for a 30 s interval.
Agents in one process by default; `--processes` runs the agents as OS processes.

Reported per run: wall seconds, acceptance, bring-up seconds (workflow steps 2 to
13-14), attestation groups, the longest gap between two attestations of any agent
(report.json's `trust.measurement.longest_gap_s`), agents measured at least twice after
bring-up, unannounced checks, mutual and guest steps, gas per simulated hour of the
attestation steps, and the secure/insecure wall ratio.

    .venv/bin/python benchmarks/bench_attestation_groups.py [--sizes 50 200] [--processes]

Writes benchmarks/results/attestation_groups[_processes].json and .png.
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

import yaml

from machine import describe
from secmas.experiment.generators import DURATION, ring_scenario
from wholerun import sign_release, timed_run

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
SIZES = (50, 200, 1000)
INTERVAL_S = 30.0
MODES = {
    "insecure": None,
    "single chain": {},
    "groups": {"interval": INTERVAL_S},
}


def scenario_file(n: int, attestation: dict[str, Any] | None, path: Path) -> Path:
    """The ring of `n` PoPs with `attestation` merged into its security section."""
    scenario = ring_scenario(n).model_dump(mode="json", exclude_none=True)
    if attestation:
        scenario["security"]["attestation"].update(attestation)
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    return path


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """What one secure run's report.json says of its attestation."""
    trust = report["trust"]
    measurement = trust["measurement"]
    timings = trust["timings_s"]
    bring_up = sum(s for step, s in timings.items() if int(step.split("-")[0]) >= 2)
    kinds: dict[str, int] = {}
    for entry in trust["attestations"]:
        kinds[entry["kind"]] = kinds.get(entry["kind"], 0) + 1
    per_step = trust["gas"]["per_step"]
    steps = trust["gas"]["steps"]
    return {
        "bring_up_s": round(bring_up, 3),
        "timings_s": timings,
        "groups": len(trust["groups"]),
        "longest_gap_s": measurement["longest_gap_s"],
        "measured_twice_in_operation": sum(
            len(a["times"]) >= 3 for a in measurement["agents"].values()
        ),
        "unannounced": measurement["random"],
        "attestations": kinds,
        "steps": steps,
        "step_gas": None if per_step is None else per_step["gas"],
        "gas_per_hour": None
        if per_step is None
        else round(per_step["gas"] * steps * 3600 / DURATION),
    }


def one_run(home: Path, scenario: Path, out: Path, secure: bool, processes: bool) -> dict[str, Any]:
    flags = ([] if secure else ["--insecure"]) + (["--processes"] if processes else [])
    row, report = timed_run(ROOT / "src", home, scenario, out, *flags)
    if secure and report is not None:
        row |= summary(report)
    return row


def size_rows(n: int, work: Path, home: Path, processes: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"agents": n}
    for mode, attestation in MODES.items():
        print(f"{n} agents: {mode}", file=sys.stderr, flush=True)
        scenario = scenario_file(n, attestation, work / f"ring-{n}-{len(row)}.yaml")
        row[mode] = one_run(
            home, scenario, work / f"out-{n}-{len(row)}", attestation is not None, processes
        )
    insecure = row["insecure"]["wall_s"]
    for mode in ("single chain", "groups"):
        if "error" not in row[mode]:
            row[mode]["overhead"] = round(row[mode]["wall_s"] / insecure, 3)
    return row


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (gap, wall) = plt.subplots(1, 2, figsize=(11, 4.2))
    sizes = [r["agents"] for r in rows]
    for mode, marker in (("single chain", "s"), ("groups", "o")):
        ok = [r for r in rows if "error" not in r[mode]]
        gap.plot([r["agents"] for r in ok], [r[mode]["longest_gap_s"] for r in ok],
                 marker=marker, label=mode)  # fmt: skip
        wall.plot([r["agents"] for r in ok], [r[mode]["bring_up_s"] for r in ok],
                  marker=marker, label=f"{mode}: bring-up")  # fmt: skip
    wall.plot(sizes, [r["insecure"]["wall_s"] for r in rows], marker="^", ls="--",
              label="insecure: whole run")  # fmt: skip
    gap.axhline(INTERVAL_S, color="grey", ls=":", label=f"interval {INTERVAL_S:g} s")
    gap.set_xscale("log")
    gap.set_yscale("log")
    gap.set_xlabel("agents (ring)")
    gap.set_ylabel("longest gap between two attestations, simulated s")
    gap.legend(fontsize=8)
    gap.grid(alpha=0.3)
    wall.set_xlabel("agents (ring)")
    wall.set_ylabel("wall s")
    wall.legend(fontsize=8)
    wall.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--processes", action="store_true", help="agents as OS processes")
    args = parser.parse_args()
    name = "attestation_groups" + ("_processes" if args.processes else "")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="secmas-groups-") as folder:
        work = Path(folder)
        home = work / "home"
        sign_release(ROOT / "src", home)
        rows = [size_rows(n, work, home, args.processes) for n in args.sizes]
    result = {
        "benchmark": name,
        "what": "whole `secmas run` of a ring of N PoPs: insecure, secure with the seed's "
        f"single chain, secure with attestation groups for a {INTERVAL_S:g} s interval",
        "processes": args.processes,
        "seconds": round(time.perf_counter() - began, 1),
        "machine": describe(["py-evm", "cryptography"], load=os.getloadavg()),
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, RESULTS / f"{name}.png")
    for r in rows:
        for mode in ("single chain", "groups"):
            s = r[mode]
            outcome = s.get("error") or ("met" if s["passed"] else "missed")
            print(
                f"{r['agents']:5} agents {mode:>12}: {outcome}"
                f", wall {s['wall_s']:.1f} s ({s.get('overhead', float('nan')):.2f}x), "
                f"bring-up {s.get('bring_up_s', float('nan')):.1f} s, groups {s.get('groups')}, "
                f"longest gap {s.get('longest_gap_s')} s"
            )
    print(f"wrote {RESULTS / name}.json and .png", file=sys.stderr)


if __name__ == "__main__":
    main()

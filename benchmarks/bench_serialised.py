"""How often a serialised run with one OS process per agent reproduces Table 5.8.

003 Section 5.4.1 / Table 5.8: in the dissertation's serialised mode, Agent 5's Rate
Limiter wins all eight flow limits. Across processes, over the TLS nats-server `secmas run
--processes` starts, a floor that is not a mutex let two auctions overlap: pop3 and pop4
opened the floor 3 ms apart, pop5's Rate Limiter was busy, pop1 downloaded its own, and
the flows were blocked at 201–205 s instead of about 150 s. The floor is now a mutual
exclusion (`secmas.agents.floor`); this runs `scenarios/ddos-6pop.yaml` with
`defence.serialised: true` as `secmas run --processes` (the full trust layer, real time at
`--speed`) `--runs` times and counts the runs in which:

* `flow_limits`: pop5 wins all eight flowRateLimited auctions (Table 5.8's result);
* `sequence`: besides, Section 5.4.1's other awards: the link limit, the Anomaly Detector,
  the IP limit and the Load Balancer at pop5, no bid for the whole-IP Classifier, the two
  parts' Classifiers at pop3 and pop4.

    python benchmarks/bench_serialised.py [--runs 10] [--speed 10] [--insecure]

Writes benchmarks/results/serialised.json (each run's awards and when its last flow limit
was awarded).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from machine import describe

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "ddos-6pop.yaml"
RESULTS = ROOT / "benchmarks" / "results"
FLOW_LIMITS = 8
SEQUENCE = {
    "linkRateLimited": ["pop5"],
    "anomalousUsage": ["pop5"],
    "ipRateLimited": ["pop5"],
    "splitTrafficTowardsIp": ["pop5"],
}
"""Section 5.4.1's awards before the flow records and limits: goal name → winners."""


def serialised_scenario(folder: Path) -> Path:
    """ddos-6pop with `defence.serialised: true`, written into `folder`."""
    data = yaml.safe_load(SCENARIO.read_text())
    data["defence"]["serialised"] = True
    data["id"] = f"{data['id']}-serialised"
    path = folder / "ddos-6pop-serialised.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


Award = tuple[int, str | None, str]
"""One auction: how many arguments its goal has, its winner, its status."""


def awards(report: dict[str, Any]) -> dict[str, list[Award]]:
    """Goal name → its auctions' awards, in start order."""
    out: dict[str, list[Award]] = {}
    for auction in sorted(report["auctions"], key=lambda a: a["sim_start_s"]):
        entry = (len(auction["args"]), auction["winner"], auction["status"])
        out.setdefault(auction["goal_name"], []).append(entry)
    return out


def judge(report: dict[str, Any]) -> dict[str, Any]:
    """Whether one run's report shows Table 5.8's flow limits and Section 5.4.1's sequence."""
    by_goal = awards(report)
    limits = by_goal.get("flowRateLimited", [])
    flow_limits = len(limits) == FLOW_LIMITS and all(
        (w, s) == ("pop5", "done") for _, w, s in limits
    )
    records = by_goal.get("flowRecord", [])
    whole = [w for n, w, _ in records if n == 1]
    parts = sorted(str(w) for n, w, s in records if n == 2 and s == "done")
    sequence = (
        flow_limits
        and all([w for _, w, _ in by_goal.get(g, [])] == want for g, want in SEQUENCE.items())
        and whole == [None]
        and parts == ["pop3", "pop4"]
    )
    ended = [a["sim_end_s"] for a in report["auctions"] if a["goal_name"] == "flowRateLimited"]
    return {
        "flow_limits": flow_limits,
        "sequence": sequence,
        "flow_limit_winners": [w for _, w, _ in limits],
        "part_classifiers": parts,
        "last_flow_limit_s": max(ended, default=None),
    }


def one_run(scenario: Path, out: Path, speed: float, insecure: bool) -> dict[str, Any]:
    """`secmas run --processes` once; the judged report, or the failure's last lines."""
    command = [sys.executable, "-m", "secmas", "run", str(scenario), "--processes"]
    command += ["--speed", f"{speed:g}", "-o", str(out), *(["--insecure"] if insecure else [])]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        return {"exit": done.returncode, "wall_s": wall, "error": tail}
    report = json.loads((out / "report.json").read_text())
    return {"exit": 0, "wall_s": wall, **judge(report)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="runs without wrapping, attestation and keys: while the source tree changes "
        "under a run (several people editing), its agents fail attestation",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serialised-") as tmp:
        folder = Path(tmp)
        scenario = serialised_scenario(folder)
        runs = []
        for i in range(args.runs):
            run = one_run(scenario, folder / f"run{i}", args.speed, args.insecure)
            runs.append(run)
            print(f"run {i + 1}/{args.runs}: {json.dumps(run)}", flush=True)
    result = {
        "benchmark": "serialised",
        "what": "secmas run --processes of ddos-6pop with defence.serialised: true",
        "speed": args.speed,
        "insecure": args.insecure,
        "runs": len(runs),
        "flow_limits_reproduced": sum(bool(r.get("flow_limits")) for r in runs),
        "sequence_reproduced": sum(bool(r.get("sequence")) for r in runs),
        "failed_runs": sum(r["exit"] != 0 for r in runs),
        "per_run": runs,
        "machine": describe(["secmas", "nats-py"]),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serialised.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"Table 5.8 (pop5 wins all {FLOW_LIMITS} flow limits): "
        f"{result['flow_limits_reproduced']}/{len(runs)} runs; "
        f"Section 5.4.1's whole sequence: {result['sequence_reproduced']}/{len(runs)}"
    )


if __name__ == "__main__":
    main()

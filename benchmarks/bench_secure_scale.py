"""What a secure whole run costs as the network grows, on real router-level graphs.

For each CAIDA Ark graph of one AS (August 2024: 52, 160, 404 and 594 PoPs; `--quick`: 52
and 160) `secmas scenario from-topology` draws the reference DDoS scenario (seed 0), and
`secmas run` runs it secure and `--insecure`, each in its own subprocess with `PYTHONPATH`
on a source tree and its own empty `$SECMAS_HOME` (the release signed first with `secmas
wrap --release`, as `scripts/setup` does).

Side by side in one run: this tree against the baseline commit `BASELINE`, where every
agent read every member of the registry one call at a time (N² view calls) and the key
epoch went out in one transaction, so that at 404 PoPs the run stopped at step 13-14
(`gas 52984000 above the block gas limit 30000000`). The baseline runs the graphs up to
`BASELINE_UP_TO` PoPs; above that it is not run (it fails, after minutes of reads).

Reported per graph and side: the secure and insecure wall seconds (the whole command),
their ratio, whether acceptance passed, the bring-up steps' seconds (report.json's
`trust.timings_s`), the key push's transactions, the challenge round trips' p99, the gas
mined, and the longest interval between two attestations of one agent.

    .venv/bin/python benchmarks/bench_secure_scale.py [--quick]

Writes benchmarks/results/secure_scale.json and .png.
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

from baseline import baseline_src
from machine import describe
from wholerun import secmas, sign_release, timed_run

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
NAME = "secure_scale"
BASELINE = "b7ab5ca"
GRAPHS = {52: "caida/2024-08/1916", 160: "caida/2024-08/8151", 404: "caida/2024-08/3356",
          594: "caida/2024-08/7018"}  # fmt: skip
QUICK = (52, 160)
BASELINE_UP_TO = 160


def longest_gap(measurement: dict[str, Any] | None) -> float | None:
    """The longest interval between two attestations of any one agent (trust.measurement)."""
    if not measurement:
        return None
    gaps = [a["longest_gap_s"] for a in measurement["agents"].values() if a["longest_gap_s"]]
    return max(gaps, default=None)


def one_run(src: Path, home: Path, scenario: Path, out: Path, secure: bool) -> dict[str, Any]:
    """One whole `secmas run`: its wall time, exit code and what report.json says."""
    row, report = timed_run(src, home, scenario, out, *([] if secure else ["--insecure"]))
    trust = report and report.get("trust")
    if trust:
        row["timings_s"] = trust["timings_s"]
        row["bring_up_s"] = sum(trust["timings_s"].values())
        row["key_pushes"] = [k.get("batches", 1) for k in trust["key_epochs"]]
        row["challenge_p99_ms"] = trust["challenge_round_trips"]["p99_ms"]
        row["gas"] = trust["gas"]["total"]["gas"]
        row["longest_attestation_gap_s"] = longest_gap(trust.get("measurement"))
    return row


def side(src: Path, pops: tuple[int, ...], work: Path, label: str) -> list[dict[str, Any]]:
    """Every graph on one source tree: secure and insecure."""
    home = work / f"home-{label}"
    sign_release(src, home)
    rows = []
    for n in pops:
        scenario = work / f"caida-{n}.yaml"
        if not scenario.exists():
            drawn = secmas(src, home, "scenario", "from-topology", GRAPHS[n], "-o", str(scenario))
            if drawn.returncode != 0:
                raise SystemExit(f"{GRAPHS[n]}: {drawn.stderr[-500:]}")
        row: dict[str, Any] = {"pops": n, "topology": GRAPHS[n]}
        for secure in (True, False):
            mode = "secure" if secure else "insecure"
            print(f"{label}: {n} PoPs, {mode}", file=sys.stderr, flush=True)
            row[mode] = one_run(src, home, scenario, work / f"{label}-{n}-{mode}", secure)
        if "error" not in row["secure"] and "error" not in row["insecure"]:
            row["ratio"] = row["secure"]["wall_s"] / row["insecure"]["wall_s"]
        rows.append(row)
    return rows


def plot(rows: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (wall, steps) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, marker in (("baseline", "s"), ("new", "o")):
        done = [r for r in rows.get(label, []) if "error" not in r["secure"]]
        pops = [r["pops"] for r in done]
        wall.plot(pops, [r["secure"]["wall_s"] for r in done], marker=marker,
                  label=f"{label} secure")  # fmt: skip
        wall.plot(pops, [r["insecure"]["wall_s"] for r in done], marker=marker, ls="--",
                  label=f"{label} insecure")  # fmt: skip
    wall.set_xlabel("PoPs (CAIDA graphs)")
    wall.set_ylabel("whole run, wall s")
    wall.grid(alpha=0.3)
    wall.legend(fontsize=8)
    new = [r for r in rows["new"] if "error" not in r["secure"]]
    names = sorted({k for r in new for k in r["secure"]["timings_s"]}, key=_step_order)
    bottom = [0.0] * len(new)
    for name in names:
        heights = [r["secure"]["timings_s"].get(name, 0.0) for r in new]
        steps.bar([str(r["pops"]) for r in new], heights, bottom=bottom, label=f"step {name}")
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    steps.set_xlabel("PoPs")
    steps.set_ylabel("secure bring-up, wall s (this tree)")
    steps.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _step_order(name: str) -> int:
    return int(name.split("-")[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="52 and 160 PoPs only")
    parser.add_argument("--no-baseline", action="store_true", help="this tree only")
    args = parser.parse_args()
    pops = QUICK if args.quick else tuple(GRAPHS)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="secmas-secure-scale-") as folder:
        work = Path(folder)
        rows = {"new": side(ROOT / "src", pops, work, "new")}
        if not args.no_baseline:
            old = tuple(n for n in pops if n <= BASELINE_UP_TO)
            rows["baseline"] = side(baseline_src(BASELINE), old, work, "baseline")
    result = {
        "benchmark": NAME,
        "what": "whole `secmas run` of the DDoS scenario drawn on CAIDA graphs, secure and "
        "insecure, this tree and the baseline side by side",
        "baseline": BASELINE,
        "baseline_up_to_pops": BASELINE_UP_TO,
        "seconds": time.perf_counter() - began,
        "machine": describe(["py-evm", "cryptography"], load=os.getloadavg()),
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{NAME}.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, RESULTS / f"{NAME}.png")
    for label, side_rows in rows.items():
        for r in side_rows:
            s, i = r["secure"], r["insecure"]
            print(
                f"{label:>8} {r['pops']:4} PoPs: secure {s['wall_s']:7.1f} s "
                f"{'passed' if s.get('passed') else s.get('error', 'failed')}, insecure "
                f"{i['wall_s']:6.1f} s, ratio {r.get('ratio', float('nan')):5.2f}, bring-up "
                f"{s.get('bring_up_s', float('nan')):6.1f} s, key pushes {s.get('key_pushes')}"
            )
    print(f"wrote {RESULTS / NAME}.json and .png", file=sys.stderr)


if __name__ == "__main__":
    main()

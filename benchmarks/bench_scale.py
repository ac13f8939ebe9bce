"""Wall time of a whole DDoS run, and of the MLFO's pipeline step, as the network grows.

Each topology (Gabriel graphs of 100, 200 and 400 PoPs, then the 968-PoP Eurasian
backbone) becomes a DDoS scenario (`scenario_from_topology`, seed 1, security off: the
orchestration is measured, attestation has its own benchmark) and runs end to end in one
process (`operate`: every agent, the data plane, every auction of the strategy, 240
simulated s). Separately, the MLFO's step 1 (`compute_pipeline`: one agent per PoP,
each checked against the service's latency bound) is timed on the same scenario.

The growth exponent k of wall ∝ N^k is the least-squares slope of log wall on log N.
The target for the whole run: k ≤ 1.5 from 100 to 1000 PoPs.

Then, on this tree only, whole runs of 100, 300, 1 000 and 3 000 PoPs (target:
k ≤ 1.2 up to 3 000): Gabriel graphs made as topohub makes them (`gabriel.py`; topohub
ships none above 500 nodes), one subprocess each. The baseline is left out there: its
goal board scanned the whole directory for every agent at every round, and 3 000 PoPs
would take it most of an hour.

    python benchmarks/bench_scale.py [--quick] [--rounds 2] [--large 100 300 1000 3000]

Side by side with the baseline (commit dad9f6d, `benchmarks/baseline.py`):
each round runs the measurement on the baseline's sources, then on this tree's, in
subprocesses; the figures are medians over the rounds. `--quick`: 100 and 200 PoPs,
one round.

Writes benchmarks/results/scale.json and scale.png (`--large` alone, with no sizes: none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from baseline import (
    BASELINE,
    INTERLEAVED,
    ROOT,
    SIDES,
    growth_exponent,
    merged,
    one_side,
    save_log_log,
    side_by_side,
    write_results,
)
from gabriel import gabriel
from secmas.pipeline.mlfo import compute_pipeline, default_service
from secmas.pipeline.operate import operate
from secmas.scenario.model import Scenario, Security
from secmas.scenario.topology import PoPShape, scenario_from_graph, scenario_from_topology

RESULTS = Path(__file__).parent / "results"
TOPOLOGIES = ("gabriel/100/0", "gabriel/200/0", "gabriel/400/0", "backbone/eurasia_nosc")
TARGET_EXPONENT = 1.5
LARGE = (100, 300, 1000, 3000)
"""PoPs of the generated Gabriel graphs measured on this tree alone."""
LARGE_TARGET = 1.2
REPOSITORY_HOPS = 5
"""Hops from the server's PoP within which the generated runs' repository lies."""


def measure(key: str) -> dict[str, Any]:
    """One whole run and one MLFO step on topohub's `key`."""
    return timed(key, scenario_from_topology(key, seed=1))


def measure_generated(nodes: int) -> dict[str, Any]:
    """One whole run and one MLFO step on a Gabriel graph of `nodes` nodes (instance 0:
    topohub's seed, so that 100 is `gabriel/100/0`), the repository a hub within
    `REPOSITORY_HOPS` of the server (at 3 000 PoPs the whole graph's hub is out of the
    goals' reach, and the run told another story: 2 auctions instead of 12)."""
    key = f"gabriel/{nodes}/0"
    shape = PoPShape(repository_hops=REPOSITORY_HOPS)
    return timed(key, scenario_from_graph(gabriel(nodes, nodes), key, seed=1, pops=shape))


def timed(key: str, scenario: Scenario) -> dict[str, Any]:
    """Wall seconds of the MLFO step and of the whole run (security off), and what it did."""
    scenario = scenario.model_copy(update={"security": Security(enabled=False)})
    service = scenario.service or default_service(scenario)
    began = time.perf_counter()
    compute_pipeline(scenario, service, "bench", "image", 1)
    mlfo = time.perf_counter() - began
    began = time.perf_counter()
    result = asyncio.run(operate(scenario))
    run = time.perf_counter() - began
    return {
        "topology": key,
        "pops": len(scenario.pops),
        "links": len(scenario.links),
        "run_s": run,
        "mlfo_s": mlfo,
        "auctions": len(result.journal.auctions),
        "messages": result.messages,
    }


def plot(rows: list[dict[str, Any]], large: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    xs = [r["new"]["pops"] for r in rows]
    for side, mark in zip(SIDES, ("s--", "o-"), strict=True):
        ax.plot(xs, [r[side]["run_s"] for r in rows], mark, label=f"{side}: whole run")
        ax.plot(xs, [r[side]["mlfo_s"] for r in rows], mark[0] + ":", label=f"{side}: MLFO step")
    if large:
        big = [r["pops"] for r in large]
        ax.plot(big, [r["run_s"] for r in large], "^-", label="new: whole run, Gabriel to 3 000")
    save_log_log(fig, ax, "PoPs (one agent each)", "wall seconds", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 and 200 PoPs, one round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--large", type=int, nargs="*", default=list(LARGE), help="PoPs of the generated runs"
    )
    parser.add_argument("--one-side", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--generated", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    keys = TOPOLOGIES[:2] if args.quick else TOPOLOGIES
    if args.one_side:
        rows = [measure_generated(args.generated)] if args.generated else map(measure, keys)
        print(json.dumps(list(rows)))
        return
    rounds = 1 if args.quick else args.rounds
    runs = side_by_side(Path(__file__), ["--quick"] if args.quick else [], rounds)
    rows = merged(runs, "topology", ("run_s", "mlfo_s"))
    pops = [r["new"]["pops"] for r in rows]
    exponents = {
        side: {m: growth_exponent(pops, [r[side][m] for r in rows]) for m in ("run_s", "mlfo_s")}
        for side in SIDES
    }
    for row in rows:
        base, new = row["baseline"], row["new"]
        print(
            f"{row['topology']:24} {new['pops']:5} PoPs  run {base['run_s']:7.2f} → "
            f"{new['run_s']:7.2f} s  MLFO {base['mlfo_s']:7.3f} → {new['mlfo_s']:7.3f} s"
        )
    for side in SIDES:
        run, mlfo = exponents[side]["run_s"], exponents[side]["mlfo_s"]
        print(f"{side}: run ∝ N^{run:.2f}, MLFO ∝ N^{mlfo:.2f}")
    large = measure_large(args.large)
    result = {
        "benchmark": "scale",
        "what": "wall seconds of operate() (whole DDoS run, 240 simulated s, security off) "
        "and of compute_pipeline (the MLFO's step 1) per topology",
        "baseline": BASELINE,
        "rounds": rounds,
        "quick": args.quick,
        "note": INTERLEAVED,
        "growth_exponent": exponents,
        "target": {"run_exponent_at_most": TARGET_EXPONENT},
        "rows": rows,
        "large": large,
    }
    write_results(RESULTS, "scale", result, lambda rows, path: plot(rows, large["rows"], path))


def measure_large(sizes: list[int]) -> dict[str, Any]:
    """Whole runs on generated Gabriel graphs of `sizes` PoPs, this tree only, each in a
    subprocess of its own (nice: the machine is shared); the growth exponent over them."""
    rows = []
    for nodes in sizes:
        print(f"generated Gabriel graph of {nodes} PoPs", file=sys.stderr, flush=True)
        rows += one_side(Path(__file__), ["--generated", str(nodes)], ROOT / "src")
        print(f"  run {rows[-1]['run_s']:.2f} s", file=sys.stderr, flush=True)
    pops = [r["pops"] for r in rows]
    exponent = growth_exponent(pops, [r["run_s"] for r in rows]) if len(rows) > 1 else None
    if exponent is not None:
        print(f"new, {pops[0]}–{pops[-1]} PoPs: run ∝ N^{exponent:.2f}")
    return {
        "what": "wall seconds of operate() on generated Gabriel graphs (gabriel.py, topohub's "
        "recipe and seeds), 240 simulated s, security off; this tree only",
        "growth_exponent": {"run_s": exponent},
        "target": {"run_exponent_at_most": LARGE_TARGET},
        "rows": rows,
    }


if __name__ == "__main__":
    main()

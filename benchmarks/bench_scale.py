"""Wall time of a whole DDoS run, and of the MLFO's pipeline step, as the network grows.

Each topology (Gabriel graphs of 100, 200 and 400 PoPs, then the 968-PoP Eurasian
backbone) becomes a DDoS scenario (`scenario_from_topology`, seed 1, security off: the
orchestration is measured, attestation has its own benchmark) and runs end to end in one
process (`operate`: every agent, the data plane, every auction of the strategy, 240
simulated s). Separately, the MLFO's step 1 (`compute_pipeline`: one agent per PoP,
each checked against the service's latency bound) is timed on the same scenario.

The growth exponent k of wall ∝ N^k is the least-squares slope of log wall on log N.
Issue 23's target for the whole run: k ≤ 1.5 from 100 to 1000 PoPs.

    python benchmarks/bench_scale.py [--quick] [--rounds 2]

Side by side with the baseline of issue 23 (commit dad9f6d, `benchmarks/baseline.py`):
each round runs the measurement on the baseline's sources, then on this tree's, in
subprocesses; the figures are medians over the rounds. `--quick`: 100 and 200 PoPs,
one round.

Writes benchmarks/results/scale.json and scale.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from baseline import (
    BASELINE,
    INTERLEAVED,
    SIDES,
    growth_exponent,
    merged,
    save_log_log,
    side_by_side,
    write_results,
)
from secmas.pipeline.mlfo import compute_pipeline, default_service
from secmas.pipeline.operate import operate
from secmas.scenario.model import Security
from secmas.scenario.topology import scenario_from_topology

RESULTS = Path(__file__).parent / "results"
TOPOLOGIES = ("gabriel/100/0", "gabriel/200/0", "gabriel/400/0", "backbone/eurasia_nosc")
TARGET_EXPONENT = 1.5


def measure(key: str) -> dict[str, Any]:
    """One whole run and one MLFO step on `key`: wall seconds and what the run did."""
    scenario = scenario_from_topology(key, seed=1)
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


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    xs = [r["new"]["pops"] for r in rows]
    for side, mark in zip(SIDES, ("s--", "o-"), strict=True):
        ax.plot(xs, [r[side]["run_s"] for r in rows], mark, label=f"{side}: whole run")
        ax.plot(xs, [r[side]["mlfo_s"] for r in rows], mark[0] + ":", label=f"{side}: MLFO step")
    save_log_log(fig, ax, "PoPs (one agent each)", "wall seconds", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 and 200 PoPs, one round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one-side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    keys = TOPOLOGIES[:2] if args.quick else TOPOLOGIES
    if args.one_side:
        print(json.dumps([measure(key) for key in keys]))
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
    }
    write_results(RESULTS, "scale", result, plot)


if __name__ == "__main__":
    main()

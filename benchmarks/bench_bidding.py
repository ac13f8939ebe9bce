"""Time to compute every bid of one auction on real topologies of growing size.

Every PoP bids for one goal (a Rate Limiter for `ipRateLimited`, Table 5.7 constraints)
auctioned by the server's PoP, as in one NFV-A round. Bids share one `BidContext` (one
graph of the state, with every node's rscEvalhop, for all bids), as the agents of one
host do.

    python benchmarks/bench_bidding.py [--quick] [--repeat 15] [--rounds 3]

Side by side with the baseline (commit dad9f6d, `benchmarks/baseline.py`):
each round runs the measurement on the baseline's sources, then on this tree's, in
subprocesses; the figures are medians over the rounds. `--quick`: the three smallest
topologies, 3 repeats, one round.

Writes benchmarks/results/bidding.json and bidding.png. Target: all bids on 100 PoPs
under 10 ms.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from baseline import BASELINE, INTERLEAVED, SIDES, merged, save_log_log, side_by_side, write_results
from secmas.agents.bidding import BidContext, GoalRequest, compute_bid
from secmas.network.infrastructure import Infrastructure
from secmas.scenario.topology import scenario_from_topology

TOPOLOGIES = (
    "sndlib/abilene",
    "sndlib/germany50",
    "gabriel/100/0",
    "gabriel/200/0",
    "caida/2024-08/7018",
    "backbone/eurasia_nosc",
)
RESULTS = Path(__file__).parent / "results"
TARGET_MS = 10.0


def measure(key: str, repeat: int) -> dict[str, Any]:
    scenario = scenario_from_topology(key, seed=1)
    infra = Infrastructure.from_scenario(scenario)
    spec = scenario.goal("ipRateLimited")
    assert scenario.defence is not None
    request = GoalRequest.for_goal(spec, scenario.defence.monitor.pop)
    samples = []
    bids = 0
    for _ in range(repeat):
        start = time.perf_counter()
        ctx = BidContext(infra)
        replies = [compute_bid(infra, pop, request, ctx) for pop in infra.pops]
        samples.append((time.perf_counter() - start) * 1000)
        bids = sum(1 for r in replies if hasattr(r, "T"))
    samples.sort()
    n, e = len(infra.pops), len(infra.links)
    return {
        "topology": key,
        "pops": n,
        "links": e,
        "bids": bids,
        "median_ms": statistics.median(samples),
        "p95_ms": samples[min(len(samples) - 1, math.ceil(0.95 * len(samples)) - 1)],
        "n_e_log_v": n * e * math.log2(n),
    }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [float(r["baseline"]["pops"]) for r in rows]
    for side, mark in zip(SIDES, ("s--", "o-"), strict=True):
        ax.plot(xs, [r[side]["median_ms"] for r in rows], mark, label=f"{side}, median")
    ax.axhline(TARGET_MS, color="red", lw=0.8, label=f"target at 100 PoPs: {TARGET_MS:g} ms")
    save_log_log(fig, ax, "PoPs (every PoP bids)", "ms for all bids of one auction", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smallest topologies, 3 repeats")
    parser.add_argument("--one-side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    keys = TOPOLOGIES[:3] if args.quick else TOPOLOGIES
    repeat = 3 if args.quick else args.repeat
    if args.one_side:
        print(json.dumps([measure(key, repeat) for key in keys]))
        return
    rest = ["--repeat", str(repeat)] + (["--quick"] if args.quick else [])
    runs = side_by_side(Path(__file__), rest, 1 if args.quick else args.rounds)
    rows = merged(runs, "topology", ("median_ms", "p95_ms"))
    for row in rows:
        base, new = row["baseline"], row["new"]
        print(
            f"{row['topology']:24} {new['pops']:5} PoPs  baseline {base['median_ms']:8.2f} ms"
            f"  new {new['median_ms']:8.2f} ms  ×{row['speedup']['median_ms']:.2f}",
            file=sys.stderr,
        )
    result = {
        "benchmark": "bidding",
        "what": "every PoP's bid for ipRateLimited auctioned by the server's PoP, one shared "
        "BidContext; medians over the rounds of each side's median over the repeats",
        "baseline": BASELINE,
        "rounds": 1 if args.quick else args.rounds,
        "repeat": repeat,
        "quick": args.quick,
        "note": INTERLEAVED,
        "target": {"pops": 100, "median_ms_below": TARGET_MS},
        "rows": rows,
    }
    write_results(RESULTS, "bidding", result, plot)


if __name__ == "__main__":
    main()

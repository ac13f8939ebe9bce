"""Time to compute every bid of one auction on real topologies of growing size.

Every PoP bids for one goal (a Rate Limiter for `ipRateLimited`, Table 5.7 constraints)
auctioned by the server's PoP, as in one NFV-A round. Bids share one `BidContext`
(rscEvalhop cached per snapshot), as the agents of one host would.

    python benchmarks/bench_bidding.py [--repeat 15] [--quick]

`--quick` (a smoke run): the three smallest topologies, 3 repeats.

Writes benchmarks/results/bidding.json and bidding.png. Target (issue 2): all bids on
100 PoPs under 50 ms, growth no worse than N·E·log V.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

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


def measure(key: str, repeat: int) -> dict[str, float | int | str]:
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


def plot(rows: list[dict[str, float | int | str]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [float(r["pops"]) for r in rows]
    ax.plot(xs, [float(r["median_ms"]) for r in rows], "o-", label="median")
    ax.plot(xs, [float(r["p95_ms"]) for r in rows], "s--", label="p95")
    scale = float(rows[0]["median_ms"]) / float(rows[0]["n_e_log_v"])
    ax.plot(xs, [float(r["n_e_log_v"]) * scale for r in rows], ":", label="N·E·log V (scaled)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("PoPs (every PoP bids)")
    ax.set_ylabel("ms for all bids of one auction")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="smallest topologies, 3 repeats")
    args = parser.parse_args()
    rows = []
    for key in TOPOLOGIES[:3] if args.quick else TOPOLOGIES:
        row = measure(key, 3 if args.quick else args.repeat)
        rows.append(row)
        print(
            f"{key:24} {row['pops']:5} PoPs {row['links']:5} links  "
            f"median {row['median_ms']:8.2f} ms  p95 {row['p95_ms']:8.2f} ms"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bidding.json").write_text(json.dumps(rows, indent=2) + "\n")
    plot(rows, RESULTS / "bidding.png")


if __name__ == "__main__":
    main()

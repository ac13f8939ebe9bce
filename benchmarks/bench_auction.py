"""Wall time of one NFV-A auction among N agents on the in-memory bus.

N Mailboxes (the agents' NFV-A endpoints), one per PoP of a Gabriel graph
(`gabriel/<N>/0`, via `scenario_from_topology`), share one Infrastructure, a MemoryBus
and a VirtualClock. The server's PoP auctions ipRateLimited (a Rate Limiter, Table 5.7
constraints) among all N, itself included, as in one round of the DDoS strategy. The
time runs from `mailbox.auction(request, payload, candidates)` to its return: the CFPs,
every agent's bid (`compute_bid`, through the infrastructure's shared, self-validating
`BidContext` as the agents use it),
the PROPOSE/REFUSE replies, winner determination, ACCEPT/REJECT and the winner's
INFORM-DONE (its VNF download is a sleep on the virtual clock, so it costs no wall time).
Between repetitions the clock is run past every pending timer and the instance the
winner started is terminated, so every repetition sees the same state.

Where the time goes: the N bids alone are timed from a cold cache (what one in-process
auction computes), the slowest single bid is kept (in a deployment every agent computes
its own bid in parallel, so the critical path is one bid plus the messaging), and one
auction at N = 100 is profiled with cProfile (top functions by cumulative time).

    python benchmarks/bench_auction.py [--quick] [--repeat 30] [--rounds 3]

Side by side with the baseline (commit dad9f6d, `benchmarks/baseline.py`):
each round runs the measurement on the baseline's sources, then on this tree's, in
subprocesses; the figures are medians over the rounds. The profile is of this tree.
`--quick`: 10, 25, 50 agents, 5 repetitions, one round.

Writes benchmarks/results/auction.json and auction.png. Target: one auction among
100 agents in under 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import math
import platform
import pstats
import statistics
import time
from pathlib import Path
from typing import Any

from baseline import BASELINE, INTERLEAVED, SIDES, merged, save_log_log, side_by_side, write_results
from secmas.agents.auction import Mailbox
from secmas.agents.bidding import Bid, BidContext, GoalRequest, compute_bid
from secmas.agents.nfva.records import AuctionRecord
from secmas.agents.nfva.settings import AuctionSettings
from secmas.network.clock import VirtualClock, settle
from secmas.network.infrastructure import Infrastructure
from secmas.scenario.topology import scenario_from_topology
from secmas.transport.memory import MemoryBus

RESULTS = Path(__file__).parent / "results"
SIZES = (10, 25, 50, 100, 200)
QUICK_SIZES = (10, 25, 50)
TARGET_N, TARGET_MS = 100, 20.0
GOAL = "ipRateLimited"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Bench:
    """N mailboxes on one bus and clock, and the auction to run among them."""

    def __init__(self, n: int) -> None:
        self.key = f"gabriel/{n}/0"
        scenario = scenario_from_topology(self.key, seed=1)
        assert scenario.defence is not None
        self.infra = Infrastructure.from_scenario(scenario)
        self.clock = VirtualClock()
        self.bus = MemoryBus()
        self.pops = tuple(self.infra.pops)
        spec = scenario.goal(GOAL)
        self.request = GoalRequest.for_goal(
            spec, scenario.defence.monitor.pop, args=("10.0.0.100",)
        )
        self.payload: dict[str, Any] = {"node": self.request.auctioneer}
        self.mailboxes = {
            pop: Mailbox(pop, self.infra, self.bus, self.clock, self._execute, AuctionSettings())
            for pop in self.pops
        }

    @staticmethod
    async def _execute(_request: GoalRequest, _bid: Bid, _payload: dict[str, Any]) -> dict:
        return {}

    async def start(self) -> None:
        for mailbox in self.mailboxes.values():
            await mailbox.start()

    async def stop(self) -> None:
        for mailbox in self.mailboxes.values():
            await mailbox.stop()
        await self.bus.close()

    async def auction(self) -> tuple[float, AuctionRecord]:
        """One auction, end to end: (wall ms, record)."""
        auctioneer = self.mailboxes[self.request.auctioneer]
        began = time.perf_counter()
        task = asyncio.ensure_future(auctioneer.auction(self.request, self.payload, self.pops))
        while True:
            await settle()
            if task.done():
                break
            due = self.clock.next_timer()
            if due is None:
                raise RuntimeError("the auction stalled")
            self.clock.advance(due)
        wall = (time.perf_counter() - began) * 1000
        record = task.result()
        await self.reset(record)
        return wall, record

    async def reset(self, record: AuctionRecord) -> None:
        """Fire every pending timer (proposal expiries) and undo the winner's instance."""
        while (due := self.clock.next_timer()) is not None:
            self.clock.advance(due)
            await settle()
        instance = record.result.get("instance")
        if isinstance(instance, str) and instance in self.infra.instances:
            self.infra.terminate(instance)

    def bids(self) -> tuple[float, float]:
        """(ms for every bid from a cold cache, ms of the slowest single bid)."""
        ctx = BidContext(self.infra)
        slowest = 0.0
        began = time.perf_counter()
        for pop in self.pops:
            one = time.perf_counter()
            compute_bid(self.infra, pop, self.request, ctx)
            slowest = max(slowest, time.perf_counter() - one)
        return (time.perf_counter() - began) * 1000, slowest * 1000


async def measure(n: int, repeat: int) -> dict[str, Any]:
    bench = Bench(n)
    await bench.start()
    try:
        await bench.auction()  # warm-up (caches, first subscriptions)
        samples, records = [], []
        for _ in range(repeat):
            wall, record = await bench.auction()
            samples.append(wall)
            records.append(record)
        timed = [bench.bids() for _ in range(repeat)]
    finally:
        await bench.stop()
    last = records[-1]
    median = statistics.median(samples)
    bids_median = statistics.median(t for t, _ in timed)
    slowest = statistics.median(s for _, s in timed)
    return {
        "agents": n,
        "topology": bench.key,
        "links": len(bench.infra.links),
        "repeat": repeat,
        "median_ms": median,
        "p95_ms": percentile(samples, 0.95),
        "mean_ms": statistics.fmean(samples),
        "record_wall_ms_median": statistics.median(r.wall_ms for r in records),
        "bids": len(last.outcome.bids),
        "refusals": len(last.outcome.refusals),
        "winner": last.outcome.winner.bidder if last.outcome.winner else None,
        "status": last.status,
        "nfva_messages": last.messages,
        "bids_median_ms": bids_median,
        "slowest_bid_ms": slowest,
        "protocol_overhead_median_ms": median - bids_median,
        "parallel_critical_path_ms": median - bids_median + slowest,
        "meets_target": median < TARGET_MS if n == TARGET_N else None,
    }


async def profile(n: int) -> dict[str, Any]:
    """cProfile of one auction among n agents: the top functions by cumulative time."""
    bench = Bench(n)
    await bench.start()
    try:
        await bench.auction()
        profiler = cProfile.Profile()
        profiler.enable()
        wall, _ = await bench.auction()
        profiler.disable()
    finally:
        await bench.stop()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    entries = []
    for (path, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        entries.append(
            {
                "function": f"{Path(path).name}:{line}({name})",
                "path": path,
                "calls": calls,
                "tottime_ms": tottime * 1000,
                "cumtime_ms": cumtime * 1000,
            }
        )

    def top(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in e.items() if k != "path"}
            for e in sorted(items, key=lambda e: e[key], reverse=True)[:10]
        ]

    own = [e for e in entries if "/secmas/" in e["path"]]
    return {
        "agents": n,
        "profiled_wall_ms": wall,
        "top10_cumulative": top(entries, "cumtime_ms"),
        "top10_cumulative_secmas": top(own, "cumtime_ms"),
        "top10_self": top(entries, "tottime_ms"),
    }


METRICS = (
    "median_ms",
    "p95_ms",
    "bids_median_ms",
    "slowest_bid_ms",
    "protocol_overhead_median_ms",
    "parallel_critical_path_ms",
)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    xs = [r["agents"] for r in rows]
    for side, mark in zip(SIDES, ("s--", "o-"), strict=True):
        ax.plot(xs, [r[side]["median_ms"] for r in rows], mark, label=f"{side}: auction, median")
        ax.plot(
            xs, [r[side]["bids_median_ms"] for r in rows], mark[0] + ":", label=f"{side}: N bids"
        )
    ax.axhline(TARGET_MS, color="red", lw=0.8, label=f"target at N={TARGET_N}: {TARGET_MS:g} ms")
    save_log_log(
        fig, ax, "agents (Gabriel graph PoPs), every one bids", "ms (wall) for one auction", path
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10, 25, 50 agents, 5 repetitions")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one-side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = QUICK_SIZES if args.quick else SIZES
    repeat = args.repeat or (5 if args.quick else 30)
    if args.one_side:
        print(json.dumps([asyncio.run(measure(n, repeat)) for n in sizes]))
        return
    began = time.perf_counter()
    rounds = 1 if args.quick else args.rounds
    rest = ["--repeat", str(repeat)] + (["--quick"] if args.quick else [])
    rows = merged(side_by_side(Path(__file__), rest, rounds), "agents", METRICS)
    print(f"{'agents':>6} {'baseline ms':>12} {'new ms':>8} {'N bids base':>12} {'new':>7}")
    for row in rows:
        base, new = row["baseline"], row["new"]
        print(
            f"{row['agents']:6} {base['median_ms']:12.2f} {new['median_ms']:8.2f} "
            f"{base['bids_median_ms']:12.2f} {new['bids_median_ms']:7.2f}"
        )
    profiled = asyncio.run(profile(TARGET_N if not args.quick else sizes[-1]))
    print(f"cProfile, one auction among {profiled['agents']} agents, top by cumulative time:")
    for entry in profiled["top10_cumulative_secmas"]:
        print(f"  {entry['cumtime_ms']:8.2f} ms {entry['calls']:6} calls  {entry['function']}")
    at_target = next((r for r in rows if r["agents"] == TARGET_N), None)
    result = {
        "benchmark": "auction",
        "what": (
            "wall time of mailbox.auction(request, payload, candidates) among N Mailboxes "
            "on a MemoryBus with a VirtualClock, ipRateLimited auctioned by the server's PoP, "
            "every PoP a candidate"
        ),
        "baseline": BASELINE,
        "rounds": rounds,
        "repeat": repeat,
        "note": INTERLEAVED,
        "target": {
            "agents": TARGET_N,
            "median_ms_below": TARGET_MS,
            "met": None if at_target is None else at_target["new"]["median_ms"] < TARGET_MS,
        },
        "quick": args.quick,
        "python": platform.python_version(),
        "total_wall_s": time.perf_counter() - began,
        "rows": rows,
        "profile": profiled,
    }
    write_results(RESULTS, "auction", result, plot)


if __name__ == "__main__":
    main()

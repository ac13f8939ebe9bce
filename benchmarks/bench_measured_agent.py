"""Does an agent being measured still answer calls for proposals in time?

One process holds the ten NFV-A agents of `gabriel/10/0` (`bench_auction.Bench`: real
Mailboxes, the in-memory bus, the virtual clock) and one agent's attester work: the
evidence an `AttesterEndpoint` answers a challenge with, measured from this very process
with the runtime measurement an agent process uses (`self_image`, warmed first, as an
agent warms it before it joins) and signed, back to back in a worker thread, so the agent
is being measured all the time while the auctioneer runs auction after auction.

Two cases, side by side in one run, rounds interleaved:
- `idle`: nobody challenges (the baseline);
- `measured`: the attester measures and signs in a worker thread, as every agent's does;
  the walk is Python code and holds the GIL, so the event loop waits behind it.

Reported per case: one auction's wall time (call for proposals to award, every bid
included) and the event loop's lag (a 1 ms timer's overshoot), p50 and p99, and evidence
made per second while the auctions ran. Target (the near-real-time work): a measured
agent answers within 2 ms of an idle one at p99. `--load` adds the same rounds beside
`stress-ng --cpu 2×CPUs`.

    python benchmarks/bench_measured_agent.py [--quick] [--rounds 3] [--load]

Writes benchmarks/results/measured_agent.json and .png.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

from baseline import labelled_bars, save_figure, write_results
from bench_auction import Bench, percentile
from load import LOADS, loaded_result, under_each_load, workers
from machine import describe
from secmas.pipeline.agent_process import self_image
from secmas.trust.attestation import Verifier, produce_evidence
from secmas.trust.identity import AgentIdentity

RESULTS = Path(__file__).parent / "results"
NAME = "measured_agent"
CASES = ("idle", "measured")
AGENTS = 10
PIPELINE = "measured-agent"
TARGET_MS = 2.0
TICK_S = 0.001


async def _lag(stop: asyncio.Event, lags: list[float]) -> None:
    """The overshoot of a 1 ms sleep, in ms, until `stop`."""
    while not stop.is_set():
        began = time.perf_counter()
        await asyncio.sleep(TICK_S)
        lags.append((time.perf_counter() - began - TICK_S) * 1000)


def _measuring(stop: threading.Event, answered: list[int]) -> None:
    """An attester's work back to back until `stop`, in this worker thread: measure this
    process and sign the measurement under a fresh challenge's nonce; counted in
    `answered[0]`. (Driven from the bus, the challenges would wait for the busy event loop
    to deliver them, and the agent would be measured only now and then.)"""
    image = self_image()
    image.warm()  # as an agent does before it joins
    agent = AgentIdentity.generate("measured")
    while not stop.is_set():
        challenge = Verifier("verifier").challenge("measured")
        produce_evidence(agent, challenge, image.measure()).encode()
        answered[0] += 1


async def one_case(case: str, auctions: int) -> dict[str, Any]:
    bench = Bench(AGENTS)
    await bench.start()
    lags: list[float] = []
    stop, ended, answered = asyncio.Event(), threading.Event(), [0]
    measuring = threading.Thread(target=_measuring, args=(ended, answered), daemon=True)
    try:
        await bench.auction()  # warm-up
        if case == "measured":
            measuring.start()
            await until_answered(answered)
        ticking = asyncio.ensure_future(_lag(stop, lags))
        began, before = time.perf_counter(), answered[0]
        walls = [(await bench.auction())[0] for _ in range(auctions)]
        seconds, during = time.perf_counter() - began, answered[0] - before
        stop.set()
        await ticking
    finally:
        stop.set()
        ended.set()
        if measuring.is_alive():
            measuring.join()
        await bench.stop()
    return {
        "case": case,
        "auctions": auctions,
        "auction_ms": walls,
        "lag_ms": lags,
        "evidence_per_s": during / seconds,
    }


async def until_answered(answered: list[int]) -> None:
    """Until the measuring thread warmed its image and answered once."""
    while answered[0] == 0:
        await asyncio.sleep(0.05)


def summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for load in sorted({r["load"] for r in runs}):
        idle: dict[str, float] = {}
        for case in CASES:
            mine = [r for r in runs if r["case"] == case and r["load"] == load]
            walls = [w for r in mine for w in r["auction_ms"]]
            lags = [g for r in mine for g in r["lag_ms"]]
            row = {
                "case": case,
                "load": load,
                "auctions": len(walls),
                "auction_p50_ms": percentile(walls, 0.5),
                "auction_p99_ms": percentile(walls, 0.99),
                "lag_p50_ms": percentile(lags, 0.5),
                "lag_p99_ms": percentile(lags, 0.99),
                "evidence_per_s": sum(r["evidence_per_s"] for r in mine) / len(mine),
            }
            if case == "idle":
                idle = row
            else:
                row["auction_p99_over_idle_ms"] = row["auction_p99_ms"] - idle["auction_p99_ms"]
                row["met"] = row["auction_p99_over_idle_ms"] <= TARGET_MS
            rows.append(row)
    return rows


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loads = sorted({r["load"] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    colours = {"idle": "tab:grey", "measured": "tab:red"}
    for axis, metric, title in (
        (axes[0], "auction", "one auction among 10 agents"),
        (axes[1], "lag", "event loop lag"),
    ):
        for i, case in enumerate(CASES):
            values = [
                next(r[f"{metric}_p99_ms"] for r in rows if r["case"] == case and r["load"] == load)
                for load in loads
            ]
            labelled_bars(axis, (i - 0.5) * 0.35, values, 0.35, case, colours[case])
        axis.set_xticks(range(len(loads)), loads)
        axis.set_ylabel("p99 (ms)")
        axis.set_title(title)
        axis.legend()
    fig.suptitle("An agent being measured, and one that is not")
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 20 auctions, idle")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per case (default 3)")
    parser.add_argument("--auctions", type=int, default=200, help="auctions per round")
    parser.add_argument("--load", action="store_true", help="also beside stress-ng")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    args = parser.parse_args()
    rounds, auctions = (1, 20) if args.quick else (args.rounds, args.auctions)
    machine = describe(["secmas"], load_average=os.getloadavg(), stress_workers=workers())
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []

    def measure(load: str) -> None:
        for _ in range(rounds):
            for case in CASES:
                run = asyncio.run(one_case(case, auctions))
                runs.append(run | {"load": load})
                print(f"{load} {case}: {len(run['auction_ms'])} auctions", flush=True)

    stress = under_each_load(LOADS if args.load and not args.quick else ("idle",), measure)
    rows = summary(runs)
    result = loaded_result(NAME, machine, stress, "idle and measured") | {
        "what": __doc__.split("\n\n")[1].replace("\n", " "),
        "target": f"measured auction p99 within {TARGET_MS} ms of idle",
        "rounds": rounds,
        "auctions_per_round": auctions,
        "rows": rows,
        "seconds": time.perf_counter() - started,
    }
    write_results(args.out, NAME, result, plot)
    print("\n".join(map(line, rows)))


def line(row: dict[str, Any]) -> str:
    """One row of the summary, as printed."""
    verdict = f", {'met' if row['met'] else 'not met'}" if "met" in row else ""
    return (
        f"{row['load']:6} {row['case']:8} auction p50 {row['auction_p50_ms']:.2f} "
        f"p99 {row['auction_p99_ms']:.2f} ms, lag p50 {row['lag_p50_ms']:.2f} "
        f"p99 {row['lag_p99_ms']:.2f} ms, {row['evidence_per_s']:.1f} evidence/s{verdict}"
    )


if __name__ == "__main__":
    main()

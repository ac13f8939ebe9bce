"""Messages per auction and memory per agent on ring topologies of growing size.

Section 5.4.3 of `003_…`, test 2 (Figure 5.6): a ring of N PoPs with (practically)
unlimited resources and link bandwidth, the server behind pop0 (whose agent runs the Link
Monitor), the VNF repository at pop1, clients spread over the ring and one attacker that
triggers the DDoS resilience strategy (Section 5.1). For each N:

- messages: the NFV-A messages of every auction (AuctionRecord.messages in the journal)
  and every message published on the in-memory bus, both divided by the number of
  auctions; a straight line is fitted to each against N and its r² reported;
- memory: what creating and starting the N PoPAgents allocates (tracemalloc, the shared
  World, infrastructure and data plane excluded), divided by N; and, for the sizes where
  the whole run is traced, the growth until the end of the run, divided by N.

Every size runs the whole strategy by default (1000 agents take about 25 s: every
auction asks every agent, so a run costs O(auctions · N · E log V)). Above `--full-limit`
agents only the first auction of the strategy, linkRateLimited(pop0~server), is run, as
the monitor's agent does it, and the JSON says so (`run: "first-auction"`).

    python benchmarks/bench_ring.py [--quick] [--repeat 3]

Writes benchmarks/results/ring.json and ring.png.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import statistics
import time
import tracemalloc
from pathlib import Path
from typing import Any

from secmas.agents.bdi import Belief, Goal
from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.facts import PROTECT, link_name
from secmas.agents.ddos.world import World
from secmas.experiment.generators import (
    ATTACK_RATE,
    BANDWIDTH,
    DURATION,
    LATENCY,
    UNLIMITED,
    ring_scenario,
)
from secmas.network.clock import VirtualClock, drive_clock, settle

RESULTS = Path(__file__).parent / "results"
FULL_SIZES = (*range(6, 97, 6), 192, 384, 1000)
QUICK_SIZES = (6, 12, 24)


async def start_agents(world: World, seed: int) -> list[PoPAgent]:
    agents = [PoPAgent(pop, world, seed=seed) for pop in world.directory]
    for agent in agents:
        await agent.start()
    await settle()
    return agents


async def stop_agents(world: World, agents: list[PoPAgent]) -> None:
    for agent in agents:
        await agent.stop()
    await world.bus.close()
    await asyncio.sleep(0)


async def memory_per_agent(n: int, seed: int) -> float:
    """Bytes allocated (and still held) by creating and starting n agents, per agent."""
    world = World.simulated(ring_scenario(n, seed))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        agents = await start_agents(world, seed)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    await stop_agents(world, agents)
    return (after - before) / n


async def full_run(n: int, seed: int, trace: bool) -> dict[str, Any]:
    """The whole DDoS strategy on the ring, as `operate` runs it."""
    world = World.simulated(ring_scenario(n, seed))
    traced = trace
    if traced:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
    began = time.perf_counter()
    agents = await start_agents(world, seed)
    plane, clock = world.plane, world.clock
    assert isinstance(clock, VirtualClock)
    try:
        while plane.now < DURATION - 1e-9:
            plane.step()
            await drive_clock(clock, plane.now)
            for agent in agents:
                await agent.observe()
            await settle()
        grown = None
        if traced:
            gc.collect()
            grown = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        if traced:
            tracemalloc.stop()
        await stop_agents(world, agents)
    return collect(world, n, "full", time.perf_counter() - began, grown)


async def first_auction(n: int, seed: int) -> dict[str, Any]:
    """Only linkRateLimited(pop0~server), auctioned by the monitor's agent among all n."""
    scenario = ring_scenario(n, seed)
    world = World.simulated(scenario)
    began = time.perf_counter()
    agents = await start_agents(world, seed)
    assert scenario.defence is not None and scenario.attack is not None
    plane, clock = world.plane, world.clock
    assert isinstance(clock, VirtualClock)
    try:
        plane.run_until(scenario.attack.start + 3)  # the link is over-used by then
        await drive_clock(clock, plane.now)
        a, b = scenario.defence.monitor.link
        payload = {"node": a, "link": [a, b], "since": scenario.attack.start}
        monitor = next(x for x in agents if x.pop == scenario.defence.monitor.pop)
        target = Belief("linkRateLimited", (link_name(a, b),))
        goal = Goal(target, priority=PROTECT, payload=payload)
        monitor.bdi.post_goal(goal)
        while not goal.status.final:
            await settle()
            if goal.status.final:
                break
            due = clock.next_timer()
            if due is None:
                break
            clock.advance(due)
    finally:
        await stop_agents(world, agents)
    return collect(world, n, "first-auction", time.perf_counter() - began, None)


def collect(world: World, n: int, run: str, wall: float, grown: float | None) -> dict[str, Any]:
    records = [r for _, r in world.journal.auctions]
    auctions = len(records)
    bus = world.bus.stats.messages_published  # type: ignore[attr-defined]
    nfva = sum(r.messages for r in records)
    return {
        "agents": n,
        "run": run,
        "auctions": auctions,
        "auctions_done": sum(1 for r in records if r.achieved),
        "goals": sorted({r.outcome.label for r in records}),
        "bus_messages": bus,
        "nfva_messages": nfva,
        "bus_messages_per_auction": bus / auctions if auctions else None,
        "nfva_messages_per_auction": nfva / auctions if auctions else None,
        "run_wall_s": wall,
        "memory_growth_per_agent_bytes": grown,
    }


def fit(xs: list[float], ys: list[float]) -> dict[str, float]:
    """Least-squares line y = a·x + b and its r²."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys, strict=True))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return {"slope": slope, "intercept": intercept, "r2": 1 - ss_res / ss_tot if ss_tot else 1.0}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for axis, big in ((left, False), (right, True)):
        mine = [r for r in rows if (r["agents"] > 96) is big or r["agents"] == 96]
        if not mine:
            continue
        xs = [r["agents"] for r in mine]
        mem = axis.errorbar(
            xs,
            [r["memory_per_agent_kib_mean"] for r in mine],
            yerr=[r["memory_per_agent_kib_std"] for r in mine],
            fmt="o-",
            color="tab:green",
            ecolor="navy",
            capsize=3,
            label="memory per agent (KiB)",
        )
        grown = [(r["agents"], r["run_memory_growth_per_agent_kib"]) for r in mine]
        grown = [g for g in grown if g[1] is not None]
        handles = [mem]
        if grown:
            (run,) = axis.plot(
                [g[0] for g in grown],
                [g[1] for g in grown],
                "o--",
                color="tab:olive",
                label="memory growth over the run per agent (KiB, incl. journal)",
            )
            handles.append(run)
        axis.set_ylim(bottom=0)
        axis.set_xlabel("agents (ring PoPs)")
        axis.set_ylabel("KiB per agent")
        twin = axis.twinx()
        (nfva,) = twin.plot(
            xs,
            [r["nfva_messages_per_auction_mean"] for r in mine],
            "s-",
            color="tab:blue",
            label="NFV-A messages per auction",
        )
        (bus,) = twin.plot(
            xs,
            [r["bus_messages_per_auction_mean"] for r in mine],
            "^--",
            color="tab:purple",
            label="bus messages per auction",
        )
        twin.set_ylabel("messages per auction")
        twin.set_ylim(bottom=0)
        axis.legend(handles=[*handles, nfva, bus], loc="upper left", fontsize=8)
        axis.set_title("6 … 96 agents" if not big else "96 … 1000 agents")
        axis.grid(alpha=0.3)
    fig.suptitle("Ring topologies: memory and NFV-A messages (003 Figure 5.6)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6, 12 and 24 agents, 2 runs")
    parser.add_argument("--repeat", type=int, default=None, help="runs (seeds) per size")
    parser.add_argument(
        "--full-limit", type=int, default=1000, help="largest N run with the whole strategy"
    )
    parser.add_argument(
        "--trace-limit",
        type=int,
        default=1000,
        help="largest N whose first whole run is also traced with tracemalloc",
    )
    args = parser.parse_args()
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    repeat = args.repeat or (2 if args.quick else 3)
    began = time.perf_counter()
    rows: list[dict[str, Any]] = []
    print(
        f"{'agents':>6} {'run':>13} {'auctions':>8} {'NFV-A/auction':>14} "
        f"{'bus/auction':>12} {'KiB/agent':>10} {'wall s':>8}"
    )
    for n in sizes:
        reps = repeat if n <= 96 else 1
        if n <= args.full_limit:
            runs = [asyncio.run(full_run(n, seed, trace=False)) for seed in range(reps)]
        else:
            runs = [asyncio.run(first_auction(n, seed)) for seed in range(reps)]
        memory = [asyncio.run(memory_per_agent(n, seed)) / 1024 for seed in range(reps)]
        grown = None
        if n <= min(args.trace_limit, args.full_limit):  # one more run, under tracemalloc
            grown = asyncio.run(full_run(n, 0, trace=True))["memory_growth_per_agent_bytes"]
        row: dict[str, Any] = {
            "agents": n,
            "run": runs[0]["run"],
            "repeat": reps,
            "memory_per_agent_kib_mean": statistics.fmean(memory),
            "memory_per_agent_kib_std": statistics.pstdev(memory),
            "run_memory_growth_per_agent_kib": None if grown is None else grown / 1024,
        }
        for key in (
            "auctions",
            "bus_messages",
            "nfva_messages",
            "bus_messages_per_auction",
            "nfva_messages_per_auction",
            "run_wall_s",
        ):
            values = [float(r[key]) for r in runs]
            row[f"{key}_mean"] = statistics.fmean(values)
            row[f"{key}_std"] = statistics.pstdev(values)
        row["goals_auctioned"] = runs[0]["goals"]
        row["auctions_done_mean"] = statistics.fmean(r["auctions_done"] for r in runs)
        rows.append(row)
        print(
            f"{n:6} {row['run']:>13} {row['auctions_mean']:8.1f} "
            f"{row['nfva_messages_per_auction_mean']:14.1f} "
            f"{row['bus_messages_per_auction_mean']:12.1f} "
            f"{row['memory_per_agent_kib_mean']:10.1f} {row['run_wall_s_mean']:8.2f}"
        )
    fits = {}
    for key in ("nfva_messages_per_auction_mean", "bus_messages_per_auction_mean"):
        for label, mine in (
            ("all", rows),
            ("full_runs", [r for r in rows if r["run"] == "full"]),
        ):
            if len(mine) >= 3:
                fits[f"{key}:{label}"] = fit(
                    [float(r["agents"]) for r in mine], [float(r[key]) for r in mine]
                )
    fits["memory_per_agent_kib_mean:all"] = fit(
        [float(r["agents"]) for r in rows], [float(r["memory_per_agent_kib_mean"]) for r in rows]
    )
    for name, line in fits.items():
        print(f"fit {name}: {line['slope']:.4f}·N + {line['intercept']:.2f}, r² {line['r2']:.5f}")
    result = {
        "benchmark": "ring",
        "what": (
            "Section 5.4.3 test 2 of 003: NFV-A messages per auction and memory per agent "
            "on rings of N PoPs with unlimited resources, one attacker, DDoS strategy"
        ),
        "scenario": {
            "pop_resources": UNLIMITED,
            "link_bandwidth_mbps": BANDWIDTH,
            "link_latency_ms": LATENCY,
            "server_behind": "pop0 (Link Monitor)",
            "repository": "pop1",
            "attackers": 1,
            "attack_rate_mbps": ATTACK_RATE,
            "duration_s": DURATION,
        },
        "runs": (
            f"full: the whole DDoS run (operate's loop) for N <= {args.full_limit}; "
            f"first-auction: only linkRateLimited(pop0~server) auctioned by pop0 among all "
            f"N agents, for N > {args.full_limit} (meant for sizes where the whole run is "
            f"too slow; with the default limit of 1000 every size ran the whole strategy)"
        ),
        "messages": (
            "nfva = sum of AuctionRecord.messages (CFPs + replies + accept/reject + "
            "INFORM-DONE); bus = MemoryBus.stats.messages_published (also REQUESTs); "
            "both divided by the number of auctions in the journal"
        ),
        "memory": (
            "tracemalloc: bytes still allocated after creating and starting the N PoPAgents "
            "(World, Infrastructure and DataPlane built before and not counted), divided by "
            "N; run_memory_growth_per_agent_kib: growth from before the agents to the end "
            "of the whole run, divided by N (only for N <= trace limit); it grows with N "
            "because the journal keeps every bid of every auction with its virtual path, "
            "and ring paths are O(N) hops long (O(N^2) strings in all), not because of a "
            "per-agent leak"
        ),
        "fits": fits,
        "quick": args.quick,
        "python": platform.python_version(),
        "total_wall_s": time.perf_counter() - began,
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ring.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, RESULTS / "ring.png")


if __name__ == "__main__":
    main()

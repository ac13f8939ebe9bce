"""Request/reply latency and pub/sub throughput: the NATS bus against the in-memory bus.

Latency: one client requests, another answers with the same 64 B (an echo), one request
at a time, so each sample is a full round trip: requester -> nats-server -> responder ->
nats-server -> requester. On the memory bus both sides share one MemoryBus. Throughput:
one client publishes 1 KB messages as fast as it can, another counts them; the time runs
from the first publish to the last delivery. Both NATS clients live in this process and
its one event loop (as agents of one process would), with a local nats-server on
127.0.0.1 started by `NatsServer`; in separate processes each side has a CPU of its own.

    python benchmarks/bench_nats.py [--quick]

Writes benchmarks/results/nats.json and nats.png.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import math
import platform
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from secmas.transport.broker import NatsServer, find_nats_server
from secmas.transport.bus import Bus
from secmas.transport.memory import MemoryBus
from secmas.transport.nats import NatsBus

RESULTS = Path(__file__).parent / "results"
REQUEST_BYTES = 64
MESSAGE_BYTES = 1024
WARMUP = 200

Pair = Callable[[], Awaitable[tuple[Bus, Bus]]]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def echo(subject: str, data: bytes) -> bytes:
    return data


async def latency(pair: Pair, requests: int) -> dict[str, Any]:
    """Round trips of REQUEST_BYTES, one at a time, in microseconds."""
    requester, responder = await pair()
    await responder.subscribe("bench.echo", echo)
    payload = bytes(REQUEST_BYTES)
    samples: list[float] = []
    try:
        for n in range(WARMUP + requests):
            began = time.perf_counter_ns()
            await requester.request("bench.echo", payload, timeout=5)
            if n >= WARMUP:
                samples.append((time.perf_counter_ns() - began) / 1000)
    finally:
        await close(requester, responder)
    return {
        "requests": requests,
        "p50_us": percentile(samples, 0.50),
        "p99_us": percentile(samples, 0.99),
        "mean_us": statistics.fmean(samples),
        "min_us": min(samples),
        "max_us": max(samples),
        "samples_us": samples,
    }


async def throughput(pair: Pair, messages: int) -> dict[str, Any]:
    """MESSAGE_BYTES messages published back to back and counted by a subscriber."""
    publisher, subscriber = await pair()
    received = 0
    done = asyncio.Event()

    async def count(subject: str, data: bytes) -> None:
        nonlocal received
        received += 1
        if received == messages:
            done.set()

    await subscriber.subscribe("bench.stream", count)
    payload = bytes(MESSAGE_BYTES)
    try:
        began = time.perf_counter()
        for _ in range(messages):
            await publisher.publish("bench.stream", payload)
        published = time.perf_counter() - began
        await publisher.flush()
        await asyncio.wait_for(done.wait(), timeout=120)
        elapsed = time.perf_counter() - began
    finally:
        await close(publisher, subscriber)
    return {
        "messages": messages,
        "seconds": elapsed,
        "msgs_per_s": messages / elapsed,
        "mb_per_s": messages * MESSAGE_BYTES / elapsed / 1e6,
        "publish_only_msgs_per_s": messages / published,
    }


async def close(*buses: Bus) -> None:
    for bus in dict.fromkeys(buses):  # the memory pair is one bus twice
        await bus.close()


async def measure(requests: int, messages: int) -> dict[str, dict[str, Any]]:
    async def memory_pair() -> tuple[Bus, Bus]:
        bus = MemoryBus()
        return bus, bus

    async with NatsServer() as server:

        async def nats_pair() -> tuple[Bus, Bus]:
            first = await NatsBus.connect(server.url, name="bench-a")
            second = await NatsBus.connect(server.url, name="bench-b")
            return first, second

        rows: dict[str, dict[str, Any]] = {}
        for name, pair in (("memory", memory_pair), ("nats", nats_pair)):
            rows[name] = {
                "latency": await latency(pair, requests),
                "throughput": await throughput(pair, messages),
            }
    return rows


def server_version() -> str:
    binary = find_nats_server()
    if binary is None:
        return "missing"
    return subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()


def plot(rows: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    for name, row in rows.items():
        samples = sorted(row["latency"]["samples_us"])
        share = [(i + 1) / len(samples) for i in range(len(samples))]
        left.plot(samples, share, label=f"{name} (p50 {row['latency']['p50_us']:.0f} µs)")
    left.set_xscale("log")
    left.set_xlabel(f"request/reply round trip, {REQUEST_BYTES} B (µs)")
    left.set_ylabel("share of requests")
    left.grid(alpha=0.3, which="both")
    left.legend(fontsize=8)
    names = list(rows)
    rates = [rows[n]["throughput"]["msgs_per_s"] for n in names]
    right.bar(names, rates, color=["tab:blue", "tab:orange"][: len(names)])
    for x, rate in enumerate(rates):
        right.annotate(f"{rate:,.0f}", (x, rate), ha="center", va="bottom", fontsize=8)
    right.set_yscale("log")
    right.set_ylabel(f"pub/sub, {MESSAGE_BYTES} B messages per second")
    right.grid(alpha=0.3, axis="y", which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1000 requests, 20 000 messages")
    args = parser.parse_args()
    requests, messages = (1_000, 20_000) if args.quick else (10_000, 200_000)
    began = time.perf_counter()
    rows = asyncio.run(measure(requests, messages))
    print(
        f"{'bus':>6} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8} "
        f"{'1 KB msg/s':>11} {'MB/s':>7} {'publish msg/s':>14}"
    )
    for name, row in rows.items():
        lat, thr = row["latency"], row["throughput"]
        print(
            f"{name:>6} {lat['p50_us']:8.1f} {lat['p99_us']:8.1f} {lat['mean_us']:8.1f} "
            f"{thr['msgs_per_s']:11,.0f} {thr['mb_per_s']:7.1f} "
            f"{thr['publish_only_msgs_per_s']:14,.0f}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(rows, RESULTS / "nats.png")
    for row in rows.values():
        del row["latency"]["samples_us"]
    result = {
        "benchmark": "nats",
        "what": (
            f"request/reply round trip of {REQUEST_BYTES} B (echo, one at a time) and "
            f"pub/sub throughput of {MESSAGE_BYTES} B messages, between two NatsBus clients "
            "in one process and event loop on a local nats-server, against one MemoryBus"
        ),
        "nats_server": server_version(),
        "nats_py": importlib.metadata.version("nats-py"),
        "quick": args.quick,
        "python": platform.python_version(),
        "total_wall_s": time.perf_counter() - began,
        "rows": rows,
    }
    (RESULTS / "nats.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

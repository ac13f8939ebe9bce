"""What securing the NATS bus costs: TLS with per-client nkeys against plain NATS, with
the in-memory bus as the floor, and across a 3-node TLS cluster.

Buses, measured side by side in one run:
* `memory`: one MemoryBus (no network);
* `nats`: plain TCP, no authentication (the bus before it was secured);
* `nats-tls`: as `secmas run --processes` sets it up: TLS 1.3 with a per-run CA, each
  client its own nkey, the responder held to subject permissions;
* `nats-tls-cluster`: the same on a 3-node cluster, requester on node 1, responder on
  node 3, routes between nodes mutual TLS.

Latency: one client requests, another answers with the same 64 B (an echo), one request
at a time, so each sample is a full round trip (requester -> server(s) -> responder ->
server(s) -> requester). Throughput: one client publishes 1 KB messages as fast as it
can, another counts them; the time runs from the first publish to the last delivery.
Connect: `NatsBus.connect` until the client is ready (TCP, TLS handshake, nonce
signature, reply subscription). Both clients live in this process and its one event
loop, on servers on 127.0.0.1 started here. The buses are measured in interleaved blocks
(the order rotating per block), so drift of the machine hits them alike; latency samples
of all blocks are pooled, throughput is the median over blocks.

    python benchmarks/bench_nats.py [--quick]

Writes benchmarks/results/nats.json and nats.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from machine import describe
from secmas.transport.broker import NatsCluster, NatsServer, find_nats_server
from secmas.transport.bus import Bus, NoResponders
from secmas.transport.credentials import NatsUser, Permissions, issue_users
from secmas.transport.memory import MemoryBus
from secmas.transport.nats import NatsBus
from secmas.transport.tls import issue_run_pki

RESULTS = Path(__file__).parent / "results"
REQUEST_BYTES = 64
MESSAGE_BYTES = 1024
WARMUP = 100
PROBE = b"probe"
BLOCKS = 5
BASELINE, SECURED = "nats", "nats-tls"
COLOURS = {"memory": "tab:gray", BASELINE: "tab:blue", SECURED: "tab:orange"}

Pair = Callable[[], Awaitable[tuple[Bus, Bus]]]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def echo(subject: str, data: bytes) -> bytes:
    return data


async def latency(pair: Pair, requests: int) -> list[float]:
    """Round trips of REQUEST_BYTES, one at a time, in microseconds."""
    requester, responder = await pair()
    await responder.subscribe("bench.echo", echo)
    payload = bytes(REQUEST_BYTES)
    await _interest_known(requester, payload)
    samples: list[float] = []
    try:
        for n in range(WARMUP + requests):
            began = time.perf_counter_ns()
            await requester.request("bench.echo", payload, timeout=5)
            if n >= WARMUP:
                samples.append((time.perf_counter_ns() - began) / 1000)
    finally:
        await close(requester, responder)
    return samples


async def _interest_known(requester: Bus, payload: bytes) -> None:
    """On a cluster the responder's interest reaches the requester's node through a route,
    a moment after the subscription: until then a request finds no responder."""
    for _ in range(500):
        try:
            await requester.request("bench.echo", payload, timeout=5)
            return
        except NoResponders:
            await asyncio.sleep(0.01)
    raise RuntimeError("the responder's subscription never reached the requester's server")


async def throughput(pair: Pair, messages: int) -> float:
    """MESSAGE_BYTES messages published back to back and counted: messages per second."""
    publisher, subscriber = await pair()
    received = probes = 0
    done = asyncio.Event()

    async def count(subject: str, data: bytes) -> None:
        nonlocal received, probes
        if data == PROBE:
            probes += 1
            return
        received += 1
        if received == messages:
            done.set()

    await subscriber.subscribe("bench.stream", count)
    payload = bytes(MESSAGE_BYTES)
    try:
        while probes == 0:  # on a cluster, the interest crosses the routes first
            await publisher.publish("bench.stream", PROBE)
            await asyncio.sleep(0.01)
        began = time.perf_counter()
        for _ in range(messages):
            await publisher.publish("bench.stream", payload)
        await publisher.flush()
        await asyncio.wait_for(done.wait(), timeout=120)
        return messages / (time.perf_counter() - began)
    finally:
        await close(publisher, subscriber)


async def connect_ms(connect: Callable[[], Awaitable[NatsBus]], times: int) -> list[float]:
    samples = []
    for _ in range(times):
        began = time.perf_counter()
        bus = await connect()
        samples.append((time.perf_counter() - began) * 1000)
        await bus.close()
    return samples


async def close(*buses: Bus) -> None:
    for bus in dict.fromkeys(buses):  # the memory pair is one bus twice
        await bus.close()


class Setup:
    """The servers and credentials of every bus measured."""

    def __init__(self, stack: ExitStack, folder: Path) -> None:
        pki = issue_run_pki(folder / "pki", ["nats", "n1", "n2", "n3"])
        keys = issue_users(folder / "keys", ["requester", "responder"])
        held = Permissions(
            publish=("bench.>", "_INBOX.>"), subscribe=("bench.>", "_INBOX.>")
        )  # as an agent is held to its subjects
        users = [
            keys["requester"],
            NatsUser("responder", keys["responder"].nkey, held, keys["responder"].seed_file),
        ]
        self.ca = pki["nats"].ca_file
        self.seeds = {name: user.seed_file for name, user in keys.items()}
        self.plain = stack.enter_context(NatsServer())
        self.tls = stack.enter_context(NatsServer(tls=pki["nats"], users=users))
        tls_nodes = {n: pki[n] for n in ("n1", "n2", "n3")}
        self.cluster = stack.enter_context(NatsCluster(3, tls=tls_nodes, users=users))

    async def secured(self, url: str, who: str) -> NatsBus:
        return await NatsBus.connect(url, ca_file=self.ca, nkey_file=self.seeds[who], name=who)

    def pairs(self) -> dict[str, Pair]:
        async def memory() -> tuple[Bus, Bus]:
            bus = MemoryBus()
            return bus, bus

        async def plain() -> tuple[Bus, Bus]:
            url = self.plain.url
            return await NatsBus.connect(url), await NatsBus.connect(url)

        async def tls() -> tuple[Bus, Bus]:
            url = self.tls.url
            return await self.secured(url, "requester"), await self.secured(url, "responder")

        async def cluster() -> tuple[Bus, Bus]:
            first, last = self.cluster.urls[0], self.cluster.urls[-1]
            return await self.secured(first, "requester"), await self.secured(last, "responder")

        return {"memory": memory, BASELINE: plain, SECURED: tls, "nats-tls-cluster": cluster}


async def measure(setup: Setup, requests: int, messages: int) -> dict[str, dict[str, Any]]:
    pairs = setup.pairs()
    names = list(pairs)
    samples: dict[str, list[float]] = {n: [] for n in names}
    rates: dict[str, list[float]] = {n: [] for n in names}
    for block in range(BLOCKS):
        order = names[block % len(names) :] + names[: block % len(names)]
        for name in order:
            samples[name] += await latency(pairs[name], requests // BLOCKS)
            rates[name].append(await throughput(pairs[name], messages // BLOCKS))
    connects = {
        BASELINE: await connect_ms(lambda: NatsBus.connect(setup.plain.url), 30),
        SECURED: await connect_ms(lambda: setup.secured(setup.tls.url, "requester"), 30),
    }
    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        lat = samples[name]
        rows[name] = {
            "latency": {
                "requests": len(lat),
                "p50_us": percentile(lat, 0.50),
                "p99_us": percentile(lat, 0.99),
                "mean_us": statistics.fmean(lat),
                "samples_us": lat,
            },
            "throughput": {
                "messages_per_block": messages // BLOCKS,
                "msgs_per_s": statistics.median(rates[name]),
                "msgs_per_s_blocks": rates[name],
                "mb_per_s": statistics.median(rates[name]) * MESSAGE_BYTES / 1e6,
            },
        }
        if name in connects:
            rows[name]["connect_ms"] = {
                "p50": statistics.median(connects[name]),
                "max": max(connects[name]),
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

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(14, 4.2))
    for name, row in rows.items():
        samples = sorted(row["latency"]["samples_us"])
        share = [(i + 1) / len(samples) for i in range(len(samples))]
        label = f"{name} (p50 {row['latency']['p50_us']:.0f} µs)"
        left.plot(samples, share, label=label, color=COLOURS.get(name, "tab:red"))
    left.set_xscale("log")
    left.set_xlabel(f"request/reply round trip, {REQUEST_BYTES} B (µs)")
    left.set_ylabel("share of requests")
    left.grid(alpha=0.3, which="both")
    left.legend(fontsize=8)
    names = list(rows)
    rates = [rows[n]["throughput"]["msgs_per_s"] for n in names]
    middle.bar(names, rates, color=[COLOURS.get(n, "tab:red") for n in names])
    for x, rate in enumerate(rates):
        middle.annotate(f"{rate:,.0f}", (x, rate), ha="center", va="bottom", fontsize=8)
    middle.set_yscale("log")
    middle.set_ylabel(f"pub/sub, {MESSAGE_BYTES} B messages per second")
    middle.tick_params(axis="x", labelsize=8)
    middle.grid(alpha=0.3, axis="y", which="both")
    connected = [n for n in names if "connect_ms" in rows[n]]
    times = [rows[n]["connect_ms"]["p50"] for n in connected]
    right.bar(connected, times, color=[COLOURS[n] for n in connected])
    for x, ms in enumerate(times):
        right.annotate(f"{ms:.1f} ms", (x, ms), ha="center", va="bottom", fontsize=8)
    right.set_ylabel("connect, median (ms)")
    right.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1000 requests, 20 000 messages")
    args = parser.parse_args()
    requests, messages = (1_000, 20_000) if args.quick else (10_000, 200_000)
    began = time.perf_counter()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench_nats_") as folder:
        setup = Setup(stack, Path(folder))
        rows = asyncio.run(measure(setup, requests, messages))
    print(f"{'bus':>17} {'p50 µs':>8} {'p99 µs':>8} {'1 KB msg/s':>11} {'connect ms':>11}")
    for name, row in rows.items():
        lat, thr = row["latency"], row["throughput"]
        conn = f"{row['connect_ms']['p50']:11.2f}" if "connect_ms" in row else f"{'':>11}"
        print(
            f"{name:>17} {lat['p50_us']:8.1f} {lat['p99_us']:8.1f} "
            f"{thr['msgs_per_s']:11,.0f} {conn}"
        )
    base, secured = rows[BASELINE], rows[SECURED]
    headline = {
        "p50_latency_tls_over_plain": secured["latency"]["p50_us"] / base["latency"]["p50_us"],
        "p99_latency_tls_over_plain": secured["latency"]["p99_us"] / base["latency"]["p99_us"],
        "throughput_tls_over_plain": (
            secured["throughput"]["msgs_per_s"] / base["throughput"]["msgs_per_s"]
        ),
        "connect_tls_over_plain": secured["connect_ms"]["p50"] / base["connect_ms"]["p50"],
    }
    print(", ".join(f"{k} {v:.2f}" for k, v in headline.items()))
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(rows, RESULTS / "nats.png")
    for row in rows.values():
        del row["latency"]["samples_us"]
    result = {
        "benchmark": "nats",
        "what": (
            f"request/reply round trip of {REQUEST_BYTES} B (echo, one at a time), pub/sub "
            f"throughput of {MESSAGE_BYTES} B messages and connect time, between two NatsBus "
            "clients in one process and event loop: plain NATS (baseline) against TLS with "
            "per-client nkeys and permissions (as a --processes run), on one server and "
            "across a 3-node TLS cluster, with one MemoryBus as the floor; "
            f"{BLOCKS} interleaved blocks"
        ),
        "baseline": BASELINE,
        "headline": headline,
        "nats_server": server_version(),
        "machine": describe(["nats-py", "nkeys", "cryptography"], load_average=os.getloadavg()),
        "quick": args.quick,
        "total_wall_s": time.perf_counter() - began,
        "rows": rows,
    }
    (RESULTS / "nats.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

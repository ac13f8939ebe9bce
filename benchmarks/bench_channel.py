"""What the secure channel costs: per-message sealing and opening, request latency, auctions.

(1) Seal+open of one frame (`SecureChannel.seal` by the sender, `SecureChannel.open` by
the receiver, replay window included) for 64 B, 1 KB and 16 KB payloads, with
AES-256-GCM and ChaCha20-Poly1305, beside two baselines measured in the same run: a
plaintext copy each way (what sealing and opening would cost with a null cipher) and the
bare AEAD calls (encrypt+decrypt with a cached cipher object: the floor under any
framing). Times are the median over repetitions of the mean over a batch.

(2) Request/reply latency, p50 and p99, of sequential 64 B and 1 KB requests answered by
an echo handler: the plain inner bus against SecureBus (each cipher) over the same kind of
inner bus. Each entry of `TRANSPORTS` starts one echo responder per channel (plain, and
one SecureBus per cipher, each on its own subject) and hands out requesters' inner buses:
`memory` (one MemoryBus for all), `nats` (a NatsBus connection per requester and per
responder, all in this process and event loop) and `nats-process` (the responders in a
separate OS process, as agents are deployed). The NATS transports use a local nats-server
on 127.0.0.1 started here. The channels are measured in interleaved blocks (the order
rotating per block), so drift of the machine hits them alike; the ratio secure p50 /
plain p50 is reported with its range over the blocks.

(3) One NFV-A auction among 20 agents (`gabriel/20/0`, as in bench_auction.py: the
monitor's PoP auctions ipRateLimited among all 20, itself included): 20 Mailboxes on one
MemoryBus, plain or each behind its own SecureBus (AES-256-GCM, its own EpochKeyring with
the same pipeline secret), and 20 Mailboxes with a NatsBus connection each, plain or each
wrapped in its own SecureBus. Over NATS time must be real, so every variant runs on a
ScaledClock sped up a million times (the winner's VNF download of T seconds takes T µs)
with the bid and INFORM-DONE deadlines 5 s of wall time. The time runs from
`mailbox.auction(...)` to its return (CFPs, 20 bids, PROPOSE/REFUSE, ACCEPT/REJECT,
INFORM-DONE); the variants take turns, the median over repetitions is reported.

    python benchmarks/bench_channel.py [--quick]

Writes benchmarks/results/channel.json and channel.png. Targets: seal+open of a 1 KB
payload under 10 µs (brief); encryption adds at most 10 % to the p50 request/reply
latency over NATS (issue).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from secmas.agents.auction import AuctionSettings, Mailbox, inbox
from secmas.agents.bidding import Bid, GoalRequest
from secmas.network.clock import ScaledClock
from secmas.network.infrastructure import Infrastructure
from secmas.scenario.topology import scenario_from_topology
from secmas.transport.broker import NatsServer, find_nats_server
from secmas.transport.bus import Bus
from secmas.transport.channel import ReplayWindows, SecureBus, SecureChannel
from secmas.transport.memory import MemoryBus
from secmas.transport.nats import NatsBus
from secmas.trust.linkkeys import EpochKeyring

RESULTS = Path(__file__).parent / "results"
SIZES = (64, 1024, 16384)
CIPHERS = ("aes-256-gcm", "chacha20-poly1305")
PLAIN = "plain"
CHANNELS = (PLAIN, *CIPHERS)
TARGET_SIZE, TARGET_US = 1024, 10.0
TARGET_RATIO = 1.10
"""Issue: encryption adds at most 10 % to the p50 request/reply latency over NATS."""
LATENCY_SIZES = (64, 1024)
SECRET = bytes(range(32))
PIPELINE = "bench"
VNI = 4242
SUBJECT = "bench.agent.b"
REQUESTER = "a"
AUCTION_AGENTS = 20
AUCTION_TOPOLOGY = f"gabriel/{AUCTION_AGENTS}/0"
AUCTION_GOAL = "ipRateLimited"
AUCTION_CIPHER = "aes-256-gcm"
CLOCK_SPEED = 1e6
"""Clock seconds per wall second in the auctions: a VNF download of T s lasts T µs."""
DEADLINE_WALL_S = 5.0
READY = b"ready"

Connect = Callable[[], Awaitable[Bus]]
"""A new inner bus for a requester (the shared one for a MemoryBus)."""
Transport = Callable[[str], contextlib.AbstractAsyncContextManager[Connect]]
"""Given the nats-server's URL: echo responders serving every channel, and `Connect`."""


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def recipient(subject: str) -> str | None:
    tokens = subject.split(".")
    return tokens[2] if len(tokens) == 3 and tokens[1] == "agent" else None


def nfva_recipient(subject: str) -> str | None:
    return subject.rsplit(".", 1)[1] if subject.startswith("nfva.agent.") else None


def keyring(me: str) -> EpochKeyring:
    keys = EpochKeyring(me, PIPELINE, VNI)
    keys.install(1, SECRET)
    return keys


# -- (1) seal + open ---------------------------------------------------------------------------
def per_message_us(step: Callable[[], object], batch: int, repeat: int) -> float:
    """Median over `repeat` batches of the mean µs of one `step`."""
    means = []
    for _ in range(repeat):
        began = time.perf_counter_ns()
        for _ in range(batch):
            step()
        means.append((time.perf_counter_ns() - began) / batch / 1000)
    return statistics.median(means)


def cipher_costs(cipher: str, payload: bytes, batch: int, repeat: int) -> dict[str, Any]:
    """µs per message with one cipher: the bare AEAD calls, seal, and seal+open."""
    nonce, ad = bytes(12), bytes(40)
    aead = (AESGCM if cipher == "aes-256-gcm" else ChaCha20Poly1305)(bytes(32))
    sender = SecureChannel("a", VNI, keyring("a"), recipient, cipher=cipher)
    receiver = SecureChannel("b", VNI, keyring("b"), recipient, cipher=cipher)
    windows = ReplayWindows(receiver.keys)
    row = {
        "aead_only_us": per_message_us(
            lambda: aead.decrypt(nonce, aead.encrypt(nonce, payload, ad), ad), batch, repeat
        ),
        "seal_us": per_message_us(lambda: sender.seal(SUBJECT, payload), batch, repeat),
        "seal_open_us": per_message_us(
            lambda: receiver.open(SUBJECT, sender.seal(SUBJECT, payload), windows), batch, repeat
        ),
        "frame_overhead_bytes": len(sender.seal(SUBJECT, payload)) - len(payload),
    }
    row["open_us"] = row["seal_open_us"] - row["seal_us"]
    assert receiver.stats.dropped.total() == 0
    return {f"{cipher}_{key}": value for key, value in row.items()}


def sealing_costs(size: int, batch: int, repeat: int) -> dict[str, Any]:
    """µs per message for one payload size: the plaintext baseline, then each cipher."""
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    row: dict[str, Any] = {"payload_bytes": size}
    row["plaintext_copy_us"] = per_message_us(
        lambda: bytes(bytearray(bytes(bytearray(payload)))), batch, repeat
    )
    for cipher in CIPHERS:
        row.update(cipher_costs(cipher, payload, batch, repeat))
    return row


# -- (2) request/reply latency -----------------------------------------------------------------
def responder_name(channel: str) -> str:
    return f"echo-{channel}"


def echo_subject(channel: str) -> str:
    return f"bench.agent.{responder_name(channel)}"


async def echo(_subject: str, data: bytes) -> bytes:
    return data


async def serve_echo(inner: Bus, channel: str, stack: contextlib.AsyncExitStack) -> None:
    """Answer requests on `echo_subject(channel)` with their payload, through a SecureBus
    with that cipher unless plain; `stack` closes the SecureBus (not the inner bus)."""
    bus: Bus = inner
    if channel != PLAIN:
        name = responder_name(channel)
        bus = SecureBus(inner, name, VNI, keyring(name), recipient, cipher=channel)
        stack.push_async_callback(bus.close)
    await bus.subscribe(echo_subject(channel), echo)
    await bus.flush()


def nats_connect(url: str, stack: contextlib.AsyncExitStack) -> Connect:
    async def connect() -> Bus:
        bus = await NatsBus.connect(url)
        stack.push_async_callback(bus.close)
        return bus

    return connect


@contextlib.asynccontextmanager
async def memory(_url: str) -> AsyncIterator[Connect]:
    """One MemoryBus for every requester and responder."""
    bus = MemoryBus()

    async def connect() -> Bus:
        return bus

    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(bus.close)
        for channel in CHANNELS:
            await serve_echo(bus, channel, stack)
        yield connect


@contextlib.asynccontextmanager
async def nats(url: str) -> AsyncIterator[Connect]:
    """A NatsBus connection per responder and per requester, all in this event loop."""
    async with contextlib.AsyncExitStack() as stack:
        connect = nats_connect(url, stack)
        for channel in CHANNELS:
            await serve_echo(await connect(), channel, stack)
        yield connect


@contextlib.asynccontextmanager
async def nats_process(url: str) -> AsyncIterator[Connect]:
    """The responders in a child process (`--echo URL`, one connection each); the
    requesters here. The child says `ready` once subscribed, and ends at EOF on stdin."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--echo",
        url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        if line.strip() != READY:
            raise RuntimeError(f"the echo process did not start: {line!r}")
        async with contextlib.AsyncExitStack() as stack:
            yield nats_connect(url, stack)
    finally:
        child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), timeout=10)
        except TimeoutError:
            child.kill()
            await child.wait()


async def echo_process(url: str) -> None:
    """The child of `nats_process`: serve every channel until stdin closes."""
    async with contextlib.AsyncExitStack() as stack:
        connect = nats_connect(url, stack)
        for channel in CHANNELS:
            await serve_echo(await connect(), channel, stack)
        sys.stdout.buffer.write(READY + b"\n")
        sys.stdout.buffer.flush()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)


TRANSPORTS: dict[str, Transport] = {
    "memory": memory,
    "nats": nats,
    "nats-process": nats_process,
}
NATS_TRANSPORTS = ("nats", "nats-process")


async def request_latency(
    transport: Transport, url: str, n: int, blocks: int
) -> list[dict[str, Any]]:
    """p50/p99 µs of `n` sequential requests per payload size and channel to the echo
    responders, in `blocks` interleaved blocks; with each secure row, its p50 ratio to
    plain (overall, and the range over the blocks)."""
    rows = []
    async with transport(url) as connect, contextlib.AsyncExitStack() as stack:
        requesters: dict[str, Bus] = {}
        for channel in CHANNELS:
            bus = await connect()
            if channel != PLAIN:
                bus = SecureBus(bus, REQUESTER, VNI, keyring(REQUESTER), recipient, cipher=channel)
                stack.push_async_callback(bus.close)
            requesters[channel] = bus
        per_block = max(1, n // blocks)
        for size in LATENCY_SIZES:
            payload = bytes(size)
            for channel, bus in requesters.items():  # warm-up: caches, first subscriptions
                for _ in range(max(50, n // 10)):
                    await bus.request(echo_subject(channel), payload, timeout=5)
            samples: dict[str, list[list[float]]] = {c: [] for c in CHANNELS}
            for block in range(blocks):
                shift = block % len(CHANNELS)
                for channel in CHANNELS[shift:] + CHANNELS[:shift]:
                    bus, subject, taken = requesters[channel], echo_subject(channel), []
                    for _ in range(per_block):
                        began = time.perf_counter_ns()
                        await bus.request(subject, payload, timeout=5)
                        taken.append((time.perf_counter_ns() - began) / 1000)
                    samples[channel].append(taken)
            plain_all = [s for b in samples[PLAIN] for s in b]
            for channel in CHANNELS:
                every = [s for b in samples[channel] for s in b]
                row: dict[str, Any] = {
                    "channel": channel,
                    "payload_bytes": size,
                    "p50_us": percentile(every, 0.50),
                    "p99_us": percentile(every, 0.99),
                    "mean_us": statistics.fmean(every),
                    "requests": len(every),
                }
                if channel != PLAIN:
                    per = [
                        percentile(mine, 0.5) / percentile(plain, 0.5)
                        for mine, plain in zip(samples[channel], samples[PLAIN], strict=True)
                    ]
                    row["p50_ratio_to_plain"] = row["p50_us"] / percentile(plain_all, 0.5)
                    row["p50_added_us"] = row["p50_us"] - percentile(plain_all, 0.5)
                    row["p50_ratio_blocks_min"] = min(per)
                    row["p50_ratio_blocks_median"] = statistics.median(per)
                    row["p50_ratio_blocks_max"] = max(per)
                rows.append(row)
        stats = [b.channel_stats for b in requesters.values() if isinstance(b, SecureBus)]
        assert all(s.dropped.total() == 0 for s in stats), stats
    return rows


def latencies(url: str, n: int, blocks: int) -> list[dict[str, Any]]:
    rows = []
    for name, transport in TRANSPORTS.items():
        for row in asyncio.run(request_latency(transport, url, n, blocks)):
            rows.append({"transport": name, **row})
    return rows


def ratio_target(lat: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's target per NATS transport and cipher, over both payload sizes."""
    met: dict[str, dict[str, bool]] = {}
    ratios: dict[str, dict[str, dict[str, float]]] = {}
    for row in lat:
        if row["transport"] in NATS_TRANSPORTS and row["channel"] != PLAIN:
            ratio = row["p50_ratio_to_plain"]
            by_cipher = ratios.setdefault(row["transport"], {}).setdefault(row["channel"], {})
            by_cipher[f"{row['payload_bytes']} B"] = ratio
            cell = met.setdefault(row["transport"], {})
            cell[row["channel"]] = cell.get(row["channel"], True) and ratio <= TARGET_RATIO
    return {
        "secure_p50_over_plain_p50_at_most": TARGET_RATIO,
        "payload_bytes": list(LATENCY_SIZES),
        "ratios": ratios,
        "met": met,
    }


# -- (3) auctions among 20 agents --------------------------------------------------------------
AUCTION_VARIANTS = (
    ("memory", PLAIN),
    ("memory", AUCTION_CIPHER),
    ("nats", PLAIN),
    ("nats", AUCTION_CIPHER),
)


class AuctionBench:
    """20 Mailboxes on a MemoryBus or a NatsBus each, plain or each behind a SecureBus."""

    def __init__(self, transport: str, channel: str, url: str) -> None:
        self.transport, self.channel, self.url = transport, channel, url
        scenario = scenario_from_topology(AUCTION_TOPOLOGY, seed=1)
        assert scenario.defence is not None
        self.infra = Infrastructure.from_scenario(scenario)
        self.clock = ScaledClock(CLOCK_SPEED)
        self.settings = AuctionSettings(
            bid_deadline=DEADLINE_WALL_S * CLOCK_SPEED,
            done_margin=DEADLINE_WALL_S * CLOCK_SPEED,
            attempts=1,
        )
        self.pops = tuple(self.infra.pops)
        self.request = GoalRequest.for_goal(
            scenario.goal(AUCTION_GOAL), scenario.defence.monitor.pop, args=("10.0.0.100",)
        )
        self.payload: dict[str, Any] = {"node": self.request.auctioneer}
        self.mailboxes: dict[str, Mailbox] = {}
        self.secure: list[SecureBus] = []
        self.stack = contextlib.AsyncExitStack()

    @staticmethod
    async def _execute(_request: GoalRequest, _bid: Bid, _payload: dict[str, Any]) -> dict:
        return {}

    async def _inner(self, shared: list[MemoryBus]) -> Bus:
        if self.transport == "memory":
            if not shared:
                shared.append(MemoryBus())
                self.stack.push_async_callback(shared[0].close)
            return shared[0]
        bus = await NatsBus.connect(self.url)
        self.stack.push_async_callback(bus.close)
        return bus

    async def start(self) -> None:
        shared: list[MemoryBus] = []
        for pop in self.pops:
            bus = await self._inner(shared)
            if self.channel != PLAIN:
                bus = SecureBus(bus, pop, VNI, keyring(pop), nfva_recipient, cipher=self.channel)
                self.stack.push_async_callback(bus.close)
                self.secure.append(bus)
            mailbox = Mailbox(pop, self.infra, bus, self.clock, self._execute, self.settings)
            await mailbox.start()
            self.stack.push_async_callback(mailbox.stop)
            self.mailboxes[pop] = mailbox
        assert inbox(self.pops[0]) == f"nfva.agent.{self.pops[0]}"
        assert nfva_recipient(inbox(self.pops[0])) == self.pops[0]

    async def stop(self) -> None:
        await self.stack.aclose()

    async def auction(self) -> dict[str, Any]:
        """One auction, end to end, then the winner's instance undone."""
        auctioneer = self.mailboxes[self.request.auctioneer]
        began = time.perf_counter()
        record = await auctioneer.auction(self.request, self.payload, self.pops)
        wall = (time.perf_counter() - began) * 1000
        if record.status != "done":
            raise RuntimeError(f"{self.transport}/{self.channel}: auction {record.status}")
        instance = record.result.get("instance")
        if isinstance(instance, str) and instance in self.infra.instances:
            self.infra.terminate(instance)
        return {"wall_ms": wall, "record": record}


async def auctions(repeat: int) -> list[dict[str, Any]]:
    """The four variants, taking turns; NATS plain and secure on servers of their own (the
    agents' subjects are the same)."""
    with NatsServer() as plain_server, NatsServer() as secure_server:
        urls = {PLAIN: plain_server.url, AUCTION_CIPHER: secure_server.url}
        benches = [AuctionBench(t, c, urls[c]) for t, c in AUCTION_VARIANTS]
        try:
            for bench in benches:
                await bench.start()
            for bench in benches:
                await bench.auction()  # warm-up: caches, first frames on every link
            taken: list[list[dict[str, Any]]] = [[] for _ in benches]
            for r in range(repeat):
                order = list(range(len(benches)))
                order = order[r % len(order) :] + order[: r % len(order)]
                for i in order:
                    taken[i].append(await benches[i].auction())
        finally:
            for bench in benches:
                await bench.stop()
    rows = []
    for bench, runs in zip(benches, taken, strict=True):
        walls = [run["wall_ms"] for run in runs]
        last = runs[-1]["record"]
        rows.append(
            {
                "transport": bench.transport,
                "channel": bench.channel,
                "agents": len(bench.pops),
                "repeat": len(runs),
                "median_ms": statistics.median(walls),
                "p95_ms": percentile(walls, 0.95),
                "min_ms": min(walls),
                "record_wall_ms_median": statistics.median(r["record"].wall_ms for r in runs),
                "bids": len(last.outcome.bids),
                "refusals": len(last.outcome.refusals),
                "nfva_messages": last.messages,
                "frames_dropped": sum(b.channel_stats.dropped.total() for b in bench.secure),
            }
        )
    return rows


def auction_ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    ms = {f"{r['transport']}/{'plain' if r['channel'] == PLAIN else 'encrypted'}": r for r in rows}
    median = {k: v["median_ms"] for k, v in ms.items()}
    return {
        "memory_encrypted_over_memory_plain": median["memory/encrypted"] / median["memory/plain"],
        "nats_plain_over_memory_plain": median["nats/plain"] / median["memory/plain"],
        "nats_encrypted_over_nats_plain": median["nats/encrypted"] / median["nats/plain"],
        "nats_encrypted_over_memory_plain": median["nats/encrypted"] / median["memory/plain"],
    }


def nats_server_version() -> str:
    binary = find_nats_server()
    if binary is None:
        return "missing"
    return subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()


# -- output ------------------------------------------------------------------------------------
SHORT = {PLAIN: "plain", "aes-256-gcm": "AES-GCM", "chacha20-poly1305": "ChaCha"}
TINY = {"aes-256-gcm": "AES", "chacha20-poly1305": "ChaCha"}


def size_label(size: int) -> str:
    return f"{size // 1024} KB" if size % 1024 == 0 else f"{size} B"


def plot(
    costs: list[dict[str, Any]],
    lat: list[dict[str, Any]],
    auction_rows: list[dict[str, Any]],
    path: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    (seal, latency), (ratio, auction) = axes
    series = [("plaintext_copy_us", "plaintext copy")]
    for cipher in CIPHERS:
        series += [(f"{cipher}_aead_only_us", f"{cipher}, AEAD only")]
        series += [(f"{cipher}_seal_open_us", f"{cipher}, seal+open")]
    width = 0.8 / len(series)
    for i, (key, label) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(costs))]
        seal.bar(xs, [row[key] for row in costs], width, label=label)
    seal.set_xticks(range(len(costs)), [f"{row['payload_bytes']} B" for row in costs])
    seal.axhline(TARGET_US, color="red", lw=0.8, label=f"target at 1 KB: {TARGET_US:g} µs")
    seal.set_yscale("log")
    seal.set_ylabel("µs per message")
    seal.set_title("seal + open, one frame")
    seal.legend(fontsize=7)
    seal.grid(alpha=0.3, axis="y", which="both")

    groups = list(dict.fromkeys((r["transport"], r["payload_bytes"]) for r in lat))
    width = 0.8 / len(CHANNELS)
    for i, channel in enumerate(CHANNELS):
        rows = [
            next(
                r
                for r in lat
                if (r["transport"], r["payload_bytes"]) == g and r["channel"] == channel
            )
            for g in groups
        ]
        xs = [j + (i - (len(CHANNELS) - 1) / 2) * width for j in range(len(groups))]
        latency.bar(xs, [r["p50_us"] for r in rows], width, label=f"{SHORT[channel]}, p50")
        latency.plot(xs, [r["p99_us"] for r in rows], "_", color="black", ms=9)
    latency.plot([], [], "_", color="black", ms=9, label="p99")
    latency.set_xticks(range(len(groups)), [f"{t}\n{size_label(b)}" for t, b in groups], fontsize=8)
    latency.set_yscale("log")
    latency.set_ylabel("µs per request/reply")
    latency.set_title("request latency, echo responder")
    latency.legend(fontsize=8)
    latency.grid(alpha=0.3, axis="y", which="both")

    secure = [r for r in lat if r["channel"] != PLAIN and r["transport"] in NATS_TRANSPORTS]
    xs = list(range(len(secure)))
    middle = [r["p50_ratio_to_plain"] for r in secure]
    ratio.bar(xs, middle, 0.6, color="tab:purple", label="pooled samples")
    ratio.errorbar(
        xs,
        middle,
        [
            [m - r["p50_ratio_blocks_min"] for m, r in zip(middle, secure, strict=True)],
            [r["p50_ratio_blocks_max"] - m for m, r in zip(middle, secure, strict=True)],
        ],
        fmt="none",
        color="gray",
        label="min-max over blocks",
    )
    ratio.plot(
        xs,
        [r["p50_ratio_blocks_median"] for r in secure],
        "o",
        color="black",
        ms=3,
        label="median over blocks",
    )
    for x, m in zip(xs, middle, strict=True):
        ratio.annotate(f"{m:.2f}", (x, 1.0), ha="center", va="bottom", fontsize=7, color="white")
    ratio.axhline(TARGET_RATIO, color="red", lw=0.8, label=f"target: {TARGET_RATIO:g}")
    ratio.set_xticks(
        xs,
        [
            f"{r['transport']}\n{TINY[r['channel']]} {size_label(r['payload_bytes'])}"
            for r in secure
        ],
        fontsize=7,
    )
    ratio.set_ylim(0.9, max(1.3, max(r["p50_ratio_blocks_max"] for r in secure) * 1.05))
    memory_ratios = [
        r["p50_ratio_to_plain"] for r in lat if r["transport"] == "memory" and r["channel"] != PLAIN
    ]
    ratio.set_ylabel("secure p50 / plain p50")
    ratio.set_title(
        "what encryption adds to request latency over NATS\n"
        f"(on the MemoryBus: x{min(memory_ratios):.1f} to x{max(memory_ratios):.1f})",
        fontsize=10,
    )
    ratio.legend(fontsize=7)
    ratio.grid(alpha=0.3, axis="y")

    names = [
        f"{r['transport']}\n{'plain' if r['channel'] == PLAIN else 'AES-GCM'}" for r in auction_rows
    ]
    xs = list(range(len(auction_rows)))
    auction.bar([x - 0.2 for x in xs], [r["median_ms"] for r in auction_rows], 0.4, label="median")
    auction.bar([x + 0.2 for x in xs], [r["p95_ms"] for r in auction_rows], 0.4, label="p95")
    for x, r in zip(xs, auction_rows, strict=True):
        auction.annotate(
            f"{r['median_ms']:.1f}", (x - 0.2, r["median_ms"]), ha="center", va="bottom", fontsize=7
        )
    auction.set_xticks(xs, names, fontsize=8)
    auction.set_ylabel("ms (wall) for one auction")
    auction.set_title(f"NFV-A auction among {AUCTION_AGENTS} agents")
    auction.legend(fontsize=8)
    auction.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def print_tables(
    costs: list[dict[str, Any]],
    lat: list[dict[str, Any]],
    target: dict[str, Any],
    auction_rows: list[dict[str, Any]],
    ratios: dict[str, float],
) -> None:
    print(f"{'payload':>8} {'copy µs':>8}", end="")
    for cipher in CIPHERS:
        print(f" {cipher + ' aead':>24} {'seal':>6} {'open':>6} {'seal+open':>9}", end="")
    print()
    for row in costs:
        print(f"{row['payload_bytes']:8} {row['plaintext_copy_us']:8.2f}", end="")
        for cipher in CIPHERS:
            print(
                f" {row[f'{cipher}_aead_only_us']:24.2f} {row[f'{cipher}_seal_us']:6.2f}"
                f" {row[f'{cipher}_open_us']:6.2f} {row[f'{cipher}_seal_open_us']:9.2f}",
                end="",
            )
        print()

    print(
        f"\n{'transport':>12} {'channel':>18} {'payload':>8} {'p50 µs':>8} {'p99 µs':>8}"
        f" {'+p50 µs':>8} {'p50 ratio':>9} {'blocks min-max':>15}"
    )
    for row in lat:
        line = (
            f"{row['transport']:>12} {row['channel']:>18} {row['payload_bytes']:8}"
            f" {row['p50_us']:8.1f} {row['p99_us']:8.1f}"
        )
        if row["channel"] != PLAIN:
            line += (
                f" {row['p50_added_us']:8.1f} {row['p50_ratio_to_plain']:9.3f}"
                f" {row['p50_ratio_blocks_min']:7.3f}-{row['p50_ratio_blocks_max']:.3f}"
            )
        print(line)
    print(f"\ntarget: secure p50 / plain p50 <= {TARGET_RATIO:g} over NATS (64 B and 1 KB)")
    for transport, by_cipher in target["met"].items():
        for cipher, met in by_cipher.items():
            shown = ", ".join(
                f"{k} {v:.3f}" for k, v in target["ratios"][transport][cipher].items()
            )
            print(f"  {transport:>12} {cipher:>18}: {shown}  {'met' if met else 'NOT met'}")

    print(
        f"\nauction among {AUCTION_AGENTS} agents: {'transport':>9} {'channel':>12}"
        f" {'median ms':>10} {'p95 ms':>8} {'CFP..notify ms':>15} {'msgs':>5}"
    )
    for row in auction_rows:
        print(
            f"{'':>28}{row['transport']:>9} {row['channel']:>12} {row['median_ms']:10.2f}"
            f" {row['p95_ms']:8.2f} {row['record_wall_ms_median']:15.2f} {row['nfva_messages']:5}"
        )
    for name, value in ratios.items():
        print(f"  {name}: {value:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches and fewer requests")
    parser.add_argument("--echo", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:  # the responder process of the nats-process transport
        asyncio.run(echo_process(args.echo))
        return
    batch, repeat, n, blocks, auction_repeat = (
        (500, 5, 500, 5, 10) if args.quick else (5000, 15, 5000, 20, 30)
    )
    began, load_before = time.perf_counter(), os.getloadavg()

    costs = [sealing_costs(size, batch, repeat) for size in SIZES]
    with NatsServer() as server:
        lat = latencies(server.url, n, blocks)
    target = ratio_target(lat)
    auction_rows = asyncio.run(auctions(auction_repeat))
    ratios = auction_ratios(auction_rows)
    print_tables(costs, lat, target, auction_rows, ratios)

    at_target = next(row for row in costs if row["payload_bytes"] == TARGET_SIZE)
    result = {
        "benchmark": "channel",
        "what": (
            "(1) µs per message of SecureChannel.seal + SecureChannel.open (replay window "
            "included) against a plaintext copy each way and the bare AEAD calls; "
            "(2) request/reply latency to an echo handler, plain inner bus vs SecureBus, on a "
            "MemoryBus, on NatsBus connections in one process and with the responders in "
            "another process (local nats-server), channels in interleaved blocks; "
            f"(3) wall time of one NFV-A auction among {AUCTION_AGENTS} Mailboxes, MemoryBus "
            f"or a NatsBus each, plain or each behind a SecureBus ({AUCTION_CIPHER}), on a "
            f"ScaledClock x{CLOCK_SPEED:g}"
        ),
        "targets": {
            "seal_open": {
                "payload_bytes": TARGET_SIZE,
                "seal_open_us_below": TARGET_US,
                "met": {c: at_target[f"{c}_seal_open_us"] < TARGET_US for c in CIPHERS},
            },
            "nats_request_p50_ratio": target,
        },
        "quick": args.quick,
        "python": platform.python_version(),
        "nats_server": nats_server_version(),
        "nats_py": importlib.metadata.version("nats-py"),
        "batch": batch,
        "repeat": repeat,
        "requests_per_channel": n,
        "blocks": blocks,
        "total_wall_s": time.perf_counter() - began,
        "cpus": os.cpu_count(),
        "load_average_1_5_15_min": {"before": load_before, "after": os.getloadavg()},
        "seal_open": costs,
        "request_latency": lat,
        "auction": {
            "topology": AUCTION_TOPOLOGY,
            "goal": AUCTION_GOAL,
            "clock_speed": CLOCK_SPEED,
            "deadlines_wall_s": DEADLINE_WALL_S,
            "rows": auction_rows,
            "ratios": ratios,
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "channel.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(costs, lat, auction_rows, RESULTS / "channel.png")


if __name__ == "__main__":
    main()

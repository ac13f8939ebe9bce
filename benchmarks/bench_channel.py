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

(4) Pairwise link keys against the one pipeline secret they replace: µs to derive a
link key on first use (X25519 + HKDF against HKDF alone); µs and bytes of a directed
frame and of a signed group frame (seal, open incl. the Ed25519 verification); from
those, one message to a group of 6, 20 and 50 members four ways (one secret as before,
signed group frame as now, fan-out to every inbox, fan-out on the group subject): sender
µs, all receivers' µs, bus deliveries, bytes published; and the wall time until all of
20 members on a MemoryBus or NATS connections have one group message, signed against
fanned out to their inboxes.

(5) A key rotation under load: six agents and a controller stream group frames,
directed frames and requests (every 2 ms each) while the epoch rotates, each member's
install taking 50 ms (a ledger fetch), on the MemoryBus and on NATS: frames lost, drops by
reason and request timeouts with one-phase rotation (before: a member sends under the
new epoch as soon as it has it) against two-phase rotation (now: `secmas.trust.rotation`).

(6) The trust layer's control plane (`secmas.trust.control`), sealed now and in clear
before: µs per message of envelope seal + open (X25519 pair keys cached, replay window
included) against a plaintext copy each way, for the real messages of one attestation
step (a challenge, the evidence of the whole `secmas` image, the verifier's answer with
its signed verdict, a heartbeat), and the first contact with a new peer (X25519 + HKDF);
µs to sign and verify a verdict (Ed25519); and the request/reply latency, p50 and p99,
of `ControlPlane.request` against `bus.request` (what the control plane was) with a
challenge-sized and an evidence-sized payload, on a MemoryBus and over a local
nats-server, in interleaved blocks.

    python benchmarks/bench_channel.py [--quick] [--keys-only] [--control-only]

Writes benchmarks/results/channel.json, channel.png and channel_keys.png (`--keys-only`:
sections 4-5, updated in an existing channel.json; `--control-only`: section 6 alike).
Targets: seal+open of a 1 KB payload under 10 µs (brief); encryption adds at most 10 % to
the p50 request/reply latency over NATS (issue).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from secmas.agents.auction import Mailbox
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.nfva.settings import AuctionSettings
from secmas.agents.nfva.subjects import inbox
from secmas.network.clock import ScaledClock
from secmas.network.infrastructure import Infrastructure
from secmas.scenario.topology import scenario_from_topology
from secmas.transport.broker import NatsServer, find_nats_server
from secmas.transport.bus import Bus
from secmas.transport.channel import Drop, FrameDropped, ReplayWindows, SecureBus, SecureChannel
from secmas.transport.memory import MemoryBus
from secmas.transport.nats import NatsBus
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import EpochKeyring, PeerKeys, group_info, group_key
from secmas.trust.rotation import rotate

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


@functools.cache
def identity(name: str) -> AgentIdentity:
    """An agent's identity keys, the same in every process of the benchmark (the echo
    responders of `nats-process` run in a child)."""
    seed = hashlib.sha256(f"bench/{name}".encode()).digest()
    signing = Ed25519PrivateKey.from_private_bytes(seed)
    return AgentIdentity(name, signing, X25519PrivateKey.from_private_bytes(seed))


class Registered(Mapping[str, PeerKeys]):
    """The registry as the keyrings read it: every agent id has its `identity`."""

    def __getitem__(self, name: str) -> PeerKeys:
        return PeerKeys.of(identity(name))

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def keyring(me: str, **options: Any) -> EpochKeyring:
    keys = EpochKeyring(identity(me), PIPELINE, VNI, Registered(), **options)
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
    """The target per NATS transport and cipher, over both payload sizes."""
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


# -- (4) pairwise link keys and signed group frames vs one pipeline secret ---------------------
GROUP_SUBJECT = "bench.floor"
"""A subject every member reads: its frames are sealed under the group key and signed."""
GROUP_SIZES = (6, 20, 50)
GROUP_PAYLOAD = 256
"""About the size of an NFV-A call for proposals."""
DERIVED_LINKS = 200


def derivation_us(repeat: int) -> dict[str, float]:
    """µs to derive one link key on its first use: pairwise (X25519 with the peer's
    registered key, then HKDF) against the one-secret scheme it replaces (HKDF over the
    pipeline secret with the link in `info`, which is also how a group key is derived)."""
    peers = [f"peer{i}" for i in range(DERIVED_LINKS)]
    for peer in peers:
        identity(peer)  # key generation is the registry's, not the channel's

    def pairwise() -> float:
        keys = keyring("a")
        began = time.perf_counter_ns()
        for peer in peers:
            keys.send_key(peer)
        return (time.perf_counter_ns() - began) / len(peers) / 1000

    def one_secret() -> float:
        began = time.perf_counter_ns()
        for peer in peers:
            group_key(SECRET, group_info(PIPELINE, VNI, 1, peer))
        return (time.perf_counter_ns() - began) / len(peers) / 1000

    return {
        "pairwise_us": statistics.median(pairwise() for _ in range(repeat)),
        "one_secret_us": statistics.median(one_secret() for _ in range(repeat)),
    }


def frame_costs(batch: int, repeat: int) -> dict[str, float]:
    """µs and bytes of one directed frame (AEAD under a pairwise key: what every frame
    cost with one pipeline secret, whose group frames were sealed the same way) and of one
    group frame (AEAD under the group key + the sender's Ed25519 signature, checked by
    each receiver); and of dropping a frame addressed to another member."""
    payload = bytes(GROUP_PAYLOAD)
    sender = SecureChannel("a", VNI, keyring("a"), recipient)
    receiver = SecureChannel("b", VNI, keyring("b"), recipient)
    directed_windows, group_windows = ReplayWindows(receiver.keys), ReplayWindows(receiver.keys)
    other = "bench.agent.c"
    seal_directed = per_message_us(lambda: sender.seal(SUBJECT, payload), batch, repeat)
    seal_group = per_message_us(lambda: sender.seal(GROUP_SUBJECT, payload), batch, repeat)

    def open_us(subject: str, windows: ReplayWindows, n: int) -> float:
        """µs to open one of `n` * `repeat` frames sealed beforehand (fresh numbers)."""
        frames = iter([sender.seal(subject, payload) for _ in range(n * repeat)])
        return per_message_us(lambda: receiver.open(subject, next(frames), windows), n, repeat)

    open_directed = open_us(SUBJECT, directed_windows, batch)
    open_group = open_us(GROUP_SUBJECT, group_windows, max(1, batch // 4))
    misdirected = sender.seal(other, payload)

    def drop() -> None:
        with contextlib.suppress(FrameDropped):
            receiver.open(other, misdirected, directed_windows)

    costs = {
        "seal_directed_us": seal_directed,
        "open_directed_us": open_directed,
        "seal_group_us": seal_group,
        "open_group_us": open_group,
        "drop_misdirected_us": per_message_us(drop, batch, repeat),
        "directed_bytes": len(sender.seal(SUBJECT, payload)),
        "group_bytes": len(sender.seal(GROUP_SUBJECT, payload)),
    }
    assert set(receiver.stats.dropped) == {Drop.MISDIRECTED}, receiver.stats.dropped
    return costs


def group_message(costs: dict[str, float], members: int) -> list[dict[str, Any]]:
    """One message to the whole group of `members`, four ways, from the measured costs:
    one sealed frame (one pipeline secret, before: any member can forge it), one signed
    frame (now), a pairwise frame to each member's inbox (the sender must know the
    membership), and a pairwise frame per recipient on the group subject (every member
    receives every copy and drops those for others)."""
    others = members - 1
    return [
        {
            "scheme": "one secret (before)",
            "members": members,
            "sender_us": costs["seal_directed_us"],
            "receivers_total_us": others * costs["open_directed_us"],
            "deliveries": others,
            "bytes_published": costs["directed_bytes"],
            "forgeable_by_a_member": True,
        },
        {
            "scheme": "signed group frame (chosen)",
            "members": members,
            "sender_us": costs["seal_group_us"],
            "receivers_total_us": others * costs["open_group_us"],
            "deliveries": others,
            "bytes_published": costs["group_bytes"],
            "forgeable_by_a_member": False,
        },
        {
            "scheme": "fan-out to inboxes",
            "members": members,
            "sender_us": others * costs["seal_directed_us"],
            "receivers_total_us": others * costs["open_directed_us"],
            "deliveries": others,
            "bytes_published": others * costs["directed_bytes"],
            "forgeable_by_a_member": False,
        },
        {
            "scheme": "fan-out on the group subject",
            "members": members,
            "sender_us": others * costs["seal_directed_us"],
            "receivers_total_us": others
            * (costs["open_directed_us"] + (others - 1) * costs["drop_misdirected_us"]),
            "deliveries": others * others,
            "bytes_published": others * costs["directed_bytes"],
            "forgeable_by_a_member": False,
        },
    ]


DELIVERY_MEMBERS = 20


async def member_buses(
    stack: contextlib.AsyncExitStack, transport: str, url: str, names: Iterable[str], **keys: Any
) -> dict[str, SecureBus]:
    """A SecureBus per member (keyring options `keys`), over one MemoryBus or over a
    NatsBus connection each; `stack` closes them."""
    shared = MemoryBus()
    stack.push_async_callback(shared.close)
    buses: dict[str, SecureBus] = {}
    for name in names:
        inner: Bus = shared
        if transport == "nats":
            inner = await NatsBus.connect(url)
            stack.push_async_callback(inner.close)
        buses[name] = SecureBus(inner, name, VNI, keyring(name, **keys), nfva_recipient)
        stack.push_async_callback(buses[name].close)
    return buses


async def group_delivery(transport: str, url: str, repeat: int) -> list[dict[str, Any]]:
    """Wall ms from sending one group message until all other members of
    `DELIVERY_MEMBERS` have it, signed on the group subject against fanned out to their
    inboxes; every member in this process and event loop (so receivers' work is serial,
    as total CPU; on separate hosts the verifications run in parallel)."""
    names = [f"m{i}" for i in range(DELIVERY_MEMBERS)]
    payload = bytes(GROUP_PAYLOAD)
    got: set[str] = set()
    everyone = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        buses = await member_buses(stack, transport, url, names)
        for name in names[1:]:

            async def arrived(_subject: str, _data: bytes, name: str = name) -> None:
                got.add(name)
                if len(got) == len(names) - 1:
                    everyone.set()

            await buses[name].subscribe(ROTATION_FLOOR, arrived)
            await buses[name].subscribe(inbox(name), arrived)
            await buses[name].flush()
        sender = buses[names[0]]

        async def signed() -> None:
            await sender.publish(ROTATION_FLOOR, payload)

        async def fan_out() -> None:
            for name in names[1:]:
                await sender.publish(inbox(name), payload)

        samples: dict[str, list[float]] = {"signed group frame": [], "fan-out to inboxes": []}
        for i in range(repeat + 2):  # two warm-up rounds: keys derived, connections warm
            for scheme, send in (("signed group frame", signed), ("fan-out to inboxes", fan_out)):
                got.clear()
                everyone.clear()
                began = time.perf_counter()
                await send()
                await asyncio.wait_for(everyone.wait(), 10)
                if i >= 2:
                    samples[scheme].append((time.perf_counter() - began) * 1000)
        assert not any(b.channel_stats.dropped for b in buses.values())
    return [
        {
            "transport": transport,
            "scheme": scheme,
            "members": DELIVERY_MEMBERS,
            "median_ms": statistics.median(taken),
            "p95_ms": percentile(taken, 0.95),
        }
        for scheme, taken in samples.items()
    ]


def pairwise_costs(batch: int, repeat: int, url: str) -> dict[str, Any]:
    costs = frame_costs(batch, repeat)
    delivery = []
    for transport in ("memory", "nats"):
        delivery += asyncio.run(group_delivery(transport, url, 5 * repeat))
    return {
        "payload_bytes": GROUP_PAYLOAD,
        "derive_one_link_key": derivation_us(repeat),
        "frames": costs,
        "group_message": [row for n in GROUP_SIZES for row in group_message(costs, n)],
        "group_delivery": delivery,
    }


# -- (5) a key rotation under load: one phase (before) vs two phases (now) ---------------------
ROTATION_AGENTS = tuple(f"pop{i}" for i in range(1, 7))
ROTATION_CONTROLLER = "ctl"
ROTATION_FLOOR = "nfva.floor"
ROTATION_INSTALL_S = 0.05
"""How long each member's install takes (a ledger fetch and decryption)."""
NEXT_SECRET = bytes(range(50, 82))


@dataclass
class Stream:
    """Frames sent and delivered, requests answered and timed out, in one rotation run."""

    sent: int = 0
    expected: int = 0
    delivered: int = 0
    answered: int = 0
    timeouts: int = 0


async def rotation_run(transport: str, url: str, two_phase: bool) -> dict[str, Any]:
    """Six agents stream group frames, directed frames and requests to a controller
    every 2 ms each while the epoch rotates, members installing one after another."""
    names = (*ROTATION_AGENTS, ROTATION_CONTROLLER)
    stream, stop = Stream(), asyncio.Event()
    switch_after = 5.0 if two_phase else 0.0  # 0: sent under as soon as installed
    async with contextlib.AsyncExitStack() as stack:
        buses = await member_buses(stack, transport, url, names, switch_after=switch_after)

        async def count(_subject: str, _data: bytes) -> bytes:
            stream.delivered += 1
            return b"ok"

        for bus in buses.values():
            await bus.subscribe(ROTATION_FLOOR, count)
            await bus.subscribe(inbox(bus.me), count)
            await bus.flush()

        async def send(name: str) -> None:
            bus, peers, i = buses[name], [a for a in ROTATION_AGENTS if a != name], 0
            while not stop.is_set():
                i += 1
                await bus.publish(ROTATION_FLOOR, b"cfp")
                await bus.publish(inbox(peers[i % len(peers)]), b"bid")
                stream.sent += 2
                stream.expected += len(names) + 1
                if i % 4 == 0:
                    stream.sent += 1
                    stream.expected += 1
                    try:
                        await bus.request(inbox(ROTATION_CONTROLLER), b"rule", timeout=2.0)
                        stream.answered += 1
                    except TimeoutError:
                        stream.timeouts += 1
                await asyncio.sleep(0.002)

        async def install(name: str) -> None:
            await asyncio.sleep(ROTATION_INSTALL_S)
            buses[name].channel.keys.install(2, NEXT_SECRET)

        async def switch(name: str) -> None:
            buses[name].channel.keys.activate(2)

        senders = [asyncio.ensure_future(send(a)) for a in ROTATION_AGENTS]
        await asyncio.sleep(0.2)
        began = time.perf_counter()
        phases: dict[str, float] = {}
        if two_phase:
            done = await rotate(2, names, install, switch, timeout=5.0, limit=1)
            phases = {"install_s": done.install_s, "switch_s": done.switch_s}
        else:
            for name in names:
                await install(name)
        rotation_s = time.perf_counter() - began
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*senders)
        for bus in buses.values():
            await bus.flush()
        await asyncio.sleep(0.3)
        dropped: Counter[str] = Counter()
        for bus in buses.values():
            dropped.update(bus.channel_stats.dropped)
    return {
        "transport": transport,
        "rotation": "two-phase (now)" if two_phase else "one-phase (before)",
        "members": len(names),
        "frames_sent": stream.sent,
        "deliveries_expected": stream.expected,
        "deliveries": stream.delivered,
        "deliveries_lost": stream.expected - stream.delivered,
        "dropped": dict(dropped),
        "requests_answered": stream.answered,
        "request_timeouts": stream.timeouts,
        "rotation_s": rotation_s,
        **phases,
    }


async def rotations(url: str) -> list[dict[str, Any]]:
    rows = []
    for transport in ("memory", "nats"):
        for two_phase in (False, True):
            rows.append(await rotation_run(transport, url, two_phase))
    return rows


def plot_keys(pairwise: dict[str, Any], rotation_rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cpu, lost) = plt.subplots(1, 2, figsize=(13, 4.8))
    schemes = list(dict.fromkeys(r["scheme"] for r in pairwise["group_message"]))
    width = 0.8 / len(schemes)
    for i, scheme in enumerate(schemes):
        rows = [r for r in pairwise["group_message"] if r["scheme"] == scheme]
        xs = [j + (i - (len(schemes) - 1) / 2) * width for j in range(len(rows))]
        total = [r["sender_us"] + r["receivers_total_us"] for r in rows]
        cpu.bar(xs, total, width, label=scheme)
        for x, r, t in zip(xs, rows, total, strict=True):
            cpu.annotate(f"{r['deliveries']}", (x, t), ha="center", va="bottom", fontsize=7)
    cpu.set_xticks(range(len(GROUP_SIZES)), [f"{n} members" for n in GROUP_SIZES])
    cpu.set_yscale("log")
    cpu.set_ylabel("µs of CPU, sender + all receivers")
    cpu.set_title(
        f"one {GROUP_PAYLOAD} B message to the whole group\n(labels: bus deliveries)", fontsize=10
    )
    cpu.legend(fontsize=8)
    cpu.grid(alpha=0.3, axis="y", which="both")

    labels = [f"{r['transport']}\n{r['rotation']}" for r in rotation_rows]
    xs = list(range(len(rotation_rows)))
    lost.bar(
        [x - 0.2 for x in xs], [r["deliveries_lost"] for r in rotation_rows], 0.4, label="lost"
    )
    lost.bar(
        [x + 0.2 for x in xs],
        [r["request_timeouts"] for r in rotation_rows],
        0.4,
        label="requests timed out",
    )
    for x, r in zip(xs, rotation_rows, strict=True):
        lost.annotate(
            f"{r['deliveries_lost']} / {r['deliveries_expected']}",
            (x - 0.2, r["deliveries_lost"]),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    lost.set_xticks(xs, labels, fontsize=8)
    lost.set_ylabel("frames")
    lost.set_title(
        f"key rotation while {len(ROTATION_AGENTS)} agents stream (lost / expected)", fontsize=10
    )
    lost.legend(fontsize=8)
    lost.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def print_keys(pairwise: dict[str, Any], rotation_rows: list[dict[str, Any]]) -> None:
    derive = pairwise["derive_one_link_key"]
    frames = pairwise["frames"]
    print(
        f"\nlink key on first use: pairwise {derive['pairwise_us']:.1f} µs,"
        f" one secret {derive['one_secret_us']:.1f} µs"
    )
    print(
        f"{GROUP_PAYLOAD} B frame: directed seal {frames['seal_directed_us']:.1f} µs"
        f" open {frames['open_directed_us']:.1f} µs ({frames['directed_bytes']} B);"
        f" group (signed) seal {frames['seal_group_us']:.1f} µs"
        f" open {frames['open_group_us']:.1f} µs ({frames['group_bytes']} B)"
    )
    print(
        f"{'group message':>30} {'members':>7} {'sender µs':>10} {'receivers µs':>12}"
        f" {'deliveries':>10} {'bytes out':>9}"
    )
    for row in pairwise["group_message"]:
        print(
            f"{row['scheme']:>30} {row['members']:7} {row['sender_us']:10.1f}"
            f" {row['receivers_total_us']:12.1f} {row['deliveries']:10} {row['bytes_published']:9}"
        )
    print(f"\none group message to {DELIVERY_MEMBERS} members, wall ms until all have it:")
    for row in pairwise["group_delivery"]:
        print(
            f"{row['transport']:>8} {row['scheme']:>20} median {row['median_ms']:.2f}"
            f" p95 {row['p95_ms']:.2f}"
        )
    print(
        f"\n{'rotation under load':>28} {'sent':>6} {'lost':>5} {'timeouts':>8}"
        f" {'rotation s':>10} dropped"
    )
    for row in rotation_rows:
        print(
            f"{row['transport']:>8} {row['rotation']:>19} {row['frames_sent']:6}"
            f" {row['deliveries_lost']:5} {row['request_timeouts']:8} {row['rotation_s']:10.3f}"
            f" {row['dropped']}"
        )


def keys_sections(batch: int, repeat: int) -> dict[str, Any]:
    """Sections 4 and 5: measured, printed, drawn; their entries of channel.json."""
    load_before = os.getloadavg()
    with NatsServer() as server:
        pairwise = pairwise_costs(batch, repeat, server.url)
        rotation_rows = asyncio.run(rotations(server.url))
    print_keys(pairwise, rotation_rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot_keys(pairwise, rotation_rows, RESULTS / "channel_keys.png")
    return {
        "keys_sections_load_average_1_5_15_min": {
            "before": load_before,
            "after": os.getloadavg(),
        },
        "pairwise": pairwise,
        "rotation": {
            "agents": len(ROTATION_AGENTS),
            "install_s_per_member": ROTATION_INSTALL_S,
            "rows": rotation_rows,
        },
    }


# -- (6) the trust layer's control plane ------------------------------------------------------
CONTROL_PIPELINE = "bench-control"


def control_messages() -> dict[str, bytes]:
    """The messages of one attestation step as they go in an envelope: a challenge, the
    evidence of the `secmas` image (every module measured), the verifier's answer with
    appraisal and signed verdict, a heartbeat."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey as Key

    from secmas.pipeline.images import secmas_image
    from secmas.trust.attestation import Appraisal, SignedVerdict, Verifier, produce_evidence
    from secmas.trust.repository import ReferenceRepository

    image = secmas_image(Key.generate(), ReferenceRepository(":memory:"))
    measurement = image.runtime.measure()
    verifier, agent = identity("pop2"), identity("pop3")
    challenge = Verifier("pop2").challenge("pop3")
    evidence = produce_evidence(agent, challenge, measurement)
    appraisal = Appraisal("pop3", True, (), evidence.digest, measurement)
    verdict = SignedVerdict(
        CONTROL_PIPELINE, 7, challenge.nonce, "pop3", "pop2", evidence.digest, True
    ).signed_by(verifier)
    answer = {
        "measured": "0x" + "ab" * 20,
        "appraisal": appraisal.to_json(),
        "verdict": verdict.to_json(),
        "tx": "0x" + "cd" * 32,
        "block": 123,
        "new_root": "0x" + "ab" * 20,
    }
    return {
        "challenge": challenge.encode(),
        "evidence": evidence.encode(),
        "verdict": json.dumps(answer).encode(),
        "heartbeat": json.dumps({"seq": 12, "at": 60.0}).encode(),
    }


def envelope_costs(messages: Mapping[str, bytes], batch: int, repeat: int) -> list[dict]:
    """µs of seal + open per message kind, against a plaintext copy each way."""
    from secmas.trust.envelope import Envelopes, Kind

    subject = f"secmas.attest.{CONTROL_PIPELINE}.pop3"

    keys = {n: PeerKeys.of(identity(n)) for n in ("pop2", "pop3")}
    rows = []
    for kind, payload in messages.items():
        sender, receiver = Envelopes(identity("pop2"), keys), Envelopes(identity("pop3"), keys)
        frame = sender.seal(Kind.MESSAGE, "pop3", subject, payload)

        def sealed_round(s: Any = sender, r: Any = receiver, p: bytes = payload) -> object:
            return r.open(subject, s.seal(Kind.MESSAGE, "pop3", subject, p))

        def plain_round(p: bytes = payload) -> object:
            return bytes(bytearray(bytes(bytearray(p))))

        rows.append(
            {
                "message": kind,
                "payload_bytes": len(payload),
                "frame_bytes": len(frame),
                "overhead_bytes": len(frame) - len(payload),
                "sealed_seal_open_us": per_message_us(sealed_round, batch, repeat),
                "plain_copy_us": per_message_us(plain_round, batch, repeat),
            }
        )
    return rows


def first_contact_us(repeat: int) -> float:
    """µs for the pair key of a peer seen for the first time (X25519 + HKDF-SHA256)."""
    from secmas.trust.envelope import pair_key

    me = identity("pop2")
    peers = [X25519PrivateKey.generate().public_key().public_bytes_raw() for _ in range(200)]
    runs = []
    for _ in range(repeat):
        began = time.perf_counter_ns()
        for peer in peers:
            pair_key(me, peer, outgoing=True)
        runs.append((time.perf_counter_ns() - began) / 1000 / len(peers))
    return statistics.median(runs)


def verdict_costs(batch: int, repeat: int) -> dict[str, float]:
    """µs to sign a verdict (the verifier) and to check its signature (the MLFO)."""
    from secmas.trust.attestation import SignedVerdict

    signer = identity("pop2")
    verdict = SignedVerdict(CONTROL_PIPELINE, 7, bytes(32), "pop3", "pop2", bytes(range(32)), True)
    signed = verdict.signed_by(signer)
    key = signer.signing_public
    return {
        "sign_us": per_message_us(lambda: verdict.signed_by(signer), batch, repeat),
        "verify_us": per_message_us(lambda: signed.valid(key), batch, repeat),
    }


async def control_latency(
    make: Callable[[], Awaitable[tuple[Bus, Bus]]],
    payloads: Mapping[str, bytes],
    n: int,
    blocks: int,
) -> list[dict[str, Any]]:
    """p50/p99 µs of sequential requests answered with an echo: `bus.request` (the control
    plane in clear) against `ControlPlane.request` (sealed both ways), interleaved."""
    from secmas.trust.control import ControlPlane
    from secmas.trust.envelope import Opened

    requester_bus, responder_bus = await make()
    keys = {n_: PeerKeys.of(identity(n_)) for n_ in ("mlfo", "pop3")}
    mlfo = ControlPlane(requester_bus, identity("mlfo"), keys, CONTROL_PIPELINE)
    pop3 = ControlPlane(responder_bus, identity("pop3"), keys, CONTROL_PIPELINE)
    plain_subject = f"bench.control.{CONTROL_PIPELINE}.plain"
    sealed_subject = f"secmas.verify.{CONTROL_PIPELINE}.pop3"

    async def sealed_echo(opened: Opened) -> bytes:
        return opened.payload

    await responder_bus.subscribe(plain_subject, echo)
    await pop3.serve(sealed_subject, sealed_echo)
    await responder_bus.flush()
    ways: dict[str, Callable[[bytes], Awaitable[bytes]]] = {
        "clear": lambda p: requester_bus.request(plain_subject, p, timeout=5),
        "sealed": lambda p: mlfo.request(sealed_subject, "pop3", p, 5.0),
    }
    rows = []
    per_block = max(1, n // blocks)
    try:
        for kind, payload in payloads.items():
            for way in ways.values():
                for _ in range(max(20, n // 20)):
                    assert await way(payload) == payload
            samples: dict[str, list[float]] = {w: [] for w in ways}
            for block in range(blocks):
                order = list(ways) if block % 2 == 0 else list(reversed(ways))
                for name in order:
                    for _ in range(per_block):
                        began = time.perf_counter_ns()
                        await ways[name](payload)
                        samples[name].append((time.perf_counter_ns() - began) / 1000)
            clear_p50 = percentile(samples["clear"], 0.5)
            for name, taken in samples.items():
                rows.append(
                    {
                        "message": kind,
                        "payload_bytes": len(payload),
                        "control_plane": name,
                        "p50_us": percentile(taken, 0.5),
                        "p99_us": percentile(taken, 0.99),
                        "requests": len(taken),
                        "p50_ratio_to_clear": percentile(taken, 0.5) / clear_p50,
                    }
                )
        assert sum(mlfo.stats.dropped.values()) == 0 == sum(pop3.stats.dropped.values())
    finally:
        await mlfo.close()
        await pop3.close()
        for bus in {id(requester_bus): requester_bus, id(responder_bus): responder_bus}.values():
            await bus.close()
    return rows


def plot_control(section: dict[str, Any], path: Path) -> None:
    """Seal + open per message kind, and request/reply p50 sealed against clear."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cost, latency) = plt.subplots(1, 2, figsize=(13, 4.8))
    rows = section["envelopes"]
    xs = range(len(rows))
    cost.bar([x - 0.2 for x in xs], [r["sealed_seal_open_us"] for r in rows], 0.4, label="sealed")
    cost.bar([x + 0.2 for x in xs], [r["plain_copy_us"] for r in rows], 0.4, label="clear (copy)")
    cost.set_xticks(list(xs), [f"{r['message']}\n{r['payload_bytes']} B" for r in rows])
    cost.set_yscale("log")
    cost.set_ylabel("µs per message, seal + open")
    cost.set_title("Envelope between identity keys vs clear")
    cost.legend()
    cells = sorted({(r["transport"], r["message"]) for r in section["request_latency"]})
    for i, plane in enumerate(("clear", "sealed")):
        p50 = {
            (r["transport"], r["message"]): r["p50_us"]
            for r in section["request_latency"]
            if r["control_plane"] == plane
        }
        latency.bar(
            [j + (i - 0.5) * 0.4 for j in range(len(cells))],
            [p50[c] for c in cells],
            0.4,
            label=plane,
        )
    latency.set_xticks(range(len(cells)), [f"{t}\n{m}" for t, m in cells])
    latency.set_ylabel("request/reply p50, µs")
    latency.set_title("ControlPlane.request vs bus.request")
    latency.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def control_section(batch: int, repeat: int, n: int, blocks: int) -> dict[str, Any]:
    """Section 6: measured, printed; its entry of channel.json."""
    load_before = os.getloadavg()
    messages = control_messages()
    envelopes = envelope_costs(messages, max(50, batch // 20), repeat)
    verdict = verdict_costs(max(50, batch // 10), repeat)
    first = first_contact_us(repeat)
    payloads = {k: messages[k] for k in ("challenge", "evidence")}
    requests = max(200, n // 5)

    async def memory_pair() -> tuple[Bus, Bus]:
        bus = MemoryBus()
        return bus, bus

    latency = []
    for row in asyncio.run(control_latency(memory_pair, payloads, requests, blocks)):
        latency.append({"transport": "memory", **row})
    with NatsServer() as server:

        async def nats_pair() -> tuple[Bus, Bus]:
            return (
                await NatsBus.connect(server.url, name="mlfo"),
                await NatsBus.connect(server.url, name="pop3"),
            )

        for row in asyncio.run(control_latency(nats_pair, payloads, requests, blocks)):
            latency.append({"transport": "nats", **row})
    print("(6) control plane: envelope seal + open vs a plaintext copy, µs per message")
    print(f"  {'message':>10} {'bytes':>7} {'frame':>7} {'sealed':>8} {'clear':>7}")
    for row in envelopes:
        print(
            f"  {row['message']:>10} {row['payload_bytes']:7} {row['frame_bytes']:7}"
            f" {row['sealed_seal_open_us']:8.1f} {row['plain_copy_us']:7.2f}"
        )
    print(
        f"  first contact (X25519 + HKDF) {first:.1f} µs; verdict sign "
        f"{verdict['sign_us']:.1f} µs, verify {verdict['verify_us']:.1f} µs"
    )
    print(f"  {'transport':>9} {'message':>10} {'plane':>7} {'p50 µs':>8} {'p99 µs':>8} {'x':>6}")
    for row in latency:
        print(
            f"  {row['transport']:>9} {row['message']:>10} {row['control_plane']:>7}"
            f" {row['p50_us']:8.0f} {row['p99_us']:8.0f} {row['p50_ratio_to_clear']:6.2f}"
        )
    section = {
        "what": (
            "the trust layer's control plane: envelope seal + open per message kind against "
            "a plaintext copy; first contact with a peer; verdict signing and checking; "
            "request/reply ControlPlane.request (sealed, reply awaited on its own inbox) "
            "against bus.request (in clear, as before) to an echo, MemoryBus and NATS"
        ),
        "load_average_1_5_15_min": {"before": load_before, "after": os.getloadavg()},
        "envelopes": envelopes,
        "first_contact_us": first,
        "verdict": verdict,
        "request_latency": latency,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot_control(section, RESULTS / "control_plane.png")
    return section


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
    parser.add_argument(
        "--keys-only",
        action="store_true",
        help="sections 4-5 only (pairwise keys, rotation), updated in channel.json",
    )
    parser.add_argument(
        "--control-only",
        action="store_true",
        help="section 6 only (the sealed control plane), updated in channel.json",
    )
    parser.add_argument("--echo", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:  # the responder process of the nats-process transport
        asyncio.run(echo_process(args.echo))
        return
    batch, repeat, n, blocks, auction_repeat = (
        (500, 5, 500, 5, 10) if args.quick else (5000, 15, 5000, 20, 30)
    )
    began, load_before = time.perf_counter(), os.getloadavg()
    if args.control_only:
        path = RESULTS / "channel.json"
        result = json.loads(path.read_text()) if path.exists() else {"benchmark": "channel"}
        result["control_plane"] = control_section(batch, repeat, n, blocks)
        RESULTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        return
    keys = keys_sections(batch, repeat)
    if args.keys_only:
        path = RESULTS / "channel.json"
        result = json.loads(path.read_text()) if path.exists() else {"benchmark": "channel"}
        result.update(keys)
        path.write_text(json.dumps(result, indent=2) + "\n")
        return

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
            f"ScaledClock x{CLOCK_SPEED:g}; "
            "(4) pairwise link keys and signed group frames against one pipeline secret; "
            "(5) frames lost across a key rotation under load, one phase against two; "
            "(6) the trust layer's sealed control plane against the clear one it replaced"
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
        **keys,
        "control_plane": control_section(batch, repeat, n, blocks),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "channel.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(costs, lat, auction_rows, RESULTS / "channel.png")


if __name__ == "__main__":
    main()

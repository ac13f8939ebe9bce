"""What the secure channel costs: per-message sealing and opening, and request latency.

(1) Seal+open of one frame (`SecureChannel.seal` by the sender, `SecureChannel.open` by
the receiver, replay window included) for 64 B, 1 KB and 16 KB payloads, with
AES-256-GCM and ChaCha20-Poly1305, beside two baselines measured in the same run: a
plaintext copy each way (what sealing and opening would cost with a null cipher) and the
bare AEAD calls (encrypt+decrypt with a cached cipher object: the floor under any
framing). Times are the median over repetitions of the mean over a batch.

(2) Request/reply latency, p50 and p99, of sequential requests answered by an echo
handler: the plain inner bus against two SecureBus wrapping the same inner bus. Each
transport is a factory returning the requester's and the responder's inner buses (one
MemoryBus for both here), so a NATS row is one more entry in `TRANSPORTS`.

    python benchmarks/bench_channel.py [--quick]

Writes benchmarks/results/channel.json and channel.png. Target (brief): seal+open of a
1 KB payload under 10 µs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from secmas.transport.bus import Bus
from secmas.transport.channel import ReplayWindows, SecureBus, SecureChannel
from secmas.transport.memory import MemoryBus
from secmas.trust.linkkeys import EpochKeyring

RESULTS = Path(__file__).parent / "results"
SIZES = (64, 1024, 16384)
CIPHERS = ("aes-256-gcm", "chacha20-poly1305")
TARGET_SIZE, TARGET_US = 1024, 10.0
LATENCY_SIZES = (64, 1024)
SECRET = bytes(range(32))
VNI = 4242
SUBJECT = "bench.agent.b"

Endpoints = tuple[Bus, Bus]
"""The requester's and the responder's inner bus (the same object for a MemoryBus)."""
Transport = Callable[[], Awaitable[Endpoints]]


async def memory() -> Endpoints:
    bus = MemoryBus()
    return bus, bus


TRANSPORTS: dict[str, Transport] = {"memory": memory}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def recipient(subject: str) -> str | None:
    tokens = subject.split(".")
    return tokens[2] if len(tokens) == 3 and tokens[1] == "agent" else None


def keyring(me: str) -> EpochKeyring:
    keys = EpochKeyring(me, "bench", VNI)
    keys.install(1, SECRET)
    return keys


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


async def request_latency(
    transport: Transport, secure: str | None, size: int, n: int
) -> dict[str, Any]:
    """p50/p99 µs of `n` sequential requests of `size` bytes to an echo responder, on the
    transport's buses as they are (`secure` None) or wrapped in SecureBus with `secure`."""
    requester, responder = await transport()
    inners = (requester, responder)
    if secure is not None:
        requester = SecureBus(requester, "a", VNI, keyring("a"), recipient, cipher=secure)
        responder = SecureBus(responder, "b", VNI, keyring("b"), recipient, cipher=secure)

    async def echo(_subject: str, data: bytes) -> bytes:
        return data

    payload = bytes(size)
    try:
        await responder.subscribe(SUBJECT, echo)
        await responder.flush()
        for _ in range(max(50, n // 10)):  # warm-up: caches, first subscriptions
            await requester.request(SUBJECT, payload, timeout=5)
        samples = []
        for _ in range(n):
            began = time.perf_counter_ns()
            await requester.request(SUBJECT, payload, timeout=5)
            samples.append((time.perf_counter_ns() - began) / 1000)
    finally:
        for bus in (requester, responder, *inners):
            await bus.close()
    return {
        "p50_us": percentile(samples, 0.50),
        "p99_us": percentile(samples, 0.99),
        "mean_us": statistics.fmean(samples),
        "requests": n,
    }


def latencies(n: int) -> list[dict[str, Any]]:
    rows = []
    for name, transport in TRANSPORTS.items():
        for size in LATENCY_SIZES:
            for secure in (None, *CIPHERS):
                row = asyncio.run(request_latency(transport, secure, size, n))
                row.update(transport=name, channel=secure or "plain", payload_bytes=size)
                rows.append(row)
    return rows


def plot(costs: list[dict[str, Any]], lat: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [("plaintext_copy_us", "plaintext copy")]
    for cipher in CIPHERS:
        series += [(f"{cipher}_aead_only_us", f"{cipher}, AEAD only")]
        series += [(f"{cipher}_seal_open_us", f"{cipher}, seal+open")]
    width = 0.8 / len(series)
    for i, (key, label) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(costs))]
        left.bar(xs, [row[key] for row in costs], width, label=label)
    left.set_xticks(range(len(costs)), [f"{row['payload_bytes']} B" for row in costs])
    left.axhline(TARGET_US, color="red", lw=0.8, label=f"target at 1 KB: {TARGET_US:g} µs")
    left.set_yscale("log")
    left.set_ylabel("µs per message")
    left.set_title("seal + open, one frame")
    left.legend(fontsize=7)
    left.grid(alpha=0.3, axis="y", which="both")

    short = {"plain": "plain", "aes-256-gcm": "AES-GCM", "chacha20-poly1305": "ChaCha"}
    labels = [f"{r['transport']}\n{short[r['channel']]}\n{r['payload_bytes']} B" for r in lat]
    xs = list(range(len(lat)))
    right.bar([x - 0.2 for x in xs], [r["p50_us"] for r in lat], 0.4, label="p50")
    right.bar([x + 0.2 for x in xs], [r["p99_us"] for r in lat], 0.4, label="p99")
    right.set_xticks(xs, labels, fontsize=7)
    right.set_ylabel("µs per request/reply")
    right.set_title("request latency, echo responder")
    right.legend(fontsize=8)
    right.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches and fewer requests")
    args = parser.parse_args()
    batch, repeat, n = (500, 5, 500) if args.quick else (5000, 15, 5000)
    began = time.perf_counter()

    costs = [sealing_costs(size, batch, repeat) for size in SIZES]
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

    lat = latencies(n)
    print(f"\n{'transport':>9} {'channel':>18} {'payload':>8} {'p50 µs':>8} {'p99 µs':>8}")
    for row in lat:
        print(
            f"{row['transport']:>9} {row['channel']:>18} {row['payload_bytes']:8}"
            f" {row['p50_us']:8.1f} {row['p99_us']:8.1f}"
        )

    at_target = next(row for row in costs if row["payload_bytes"] == TARGET_SIZE)
    result = {
        "benchmark": "channel",
        "what": (
            "(1) µs per message of SecureChannel.seal + SecureChannel.open (replay window "
            "included) against a plaintext copy each way and the bare AEAD calls; "
            "(2) request/reply latency to an echo handler, plain inner bus vs SecureBus"
        ),
        "target": {
            "payload_bytes": TARGET_SIZE,
            "seal_open_us_below": TARGET_US,
            "met": {c: at_target[f"{c}_seal_open_us"] < TARGET_US for c in CIPHERS},
        },
        "quick": args.quick,
        "python": platform.python_version(),
        "batch": batch,
        "repeat": repeat,
        "total_wall_s": time.perf_counter() - began,
        "seal_open": costs,
        "request_latency": lat,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "channel.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(costs, lat, RESULTS / "channel.png")


if __name__ == "__main__":
    main()

"""The real background clients of one client group, started in its namespace.

Each client sends from its own scenario address. Every `step` seconds an HTTP client
fetches a page with probability `http_on` (sized so that its mean rate is the scenario's,
scaled) and a video client fetches its next chunk. One line per request is appended to
the log: `{"t": unix time, "ip": source, "ok": bool, "bytes": n, "s": seconds}` — a
request succeeds when the whole answer arrives within `timeout` seconds.

With a `profile` in the spec (`trafficprofile.TrafficProfile`), the clients follow a
compressed daily cycle (its origin the spec's `origin`, shared by every group), the HTTP
clients are bursty, and a group given `cold` files fetches them in cache-miss spikes after
dropping them from the page cache.

    python -m secmas.network.emulation.clients SPEC.json LOG.jsonl
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from secmas.network.emulation.entrypoint import until_terminated
from secmas.network.emulation.trafficprofile import Bursts, TrafficProfile, requests_now


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """One client: its address, whether it streams video, its port and request size."""

    ip: str
    video: bool
    port: int
    size: int


async def fetch(server: str, spec: ClientSpec, timeout: float) -> tuple[bool, int]:
    """One GET of `spec.size` bytes from `spec.ip`; (complete in time, bytes received)."""
    received = 0

    async def exchange() -> bool:
        nonlocal received
        reader, writer = await asyncio.open_connection(server, spec.port, local_addr=(spec.ip, 0))
        try:
            writer.write(f"GET /bytes/{spec.size} HTTP/1.0\r\nHost: {server}\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            received += len(head)
            while chunk := await reader.read(65536):
                received += len(chunk)
            ok = head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))  # nginx answers 1.1
            return ok and received - len(head) == spec.size
        finally:
            writer.close()

    try:
        return await asyncio.wait_for(exchange(), timeout), received
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return False, received


async def client(
    server: str,
    spec: ClientSpec,
    settings: dict[str, Any],
    log: IO[str],
    rng: random.Random,
    profile: TrafficProfile | None = None,
) -> None:
    """Request every step (an HTTP client only with probability `http_on`), forever; with
    a `profile`, that many × the daily cycle's factor (× the client's burst factor for an
    HTTP client)."""
    step, timeout, http_on = (float(settings[k]) for k in ("step", "timeout", "http_on"))
    origin = float(settings.get("origin", time.time()))
    await asyncio.sleep(rng.uniform(0, step))
    pending: set[asyncio.Task[None]] = set()
    bursts = None if profile is None or spec.video else Bursts(profile, rng, time.time())

    def send() -> None:
        task = asyncio.ensure_future(_one(server, spec, timeout, log))
        pending.add(task)
        task.add_done_callback(pending.discard)

    while True:
        now = time.time()
        expected = 1.0 if spec.video else http_on
        if profile is not None:
            expected *= profile.day(now - origin) * (bursts.factor(now) if bursts else 1.0)
        for _ in range(requests_now(expected, rng)):
            send()
        await asyncio.sleep(step)


async def _one(server: str, spec: ClientSpec, timeout: float, log: IO[str]) -> None:
    """One request, logged."""
    started = time.time()
    ok, size = await fetch(server, spec, timeout)
    record = {"t": started, "ip": spec.ip, "ok": ok, "bytes": size}
    log.write(json.dumps(record | {"s": round(time.time() - started, 4)}) + "\n")


def evict(paths: list[str]) -> None:
    """Drop the files' pages from the page cache, so that the next read comes from disk."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


async def cache_misses(
    server: str,
    clients: list[ClientSpec],
    paths: list[str],
    settings: dict[str, Any],
    profile: TrafficProfile,
    log: IO[str],
    rng: random.Random,
) -> None:
    """Every `cold_every_s` on average: the cold files leave the page cache, and one
    client fetches each of them at once (a cache-miss spike), forever."""
    timeout = float(settings["timeout"]) * 4
    sizes = [int(os.path.basename(p)) for p in paths]
    while True:
        await asyncio.sleep(rng.expovariate(1.0 / profile.cold_every_s))
        evict(paths)
        who = rng.choice(clients)
        cold = [ClientSpec(who.ip, False, who.port, size) for size in sizes]
        await asyncio.gather(*(_one(server, one, timeout, log) for one in cold))


async def run(spec: dict[str, Any], log: IO[str]) -> None:
    clients = [ClientSpec(**c) for c in spec["clients"]]
    rng = random.Random(spec.get("seed", 0))
    profile = TrafficProfile.from_json(spec["profile"]) if spec.get("profile") else None
    tasks = [client(spec["server"], c, spec, log, rng, profile) for c in clients]
    cold = spec.get("cold") or []
    if profile is not None and cold and clients and profile.cold_every_s > 0:
        tasks.append(cache_misses(spec["server"], clients, cold, spec, profile, log, rng))
    flusher = asyncio.ensure_future(_flush(log))
    try:
        await asyncio.gather(*tasks)
    finally:
        flusher.cancel()


async def _flush(log: IO[str]) -> None:
    while True:
        await asyncio.sleep(0.5)
        log.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as file:
        spec = json.load(file)
    with open(argv[1], "a", encoding="utf-8", buffering=1 << 16) as log:
        until_terminated(run(spec, log))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

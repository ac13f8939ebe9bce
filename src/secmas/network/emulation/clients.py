"""The real background clients of one client group, started in its namespace.

Each client sends from its own scenario address. Every `step` seconds an HTTP client
fetches a page with probability `http_on` (sized so that its mean rate is the scenario's,
scaled) and a video client fetches its next chunk. One line per request is appended to
the log: `{"t": unix time, "ip": source, "ok": bool, "bytes": n, "s": seconds}` — a
request succeeds when the whole answer arrives within `timeout` seconds.

    python -m secmas.network.emulation.clients SPEC.json LOG.jsonl
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from secmas.network.emulation.entrypoint import until_terminated


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
    server: str, spec: ClientSpec, settings: dict[str, Any], log: IO[str], rng: random.Random
) -> None:
    """Request every step (an HTTP client only with probability `http_on`), forever."""
    step, timeout, http_on = (float(settings[k]) for k in ("step", "timeout", "http_on"))
    await asyncio.sleep(rng.uniform(0, step))
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        started = time.time()
        ok, size = await fetch(server, spec, timeout)
        record = {"t": started, "ip": spec.ip, "ok": ok, "bytes": size}
        log.write(json.dumps(record | {"s": round(time.time() - started, 4)}) + "\n")

    while True:
        if spec.video or rng.random() < http_on:
            task = asyncio.ensure_future(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.sleep(step)


async def run(spec: dict[str, Any], log: IO[str]) -> None:
    clients = [ClientSpec(**c) for c in spec["clients"]]
    rng = random.Random(spec.get("seed", 0))
    tasks = [client(spec["server"], c, spec, log, rng) for c in clients]
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

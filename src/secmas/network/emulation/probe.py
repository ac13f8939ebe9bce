"""The probing client of the emulated MTD: real requests to each moving CNF, at a fixed
short interval, from a client address of the emulated network.

    python -m secmas.network.emulation.probe SPEC.json LOG.jsonl

Every `interval` seconds, for every target, one request starts (whether or not the
previous ones were answered): alternately a `PUT /kv/probe/<n>` of the next counter value
and a `GET` of it. A GET succeeds only if the value is one the probe wrote no earlier than
the last PUT the service acknowledged, so an instance that lost or rolled back the state
fails it. One line per request: `{"cnf", "t": sent (Unix s), "s": seconds to the answer,
"ok", "op", "by": the instance that answered, "why"}`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from secmas.network.emulation.entrypoint import until_terminated


@dataclass
class Target:
    """One CNF to probe and what the probe wrote to it."""

    cnf: str
    address: str
    port: int
    attempted: int = 0
    acknowledged: int = 0


async def request(
    target: Target, source: str, method: str, body: bytes, timeout: float
) -> tuple[int, str, bytes]:
    """One HTTP/1.0 exchange: (status, X-Instance, body); raises on any failure."""

    async def exchange() -> tuple[int, str, bytes]:
        reader, writer = await asyncio.open_connection(
            target.address, target.port, local_addr=(source, 0)
        )
        try:
            path = f"/kv/probe/{target.cnf}"
            writer.write(
                f"{method} {path} HTTP/1.0\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            )
            await writer.drain()
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(head[0].split(" ")[1])
            instance = next(
                (h.split(":", 1)[1].strip() for h in head if h.lower().startswith("x-instance:")),
                "",
            )
            return status, instance, await reader.read()
        finally:
            writer.close()

    return await asyncio.wait_for(exchange(), timeout)


async def probe_once(target: Target, source: str, write: bool, timeout: float) -> dict[str, Any]:
    """One PUT or GET and its verdict."""
    started = time.time()
    record: dict[str, Any] = {"cnf": target.cnf, "t": started, "op": "put" if write else "get"}
    try:
        if write:
            target.attempted += 1
            value = target.attempted
            status, instance, _ = await request(target, source, "PUT", str(value).encode(), timeout)
            ok = status == 204
            if ok:
                target.acknowledged = max(target.acknowledged, value)
            why = "" if ok else f"status {status}"
        else:
            status, instance, body = await request(target, source, "GET", b"", timeout)
            got = int(body) if status == 200 and body.isdigit() else None
            unwritten = status == 404 and target.acknowledged == 0
            ok = unwritten or (got is not None and target.acknowledged <= got <= target.attempted)
            why = "" if ok else f"status {status}" if got is None else f"stale value {got}"
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        instance, ok, why = "", False, type(exc).__name__
    except (ValueError, IndexError):
        instance, ok, why = "", False, "malformed answer"
    return record | {"s": round(time.time() - started, 5), "ok": ok, "by": instance, "why": why}


async def run(spec: dict[str, Any], log: IO[str]) -> None:
    targets = [Target(t["cnf"], t["address"], int(t["port"])) for t in spec["targets"]]
    source, interval, timeout = spec["source"], float(spec["interval"]), float(spec["timeout"])
    pending: set[asyncio.Task[None]] = set()

    async def one(target: Target, write: bool) -> None:
        log.write(json.dumps(await probe_once(target, source, write, timeout)) + "\n")
        log.flush()

    tick = 0
    next_at = time.monotonic()
    while True:
        for target in targets:
            task = asyncio.ensure_future(one(target, tick % 2 == 0))
            pending.add(task)
            task.add_done_callback(pending.discard)
        tick += 1
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as file:
        spec = json.load(file)
    with open(argv[1], "a", encoding="utf-8") as log:
        until_terminated(run(spec, log))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

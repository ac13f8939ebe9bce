"""A CNF instance of the emulated MTD: a real key/value service with state that migrates.

Started in a PoP's namespace by `migration.MobileCNFs`:

    python -m secmas.network.emulation.kvcnf CONFIG.json

It holds a `kvstate.Store` (sessions and an append-only log) and serves three ways:

- service (HTTP/1.0 on the CNF's address, bound with IP_FREEBIND so an instance can bind
  it before the address is moved to its PoP): `GET /kv/KEY` answers the value, `PUT
  /kv/KEY` stores the body; every answer names the instance in `X-Instance`. Only while
  serving: once frozen the listener is closed and writes are refused (503).
- transfer (TCP on its PoP's address): a peer that sends `{"token": T, "since": V}` and
  the run's token gets the delta since version V (`kvstate` frame). A migration's
  destination pulls the source's state through the emulated network this way, so the
  copy crosses the real, shaped links.
- control (a Unix socket in the run's folder, one JSON request per line from the run's
  process): `status`; `freeze` (stop serving and writing: the state is final); `pull`
  {source, since} (fetch and apply a delta from another instance); `serve` {port}.

While it serves, a writer updates the CNF's working set at its dirty rate and appends to
its log at its disk-write rate (the load the migration model is given), so pre-copy
rounds have something to chase.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import random
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secmas.network.emulation.kvstate import (
    MAX_HEADER,
    MAX_VALUE,
    Delta,
    StateError,
    Store,
    check_key,
    encode_delta,
    parse_header,
    parse_record,
)

IP_FREEBIND = 15
WRITE_TICK = 0.05
MAX_REQUEST_HEAD = 8192
PEER_TIMEOUT = 120.0
PACED_WINDOW = 16384


@dataclass(frozen=True)
class InstanceConfig:
    """What one instance is told at start."""

    name: str
    address: str
    """The CNF's service address (moves with it)."""
    pop_address: str
    """Its PoP's address: where the transfer endpoint listens and pulls come from."""
    control: str
    token: str
    sessions: int = 0
    """Sessions the CNF holds (`session/0` … ); the writer rewrites its working set."""
    seed_state: bool = True
    """Create the sessions at start (the first instance); a destination starts empty
    and gets them from its source."""
    value_bytes: int = 1000
    working_set: float = 0.5
    """Share of the sessions the writer rewrites."""
    dirty_bytes_per_s: float = 0.0
    log_bytes_per_s: float = 0.0
    log_window_s: float = 30.0
    """The log keeps what was written in its last `log_window_s` (older entries rotate
    out): the volume delta the migration model sends, disk writes × its `sync_age_s`."""
    serve_port: int | None = None
    """Serve at once on this port (0: any); None: wait for `serve`."""
    seed: int = 0

    @classmethod
    def from_json(cls, text: str) -> InstanceConfig:
        return cls(**json.loads(text))


class Instance:
    """One running CNF instance (see the module docstring)."""

    def __init__(self, config: InstanceConfig) -> None:
        self.config = config
        self.store = Store()
        self.rng = random.Random(config.seed)
        self.frozen = False
        self.service: asyncio.Server | None = None
        self.service_port: int | None = None
        self.transfer_port = 0
        self._writer: asyncio.Task[None] | None = None
        self._log_index = 0
        for index in range(config.sessions if config.seed_state else 0):
            self.store.put(f"session/{index}", self.rng.randbytes(config.value_bytes))

    # -- service ------------------------------------------------------------------------
    async def serve(self, port: int) -> int:
        """Open the service listener on the CNF's address; the port it got."""
        if self.service is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
            sock.bind((self.config.address, port))
            self.service = await asyncio.start_server(self._http, sock=sock, backlog=256)
            self.service_port = sock.getsockname()[1]
            self.frozen = False
            logged = (int(k[4:]) for k in self.store.values if k.startswith("log/"))
            self._log_index = 1 + max(logged, default=-1)
            self._writer = asyncio.ensure_future(self._write_load())
        assert self.service_port is not None
        return self.service_port

    async def freeze(self) -> None:
        """Stop serving and writing: from here the state does not change."""
        self.frozen = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        if self.service is not None:
            self.service.close()
            self.service = None

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await asyncio.wait_for(self._answer(reader), 5.0)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            status, body = 400, b""
        reason = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found"}
        head = (
            f"HTTP/1.0 {status} {reason.get(status, 'Service Unavailable')}\r\n"
            f"X-Instance: {self.config.name}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        with contextlib.suppress(OSError):
            writer.write(head.encode() + body)
            await writer.drain()
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_REQUEST_HEAD:
            return 400, b""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[1].startswith("/kv/"):
            return 404, b""
        method, key = parts[0], parts[1][4:]
        try:
            check_key(key)
        except StateError:
            return 400, b""
        if self.frozen:
            return 503, b""
        if method == "GET":
            value = self.store.get(key)
            return (404, b"") if value is None else (200, value)
        if method != "PUT":
            return 400, b""
        length = _content_length(lines[1:])
        if length is None or length > MAX_VALUE:
            return 400, b""
        body = await reader.readexactly(length)
        if self.frozen:
            return 503, b""
        self.store.put(key, body)
        return 204, b""

    async def _write_load(self) -> None:
        """Rewrite sessions of the working set and append to the log at the given rates."""
        config = self.config
        hot = max(1, int(config.sessions * config.working_set))
        keep = max(1, round(config.log_window_s / WRITE_TICK))
        dirty = log = 0.0
        while True:
            await asyncio.sleep(WRITE_TICK)
            dirty += config.dirty_bytes_per_s * WRITE_TICK
            log += config.log_bytes_per_s * WRITE_TICK
            while config.sessions and dirty >= config.value_bytes:
                dirty -= config.value_bytes
                key = f"session/{self.rng.randrange(hot)}"
                self.store.put(key, self.rng.randbytes(config.value_bytes))
            if log >= 1:
                self.store.put(f"log/{self._log_index}", self.rng.randbytes(int(log)))
                rotated = f"log/{self._log_index - keep}"
                if rotated in self.store.values:
                    self.store.delete(rotated)
                self._log_index += 1
                log -= int(log)

    # -- transfer -----------------------------------------------------------------------
    async def open_transfer(self) -> None:
        server = await asyncio.start_server(self._send_delta, self.config.pop_address, 0)
        self.transfer_port = server.sockets[0].getsockname()[1]

    async def _send_delta(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            request = json.loads(line)
            token = str(request["token"])
            since = int(request["since"])
        except (TimeoutError, ValueError, KeyError, TypeError, OSError):
            writer.close()
            return
        if not hmac.compare_digest(token.encode(), self.config.token.encode()):
            writer.close()
            return
        with contextlib.suppress(OSError):
            writer.write(encode_delta(self.store.delta(since)))
            await writer.drain()
            writer.close()

    async def pull(self, source: str, since: int, rate: float | None = None) -> dict[str, Any]:
        """Fetch the delta since `since` from the instance whose transfer endpoint is
        `source` ("ip:port"), over the network from this PoP's address, and apply it;
        with `rate`, read at most that many bytes a second (as rsync's --bwlimit: a small
        receive window then keeps the path's queue short for the CNF's own traffic)."""
        started = time.monotonic()
        host, port = source.rsplit(":", 1)
        fetch = self._fetch(host, int(port), since, rate)
        delta = await asyncio.wait_for(fetch, PEER_TIMEOUT)
        self.store.apply(delta)
        return {
            "version": delta.version,
            "entries": len(delta.entries),
            "deleted": len(delta.deleted),
            "bytes": delta.size,
            "seconds": time.monotonic() - started,
        }

    async def _fetch(self, host: str, port: int, since: int, rate: float | None) -> Delta:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rate is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PACED_WINDOW)
        sock.bind((self.config.pop_address, 0))
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except OSError:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_HEADER)
        started, received = time.monotonic(), 0
        try:
            writer.write(json.dumps({"token": self.config.token, "since": since}).encode() + b"\n")
            await writer.drain()
            since_, version, count, deleted = parse_header(await reader.readline())
            entries = []
            for _ in range(count):
                key_length, value_length = parse_record(await reader.readexactly(8))
                raw = await reader.readexactly(key_length + value_length)
                received += len(raw) + 8
                if rate is not None:
                    await asyncio.sleep(max(0.0, received / rate - (time.monotonic() - started)))
                entries.append((raw[:key_length].decode(errors="replace"), raw[key_length:]))
            return Delta(since_, version, tuple(entries), deleted)
        finally:
            writer.close()

    # -- control ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "name": self.config.name,
            "version": self.store.version,
            "keys": len(self.store.values),
            "bytes": self.store.size,
            "digest": self.store.digest(),
            "serving": self.service is not None,
            "service_port": self.service_port,
            "transfer_port": self.transfer_port,
        }

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One JSON request per line, one JSON answer per line ({"error": …} on failure)."""
        while line := await reader.readline():
            try:
                answer = await self._do(json.loads(line))
            except (StateError, OSError, TimeoutError, ValueError, KeyError, TypeError) as exc:
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            except asyncio.IncompleteReadError:
                answer = {"error": "the source closed the transfer early"}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        writer.close()

    async def _do(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "status":
            return self.status()
        if op == "freeze":
            await self.freeze()
            return self.status()
        if op == "pull":
            rate = request.get("rate")
            source, since = str(request["source"]), int(request["since"])
            return await self.pull(source, since, None if rate is None else float(rate))
        if op == "serve":
            await self.serve(int(request["port"]))
            return self.status()
        raise ValueError(f"unknown op {op!r}")


def _content_length(headers: list[str]) -> int | None:
    for header in headers:
        name, _, value = header.partition(":")
        if name.strip().lower() == "content-length":
            return int(value) if value.strip().isdigit() else None
    return 0


async def run(config: InstanceConfig) -> None:
    instance = Instance(config)
    await instance.open_transfer()
    if config.serve_port is not None:
        await instance.serve(config.serve_port)
    path = Path(config.control)
    path.unlink(missing_ok=True)
    await asyncio.start_unix_server(instance.control, str(path))
    await asyncio.Event().wait()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    config = InstanceConfig.from_json(Path(argv[0]).read_text(encoding="utf-8"))
    signal.signal(signal.SIGTERM, _stop)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        asyncio.run(run(config))
    return 0


def _stop(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

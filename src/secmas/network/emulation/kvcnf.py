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
  {source, since} (fetch and apply a delta from another instance); `serve` {port};
  `lazy` {source, since, port} (post-copy: take the names of what changed at the frozen
  source after `since`, serve at once, fetch a missing key from the source when a
  request needs it — a page fault — and every value in the background); `complete`
  (wait for that background copy; the digest of the source's state as received).

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
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secmas.network.emulation.entrypoint import until_terminated
from secmas.network.emulation.kvstate import (
    MAX_HEADER,
    MAX_VALUE,
    Delta,
    StateError,
    Store,
    check_key,
    digest,
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
        self.missing: set[str] = set()
        """Post-copy: keys that changed at the source and have not arrived yet."""
        self.local: set[str] = set()
        """Post-copy: keys written here since serving (the source's copy must not win)."""
        self.source_view: dict[str, bytes] = {}
        """Post-copy: the source's state as received, to check against its digest."""
        self._lazy: tuple[str, int] | None = None
        self._background: asyncio.Task[Delta] | None = None
        self.faults = 0
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
            if key in self.missing:
                await self._fault(key)
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
        self._write(key, body)
        return 204, b""

    def _write(self, key: str, value: bytes | None) -> None:
        """A write of this instance's (None: a deletion); while a post-copy is under way
        it wins over what the source still sends."""
        if value is None:
            self.store.delete(key)
        else:
            self.store.put(key, value)
        if self._lazy is not None:
            self.local.add(key)
            self.missing.discard(key)

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
                self._write(key, self.rng.randbytes(config.value_bytes))
            if log >= 1:
                self._write(f"log/{self._log_index}", self.rng.randbytes(int(log)))
                rotated = f"log/{self._log_index - keep}"
                if rotated in self.store.values or rotated in self.missing:
                    self._write(rotated, None)
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
            since = int(request.get("since", 0))
            keys = request.get("keys")
            wanted = None if keys is None else [str(k) for k in keys]
        except (TimeoutError, ValueError, KeyError, TypeError, AttributeError, OSError):
            writer.close()
            return
        if not hmac.compare_digest(token.encode(), self.config.token.encode()):
            writer.close()
            return
        if request.get("names_only"):
            answer = json.dumps(self.store.changes(since)).encode() + b"\n"
        elif wanted is not None:
            answer = encode_delta(self.store.select(wanted))
        else:
            answer = encode_delta(self.store.delta(since))
        with contextlib.suppress(OSError):
            writer.write(answer)
            await writer.drain()
            writer.close()

    async def pull(self, source: str, since: int, rate: float | None = None) -> dict[str, Any]:
        """Fetch the delta since `since` from the instance whose transfer endpoint is
        `source` ("ip:port"), over the network from this PoP's address, and apply it;
        with `rate`, read at most that many bytes a second (as rsync's --bwlimit: a small
        receive window then keeps the path's queue short for the CNF's own traffic)."""
        started = time.monotonic()
        host, port = source.rsplit(":", 1)
        fetch = self._fetch((host, int(port)), {"since": since}, rate)
        delta = await asyncio.wait_for(fetch, PEER_TIMEOUT)
        self.store.apply(delta)
        return {
            "version": delta.version,
            "entries": len(delta.entries),
            "deleted": len(delta.deleted),
            "bytes": delta.size,
            "seconds": time.monotonic() - started,
        }

    async def _connect(
        self, peer: tuple[str, int], rate: float | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to a peer's transfer endpoint from this PoP's address."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rate is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PACED_WINDOW)
        sock.bind((self.config.pop_address, 0))
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, peer)
        except OSError:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock, limit=MAX_HEADER)

    async def _ask_peer(self, writer: asyncio.StreamWriter, request: dict[str, Any]) -> None:
        """Send a request, with the run's token, to a peer's transfer endpoint."""
        writer.write(json.dumps({"token": self.config.token, **request}).encode() + b"\n")
        await writer.drain()

    async def _fetch(
        self, peer: tuple[str, int], request: dict[str, Any], rate: float | None
    ) -> Delta:
        """A delta from a peer (`request`: since, or keys), read at most at `rate`."""
        reader, writer = await self._connect(peer, rate)
        started, received = time.monotonic(), 0
        try:
            await self._ask_peer(writer, request)
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

    # -- post-copy ----------------------------------------------------------------------
    async def serve_lazy(
        self, source: str, since: int, port: int, rate: float | None = None
    ) -> dict[str, Any]:
        """Post-copy from the frozen instance at `source`: the names of what changed there
        after `since` (everything, from 0), serve at once, values follow."""
        started = time.monotonic()
        host, peer_port = source.rsplit(":", 1)
        peer = (host, int(peer_port))
        reader, writer = await self._connect(peer, None)
        try:
            await self._ask_peer(writer, {"since": since, "names_only": True})
            names = json.loads(await asyncio.wait_for(reader.readline(), PEER_TIMEOUT))
            changed = [str(k) for k in names["changed"]]
            deleted = tuple(str(k) for k in names["deleted"])
            version = int(names["version"])
        except (KeyError, TypeError) as exc:
            raise StateError(f"bad post-copy metadata: {exc}") from None
        finally:
            writer.close()
        self.store.apply(Delta(min(since, version), version, (), (*changed, *deleted)))
        self.source_view = dict(self.store.values)
        self.missing, self.local, self._lazy = set(changed), set(), peer
        await self.serve(port)
        self._background = asyncio.ensure_future(self._fetch(peer, {"since": since}, rate))
        return {
            "version": version,
            "entries": 0,
            "deleted": len(deleted),
            "bytes": sum(len(k.encode()) for k in changed),
            "missing": len(changed),
            "seconds": time.monotonic() - started,
        }

    async def _fault(self, key: str) -> None:
        """A request needs a key that has not arrived: fetch it from the source now."""
        assert self._lazy is not None
        self.faults += 1
        delta = await asyncio.wait_for(self._fetch(self._lazy, {"keys": [key]}, None), 5.0)
        self._take(delta)

    def _take(self, delta: Delta) -> None:
        """Values (and deletions) from the post-copy's source: into the view of its state,
        and into the store where this instance has not written since."""
        for key, value in delta.entries:
            self.source_view[key] = value
            if key in self.missing:
                self.missing.discard(key)
                self.store.put(key, value)
        for key in delta.deleted:
            self.source_view.pop(key, None)
            self.missing.discard(key)

    async def complete(self) -> dict[str, Any]:
        """Wait for the background copy; the digest of the source's state as received."""
        if self._background is None:
            raise StateError("no post-copy under way")
        started = time.monotonic()
        delta = await asyncio.wait_for(self._background, PEER_TIMEOUT)
        self._take(delta)
        self._lazy, self._background = None, None
        return self.status() | {
            "source_digest": digest(self.source_view.items()),
            "received_bytes": delta.size,
            "faults": self.faults,
            "seconds": time.monotonic() - started,
        }

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
        if op == "lazy":
            rate = request.get("rate")
            return await self.serve_lazy(
                str(request["source"]),
                int(request["since"]),
                int(request["port"]),
                None if rate is None else float(rate),
            )
        if op == "complete":
            return await self.complete()
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
    until_terminated(run(config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

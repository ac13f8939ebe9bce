"""Local `nats-server` processes for tests, benchmarks and `secmas run --processes`.

The Debian package installs the binary but starts no server, so whoever needs a broker
starts one here: on 127.0.0.1 (never beyond loopback), on a free port unless told
otherwise, and only returns once the server says it is ready and its port accepts
connections, so the first client never races the server's start. Stopping terminates it,
kills it if it lingers, and always reaps it, so no zombie is left behind.

A server is configured through a file (never secrets on its command line):
* `tls`: clients must speak TLS (the server shows a certificate of the run's CA, see
  `secmas.transport.tls`); plain-text clients are refused;
* `users`: only these nkeys may connect, each held to its subject permissions;
* `cluster`: the server routes to its peers; with `tls` the routes are mutual TLS with
  certificates of the same CA, so nobody else can join the cluster as a route.
`NatsCluster` starts several such servers routed to each other and waits for the mesh.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from secmas.listenport import free_port
from secmas.transport.credentials import NatsUser, Permissions
from secmas.transport.tls import ServerCertificate

MISSING_BINARY = (
    "nats-server not found: install it with apt-get install nats-server (scripts/setup does)"
)
_SBIN = os.pathsep.join(("/usr/local/sbin", "/usr/sbin"))
_READY_LINE = "Server is ready"
_POLL_S = 0.02
_STOP_GRACE_S = 5.0
_PORT_TAKEN = "address already in use"
_BIND_TRIES = 3
"""Starts on newly picked ports when another process took one between pick and bind."""
_TLS_HANDSHAKE_S = 2.0
CLUSTER_NAME = "secmas"


def find_nats_server(binary: str = "nats-server") -> str | None:
    """The binary's path, or None. Debian installs it in /usr/sbin, which is only on
    root's PATH, so look there too."""
    return shutil.which(binary) or shutil.which(binary, path=_SBIN)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class ClusterPeer:
    """This server's place in a cluster: its route port and its peers' route ports."""

    port: int
    routes: tuple[int, ...]
    name: str = CLUSTER_NAME


def _rule(allow: Sequence[str], deny: Sequence[str]) -> dict[str, list[str]]:
    """One direction of a `permissions` block; an empty allow list allows nothing."""
    if not allow:
        return {"deny": [">"]}
    return {"allow": list(allow)} | ({"deny": list(deny)} if deny else {})


def _permissions(p: Permissions) -> dict[str, Any]:
    return {
        "publish": _rule(p.publish, p.deny_publish),
        "subscribe": _rule(p.subscribe, p.deny_subscribe),
    }


def authorization(users: Sequence[NatsUser]) -> dict[str, Any]:
    """The `authorization` block that admits exactly `users`, each with its permissions."""
    return {
        "users": [
            {"nkey": u.nkey}
            | ({} if u.permissions is None else {"permissions": _permissions(u.permissions)})
            for u in users
        ]
    }


def _tls_block(tls: ServerCertificate, *, verify: bool) -> dict[str, Any]:
    return {
        "cert_file": str(tls.cert_file),
        "key_file": str(tls.key_file),
        "ca_file": str(tls.ca_file),
        "verify": verify,
        "timeout": _TLS_HANDSHAKE_S,
    }


def server_config(
    host: str,
    port: int,
    *,
    name: str,
    tls: ServerCertificate | None = None,
    users: Sequence[NatsUser] = (),
    cluster: ClusterPeer | None = None,
    monitor_port: int | None = None,
    jetstream_dir: Path | None = None,
) -> dict[str, Any]:
    """The server's configuration (nats-server reads JSON, a subset of its format).

    Clients authenticate with their nkeys (so client certificates are not asked for);
    routes authenticate with their certificates (`verify: true`)."""
    config: dict[str, Any] = {"server_name": name, "host": host, "port": port}
    if tls is not None:
        config["tls"] = _tls_block(tls, verify=False)
    if users:
        config["authorization"] = authorization(users)
    if cluster is not None:
        block: dict[str, Any] = {
            "name": cluster.name,
            "host": host,
            "port": cluster.port,
            "routes": [f"nats-route://{host}:{p}" for p in cluster.routes],
        }
        if tls is not None:
            block["tls"] = _tls_block(tls, verify=True)
        config["cluster"] = block
    if monitor_port is not None:
        config["http"] = f"{host}:{monitor_port}"
    if jetstream_dir is not None:
        config["jetstream"] = {"store_dir": str(jetstream_dir)}
    return config


class _Started(ABC):
    """`with` starts what `start` starts and stops it on the way out, even on failure."""

    @abstractmethod
    def start(self) -> Self: ...

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _PortTaken(RuntimeError):
    """nats-server exited because a port it was to listen on is taken."""


class NatsServer(_Started):
    """One `nats-server` child process; a (sync or async) context manager.

    `port=None` picks a free port on the first start; later starts reuse the port, so a
    restarted server is found where its clients expect it. JetStream is off unless
    `jetstream=True` (stored in a temporary directory that is removed on stop). `tls`,
    `users` and `cluster` are described in the module docstring.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        binary: str = "nats-server",
        jetstream: bool = False,
        startup_timeout: float = 5.0,
        tls: ServerCertificate | None = None,
        users: Sequence[NatsUser] = (),
        cluster: ClusterPeer | None = None,
        name: str = "secmas",
        monitor: bool = False,
    ) -> None:
        self.host = host
        self.binary = binary
        self.jetstream = jetstream
        self.startup_timeout = startup_timeout
        self.tls = tls
        self.users = tuple(users)
        self.cluster = cluster
        self.name = name
        self.monitor = monitor
        self.monitor_port: int | None = None
        self._port: int | None = port
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"NatsServer({self.host}:{self._port}, {state})"

    @property
    def port(self) -> int:
        """The port the server listens on (known once started, or when given)."""
        if self._port is None:
            raise RuntimeError("the server has no port yet: start it first")
        return self._port

    @property
    def url(self) -> str:
        """Where clients connect: `nats://127.0.0.1:PORT`, `tls://…` with TLS."""
        scheme = "tls" if self.tls is not None else "nats"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self.running and self._process else None

    def start(self) -> NatsServer:
        """Start the server and wait until it accepts connections (at most startup_timeout).

        A port picked here (client or monitor) can be taken by another process between the
        pick and the server's bind; the server then exits "address already in use" and is
        started again on newly picked ports, up to `_BIND_TRIES` times. A port the caller
        gave, or one a restart must keep, is not picked again.

        Raises FileNotFoundError when the binary is missing, RuntimeError when the server
        exits early (its log is quoted), TimeoutError when it never becomes ready."""
        if self._process is not None:
            raise RuntimeError(f"{self!r} is already started")
        binary = find_nats_server(self.binary)
        if binary is None:
            raise FileNotFoundError(MISSING_BINARY)
        picks_port, picks_monitor = self._port is None, self.monitor and self.monitor_port is None
        tries = 1
        while True:
            if picks_port:
                self._port = free_port(self.host)
            if picks_monitor:
                self.monitor_port = free_port(self.host)
            try:
                return self._launch(binary)
            except _PortTaken:
                if not (picks_port or picks_monitor) or tries == _BIND_TRIES:
                    raise
                tries += 1

    def _launch(self, binary: str) -> NatsServer:
        assert self._port is not None
        self._workdir = Path(tempfile.mkdtemp(prefix="nats_server_"))
        log = self._workdir / "nats-server.log"
        config = server_config(
            self.host,
            self._port,
            name=self.name,
            tls=self.tls,
            users=self.users,
            cluster=self.cluster,
            monitor_port=self.monitor_port,
            jetstream_dir=self._workdir / "jetstream" if self.jetstream else None,
        )
        config_file = self._workdir / "nats-server.conf"
        config_file.write_text(json.dumps(config, indent=1), encoding="utf-8")
        args = [binary, "-c", str(config_file)]
        with log.open("wb") as output:  # the child keeps its own descriptor
            self._process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )
        try:
            self._wait_ready(log)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, log: Path) -> None:
        assert self._process is not None and self._port is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = self._process.poll()
            text = log.read_text(errors="replace") if log.exists() else ""
            if code is not None:
                tail = "\n".join(text.splitlines()[-5:])
                error = _PortTaken if _PORT_TAKEN in text else RuntimeError
                raise error(f"nats-server exited with status {code} on start:\n{tail}")
            if _READY_LINE in text and _accepts(self.host, self._port):
                return
            time.sleep(_POLL_S)
        raise TimeoutError(
            f"nats-server on {self.host}:{self._port} not ready within {self.startup_timeout} s"
        )

    def stop(self) -> None:
        """Terminate the server (kill it after a grace period), reap it, remove its files.

        Calling it again, or on a server never started, does nothing."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=_STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    process.kill()
            process.wait()
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    async def __aenter__(self) -> NatsServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


class NatsCluster(_Started):
    """`size` servers on loopback, each routed to all the others (a full mesh), with the
    same TLS and users; a (sync) context manager. `start` returns once every server
    reports a route to each of its peers (nats-server's `/routez` monitoring page)."""

    def __init__(
        self,
        size: int = 3,
        *,
        tls: dict[str, ServerCertificate] | None = None,
        users: Sequence[NatsUser] = (),
        startup_timeout: float = 10.0,
    ) -> None:
        if size < 2:
            raise ValueError("a cluster has at least 2 servers")
        self.names = [f"n{i + 1}" for i in range(size)]
        if tls is not None and set(tls) != set(self.names):
            raise ValueError(f"tls needs a certificate for each of {self.names}")
        self.startup_timeout = startup_timeout
        routes = [free_port() for _ in self.names]
        self.servers = [
            NatsServer(
                tls=None if tls is None else tls[name],
                users=users,
                cluster=ClusterPeer(routes[i], tuple(p for p in routes if p != routes[i])),
                name=name,
                monitor=True,
            )
            for i, name in enumerate(self.names)
        ]

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    @property
    def bus(self) -> str:
        """The servers as one `--bus` value."""
        return ",".join(self.urls)

    def start(self) -> NatsCluster:
        try:
            for server in self.servers:
                server.start()
            self._wait_meshed()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_meshed(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        peers = len(self.servers) - 1
        while time.monotonic() < deadline:
            if all(self.routes(s) >= peers for s in self.servers):
                return
            time.sleep(_POLL_S * 5)
        raise TimeoutError(f"the cluster did not mesh within {self.startup_timeout} s")

    @staticmethod
    def routes(server: NatsServer) -> int:
        """How many routes `server` has now (0 when its monitoring page does not answer)."""
        return int(_routez(server).get("num_routes", 0))

    @staticmethod
    def interest(server: NatsServer, subject: str) -> int:
        """How many of `server`'s routes have told it of a subscription to `subject`.

        Interest crosses a route asynchronously: until a peer's subscription has arrived,
        `server` does not forward a publish to that peer, so a message published right
        after a subscription on another node may be lost to it (NATS is at most once)."""
        routes = _routez(server, subs=True).get("routes") or []
        return sum(subject in (route.get("subscriptions_list") or ()) for route in routes)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def _routez(server: NatsServer, subs: bool = False) -> dict[str, Any]:
    """`server`'s route monitoring page, or {} when it does not answer."""
    url = f"http://{server.host}:{server.monitor_port}/routez" + ("?subs=1" if subs else "")
    try:
        with urllib.request.urlopen(url, timeout=1.0) as page:
            return dict(json.load(page))
    except (OSError, ValueError):
        return {}

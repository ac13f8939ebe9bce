"""The emulated CNF: Debian's nginx, the web/video streamer of `002_…` Section IV.

nginx runs in the server's namespace (a replica in the namespace of the PoP that won it)
with its own configuration, pid file, logs and temporary folders under the run folder
(its worker runs as the run's user, root, so that a private run folder serves), as a
non-daemon child of the run (`daemon off`) inside the CNF's cgroup. It serves the
clients' `GET /bytes/N` from files of exactly N bytes, logs every request with its
status and duration (`$request_time`) for the metrics exporter, and answers
`stub_status` on a Unix socket in the run folder, which the exporter reads from outside
the namespace.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from secmas.network.emulation.cnfcgroup import CNFGroup
from secmas.network.emulation.errors import EmulationFailed, EmulationUnavailable
from secmas.network.emulation.namespaces import Namespace
from secmas.network.emulation.network import EmulatedNetwork

NGINX = "/usr/sbin/nginx"
WORKER_CONNECTIONS = 1024
LOG_FORMAT = "$msec $status $request_time $remote_addr $bytes_sent"
"""One access-log line: end time (s), status, duration (s), client, bytes sent."""


WARM_UP = """
import socket, sys, time
address, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held = []
for _ in range(count):
    try:
        held.append(socket.create_connection((address, port), timeout=2))
        held[-1].sendall(b"GET / HTTP/1.1\\r\\nHost: cnf\\r\\n")
    except OSError:
        break
time.sleep(1.0)
"""
"""Opens `count` connections to nginx, starts a request on each, holds them a second."""


def nginx_binary() -> str:
    """nginx's path, or EmulationUnavailable naming the Debian package."""
    if shutil.which("nginx") is None and not Path(NGINX).exists():
        raise EmulationUnavailable(
            "nginx: install the Debian package nginx-light (./scripts/setup --emulated)"
        )
    return shutil.which("nginx") or NGINX


SOCKET_PATH_MAX = 107
"""The longest path a Unix socket binds to (sun_path holds 108 bytes with its NUL)."""


@dataclass(frozen=True, slots=True)
class NginxLayout:
    """Where one run's nginx keeps its files: under an absolute `root`, since nginx reads
    a relative path from its prefix, not from the folder it was started in."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", self.root.absolute())

    @property
    def config(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def pid(self) -> Path:
        return self.root / "nginx.pid"

    @property
    def access_log(self) -> Path:
        return self.root / "access.log"

    @property
    def error_log(self) -> Path:
        return self.root / "error.log"

    @property
    def status_socket(self) -> Path:
        """In the run's folder when the path fits a Unix socket address, else in the
        temporary folder under a name derived from the run's folder (a pytest folder
        under xdist easily passes the limit, and nginx then refuses to start)."""
        inside = self.root / "status.sock"
        if len(os.fsencode(inside)) <= SOCKET_PATH_MAX:
            return inside
        digest = hashlib.sha256(os.fsencode(self.root)).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"secmas-nginx-{digest}.sock"

    @property
    def docroot(self) -> Path:
        return self.root / "www"


def nginx_config(
    layout: NginxLayout,
    address: str,
    ports: Iterable[int],
    access_log: Path | None = None,
    header_timeout: float | None = None,
) -> str:
    """The whole nginx.conf of one instance of the CNF (pure). Its sockets share the
    service address with the CNF's other instances (`reuseport`: the kernel spreads new
    connections over them); it logs to `access_log` (default its own); `header_timeout`
    seconds for a client to send its request head (default nginx's 60 s)."""
    listens = "\n".join(
        f"    listen {address}:{port} backlog=1024 reuseport;" for port in sorted(ports)
    )
    log = access_log or layout.access_log
    temp = layout.root / "tmp"
    timeout = "" if header_timeout is None else f"\n  client_header_timeout {header_timeout:g}s;"
    return f"""user root;
worker_processes 1;
worker_rlimit_nofile 4096;
daemon off;
pid {layout.pid};
error_log {layout.error_log} warn;
worker_shutdown_timeout 1s;
events {{ worker_connections {WORKER_CONNECTIONS}; }}
http {{
  access_log off;
  log_format cnf '{LOG_FORMAT}';
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
  default_type application/octet-stream;
  keepalive_timeout 5s;{timeout}
  server {{
{listens}
    access_log {log} cnf;
    root {layout.docroot};
    location /bytes/ {{ }}
  }}
  server {{
    listen unix:{layout.status_socket};
    location /status {{ stub_status; }}
  }}
}}
"""


def write_docroot(layout: NginxLayout, sizes: Iterable[int]) -> None:
    """Files /bytes/N of N bytes for every size the clients and attackers fetch."""
    folder = layout.docroot / "bytes"
    folder.mkdir(parents=True, exist_ok=True)
    for size in set(sizes):
        (folder / str(size)).write_bytes(b"v" * size)


class NginxCNF:
    """One nginx instance of the CNF, in the CNF's cgroup: in the server's namespace on
    the service address, or, placed on a PoP (`pop`), in that PoP's namespace on the
    PoP's own address (`cnffront` sends users there); a replica logs to the first
    instance's `access_log`."""

    def __init__(
        self,
        network: EmulatedNetwork,
        group: CNFGroup,
        folder: Path,
        ports: Iterable[int],
        access_log: Path | None = None,
        pop: str | None = None,
    ) -> None:
        self.network = network
        self.group = group
        self.layout = NginxLayout(folder)
        self.access_log = access_log or self.layout.access_log
        self.ports = sorted(set(ports))
        plan = network.plan
        self.pop = pop
        self.address = plan.server_ip if pop is None else plan.pop_addresses[pop]
        self.namespace: Namespace = network.namespace(plan.server if pop is None else pop)
        self.process: subprocess.Popen[bytes] | None = None
        self.header_timeout: float | None = None
        """Seconds a client may take to send its request head (None: nginx's default)."""

    def start(self, sizes: Iterable[int]) -> None:
        """Write the configuration and files, start nginx, wait until it listens."""
        binary = nginx_binary()
        layout = self.layout
        (layout.root / "tmp").mkdir(parents=True, exist_ok=True)
        write_docroot(layout, sizes)
        self._configure()
        command = [binary, "-c", str(layout.config), "-p", str(layout.root)]
        self.process = self.network.spawn(
            self.group.inside(self.namespace), command, str(layout.root / "nginx.out")
        )
        self._wait_listening()

    def _wait_listening(self, seconds: float = 30.0) -> None:
        """Until nginx listens on every port (a busy machine may take seconds to start
        it); at once when it exited."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            listening = self.namespace.run(["ss", "-Hltn"])
            up = all(f"{self.address}:{p}" in listening for p in self.ports)
            if up and self.layout.status_socket.exists():
                return
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.05)
        for log in (self.layout.error_log, self.layout.root / "nginx.out"):
            detail = log.read_text(errors="replace")[-400:].strip() if log.exists() else ""
            if detail:  # what nginx said before it opened its error log, if it got there
                break
        raise EmulationFailed(f"nginx did not start; {log}: {detail}")

    def warm_up(self, connections: int = WORKER_CONNECTIONS - 124) -> None:
        """Hold many connections once, so that the worker's connection memory is touched
        before normal behaviour is recorded: its resident memory then stays level when
        an attack holds as many (nginx keeps what it touched)."""
        port = str(self.ports[0])
        self.namespace.run([sys.executable, "-c", WARM_UP, self.address, port, str(connections)])

    def _configure(self) -> None:
        config = nginx_config(
            self.layout, self.address, self.ports, self.access_log, self.header_timeout
        )
        self.layout.config.write_text(config, encoding="utf-8")

    def reload(self, header_timeout: float | None) -> None:
        """Serve on with another header timeout: the master reads the new configuration
        and starts new workers; the old ones close what they hold within a second
        (`worker_shutdown_timeout`)."""
        self.header_timeout = header_timeout
        self._configure()
        if self.process is not None and self.process.poll() is None:
            os.kill(self.master, signal.SIGHUP)

    @property
    def master(self) -> int:
        """The master process's PID (the shell that joined the cgroup exec'd into it)."""
        if self.process is None:
            raise EmulationFailed("nginx is not running")
        return self.process.pid

    def stop(self) -> None:
        """Fast shutdown (SIGTERM), then whatever is left of the group goes with it."""
        if self.process is not None:
            self.network.end(self.process)
            self.process = None
        self.layout.status_socket.unlink(missing_ok=True)

"""A local `nats-server` process for tests, benchmarks and `secmas run --processes`.

The Debian package installs the binary but starts no server, so whoever needs a broker
starts one here: on 127.0.0.1 (never beyond loopback), on a free port unless told
otherwise, and only returns once the server says it is ready and its port accepts
connections, so the first client never races the server's start. Stopping terminates it,
kills it if it lingers, and always reaps it, so no zombie is left behind.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

MISSING_BINARY = (
    "nats-server not found: install it with apt-get install nats-server (scripts/setup does)"
)
_SBIN = os.pathsep.join(("/usr/local/sbin", "/usr/sbin"))
_READY_LINE = "Server is ready"
_POLL_S = 0.02
_STOP_GRACE_S = 5.0


def find_nats_server(binary: str = "nats-server") -> str | None:
    """The binary's path, or None. Debian installs it in /usr/sbin, which is only on
    root's PATH, so look there too."""
    return shutil.which(binary) or shutil.which(binary, path=_SBIN)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class NatsServer:
    """One `nats-server` child process; a (sync or async) context manager.

    `port=None` picks a free port on the first start; later starts reuse the port, so a
    restarted server is found where its clients expect it. JetStream is off unless
    `jetstream=True` (stored in a temporary directory that is removed on stop).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        binary: str = "nats-server",
        jetstream: bool = False,
        startup_timeout: float = 5.0,
    ) -> None:
        self.host = host
        self.binary = binary
        self.jetstream = jetstream
        self.startup_timeout = startup_timeout
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
        """Where clients connect: `nats://127.0.0.1:PORT`."""
        return f"nats://{self.host}:{self.port}"

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

        Raises FileNotFoundError when the binary is missing, RuntimeError when the server
        exits early (its log is quoted), TimeoutError when it never becomes ready."""
        if self._process is not None:
            raise RuntimeError(f"{self!r} is already started")
        binary = find_nats_server(self.binary)
        if binary is None:
            raise FileNotFoundError(MISSING_BINARY)
        self._port = self._port or free_port(self.host)
        self._workdir = Path(tempfile.mkdtemp(prefix="nats_server_"))
        log = self._workdir / "nats-server.log"
        args = [binary, "-a", self.host, "-p", str(self._port)]
        if self.jetstream:
            args += ["-js", "-sd", str(self._workdir / "jetstream")]
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
                raise RuntimeError(f"nats-server exited with status {code} on start:\n{tail}")
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

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> NatsServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

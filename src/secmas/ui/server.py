"""Serving the app with uvicorn: in the foreground (`secmas ui`) or in a thread beside a
run (`secmas demo --ui`). The socket is bound here, so a port that is taken is known
before anything is served, and the default port falls back to a free one."""

from __future__ import annotations

import errno
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

DEFAULT_PORT = 8000
START_TIMEOUT = 15.0


class PortTaken(OSError):
    """The port asked for is in use (or cannot be bound)."""


def bind(host: str, port: int | None) -> socket.socket:
    """A listening socket on `host`:`port`; `None` means DEFAULT_PORT, or any free port
    when that one is taken. PortTaken when an explicit port cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    wanted = DEFAULT_PORT if port is None else port
    for candidate in (wanted, 0) if port is None else (wanted,):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError as exc:
            sock.close()
            if candidate != 0 and exc.errno in (errno.EADDRINUSE, errno.EACCES):
                continue
            raise PortTaken(f"cannot listen on {host}:{candidate}: {exc.strerror}") from None
        sock.listen(128)
        sock.set_inheritable(True)
        return sock
    raise PortTaken(f"cannot listen on {host}:{wanted}: address already in use")


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def _server(app: FastAPI) -> uvicorn.Server:
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


def serve(app: FastAPI, sock: socket.socket) -> None:
    """Serve in this thread until Ctrl-C."""
    _server(app).run(sockets=[sock])


@dataclass
class Background:
    """The app served in a thread."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_thread(app: FastAPI, sock: socket.socket) -> Background:
    """Start serving in a daemon thread; returns once the server accepts connections."""
    server = _server(app)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="secmas-ui", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.02)
    return Background(server, thread, url_of(sock))

"""A TCP port for a server secmas starts (nats-server, its cluster routes, Prometheus, the
TAXII server, the Hardhat node) to listen on.

The kernel's pick for port 0 lies in its ephemeral range, the range it also draws the
local port of every outgoing connection from: between the pick and the server's bind,
any client socket on the machine may take it (seen in a full suite: a nats-server's route
port lost that way, "bind: address already in use"). So the port is drawn below that
range, where no outgoing connection lands, and checked free by binding it.

A foundation module (no secmas imports): every layer may use it.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 20000
"""Above the registered ports most services on a developer's machine use."""
_DEFAULT_EPHEMERAL_START = 32768  # Linux's default when /proc does not say
_TRIES = 200


def ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range."""
    try:
        return int(EPHEMERAL_RANGE.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_EPHEMERAL_START


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now, below the ephemeral range when there is room
    there (else the kernel's pick)."""
    top = ephemeral_start()
    if top - LOWEST >= _TRIES:
        draw = random.SystemRandom()
        for _ in range(_TRIES):
            port = draw.randrange(LOWEST, top)
            if _bindable(host, port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True

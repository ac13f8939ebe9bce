"""Code run with one thread's network stack in another network namespace.

setns(2) moves only the calling thread: a thread that enters a namespace opens its
sockets (and starts its processes) there, and they stay there once the thread is gone.
The thread then ends, so nothing else of this process ever runs inside. This is how the
emulated network starts servers in its namespaces and how the overlay driver talks
netlink to one; forking a helper into the namespace instead (pyroute2's way) can deadlock
in a process with threads.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
"""Where `ip netns` keeps named network namespaces."""


class NamespaceUnreachable(OSError):
    """The namespace could not be entered (gone, or no right to)."""


def call_in_namespace(namespace: Path, call: Callable[[], T], name: str) -> T:
    """`call()` in a thread (named `name`) that entered the network namespace at
    `namespace` (`/proc/PID/ns/net`, or a named one under `NETNS_DIR`); what it raised,
    NamespaceUnreachable when the thread could not enter."""
    outcome: list[tuple[bool, Any]] = []

    def inside() -> None:
        try:
            _enter(namespace)
        except OSError as exc:
            outcome.append((False, NamespaceUnreachable(exc.errno, str(exc))))
            return
        try:
            outcome.append((True, call()))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = threading.Thread(target=inside, name=name)
    thread.start()
    thread.join()
    done, value = outcome[0]
    if not done:
        raise value
    return value  # type: ignore[no-any-return]


def _enter(namespace: Path) -> None:
    """This thread into the network namespace at `namespace`."""
    libc = ctypes.CDLL(None, use_errno=True)
    descriptor = os.open(namespace, os.O_RDONLY)
    try:
        if libc.setns(descriptor, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns into {namespace}: {os.strerror(error)}")
    finally:
        os.close(descriptor)

"""One heavy real-time run at a time on the machine, across the suite's workers.

A run on the emulated network (namespaces, a real flood and its defence, six agents)
and the agent image's build each take both cores for a while; two of them at once made
both miss their bounds: two runs in their PoPs in two of eight suites (once beside
`stress-ng --cpu 2`, once beside two installs), an in-process emulated run whose moves
never finished while another worker built the image. `one_run_at_a_time` holds the
machine's one place for such work: an exclusive lock on this file (flock, released when
its holder dies, so nothing is left). Taken again in the process that holds it, it just
goes on (a run inside a module that holds the place already).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

_held = [0]
"""How deep this process holds the place."""


@contextmanager
def one_run_at_a_time() -> Iterator[None]:
    """Hold the machine's one place for a heavy real-time run while the block runs."""
    if _held[0]:
        _held[0] += 1
        try:
            yield
        finally:
            _held[0] -= 1
        return
    with open(__file__, "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _held[0] = 1
        try:
            yield
        finally:
            _held[0] = 0
            fcntl.flock(handle, fcntl.LOCK_UN)

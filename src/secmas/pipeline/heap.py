"""What lives for the whole run is kept out of the garbage collector's full collections.

A run imports about 1,750 modules and builds the ledger's EVM and the agents before it
steps: about a million objects that live until it ends. Python's full (generation 2)
collection walks all of them, 110–140 ms with the GIL held on the build machine, and the
challenge it fell on took four times its median (a 6-agent demo's p99 round trip 130–170
ms against a p50 of 30 ms). `gc.freeze` moves every object alive now into a permanent
generation the collector does not scan, as long-running services do after start-up, so
a full collection costs what the run made since. The objects are given back
(`gc.unfreeze`) when the run ends: a sweep worker running many runs frees each run's
cycles as before.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def hold() -> None:
    """Keep everything alive now out of the collector's scans until `release`."""
    gc.freeze()


def release() -> None:
    """Give what `hold` kept back to the collector (its oldest generation)."""
    gc.unfreeze()


@contextmanager
def long_lived() -> Iterator[None]:
    """`hold` for the duration of the block, `release` after it, even when it fails."""
    hold()
    try:
        yield
    finally:
        release()

"""A memory leak at a set rate, started inside the CNF as a weak `high_memory` attack.

stress-ng's `--bigheap` leaks as fast as realloc goes (about 700 MB/s on the 2-core
benchmark machine) and grows by at least a page per realloc, so it cannot leak less: a
leak at a share of its size is this process instead, which keeps `rate` MB a second of
freshly written pages (each page touched, so it is resident) until it is stopped.

    python -m secmas.network.emulation.memleak RATE_MB_S
"""

from __future__ import annotations

import contextlib
import sys
import time

TICK_S = 0.1
"""Seconds between two allocations."""


def leak(rate_mb_s: float, seconds: float | None = None) -> list[bytes]:
    """Hold `rate_mb_s` MB more every second, for `seconds` (None: until interrupted);
    what was held."""
    held: list[bytes] = []
    chunk = max(1, int(rate_mb_s * 2**20 * TICK_S))
    started = time.monotonic()
    while seconds is None or time.monotonic() - started < seconds:
        held.append(b"\xa5" * chunk)  # written: resident, not a lazily mapped zero page
        time.sleep(TICK_S)
    return held


def main(argv: list[str]) -> int:
    try:
        rate = float(argv[0]) if len(argv) == 1 else -1.0
    except ValueError:
        rate = -1.0
    if not rate > 0:
        print(__doc__, file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        leak(rate)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

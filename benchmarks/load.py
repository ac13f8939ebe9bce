"""A benchmark's rounds idle, then beside CPU load (`stress-ng --cpu 2×CPUs`).

The machines are shared, busy and of unequal speed: a figure counts when it holds beside
other work too, so the load-aware benchmarks run the same rounds twice, and say in their
JSON how loaded the machine was (`load_average_after`, `stress`)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from baseline import INTERLEAVED

LOADS = ("idle", "loaded")
STRESS = "/usr/bin/stress-ng"
LOAD_FACTOR = 2
"""stress-ng workers per CPU."""


def workers() -> int:
    """How many stress-ng workers make the load: `LOAD_FACTOR` per CPU."""
    return LOAD_FACTOR * (os.cpu_count() or 1)


@contextmanager
def cpu_load(count: int) -> Iterator[dict[str, Any]]:
    """`stress-ng --cpu count` for the duration (its own process group, always stopped);
    yields a dict that gets the load averages seen before the stop."""
    stress = subprocess.Popen(
        [STRESS, "--cpu", str(count), "--timeout", "3h", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    seen: dict[str, Any] = {"workers": count}
    try:
        time.sleep(3.0)  # let the workers spin up before the first round
        yield seen
        seen["load_average_at_end"] = os.getloadavg()
    finally:
        try:
            os.killpg(stress.pid, signal.SIGTERM)
            stress.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(stress.pid, signal.SIGKILL)
            stress.wait()


def under_each_load(loads: Sequence[str], measure: Callable[[str], None]) -> dict[str, Any]:
    """`measure(load)` for each of `loads`, the loaded one beside stress-ng; what
    `cpu_load` saw of the load (empty when no round was loaded)."""
    seen: dict[str, Any] = {}
    for load in loads:
        if load == "idle":
            measure(load)
            continue
        with cpu_load(workers()) as stress:
            measure(load)
        seen = stress
    return seen


def loaded_result(
    name: str, machine: dict[str, Any], stress: dict[str, Any], compared: str
) -> dict[str, Any]:
    """The first fields of a load-aware benchmark's JSON: what ran, where, how loaded, and
    what was compared with what (`compared`, e.g. "secure and --insecure")."""
    return {
        "benchmark": name,
        "machine": machine,
        "load_average_after": os.getloadavg(),
        "stress": stress or None,
        "note": INTERLEAVED.replace("baseline and new", compared),
    }

"""The test process's own children, found in /proc: measurers a run started, say, which
must be gone once it ends (a PID's parent is this process only while it runs)."""

from __future__ import annotations

import os
from pathlib import Path

from secmas.procstat import read_stat


def children_running(marker: bytes) -> list[int]:
    """PIDs of live children of this process whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = read_stat(int(entry.name))
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if stat is not None and stat.parent == os.getpid() and marker in command:
            found.append(int(entry.name))
    return found

"""One process's line of `/proc/PID/stat` (proc(5)): its state, parent, CPU time and start
time, read in one place.

The command name stands in parentheses and may itself hold spaces and parentheses (a
process may name itself anything), so the fields are counted after the last ")". The
start time tells a process from a later one that reuses its PID; the CPU time tells a
slow process that works from one that hangs (`secmas.pipeline.bringup`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcStat:
    """What a process's stat line says that secmas uses."""

    state: str
    """R, S, D, Z (a zombie: ended, not reaped yet), …"""
    parent: int
    cpu_ticks: int
    """utime + stime + cutime + cstime: its own CPU time and its waited-for children's."""
    start_ticks: int
    """When it started, in clock ticks since boot."""

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_ticks / TICKS_PER_SECOND


def parse_stat(line: str) -> ProcStat:
    """The fields of a stat line; ValueError for one that is not."""
    head, paren, rest = line.rpartition(")")
    fields = rest.split()
    if not paren or "(" not in head or len(fields) < 20:
        raise ValueError(f"not a /proc/PID/stat line: {line[:80]!r}")
    state, parent = fields[0], int(fields[1])
    return ProcStat(state, parent, sum(int(f) for f in fields[11:15]), int(fields[19]))


def read_stat(pid: int) -> ProcStat | None:
    """Process `pid`'s stat line, or None once it is gone."""
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError):
        return None

"""A memory leak in the primary instance (`004_…` Section 6.2): on the emulated network,
`stress-ng --bigheap` inside the CNF, a heap grown by realloc without end (or, for a leak at
a share of its size, `memleak` at that rate)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from secmas.network.attack import module
from secmas.network.incident import Active, Effects, IncidentPlugin

if TYPE_CHECKING:
    from secmas.network.emulation.cnfattacks import AttackSettings


class HighMemory(IncidentPlugin):
    """Leaks `leak_mb` × magnitude MB/s in the primary instance; a restart ends it."""

    ended_by = frozenset({"migrate", "isolate"})
    inside = True

    def affect(self, effects: Effects, active: Active) -> None:
        """Add the leak's rate."""
        effects.leak += active.params.leak_mb * active.incident.magnitude

    def command(self, stress_ng: str, settings: AttackSettings) -> list[str]:
        """One stress-ng bigheap worker growing by `leak_growth` per realloc, or the
        throttled leak at `leak_mb_s`."""
        if settings.leak_mb_s is not None:
            return [*module("memleak"), f"{settings.leak_mb_s:g}"]
        return [stress_ng, "--bigheap", "1", "--bigheap-growth", settings.leak_growth, "--quiet"]

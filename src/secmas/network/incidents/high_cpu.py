"""A CPU hog in the primary instance (`004_…` Section 6.2): on the emulated network,
`stress-ng --cpu` inside the CNF."""

from __future__ import annotations

from typing import TYPE_CHECKING

from secmas.network.incident import Active, Effects, IncidentPlugin

if TYPE_CHECKING:
    from secmas.network.emulation.cnfattacks import AttackSettings


class HighCpu(IncidentPlugin):
    """Wants `hog_share` × magnitude of the primary instance's cores; a restart ends it."""

    ended_by = frozenset({"migrate", "isolate"})
    inside = True

    def affect(self, effects: Effects, active: Active) -> None:
        """Add the hog's cores (at most the instance's)."""
        share = min(1.0, active.params.hog_share * active.incident.magnitude)
        effects.hog += share * active.cores

    def command(self, stress_ng: str, settings: AttackSettings) -> list[str]:
        """One stress-ng CPU worker at `cpu_load` per cent of a core."""
        return [stress_ng, "--cpu", "1", "--cpu-load", str(settings.cpu_load), "--quiet"]

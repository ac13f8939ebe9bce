"""A disk-I/O surge in the primary instance, a pattern the profiler is not trained on."""

from __future__ import annotations

from secmas.network.incident import Active, Effects, IncidentPlugin


class DiskStorm(IncidentPlugin):
    """Heavy disk reads and writes on the primary (`storm_*` of CNFParams). It runs on the
    instance's persistent volume, which a migration carries along: only isolating the
    instance ends it."""

    ended_by = frozenset({"isolate"})

    def affect(self, effects: Effects, active: Active) -> None:
        """Add the storm's magnitude."""
        effects.storm += active.incident.magnitude

"""A delay on the primary instance's PoP (`004_…` Section 6.2)."""

from __future__ import annotations

from secmas.network.incident import Active, Effects, IncidentPlugin


class NetworkLatency(IncidentPlugin):
    """Adds `delay_ms` × magnitude on the primary's PoP; moving the instance ends it."""

    ended_by = frozenset({"migrate", "isolate"})

    def affect(self, effects: Effects, active: Active) -> None:
        """Add the delay."""
        effects.delay += active.params.delay_ms * active.incident.magnitude

"""A surge of users' load on the CNF (`004_…` Section 6.2)."""

from __future__ import annotations

from secmas.network.incident import Active, Effects, IncidentPlugin


class TrafficSpike(IncidentPlugin):
    """Users' load × the incident's factor (drawn in `spike`, × magnitude); it comes from
    outside the CNF, so no remedy on the instance ends it."""

    def affect(self, effects: Effects, active: Active) -> None:
        """Scale the load by the drawn factor."""
        effects.load *= active.factor

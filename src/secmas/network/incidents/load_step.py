"""Users' load rising in steps (`004_…` Section 6.2)."""

from __future__ import annotations

import math

from secmas.network.incident import Active, Effects, IncidentPlugin


class LoadStep(IncidentPlugin):
    """Users' load rises by `step_gain` × magnitude every `step_every_s` from the start, at
    most `max_steps` times; it comes from outside, so no remedy on the instance ends it."""

    def affect(self, effects: Effects, active: Active) -> None:
        """Scale the load by the steps taken so far."""
        p, incident = active.params, active.incident
        steps = min(p.max_steps, math.floor((active.t - incident.start) / p.step_every_s) + 1)
        effects.load *= 1.0 + p.step_gain * incident.magnitude * steps

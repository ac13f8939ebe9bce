"""A user's CNF incident: a noisy neighbour, a container on the same host taking half the
primary instance's cores (× magnitude) while it runs. Not run inside a real CNF."""

from __future__ import annotations

from secmas.network.incident import Active, Effects, IncidentPlugin


class NoisyNeighbour(IncidentPlugin):
    """Half the instance's cores, × magnitude; moving the instance away ends it."""

    ended_by = frozenset({"migrate", "isolate"})

    def affect(self, effects: Effects, active: Active) -> None:
        effects.hog += 0.5 * active.incident.magnitude * active.cores

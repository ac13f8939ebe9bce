"""The decision engine's choices against what was going on: a confusion matrix.

`002_…` Section II.A has the DE pick the mitigation that fits the anomaly; it was once
found isolating network floods. Over many episodes — each an attack or incident of known
kind and the first goal the DE chose for it (`NO_CHOICE` when it chose nothing) — the
matrix counts every (kind, choice) pair, and `right` is the share of episodes whose
choice fits the kind (`FITS`): a network attack needs a network remedy (the CNF's guard,
or the watched link's rate limit of `003_…` Section 5.1), a hog or a leak inside the CNF
an isolation, a fresh instance or (a hog) more replicas, a slow network a fresh instance
elsewhere. `met_episodes` builds the episodes of a labelled recording as the loop meets
them; a benchmark or a test counts them here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from secmas.analytics.decision import Alert, Mitigation, decide
from secmas.analytics.events import events
from secmas.analytics.persistence import Persistence
from secmas.analytics.scoring import WindowDetector

NO_CHOICE = "none"
"""The choice of an episode the DE took no action on (no alert, or a dismissed one)."""
NETWORK_REMEDIES = frozenset({"cnfGuarded", "linkRateLimited"})
FITS: Mapping[str, frozenset[str]] = {
    "http_flood": NETWORK_REMEDIES,
    "slowloris": NETWORK_REMEDIES,
    "syn_flood": NETWORK_REMEDIES,
    "mixed": NETWORK_REMEDIES,
    "high_cpu": frozenset({"cnfIsolated", "cnfMigrated", "cnfScaledOut"}),
    "high_memory": frozenset({"cnfIsolated", "cnfMigrated"}),
    "network_latency": frozenset({"cnfMigrated"}),
}
"""Per attack or incident kind, the goals that mitigate it."""


def first_choice(mitigations: Sequence[Mitigation]) -> str:
    """The goal the DE put first (what it acts on first), or `NO_CHOICE`."""
    return mitigations[0].goal if mitigations else NO_CHOICE


@dataclass(frozen=True)
class Episode:
    """One attack or incident of `kind` and the DE's first choice for it."""

    kind: str
    choice: str
    severity: tuple[tuple[str, float], ...] = ()
    """The severities of the alert the choice was made on (its explanation; () if none)."""

    def __post_init__(self) -> None:
        if self.kind not in FITS:
            raise ValueError(
                f"episode of unknown kind {self.kind!r}; known: {', '.join(sorted(FITS))}"
            )

    @property
    def fits(self) -> bool:
        """Whether the choice mitigates the kind."""
        return self.choice in FITS[self.kind]


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (kind, choice) over episodes; rows and columns in order of appearance."""

    kinds: tuple[str, ...]
    choices: tuple[str, ...]
    counts: Mapping[tuple[str, str], int]
    right: float
    """Share of the episodes whose choice fits their kind (0 without episodes)."""

    @classmethod
    def of(cls, episodes: Iterable[Episode]) -> ConfusionMatrix:
        listed = list(episodes)
        counts = Counter((e.kind, e.choice) for e in listed)
        kinds = tuple(dict.fromkeys(e.kind for e in listed))
        choices = tuple(dict.fromkeys(e.choice for e in listed))
        right = sum(e.fits for e in listed) / len(listed) if listed else 0.0
        return cls(kinds, choices, dict(counts), right)

    def count(self, kind: str, choice: str) -> int:
        return self.counts.get((kind, choice), 0)

    def table(self) -> str:
        """A Markdown table: a row per kind, a column per choice."""
        lines = [
            "| kind | " + " | ".join(self.choices) + " |",
            "|---|" + "---:|" * len(self.choices),
        ]
        for kind in self.kinds:
            cells = " | ".join(str(self.count(kind, c)) for c in self.choices)
            lines.append(f"| {kind} | {cells} |")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "kinds": list(self.kinds),
            "choices": list(self.choices),
            "counts": {k: {c: self.count(k, c) for c in self.choices} for k in self.kinds},
            "right": self.right,
        }


def met_episodes(
    values: np.ndarray,
    labels: np.ndarray,
    fit: Callable[[np.ndarray], WindowDetector],
    hold: int,
    skip: int = 2,
) -> list[Episode]:
    """Each attack or incident of a labelled recording (`values` in the detector's feature
    order) as a loop that learnt the normal stretch before it meets it (as after its new
    normal, the previous episode's remedies in effect): `fit` on that stretch less its
    first `skip` steps (the previous episode's draining counters), the DE deciding on the
    window at which the alert fires (flags held `hold` windows in a row, `Persistence`)
    inside the episode; `NO_CHOICE` when it never fires there. Kinds not in `FITS` are
    left out."""
    found, before = [], 0
    for event in events(labels):
        detector = fit(values[before + skip : event.start])
        scores = detector.score(values[before : event.stop])
        persistence = Persistence(hold)
        firing = [persistence.observe(bool(flag)) for flag in scores.flags]
        start = event.start - before
        at = next((i for i, on in enumerate(firing) if on and scores.end[i] >= start), None)
        before = event.stop
        if event.label not in FITS:
            continue
        if at is None:
            found.append(Episode(event.label, NO_CHOICE))
            continue
        severity = detector.severity(scores.per_feature[at])
        score, limit = float(scores.score[at]), float(scores.limit[at])
        alert = Alert(0.0, "cnf", "pop", score, limit, (), severity=severity)
        found.append(Episode(event.label, first_choice(decide(alert)), severity))
    return found

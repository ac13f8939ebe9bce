"""Measurement windows: how long each agent went unmeasured during a run.

Between two measurements of an agent nothing looks at it, so code inside it may change
it there and undo the change before the next one. The report therefore gives, per
agent, when it was measured (every attestation the chain settled on it: at bring-up, in
a periodic step, unannounced), the longest and the mean gap between two of those, and
how long it had gone unmeasured when the run ended; and how many unannounced
measurements ran (`secmas.trust.schedule`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from secmas.scenario.model import Attestation
from secmas.trust.chain import RANDOM, ChainEntry


@dataclass(frozen=True)
class Window:
    """One agent's measurements (run seconds) and the gaps between them."""

    times: tuple[float, ...]
    end: float
    """When the run ended (its report was made)."""

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in itertools.pairwise(self.times)]

    def to_json(self) -> dict[str, Any]:
        gaps = self.gaps
        return {
            "times": [round(t, 3) for t in self.times],
            "longest_gap_s": round(max(gaps), 3) if gaps else None,
            "mean_gap_s": round(sum(gaps) / len(gaps), 3) if gaps else None,
            "since_last_s": round(self.end - self.times[-1], 3) if self.times else None,
        }


def windows(entries: Iterable[ChainEntry], agents: Sequence[str], end: float) -> dict[str, Window]:
    """Each of `agents`' measurements among `entries` (those with a run time: the run's
    clock stamps them), up to `end`."""
    times: dict[str, list[float]] = {a: [] for a in agents}
    for entry in entries:
        if entry.time is not None and entry.measured in times:
            times[entry.measured].append(entry.time)
    return {a: Window(tuple(sorted(t)), end) for a, t in times.items()}


def measurement_report(
    entries: Sequence[ChainEntry], agents: Sequence[str], attestation: Attestation, end: float
) -> dict[str, Any]:
    """What report.json says of the measurement windows (its trust section)."""
    random = attestation.random
    each = windows(entries, agents, end)
    gaps = [gap for window in each.values() for gap in window.gaps]
    return {
        "period_s": attestation.period,
        "interval_s": attestation.interval,
        "longest_gap_s": round(max(gaps), 3) if gaps else None,
        "random_mean_interval_s": None if random is None else round(random.mean_seconds, 3),
        "random": sum(e.kind == RANDOM for e in entries),
        "agents": {a: w.to_json() for a, w in each.items()},
    }

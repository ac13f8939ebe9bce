"""Re-baselining a CNF's alarm limit after the loop's own mitigation changed it.

A mitigation changes the CNF for good: a guard in front of it, a limited link, a replica
taking half the load. Its metrics then settle at a new normal the detector never saw, and a
detector trained on the old normal flags every window from then on (an alarm storm, as in
the reference `secmas demo --detect` run before this existed). The
closed loop of `002_…` (Section II.A) must judge the CNF after its own remedy against what
the remedy made normal. `Rebaseline` does this for one CNF, on the detector's scores alone
(any detector, any threshold):

1. `arm(now)` when the Enforcement Service hands a mitigation to an agent; the windows that
   still hold steps from before the mitigation (`skip` of them) are not used;
2. the next `windows` scores are collected (the flags of these windows still come from the
   detector's own limit: they are counted, not hidden);
3. then the new normal is accepted when its median score is at most `cap` × the detector's
   limit — a CNF still under attack scores far higher, and stays flagged (refused) — and
   it is not the attack going on (re-baselining an attack that outlives the mitigation
   must not poison the limit): refused when its median is at least `resemble` × the
   attack's peak (the alert's score and the skipped windows', which hold the attack), or
   when it is still rising (the median of the collection's second half above (1 +
   `margin`) × its first half's: a leak that goes on growing); the raised limit is the
   collected scores' median + `k` · 1.4826 · MAD (the adaptive threshold's rule), at least
   (1 + `margin`) × their median, never below the detector's own limit. Median and MAD,
   not the largest score: the first collected windows may still hold the end of the
   attack, and their scores must not set the limit;
4. from then on a window of this CNF is flagged only above the raised limit, until the
   next mitigation arms it again (which starts over from the detector's own limit).

What it cannot do: a new normal that keeps drifting after the collection, or one whose
scores sit above `cap` × the limit or near the attack's peak, keeps alarming; an attack
that starts again at the new normal's level is missed while it stays under the raised
limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from secmas.analytics.threshold import MAD_TO_SIGMA

__all__ = ["Rebaseline"]


@dataclass
class Rebaseline:
    """The re-baselined alarm limit of one CNF (module docstring)."""

    windows: int = 20
    k: float = 4.0
    margin: float = 0.25
    cap: float = 5.0
    resemble: float = 0.5
    """A collection whose median is this fraction of the attack's peak or more is the
    attack still under way, never a new normal."""
    limit: float = 0.0
    """The raised limit in force (0: none, the detector's own limit alone)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every decision: when, accepted or refused, the collected median and the new limit."""
    _skip: int = 0
    _scores: list[float] = field(default_factory=list)
    _armed: float | None = None
    _peak: float | None = None

    def __post_init__(self) -> None:
        if self.windows < 3:
            raise ValueError(f"re-baselining needs at least 3 windows, got {self.windows}")
        if not (self.margin >= 0 and self.cap > 1):
            raise ValueError(f"margin must be ≥ 0 and cap > 1, got {self.margin}, {self.cap}")
        if not 0 < self.resemble <= 1:
            raise ValueError(f"resemble must be in (0, 1], got {self.resemble}")

    @property
    def collecting(self) -> bool:
        """Whether it is armed and still collecting the new normal's scores."""
        return self._armed is not None

    def arm(self, now: float, skip: int, alert: float | None = None) -> None:
        """A mitigation was enforced at `now` on an alert scoring `alert` (None: not known):
        drop the raised limit, skip the next `skip` windows (they hold steps from before
        it, and the attack's peak), then collect."""
        self._armed, self._skip, self._scores, self.limit = now, skip, [], 0.0
        self._peak = alert

    def observe(self, now: float, score: float, limit: float) -> dict[str, Any] | None:
        """Take one window's score (and the detector's limit for it); the decision, once
        the collection is complete."""
        if self._armed is None:
            return None
        if self._skip > 0:
            self._skip -= 1
            self._peak = max(self._peak or 0.0, score)
            return None
        self._scores.append(score)
        if len(self._scores) < self.windows:
            return None
        collected = np.asarray(self._scores, dtype=np.float64)
        median = float(np.median(collected))
        half = len(collected) // 2
        rising = float(np.median(collected[half:])) > (1 + self.margin) * float(
            np.median(collected[:half])
        )
        attack = self._peak is not None and median >= self.resemble * self._peak
        accepted = median <= self.cap * limit and not attack and not rising
        if accepted:
            spread = MAD_TO_SIGMA * float(np.median(np.abs(collected - median)))
            self.limit = max(limit, median + self.k * spread, (1 + self.margin) * median)
        event = {
            "time": now,
            "mitigated_at": self._armed,
            "windows": len(collected),
            "median_score": median,
            "detector_limit": limit,
            "accepted": accepted,
            "attack_peak": self._peak,
            "refused": None if accepted else _refusal(attack, rising),
            "limit": self.limit if accepted else None,
        }
        self.events.append(event)
        self._armed, self._scores = None, []
        return event

    def flags(self, score: float) -> bool:
        """Whether a window the detector flagged stays flagged under the raised limit."""
        return score > self.limit


def _refusal(attack: bool, rising: bool) -> str:
    """Why a collection was refused, in words."""
    if attack:
        return "the attack still under way"
    return "still rising" if rising else "above cap × the detector's limit"

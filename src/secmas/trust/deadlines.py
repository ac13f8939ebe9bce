"""How long a verifier waits for evidence, on which clock, and how old evidence may be.

`000_…` wants attestation that does not impede near-real-time work and does not fail an
agent because its host is busy. Two regimes:

- On the virtual clock (`run_clock`), freshness is judged in the run's simulated
  seconds and a handler's wall time is never a deadline: the attester measures in work
  the clock waits for (`run_blocking`), so a slow machine cannot make evidence stale or a
  challenge time out, and a run gives the same verdicts for the same seed however loaded
  the machine is. A challenge nobody answers still fails (the wait for the answer keeps
  its bound once the attester has handled the challenge), as do a replayed or an
  unknown nonce.
- In real time (`measured`), each attester's wait is derived from the round trips
  measured so far, as TCP derives its retransmission timeout (RFC 6298: SRTT + 4·RTTVAR,
  α = 1/8, β = 1/4), never below the scenario's declared `challenge_timeout`: a host that
  answers slowly because it is busy gets a longer wait; one that never answers still
  fails once every try has passed.

A service asked once per attestation period (the host's measurer) gets the measured wait
too, but never longer than that period (`Deadlines.bounded`): one that has not answered
by then is not answering (stopped, hung), which is noticed within the period, and the
next check is due anyway. How long a member that reports periodically (a heartbeat) may
stay silent is `silence_window`, from the same estimator over its reports' lateness.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

ALPHA = 1 / 8
"""RFC 6298 (2.3): weight of a new sample in the smoothed round trip."""
BETA = 1 / 4
"""RFC 6298 (2.3): weight of a new sample's deviation in the round-trip variance."""
K = 4
"""RFC 6298 (2.2): deviations added to the smoothed round trip."""

HANDLING_CAP = 600.0
"""Wall seconds an in-process attester may take to handle a challenge on the virtual
clock: a guard against a hung handler, far beyond any load, never a verdict's cause."""


@dataclass
class RoundTrips:
    """Per-attester smoothed round trip and its variance (RFC 6298 Section 2)."""

    srtt: dict[str, float] = field(default_factory=dict)
    rttvar: dict[str, float] = field(default_factory=dict)

    def observe(self, attester: str, seconds: float) -> None:
        """Fold one measured challenge → evidence round trip in (RFC 6298 2.2, 2.3)."""
        if attester not in self.srtt:
            self.srtt[attester] = seconds
            self.rttvar[attester] = seconds / 2
            return
        srtt = self.srtt[attester]
        self.rttvar[attester] = (1 - BETA) * self.rttvar[attester] + BETA * abs(srtt - seconds)
        self.srtt[attester] = (1 - ALPHA) * srtt + ALPHA * seconds

    def timeout(self, attester: str) -> float | None:
        """SRTT + K·RTTVAR for `attester`; None before its first answer."""
        if attester not in self.srtt:
            return None
        return self.srtt[attester] + K * self.rttvar[attester]


@dataclass
class Deadlines:
    """A verifier's waits and freshness clock (see the module docstring)."""

    declared: float
    """The scenario's `challenge_timeout`: the shortest wait for an answer."""
    clock: Callable[[], float] = time.monotonic
    """What freshness is judged on: the run's clock, or wall time."""
    handling: float | None = None
    """Wall seconds the attester may take to handle a challenge before it acknowledges;
    None: the answer's own wait."""
    trips: RoundTrips | None = None
    """Measured round trips that lengthen the wait, in real time; None keeps it fixed."""
    answers: list[float] = field(default_factory=list)
    """Every challenge → evidence round trip, in wall seconds (for the report)."""
    longest: float | None = None
    """The longest wait (one attestation period), and the wait before the first answer;
    None: no bound beyond the measured round trips."""

    def wait(self, attester: str) -> float:
        """How long to wait for `attester`'s evidence on the first try."""
        measured = None if self.trips is None else self.trips.timeout(attester)
        if self.longest is None:
            return self.declared if measured is None else max(self.declared, measured)
        longest = max(self.declared, self.longest)
        return longest if measured is None else min(longest, max(self.declared, measured))

    def answered(self, attester: str, seconds: float) -> None:
        """Record a round trip that brought evidence back."""
        self.answers.append(seconds)
        if self.trips is not None:
            self.trips.observe(attester, seconds)

    @classmethod
    def run_clock(cls, declared: float, now: Callable[[], float]) -> Deadlines:
        """On the virtual clock: freshness in simulated seconds, handling not bounded by
        wall time (up to `HANDLING_CAP`)."""
        return cls(declared, now, HANDLING_CAP)

    @classmethod
    def measured(cls, declared: float) -> Deadlines:
        """In real time: waits from measured round trips, never below `declared`."""
        return cls(declared, time.monotonic, None, RoundTrips())

    @classmethod
    def bounded(cls, declared: float = 5.0, period: float = 10.0) -> Deadlines:
        """In wall time, for a service asked once per attestation `period` (the host
        measurer, which measures in real time whatever the run's clock): the whole period
        before its first answer, then SRTT + 4·RTTVAR of its round trips, never below
        `declared` nor beyond the period. The defaults are the scenario's
        (`challenge_timeout`, attestation `period`)."""
        return cls(declared, time.monotonic, None, RoundTrips(), longest=period)


def silence_window(period: float, lateness: float | None, longest: float) -> float:
    """How long a member that reports every `period` seconds may stay silent before it
    is taken for stopped: one period, plus a margin of another (one report may be lost or
    late) or, when longer, SRTT + 4·RTTVAR of how late its reports came so far (RFC 6298
    over lateness instead of round trips: a member on a loaded host gets a longer margin),
    up to `longest` (one attestation period)."""
    return period + max(period, min(lateness or 0.0, longest))


def round_trip_summary(answers: list[float]) -> dict[str, float | int | None]:
    """Count, median, 99th percentile (nearest rank) and maximum of challenge round trips,
    in wall milliseconds; the percentiles are None without any."""
    ordered = sorted(answers)
    if not ordered:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000, 3)

    return {
        "count": len(ordered),
        "p50_ms": rank(0.5),
        "p99_ms": rank(0.99),
        "max_ms": round(ordered[-1] * 1000, 3),
    }

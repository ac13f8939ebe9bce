"""How the legitimate traffic of a recording varies, so that a detector's false-alarm rate
is measured on normal behaviour that is not flat.

A steady workload (every client at its mean rate all the time) makes every threshold look
good: held-out normal then never moves. Real services see four things a detector must not
alarm on, and a `TrafficProfile` adds each to the real clients (`clients.py`):

- a daily cycle, compressed: every client's rate × (1 + swing · sin(2π t / day));
- bursty clients: each HTTP client alternates ON and OFF periods (exponentially
  distributed, a two-state Markov-modulated process), requesting `burst_factor` × its
  mean rate while ON and less while OFF, so that its mean rate is unchanged;
- cache misses: every `cold_every_s` on average, one client group fetches `cold_count`
  large objects whose pages were just dropped from the page cache, so nginx reads them
  from disk (I/O, bytes out and request time jump together);
- restarts of the CNF (the recorder's `restart_after`, not a client's doing).

Pure: the intensities are functions of time and a random generator; the clients do the
requesting.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

COLD_SIZE = 400_000
"""Bytes of each cold object (a cache miss reads it from disk)."""


@dataclass(frozen=True, slots=True)
class TrafficProfile:
    """The variations of normal traffic (module docstring); the defaults are `realistic`'s."""

    day_s: float = 2400.0
    """Length of the compressed day (s); 0: no daily cycle."""
    swing: float = 0.45
    """Amplitude of the daily cycle, a share of the mean rate (0 ≤ swing < 1)."""
    burst_on_s: float = 6.0
    """Mean ON period of a bursty HTTP client (s); 0: steady clients."""
    burst_off_s: float = 30.0
    """Mean OFF period (s)."""
    burst_factor: float = 3.0
    """Rate while ON, × the client's mean rate."""
    cold_every_s: float = 180.0
    """Mean seconds between cache-miss spikes; 0: none."""
    cold_count: int = 5
    """Cold objects fetched in one spike."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.swing < 1.0:
            raise ValueError(f"swing {self.swing}: needs 0 ≤ swing < 1")
        if min(self.day_s, self.burst_on_s, self.burst_off_s, self.cold_every_s) < 0:
            raise ValueError("periods must not be negative")
        if self.burst_factor < 1.0 or self.on_share * self.burst_factor > 1.0:
            raise ValueError(
                f"burst factor {self.burst_factor} with an ON share of {self.on_share:.2f}: "
                "the OFF rate would be negative (needs 1 ≤ factor ≤ 1 / ON share)"
            )
        if self.cold_count < 0:
            raise ValueError("cold_count must not be negative")

    @property
    def on_share(self) -> float:
        """Long-run share of time a bursty client is ON."""
        total = self.burst_on_s + self.burst_off_s
        return self.burst_on_s / total if self.burst_on_s > 0 and total > 0 else 0.0

    @property
    def off_factor(self) -> float:
        """Rate while OFF, × the mean: what keeps the mean rate at 1 (pure)."""
        share = self.on_share
        return 1.0 if share == 0 else (1.0 - share * self.burst_factor) / (1.0 - share)

    def day(self, seconds: float) -> float:
        """The daily cycle's factor `seconds` after the day's origin (pure)."""
        if self.day_s <= 0:
            return 1.0
        return 1.0 + self.swing * math.sin(2.0 * math.pi * seconds / self.day_s)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrafficProfile:
        return cls(**data)


def cold_sizes(profile: TrafficProfile | None) -> set[int]:
    """The sizes of the cold objects a profile's cache misses fetch (distinct files)."""
    if profile is None or profile.cold_every_s <= 0:
        return set()
    return {COLD_SIZE + index for index in range(profile.cold_count)}


class Bursts:
    """One bursty client's ON/OFF state over time (pure but for its generator)."""

    def __init__(self, profile: TrafficProfile, rng: random.Random, now: float) -> None:
        self.profile = profile
        self.rng = rng
        self.on = rng.random() < profile.on_share
        self.until = now + self._period()

    def _period(self) -> float:
        mean = self.profile.burst_on_s if self.on else self.profile.burst_off_s
        return self.rng.expovariate(1.0 / mean) if mean > 0 else math.inf

    def factor(self, now: float) -> float:
        """The client's rate factor at `now` (the state moves on as time passes)."""
        if self.profile.burst_on_s <= 0:
            return 1.0
        while now >= self.until:
            self.on = not self.on
            self.until += self._period()
        return self.profile.burst_factor if self.on else self.profile.off_factor


def requests_now(expected: float, rng: random.Random) -> int:
    """How many requests to send this step when `expected` are due on average: the whole
    part, and one more with the fraction's probability (pure but for `rng`, which is not
    drawn from when nothing is left to chance: a steady video client)."""
    whole = math.floor(expected)
    fraction = expected - whole
    return whole + (1 if fraction > 0 and rng.random() < fraction else 0)

"""When the MLFO has agents measured: the periodic steps and unannounced ones between them.

Mutual attestation runs one step every `period` seconds along the plan (`001_…` Section
3.B). The period is in the scenario, so code inside an agent knows when the next step is
and can patch the agent right after one measurement and undo it before the next: it is
never seen. On top of the periodic steps the MLFO therefore has SECaaS measure an agent
chosen at random, at the arrivals of a Poisson process of the scenario's rate
(`security.attestation.random`). A Poisson process is memoryless: however many
checks an agent has watched go by (their challenges cross the bus), the time to the next
one is still exponential with the same mean, so no moment is safe, and a patch that stays
`d` seconds is missed by every check with probability exp(−rate·d / agents) only.

Unpredictable to the agents, deterministic for a seed. Times and choices come from a
stream of draws only the holder of a key can compute (HMAC-SHA256 of a counter, a
pseudorandom function: seeing earlier draws tells nothing of later ones), the key derived
from the run's seed and a per-run secret that only the MLFO holds (`run_secret`):
- in real time (the emulated engine, agents as processes) the secret comes from
  `os.urandom` in the MLFO's process and never leaves it: nothing an agent sees, the
  scenario and its seed included, lets it compute the schedule;
- on the virtual clock the secret is derived from the seed, so that a run is the same
  for the same seed on an idle machine and a loaded one (identical journals).
  That is the trade-off: there the schedule follows from the seed, and code that knows
  the seed and this derivation could compute it. A simulation is not a place an adversary
  lives, though (every agent shares the MLFO's process and memory); its implants are the
  tests', which know the period as the scenario gives it and nothing more.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from secmas.scenario.model import Attestation

DOMAIN = b"secmas/unannounced-measurements/v1"
"""Separates this use of the seed and the secret from every other one."""


def run_secret(seed: int, simulated: bool) -> bytes:
    """The MLFO's per-run secret: from `os.urandom` in real time, from the run's `seed`
    on the virtual clock (reproducible runs; the module docstring gives the trade-off)."""
    if not simulated:
        return os.urandom(32)
    return hashlib.sha256(DOMAIN + b"/simulation/" + seed.to_bytes(8, "big")).digest()


@dataclass
class Draws:
    """Uniform draws in [0, 1): HMAC-SHA256 under `key` of a counter, 53 bits each."""

    key: bytes = field(repr=False)
    count: int = 0

    @classmethod
    def of(cls, secret: bytes, pipeline: str, seed: int) -> Draws:
        """The stream of one pipeline's run: keyed by the secret, the pipeline and the seed."""
        label = DOMAIN + f"/{pipeline}/{seed}".encode()
        return cls(hmac.new(secret, label, hashlib.sha256).digest())

    def uniform(self) -> float:
        mac = hmac.new(self.key, self.count.to_bytes(8, "big"), hashlib.sha256).digest()
        self.count += 1
        return (int.from_bytes(mac[:8], "big") >> 11) / 2.0**53


@dataclass(frozen=True)
class Due:
    """The next measurement: at `at` run seconds, the periodic step of attestation group
    `group` (`draw` None) or an unannounced check of the agent `draw` picks among those
    trusted then."""

    at: float
    draw: float | None = None
    group: int = 0

    @property
    def unannounced(self) -> bool:
        return self.draw is not None

    def pick(self, candidates: Sequence[str]) -> str:
        """The agent an unannounced check measures, each of `candidates` equally likely."""
        if self.draw is None or not candidates:
            raise ValueError("a periodic step, or nobody to pick from")
        return candidates[min(int(self.draw * len(candidates)), len(candidates) - 1)]


@dataclass
class Timetable:
    """The periodic steps of one attestation group (`period` seconds after the previous
    one ended, as before; with `on_grid`, every `period` seconds from the first, at once
    when a step overran, so that the time steps take does not stretch the interval the
    groups were sized for) and the unannounced checks (Poisson arrivals of `rate` per
    second, none when None), in the order they fall due; one runs at a time, a check due
    during a step right after."""

    period: float
    rate: float | None
    draws: Draws
    periodic_at: float
    unannounced: Due = Due(math.inf)
    group: int = 0
    on_grid: bool = False

    def __post_init__(self) -> None:
        self._arrival(self.periodic_at - self.period)

    @classmethod
    def for_run(
        cls,
        attestation: Attestation,
        pipeline: str,
        seed: int,
        simulated: bool,
        now: float = 0.0,
        group: tuple[int, int] = (0, 1),
    ) -> Timetable:
        """The timetable of group `group[0]` of `group[1]` in one pipeline's run whose
        operation starts at `now`, its draws keyed by `run_secret`. The first group's
        carries the pipeline's unannounced checks; the groups' first steps are spread
        over the first period (the last group's one period on, as with one group), so
        that they do not all fall due at once and none waits longer than a period."""
        index, groups = group
        random = attestation.random
        return cls(
            attestation.period,
            None if random is None or index > 0 else random.per_second,
            Draws.of(run_secret(seed, simulated), pipeline, seed),
            now + attestation.period * (index + 1) / groups,
            group=index,
            on_grid=attestation.interval is not None,
        )

    def _arrival(self, after: float) -> None:
        """The Poisson process's next arrival after `after` (an exponential gap) and the
        draw that picks whom it measures; never when the rate is None."""
        if self.rate is None:
            return
        gap = -math.log1p(-self.draws.uniform()) / self.rate
        self.unannounced = Due(after + gap, self.draws.uniform())

    def next(self) -> Due:
        """What falls due first (the periodic step on a tie)."""
        if self.unannounced.at < self.periodic_at:
            return self.unannounced
        return Due(self.periodic_at, group=self.group)

    def done(self, due: Due, now: float) -> None:
        """`due` ran and ended at `now`: the next periodic step one period later (on the
        grid: one period after `due` was due, or now if that has passed), or the next
        arrival of the Poisson process (its arrivals do not wait for the checks)."""
        if due.unannounced:
            self._arrival(due.at)
        elif self.on_grid:
            self.periodic_at = max(due.at + self.period, now)
        else:
            self.periodic_at = now + self.period

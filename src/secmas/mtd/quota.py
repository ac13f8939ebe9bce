"""MTD quota from an availability SLA (004_… Section 2.2).

"To conform to service level agreements (SLA) of the service provided, e.g. an agreed minimal
service availability of 99.95%, a budget (i.e. quota) of MTD operations for each CNF is
calculated and defined." With availability A over a window of W seconds, the CNF may be down

    budget = (1 − A) · W − already_used    seconds,

and with an expected downtime d per migration its quota is

    quota = floor(budget / d)    migrations.

99.95 % over 30 days: budget = 0.0005 · 2 592 000 s = 1 296 s; at 2 s per migration, 648.
The arithmetic is exact for decimal inputs (floats are read as the decimals they print as), so
a budget that is an exact multiple of d is not lost to rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction


def _exact(value: float) -> Fraction:
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return Fraction(repr(float(value)))


def _budget(availability: float, window_s: float, used_s: float) -> Fraction:
    if not 0.0 <= availability <= 1.0:
        raise ValueError(f"availability must be in [0, 1], got {availability!r}")
    if window_s < 0 or used_s < 0:
        raise ValueError("window and used downtime must be ≥ 0")
    budget = (1 - _exact(availability)) * _exact(window_s) - _exact(used_s)
    return max(budget, Fraction(0))


def downtime_budget(availability: float, window_s: float, used_s: float = 0.0) -> float:
    """Seconds of downtime the SLA still allows in the window."""
    return float(_budget(availability, window_s, used_s))


def mtd_quota(
    availability: float, window_s: float, downtime_per_migration_s: float, used_s: float = 0.0
) -> int:
    """How many migrations of `downtime_per_migration_s` each the budget allows."""
    return _count(_budget(availability, window_s, used_s), downtime_per_migration_s)


def migrations_within(budget_s: float, downtime_per_migration_s: float) -> int:
    """floor(budget / downtime per migration): moves a downtime budget allows."""
    if budget_s < 0:
        raise ValueError(f"budget must be ≥ 0, got {budget_s!r}")
    return _count(_exact(budget_s), downtime_per_migration_s)


def _count(budget: Fraction, downtime_per_migration_s: float) -> int:
    if not downtime_per_migration_s > 0:
        raise ValueError(f"downtime per migration must be > 0, got {downtime_per_migration_s!r}")
    return math.floor(budget / _exact(downtime_per_migration_s))


@dataclass(frozen=True)
class Quota:
    """A CNF's MTD quota over one SLA window."""

    availability: float
    window_s: float
    budget_s: float
    downtime_per_migration_s: float
    migrations: int

    @classmethod
    def of(
        cls,
        availability: float,
        window_s: float,
        downtime_per_migration_s: float,
        used_s: float = 0.0,
    ) -> Quota:
        return cls(
            availability=availability,
            window_s=window_s,
            budget_s=downtime_budget(availability, window_s, used_s),
            downtime_per_migration_s=downtime_per_migration_s,
            migrations=mtd_quota(availability, window_s, downtime_per_migration_s, used_s),
        )

"""When within a decision step a move starts: where the CNF's predicted traffic is lowest
(004_… Section 4.2, workload prediction for scheduling: forecasts "guide placement and
migration strategies"; a live migration competes with the CNF's own traffic for the
path and repairs one TCP socket per open connection, `secmas.mtd.migration`, so a quiet
moment costs less downtime and disturbs fewer clients).

The forecast comes in as plain data: predicted traffic (MB/s) per data-plane step from
now on. `quietest_start` picks the start in [earliest, latest] whose migration window
[start, start + duration] has the lowest mean predicted traffic; ties go to the earliest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class LoadForecast(Protocol):
    """Predicted traffic of a CNF (MB/s per step from the next step on) from its data-plane
    samples so far ([steps, metrics])."""

    def __call__(self, cnf: str, series: np.ndarray) -> Sequence[float] | np.ndarray: ...


def quietest_start(
    predicted: Sequence[float] | np.ndarray,
    step_s: float,
    *,
    earliest: float,
    latest: float,
    duration: float,
) -> float:
    """Seconds from now to start a migration of `duration` seconds, between `earliest` and
    `latest`, where the mean of `predicted` (one value per `step_s` from now) over the
    migration is lowest. Beyond the forecast the last predicted value holds."""
    if step_s <= 0 or latest < earliest or duration < 0:
        raise ValueError("need step_s > 0, latest ≥ earliest and duration ≥ 0")
    values = np.asarray(predicted, dtype=float)
    if values.ndim != 1 or len(values) == 0 or not np.all(np.isfinite(values)):
        raise ValueError("the forecast must be a non-empty series of finite numbers")
    span = max(1, int(np.ceil(duration / step_s)))
    first = int(np.ceil(earliest / step_s - 1e-9))
    last = int(np.floor(latest / step_s + 1e-9))
    if last < first:
        return earliest
    needed = last + span
    padded = np.concatenate([values, np.full(max(0, needed - len(values)), values[-1])])
    means = [padded[i : i + span].mean() for i in range(first, last + 1)]
    best = first + int(np.argmin(means))
    return float(best * step_s)

"""Stale and frozen samples: telemetry that repeats instead of measuring.

Prometheus answers a query at time t with the newest sample of each series up to five
minutes old (its lookback delta), so when scrapes fail or fall behind a range query
repeats the last value at every step, and a detector trained or scored on it sees a
monitoring gap, not the CNF. Two checks, both pure:

* a row is *stale* when its samples come from no newer scrape than the row before
  (`stale_rows`, from the scrape times PromQL's `timestamp()` gives each step);
* an exporter that keeps serving the same numbers gets fresh timestamps, so the values
  are checked too: a *frozen run* is `FROZEN_ROWS` or more consecutive rows identical
  in every metric (`frozen_runs`), which live counters such as CPU seconds and bytes
  sent do not produce. `check_not_frozen` is that test as a loader's check
  (`csvdata.read_recording` applies it to every recording of the CNF).

A recording's first steps, before Prometheus holds the two scrapes a rate needs, are
copies of its first values (`cnftelemetry.align` fills them in): `start_fill` counts
those the recorder drops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FROZEN_ROWS = 8
"""Identical rows in a row that make a frozen run: 4 s at the recordings' 0.5 s step in
which not one of the CNF's fourteen metrics changed."""


class FrozenRecordingError(ValueError):
    """A recording holds a frozen run: a monitoring gap, not the CNF's behaviour."""


@dataclass(frozen=True)
class FrozenRun:
    """Rows [start, stop) of a series that repeat one row (0-based, after any header)."""

    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start

    def describe(self, times: Sequence[str] | None = None) -> str:
        """The rows in words, with their first and last `times` (one per row) if given."""
        span = "" if times is None else f", time {times[self.start]} to {times[self.stop - 1]}"
        return f"rows {self.start}–{self.stop - 1} ({self.rows} identical{span})"


def stale_rows(scrapes: np.ndarray) -> np.ndarray:
    """Per row, whether its sample comes from no newer scrape than the row before's
    (`scrapes`: the scrape time, Unix s, of each row's sample) [T] → bool [T]."""
    times = np.asarray(scrapes, dtype=float)
    if times.ndim != 1:
        raise ValueError(f"expected one scrape time per row, got shape {times.shape}")
    stale = np.zeros(times.shape, dtype=bool)
    stale[1:] = times[1:] <= times[:-1]
    return stale


def frozen_runs(values: np.ndarray, min_rows: int = FROZEN_ROWS) -> list[FrozenRun]:
    """The maximal runs of at least `min_rows` consecutive identical rows of [T, F]."""
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"expected a series [rows, metrics], got shape {array.shape}")
    if min_rows < 2:
        raise ValueError(f"a frozen run needs at least 2 rows, got {min_rows}")
    changed = np.flatnonzero(np.any(array[1:] != array[:-1], axis=1)) + 1
    starts = np.concatenate(([0], changed))
    stops = np.concatenate((changed, [len(array)]))
    return [
        FrozenRun(int(a), int(b))
        for a, b in zip(starts, stops, strict=True)
        if len(array) and b - a >= min_rows
    ]


def start_fill(values: np.ndarray) -> int:
    """Leading rows of [T, F] to drop: all but the last of a first run of identical rows,
    the copies of the first value `cnftelemetry.align` fills in before Prometheus holds
    the two scrapes a rate needs (0 when the first two rows differ)."""
    array = np.asarray(values)
    changed = np.flatnonzero(np.any(array[1:] != array[:-1], axis=1))
    return int(changed[0]) if changed.size else max(len(array) - 1, 0)


def check_not_frozen(
    values: np.ndarray,
    where: str,
    min_rows: int = FROZEN_ROWS,
    times: Sequence[str] | None = None,
) -> None:
    """FrozenRecordingError naming `where` (e.g. the file) and its frozen runs, if any:
    rows counted from 0 after the header, with their `times` (one per row) if given."""
    runs = frozen_runs(values, min_rows)
    if runs:
        listed = "; ".join(run.describe(times) for run in runs)
        frozen = sum(run.rows for run in runs)
        raise FrozenRecordingError(
            f"{where}: {frozen} rows sit in runs identical in every metric ({listed}): "
            f"a monitoring gap (stale scrapes), not the CNF; record it again"
        )

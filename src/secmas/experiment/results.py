"""The sweep's CSV (one row per run, appended as runs finish) and its aggregation: mean,
sample standard deviation and the 95 % confidence interval of the mean (Student's t with
n − 1 degrees of freedom) per group.

A sweep killed while writing leaves a half-written last line; reading repairs the file by
cutting it off, so that run is simply run again on `--resume`.
"""

from __future__ import annotations

import csv
import io
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scipy import stats

CONFIDENCE = 0.95


class ResultsError(Exception):
    """A results file that does not belong to this sweep or cannot be read."""


def cell(value: Any) -> str:
    """A value as CSV text: None empty, booleans true/false, floats to 10 digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, ".10g")
    return " ".join(str(value).split())  # one line: errors may hold newlines


def number(text: str) -> float | None:
    """A CSV cell as a number (true/false as 1/0), None when empty or not a number."""
    if text in ("true", "false"):
        return 1.0 if text == "true" else 0.0
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_rows(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    """The rows of a results file ([] when it does not exist), after cutting off a
    half-written last line; ResultsError when its header is not `columns`."""
    if not path.exists():
        return []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from None
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with path.open("r+b") as file:
            file.truncate(len(data))
    if not data:
        return []
    reader = csv.DictReader(io.StringIO(data.decode("utf-8", errors="replace")))
    if tuple(reader.fieldnames or ()) != tuple(columns):
        raise ResultsError(f"{path} has other columns than this sweep writes")
    return list(reader)


def append_row(path: Path, columns: Sequence[str], row: Mapping[str, Any]) -> None:
    """Append one run's row (with the header first in a new file), flushed to disk."""
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        if new:
            writer.writerow(columns)
        writer.writerow([cell(row.get(column)) for column in columns])
        file.flush()
        os.fsync(file.fileno())


@dataclass(frozen=True)
class Stat:
    """Mean of one measure over one group of runs, with its 95 % confidence interval
    (None where fewer than two values)."""

    group: tuple[str, ...]
    measure: str
    n: int
    mean: float
    std: float | None
    low: float | None
    high: float | None


def confidence(values: Sequence[float]) -> tuple[float, float | None, float | None]:
    """Mean, sample standard deviation and the half-width of the two-sided 95 % interval
    of the mean, t-distributed with n − 1 degrees of freedom."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None, None
    std = statistics.stdev(values)
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1)) * std / math.sqrt(len(values))
    return mean, std, half


def aggregate(rows: Iterable[Mapping[str, str]], by: Sequence[str], measure: str) -> list[Stat]:
    """The measure's statistics per group of successful runs (rows without an error and
    with a value), groups in the order they first appear."""
    groups: dict[tuple[str, ...], list[float]] = {}
    for row in rows:
        if row.get("error"):
            continue
        value = number(row.get(measure, ""))
        if value is not None:
            groups.setdefault(tuple(row[c] for c in by), []).append(value)
    found = []
    for group, values in groups.items():
        mean, std, half = confidence(values)
        low, high = (None, None) if half is None else (mean - half, mean + half)
        found.append(Stat(group, measure, len(values), mean, std, low, high))
    return found


def write_summary(
    path: Path, rows: Sequence[Mapping[str, str]], by: Sequence[str], measures: Sequence[str]
) -> Path:
    """Every measure's statistics per grid point (scenario and parameters) as CSV."""
    header = [*by, "measure", "n", "mean", "std", "ci95_low", "ci95_high"]
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        for measure in measures:
            for stat in aggregate(rows, by, measure):
                writer.writerow(
                    [*stat.group, measure, stat.n]
                    + [cell(x) for x in (stat.mean, stat.std, stat.low, stat.high)]
                )
    return path

"""Metric series from users' CSV exports, and detector scores back to CSV.

The metrics collector of `002_…` (Section IV) extracts the monitored metrics "as time series
in CSV files" for training and testing the detector. `read_series` reads such a file: a
header row naming the columns, then one row per time step with one column per metric and,
optionally, a timestamp column — named `timestamp`, `time`, `t`, `ts`, `date`, `datetime` or
`epoch` (any case), holding ISO 8601 times or epoch seconds, or else a first column of ISO
8601 times. Commas separate the cells (semicolons or tabs when the header has no comma).

A column named like ground truth — `label`, `labels`, `is_anomaly`, `anomaly`, `attack`,
`ground_truth` (any case; `LABEL_COLUMNS`) — is not a metric: its cells are kept as text in
`CSVSeries.labels` (e.g. the `label` column `secmas detect dataset --labels` writes, with
"normal" or the condition's name), so that a labelled test set can be scored and evaluated.
`label_like_columns` names the metric columns that still look like labels (named so, or
holding nothing but 0 and 1); `detect fit` refuses to train on them unless told to.
`constant_columns` names the columns that hold one value throughout, which `detect fit`
refuses always: there is nothing to learn from them.

Every problem is a `CSVDataError` naming the file, the line and the column, e.g.
`metrics.csv:17: column 'cpu' is empty`.

Rows must come in time order: a row earlier than the one before is refused, since a
detector reads the rows as consecutive steps. Public series break that rule for reasons of
their own — a local clock that repeats an hour when daylight saving time ends, rows
exported by another key than time — so `read_series_in_order` can be told what to do
instead (`TIME_ORDERS`, `secmas.analytics.options`): `sort` the rows by time (rows of one
time keep their file order), or `drop-duplicates`, which sorts them too and keeps only the
first row of each time (a repeated hour is then read once, as the clock first showed it).
It says what it did (`Reordering`: rows moved, rows dropped), for the command line to tell.

Recordings of the real CNF (`secmas detect dataset --dataplane emulated`) are read with
`read_recording`, which also refuses a frozen run (`freshness`): rows that repeat one
Prometheus scrape are a monitoring gap, and a detector must not learn or be scored on
them. A long recording of the CNF's normal behaviour (over 40 minutes at the 0.5 s
scrape interval: more than the 2,361 samples `002_…` trains on) ships with the package:
`shipped_normal_recording`.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from secmas.analytics.freshness import FrozenRecordingError, check_not_frozen
from secmas.analytics.options import TimeOrder

if TYPE_CHECKING:  # the scores' type only: reading CSV files needs no torch
    from secmas.analytics.scoring import Scores

__all__ = [
    "LABEL_COLUMNS",
    "TIME_COLUMNS",
    "CSVDataError",
    "CSVSeries",
    "Reordering",
    "check_rows",
    "constant_columns",
    "label_like_columns",
    "read_recording",
    "read_series",
    "read_series_in_order",
    "shipped_normal_recording",
    "timestamp_seconds",
    "write_scores",
]

TIME_COLUMNS = frozenset({"timestamp", "time", "t", "ts", "date", "datetime", "epoch"})
"""Column names (compared in lower case) that mark the timestamp column."""
LABEL_COLUMNS = frozenset({"label", "labels", "is_anomaly", "anomaly", "attack", "ground_truth"})
"""Column names (compared in lower case) that hold ground truth, read as text."""
LABEL_WORDS = frozenset(
    {"label", "labels", "anomaly", "anomalous", "attack", "attacks", "outlier", "truth", "target"}
)
"""Words that make a metric column's name look like ground truth (`label_like_columns`)."""
SHIPPED_NORMAL = "cnf-emulated-normal.csv"
"""The normal recording of the emulated CNF in the package's data."""


class CSVDataError(ValueError):
    """A CSV file that cannot be read as a metric series; the message names file and line."""


@dataclass(frozen=True)
class Reordering:
    """What `read_series_in_order` did to put a file's rows in time order: the rule, the
    rows it read, how many of the rows kept it moved from their place in the file, and how
    many it dropped as repeating a time already read."""

    rule: TimeOrder
    rows: int
    moved: int
    dropped: int

    @property
    def sentence(self) -> str:
        """What was done, in words, for a person."""
        if not self.moved and not self.dropped:
            return f"--timestamps {self.rule}: the {self.rows} rows were in time order already"
        return (
            f"--timestamps {self.rule}: of {self.rows} rows, {self.moved} moved into time "
            f"order and {self.dropped} dropped as repeating a time already read"
        )

    def to_json(self) -> dict[str, object]:
        return {"rule": self.rule, "rows": self.rows, "moved": self.moved, "dropped": self.dropped}


class CSVSeries(NamedTuple):
    """A metric series read from CSV: column names, values [T, F], the timestamps' text and
    the text of each ground-truth column (`LABEL_COLUMNS`) by name."""

    features: tuple[str, ...]
    values: np.ndarray
    timestamps: tuple[str, ...] | None
    labels: Mapping[str, tuple[str, ...]] = MappingProxyType({})

    @property
    def seconds(self) -> np.ndarray | None:
        """The timestamps as seconds since the epoch (UTC when a time has no zone)."""
        if self.timestamps is None:
            return None
        return np.array([timestamp_seconds(t) for t in self.timestamps], dtype=np.float64)

    def columns(self, names: Sequence[str]) -> np.ndarray:
        """The values [T, len(names)] of these metrics, in this order; CSVDataError naming
        the ones the file has no column for."""
        missing = [name for name in names if name not in self.features]
        if missing:
            raise CSVDataError(f"no column {', '.join(missing)}")
        return self.values[:, [self.features.index(name) for name in names]]

    def truth(self) -> np.ndarray | None:
        """Per step, the first ground-truth column's label with "0" and "normal" (any case)
        as "normal" and any other number as "anomaly"; None without such a column."""
        if not self.labels:
            return None
        cells = next(iter(self.labels.values()))
        return np.array([_truth(cell) for cell in cells], dtype=object)

    def label_column(self, name: str) -> np.ndarray:
        """A ground-truth column as numbers, to train on it when asked (CSVDataError)."""
        cells = self.labels[name]
        for index, cell in enumerate(cells):
            if not _is_number(cell) or not math.isfinite(float(cell)):
                raise CSVDataError(f"column {name!r}, row {index + 1}: {cell!r} is not a number")
        return np.array([float(cell) for cell in cells], dtype=np.float64)


def _truth(cell: str) -> str:
    text = cell.strip()
    if text.lower() == "normal" or (_is_number(text) and float(text) == 0):
        return "normal"
    return "anomaly" if _is_number(text) else text


def label_like_columns(series: CSVSeries) -> list[str]:
    """Metric columns that look like ground truth: a name with a `LABEL_WORDS` word
    (e.g. `is_attack`, `Anomaly_Label`), or both 0 and 1 and nothing else."""
    found = []
    for index, name in enumerate(series.features):
        words = set(re.split(r"[^a-z0-9]+", name.lower()))
        column = series.values[:, index]
        binary = bool(np.isin(column, (0.0, 1.0)).all()) and np.unique(column).size == 2
        if words & LABEL_WORDS or binary:
            found.append(name)
    return found


def constant_columns(values: np.ndarray, names: Sequence[str]) -> list[tuple[str, float]]:
    """The columns of `values` [T, F] that hold one value in every row, each with that
    value: a detector learns nothing from them, and when every column it trains on is one
    of them its threshold is 0 and it flags every window it meets afterwards."""
    same = np.all(values == values[:1], axis=0)
    return [(names[i], float(values[0, i])) for i in np.flatnonzero(same)]


def timestamp_seconds(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 time (UTC if zoneless) or an epoch number.

    Raises ValueError for anything else.
    """
    value = text.strip()
    try:
        number = float(value)
    except ValueError:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a time")
    return number


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_iso_time(text: str) -> bool:
    if _is_number(text):
        return False
    try:
        timestamp_seconds(text)
    except ValueError:
        return False
    return True


def _open_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """The file's non-blank rows with their line numbers (a `.gz` file decompressed:
    recordings of hours are committed compressed)."""
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8-sig")
    except (gzip.BadGzipFile, EOFError, zlib.error):
        raise CSVDataError(f"{path} is not a complete gzip file") from None
    except FileNotFoundError:
        raise CSVDataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CSVDataError(f"{path} is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise CSVDataError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise CSVDataError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not text.strip():
        raise CSVDataError(f"{path} is empty")
    lines = text.splitlines(keepends=True)
    first = next(line for line in lines if line.strip())
    delimiter = ","
    if "," not in first and (";" in first or "\t" in first):
        delimiter = max((";", "\t"), key=first.count)
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        for row in reader:
            if len(row) > 1 or (row and row[0].strip()):
                yield reader.line_num, row
    except csv.Error as exc:
        raise CSVDataError(f"{path}:{reader.line_num}: {exc}") from None


def _header(path: Path, line: int, row: list[str]) -> list[str]:
    names = [cell.strip() for cell in row]
    given = [name for name in names if name]
    if given and all(_is_number(name) for name in given):
        raise CSVDataError(
            f"{path}:{line}: no header row (found numbers where column names belong); "
            "the first row must name each column"
        )
    for index, name in enumerate(names, start=1):
        if not name:
            raise CSVDataError(f"{path}:{line}: column {index} has no name")
        first = names.index(name) + 1
        if first != index:
            raise CSVDataError(
                f"{path}:{line}: column name {name!r} appears twice (columns {first} and {index})"
            )
    return names


def _time_column(path: Path, names: list[str], first_row: list[str]) -> int | None:
    named = [i for i, name in enumerate(names) if name.lower() in TIME_COLUMNS]
    if len(named) > 1:
        both = " and ".join(repr(names[i]) for i in named[:2])
        raise CSVDataError(f"{path}: two timestamp columns, {both}; keep one")
    if named:
        return named[0]
    if first_row and _is_iso_time(first_row[0]):
        return 0
    return None


def _cell(path: Path, line: int, name: str, text: str) -> float:
    value = text.strip()
    if not value:
        raise CSVDataError(f"{path}:{line}: column {name!r} is empty")
    try:
        number = float(value)
    except ValueError:
        raise CSVDataError(f"{path}:{line}: column {name!r}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise CSVDataError(f"{path}:{line}: column {name!r}: {value!r} is not a finite number")
    return number


def _timestamp(path: Path, line: int, name: str, text: str) -> float:
    value = text.strip()
    if not value:
        raise CSVDataError(f"{path}:{line}: column {name!r} (the timestamp) is empty")
    try:
        return timestamp_seconds(value)
    except ValueError:
        raise CSVDataError(
            f"{path}:{line}: column {name!r}: {value!r} is not an ISO 8601 time or epoch seconds"
        ) from None


def _refuse_disorder(
    path: Path, lines: list[int], name: str, stamps: list[str], seconds: np.ndarray
) -> None:
    """CSVDataError at the first row earlier than the row before, naming the options."""
    back = np.flatnonzero(np.diff(seconds) < 0)
    if back.size:
        row = int(back[0]) + 1
        raise CSVDataError(
            f"{path}:{lines[row]}: column {name!r}: {stamps[row]!r} is earlier than the row "
            "before; rows must be in time order (--timestamps sort puts them in order, "
            "--timestamps drop-duplicates also keeps one row of each time, e.g. of an hour "
            "a local clock repeats)"
        )


def _time_order(seconds: np.ndarray, rule: TimeOrder) -> tuple[np.ndarray, int]:
    """The rows to keep, in time order, and how many of them left their place in the file:
    a stable sort by time, and with `drop-duplicates` only the first row of each time."""
    order = np.argsort(seconds, kind="stable")
    if rule == "drop-duplicates":
        ordered = seconds[order]
        first = np.concatenate(([True], ordered[1:] != ordered[:-1]))
        order = order[first]
    return order, int(np.sum(order != np.sort(order)))


def read_series(path: str | os.PathLike[str]) -> CSVSeries:
    """Read a metric series from a CSV file (see the module docstring for the layout).

    Returns (features, values [T, F] float64, timestamps' text or None, labels); raises
    CSVDataError naming the file, line and column of the first problem, a row earlier than
    the one before among them.
    """
    return read_series_in_order(path, "refuse")[0]


def read_series_in_order(
    path: str | os.PathLike[str], timestamps: TimeOrder = "refuse"
) -> tuple[CSVSeries, Reordering | None]:
    """`read_series`, with rows out of time order refused, sorted or sorted with repeated
    times dropped as `timestamps` says (module docstring), and what was done to them (None
    when refusing). CSVDataError also when `timestamps` asks to order a file that has no
    timestamp column."""
    source = Path(path)
    rows = _open_rows(source)
    first = next(rows, None)
    if first is None:
        raise CSVDataError(f"{source} is empty")
    header_line, header_row = first
    names = _header(source, header_line, header_row)
    body = list(rows)
    if not body:
        raise CSVDataError(f"{source} has a header but no data rows")
    time_index = _time_column(source, names, body[0][1])
    truth = [i for i, name in enumerate(names) if name.lower() in LABEL_COLUMNS]
    metrics = [i for i in range(len(names)) if i != time_index and i not in truth]
    if not metrics:
        raise CSVDataError(
            f"{source}:{header_line}: no metric columns, only the timestamp or labels"
        )
    if time_index is None and timestamps != "refuse":
        raise CSVDataError(
            f"{source}: --timestamps {timestamps} orders rows by time, but the file has no "
            f"timestamp column (one named {', '.join(sorted(TIME_COLUMNS))}, or a first "
            "column of ISO 8601 times)"
        )
    values = np.empty((len(body), len(metrics)), dtype=np.float64)
    seconds = np.empty(len(body), dtype=np.float64)
    for r, (line, row) in enumerate(body):
        if len(row) != len(names):
            raise CSVDataError(
                f"{source}:{line}: {len(row)} values, but the header names {len(names)} columns"
            )
        if time_index is not None:
            seconds[r] = _timestamp(source, line, names[time_index], row[time_index])
        for c, i in enumerate(metrics):
            values[r, c] = _cell(source, line, names[i], row[i])
    features = tuple(names[i] for i in metrics)
    if time_index is None:
        labels = {names[i]: tuple(row[i].strip() for _, row in body) for i in truth}
        return CSVSeries(features, values, None, labels), None
    stamps = [row[time_index].strip() for _, row in body]
    if timestamps == "refuse":
        _refuse_disorder(source, [line for line, _ in body], names[time_index], stamps, seconds)
        labels = {names[i]: tuple(row[i].strip() for _, row in body) for i in truth}
        return CSVSeries(features, values, tuple(stamps), labels), None
    keep, moved = _time_order(seconds, timestamps)
    kept = [body[k][1] for k in keep]
    labels = {names[i]: tuple(row[i].strip() for row in kept) for i in truth}
    series = CSVSeries(features, values[keep], tuple(stamps[k] for k in keep), labels)
    return series, Reordering(timestamps, len(body), moved, len(body) - len(keep))


def read_recording(path: str | os.PathLike[str]) -> CSVSeries:
    """A recording of the real CNF, read as `read_series` does; CSVDataError also when
    it holds a frozen run, naming the file, the rows and their timestamps."""
    series = read_series(path)
    try:
        check_not_frozen(series.values, str(path), times=series.timestamps)
    except FrozenRecordingError as exc:
        raise CSVDataError(str(exc)) from None
    return series


def shipped_normal_recording() -> Path:
    """The package's recording of the emulated CNF's normal behaviour (`SHIPPED_NORMAL`:
    timestamp, the fourteen metrics, label), for the closed loop to learn from."""
    return Path(str(resources.files("secmas") / "data" / SHIPPED_NORMAL))


def check_rows(path: str | os.PathLike[str], rows: int, needed: int) -> None:
    """CSVDataError when a file's `rows` are fewer than the `needed` (a model's window)."""
    if rows < needed:
        raise CSVDataError(f"{path} has {rows} rows; the model needs at least {needed}")


SCORE_COLUMNS = ("end", "timestamp", "score", "threshold", "flag", "top_feature", "top_error")


def write_scores(
    path: str | os.PathLike[str],
    scores: Scores,
    timestamps: Sequence[str] | None = None,
) -> None:
    """Write one row per window: its last step's index (and timestamp, when the series had
    them), score, the threshold it was compared with, flag (1 = anomalous), and the metric
    that deviated most with its error. OSError when the file cannot be written."""
    last = int(np.max(scores.end, initial=-1))
    if timestamps is not None and len(timestamps) <= last:
        raise ValueError(f"{len(timestamps)} timestamps for windows ending at step {last}")
    columns = [c for c in SCORE_COLUMNS if c != "timestamp" or timestamps is not None]
    top = np.argmax(scores.per_feature, axis=1) if len(scores.end) else np.zeros(0, int)
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for i, end in enumerate(scores.end):
            row: list[str | int] = [int(end)]
            if timestamps is not None:
                row.append(timestamps[int(end)])
            j = int(top[i])
            row += [
                f"{scores.score[i]:.6g}",
                f"{scores.limit[i]:.6g}",
                int(bool(scores.flags[i])),
                scores.features[j],
                f"{scores.per_feature[i, j]:.6g}",
            ]
            writer.writerow(row)

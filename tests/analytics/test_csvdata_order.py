"""Rows out of time order: refused by default, sorted or sorted with repeated times dropped
when asked, and what was done counted."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secmas.analytics.csvdata import CSVDataError, read_series, read_series_in_order
from secmas.analytics.options import TIME_ORDERS

SETTINGS = settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])


def write_rows(path: Path, times: list[int]) -> Path:
    """A CSV of epoch-second times in the order given, each row's metric its file row and
    its label the time's parity."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ts", "row", "label"])
        for row, time in enumerate(times):
            writer.writerow([time, row, "normal" if time % 2 == 0 else "anomaly"])
    return path


times = st.lists(st.integers(0, 30), min_size=1, max_size=40)


@SETTINGS
@given(times=times)
def test_refusing_is_reading_in_order(tmp_path: Path, times: list[int]) -> None:
    path = write_rows(tmp_path / "r.csv", times)
    backwards = [i for i in range(1, len(times)) if times[i] < times[i - 1]]
    if not backwards:
        series, reordering = read_series_in_order(path)
        assert reordering is None
        np.testing.assert_array_equal(series.values[:, 0], range(len(times)))
        return
    with pytest.raises(CSVDataError) as caught:
        read_series(path)
    line = backwards[0] + 2  # the header is line 1
    assert f"r.csv:{line}: column 'ts': '{times[backwards[0]]}' is earlier" in str(caught.value)
    assert "--timestamps sort" in str(caught.value)


@SETTINGS
@given(times=times)
def test_sorting_keeps_every_row_and_ties_in_file_order(tmp_path: Path, times: list[int]) -> None:
    series, reordering = read_series_in_order(write_rows(tmp_path / "s.csv", times), "sort")
    rows = series.values[:, 0].astype(int)
    assert sorted(rows) == list(range(len(times)))
    assert [times[r] for r in rows] == sorted(times)
    assert series.timestamps == tuple(str(times[r]) for r in rows)
    for a, b in itertools.pairwise(rows):
        assert times[a] < times[b] or a < b  # stable: one time's rows in file order
    assert series.labels["label"] == tuple(
        "normal" if times[r] % 2 == 0 else "anomaly" for r in rows
    )
    assert reordering is not None and reordering.dropped == 0
    assert reordering.moved == sum(r != i for i, r in enumerate(rows))


@SETTINGS
@given(times=times)
def test_dropping_keeps_the_first_row_of_each_time(tmp_path: Path, times: list[int]) -> None:
    path = write_rows(tmp_path / "d.csv", times)
    series, reordering = read_series_in_order(path, "drop-duplicates")
    rows = series.values[:, 0].astype(int)
    assert [times[r] for r in rows] == sorted(set(times))
    assert all(r == times.index(times[r]) for r in rows)
    assert reordering is not None
    assert (reordering.rows, reordering.dropped) == (len(times), len(times) - len(set(times)))
    assert reordering.moved == sum(r != k for r, k in zip(rows, sorted(rows), strict=True))


def test_a_local_clock_that_repeats_an_hour(tmp_path: Path) -> None:
    """Daylight saving time ends: 02:00–02:30 of a zoneless local clock comes twice."""
    clock = ["01:30", "02:00", "02:30", "02:00", "02:30", "03:00"]
    path = tmp_path / "dst.csv"
    lines = [f"2025-10-26T{t}:00,{i}" for i, t in enumerate(clock)]
    path.write_text("time,cpu\n" + "\n".join(lines) + "\n")
    with pytest.raises(CSVDataError, match=r"dst.csv:5: .* is earlier than the row before"):
        read_series(path)
    kept, dropped = read_series_in_order(path, "drop-duplicates")
    assert kept.values[:, 0].tolist() == [0, 1, 2, 5]
    assert dropped is not None and (dropped.moved, dropped.dropped) == (0, 2)
    assert "2 dropped as repeating a time" in dropped.sentence
    ordered, moved = read_series_in_order(path, "sort")
    assert ordered.values[:, 0].tolist() == [0, 1, 3, 2, 4, 5]
    assert moved is not None and moved.to_json() == {
        "rule": "sort",
        "rows": 6,
        "moved": 2,
        "dropped": 0,
    }


def test_times_with_their_zone_are_no_repeat(tmp_path: Path) -> None:
    """The same local hour with two UTC offsets is two instants: nothing to drop."""
    path = tmp_path / "z.csv"
    path.write_text("time,cpu\n2025-10-26T02:30:00+02:00,1\n2025-10-26T02:30:00+01:00,2\n")
    series, reordering = read_series_in_order(path, "drop-duplicates")
    assert series.values[:, 0].tolist() == [1, 2]
    assert reordering is not None and "in time order already" in reordering.sentence


@pytest.mark.parametrize("order", [o for o in TIME_ORDERS if o != "refuse"])
def test_ordering_a_file_without_times_is_refused(tmp_path: Path, order: str) -> None:
    path = tmp_path / "n.csv"
    path.write_text("cpu\n1\n2\n")
    with pytest.raises(CSVDataError, match=f"--timestamps {order} orders rows by time, but"):
        read_series_in_order(path, order)  # type: ignore[arg-type]

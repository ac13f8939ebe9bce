"""The results CSV (appending, a half-written last line) and the statistics against
figures computed by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from secmas.experiment.results import (
    ResultsError,
    aggregate,
    append_row,
    cell,
    confidence,
    number,
    read_rows,
    write_summary,
)

COLUMNS = ("run", "x", "y", "error")
T_975_2DF = 4.302652729911275  # Student's t, two-sided 95 %, 2 degrees of freedom (tables)


def test_mean_and_interval_by_hand() -> None:
    mean, std, half = confidence([1.0, 2.0, 6.0])
    assert mean == 3.0
    assert std == pytest.approx(math.sqrt(7.0))  # ((−2)² + (−1)² + 3²) / 2 = 7
    assert half == pytest.approx(T_975_2DF * math.sqrt(7.0) / math.sqrt(3.0))


def test_one_value_has_no_interval() -> None:
    assert confidence([5.0]) == (5.0, None, None)


def test_groups_skip_failed_and_empty_rows() -> None:
    rows = [
        {"run": "a", "x": "1", "y": "1", "error": ""},
        {"run": "b", "x": "1", "y": "2", "error": ""},
        {"run": "c", "x": "1", "y": "6", "error": ""},
        {"run": "d", "x": "1", "y": "100", "error": "RunFailed: boom"},
        {"run": "e", "x": "2", "y": "", "error": ""},
        {"run": "f", "x": "2", "y": "true", "error": ""},
    ]
    first, second = aggregate(rows, ("x",), "y")
    assert (first.group, first.n, first.mean) == (("1",), 3, 3.0)
    half = T_975_2DF * math.sqrt(7.0) / math.sqrt(3.0)
    assert first.low == pytest.approx(3.0 - half) and first.high == pytest.approx(3.0 + half)
    assert (second.group, second.n, second.mean, second.low) == (("2",), 1, 1.0, None)


def test_cells_and_numbers_round_trip() -> None:
    assert [cell(v) for v in (None, True, 0.1 + 0.2, 3, "a\nb")] == [
        "",
        "true",
        "0.3",
        "3",
        "a b",
    ]
    assert [number(t) for t in ("", "false", "2.5", "nan", "x")] == [None, 0.0, 2.5, None, None]


def test_a_half_written_last_line_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    append_row(path, COLUMNS, {"run": "a", "x": 1, "y": 2.0, "error": ""})
    append_row(path, COLUMNS, {"run": "b", "x": 1, "y": 3.0, "error": ""})
    whole = path.read_bytes()
    path.write_bytes(whole + b"c,1,4")  # killed while writing the third row
    assert [row["run"] for row in read_rows(path, COLUMNS)] == ["a", "b"]
    assert path.read_bytes() == whole  # repaired: the next row starts on its own line
    append_row(path, COLUMNS, {"run": "c", "x": 1, "y": 4.0, "error": ""})
    assert [row["run"] for row in read_rows(path, COLUMNS)] == ["a", "b", "c"]


def test_a_header_cut_in_half_leaves_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("run,x")
    assert read_rows(path, COLUMNS) == []
    append_row(path, COLUMNS, {"run": "a", "x": 1, "y": 2, "error": ""})
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)


def test_other_columns_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("run,z\n")
    with pytest.raises(ResultsError, match="other columns"):
        read_rows(path, COLUMNS)


def test_summary_lists_every_measure_per_group(tmp_path: Path) -> None:
    rows = [{"run": str(i), "x": "1", "y": str(i), "error": ""} for i in (1, 2, 6)]
    path = write_summary(tmp_path / "s.csv", rows, ("x",), ("y",))
    header, line = path.read_text().splitlines()
    assert header == "x,measure,n,mean,std,ci95_low,ci95_high"
    assert line.startswith("1,y,3,3,2.645751311,")

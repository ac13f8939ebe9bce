"""The recording of measured migrations: the shipped file loads, bad rows are named by
line, and the rows group into the selector's and regressor's dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.mtd.migration import METHODS, Load, Method
from secmas.mtd.recording import (
    COLUMNS,
    MeasuredMigration,
    RecordingError,
    header,
    parse_recording,
    read_recording,
    to_dataset,
)


def migration(instance: int, method: Method, memory: float = 8.0) -> MeasuredMigration:
    return MeasuredMigration(
        line=0,
        instance=instance,
        method=method,
        load=Load(0.4, memory, 0.5, 1.6),
        bandwidth=8.0,
        source="pop5",
        destination="pop6",
        state_bytes=200_000,
        downtime_s=0.04,
        total_s=3.2,
        frozen_s=0.03,
    )


def text(rows: list[MeasuredMigration]) -> str:
    return header(["made by a test"]) + "".join(",".join(r.row()) + "\n" for r in rows)


def good() -> str:
    return text([migration(i, m) for i in range(2) for m in METHODS])


def test_the_shipped_recording_loads_with_every_method_of_every_instance() -> None:
    rows = read_recording()
    data = to_dataset(rows)
    assert len(data.instances) >= 20
    assert len(data) == 4 * len(data.instances)
    assert {r.method for r in rows} == set(METHODS)
    assert all(r.total_s >= r.downtime_s for r in rows)


def test_rows_round_trip_and_a_partial_instance_is_left_out_of_the_dataset() -> None:
    rows = [migration(0, m) for m in METHODS] + [migration(1, Method.COLD, 4.0)]
    parsed = parse_recording(text(rows), "t.csv")
    assert [(p.instance, p.method, p.load) for p in parsed] == [
        (r.instance, r.method, r.load) for r in rows
    ]
    assert parsed[0].line == 3  # one comment line, the column row, then the data
    data = to_dataset(parsed)
    assert len(data.instances) == 1
    assert data.outcomes("downtime_s").tolist() == [[0.04] * 4]


@pytest.mark.parametrize(
    ("line", "replace", "expected"),
    [
        (3, ("cold", "teleport"), "method 'teleport' is not one of"),
        (4, ("0.4", "lots"), "cpu 'lots' is not a number"),
        (5, ("0.4", "1.4"), "cpu load must be in [0, 1]"),
        (6, (",3.200000,", ",-1,"), "total_s '-1' must be a finite number"),
        (7, (",0.040000,", ",9,"), "downtime_s 9 exceeds total_s 3.2"),
        (8, (",pop6,", ",pop5,"), "source and destination must be two PoPs"),
        (9, ("200000", "2.5"), "state_bytes '2.5' is not an integer"),
        (10, ("8,0.5", "9,0.5"), "another load or bandwidth than on line 7"),
        (4, (",0.03", ",0.03,7"), "14 fields, expected 13"),
    ],
)
def test_a_bad_row_is_named_by_file_and_line(
    line: int, replace: tuple[str, str], expected: str
) -> None:
    lines = good().splitlines()
    lines[line - 1] = lines[line - 1].replace(*replace, 1)
    with pytest.raises(RecordingError) as caught:
        parse_recording("\n".join(lines), "bad.csv")
    assert f"bad.csv:{line}: " in str(caught.value)
    assert expected in str(caught.value)


def test_an_instance_moved_twice_by_one_method_is_refused() -> None:
    rows = [migration(0, Method.COLD), migration(0, Method.COLD)]
    with pytest.raises(RecordingError, match=r"t\.csv:4: instance 0 moved by cold twice"):
        parse_recording(text(rows), "t.csv")


def test_a_file_without_the_column_row_or_rows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="expected the column row"):
        parse_recording("# only a comment\n", "t.csv")
    with pytest.raises(RecordingError, match="no migrations"):
        parse_recording(",".join(COLUMNS) + "\n", "t.csv")
    with pytest.raises(RecordingError, match=r"t\.csv:2: field larger than field limit"):
        parse_recording(",".join(COLUMNS) + "\n" + "x" * 200_000 + "\n", "t.csv")
    with pytest.raises(RecordingError, match=r"missing\.csv: cannot read"):
        read_recording(tmp_path / "missing.csv")


@given(st.text(max_size=300))
def test_any_text_parses_or_is_refused_with_a_recording_error(body: str) -> None:
    try:
        parse_recording(",".join(COLUMNS) + "\n" + body, "t.csv")
    except RecordingError as exc:
        assert str(exc).startswith("t.csv")

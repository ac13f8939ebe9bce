"""Reading metric series from CSV exports, with errors that name file, line and column."""

from __future__ import annotations

import csv
import fnmatch
import gzip
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from secmas.analytics.csvdata import (
    CSVDataError,
    CSVSeries,
    check_rows,
    constant_columns,
    read_recording,
    read_series,
    shipped_normal_recording,
    timestamp_seconds,
    write_scores,
)
from secmas.network.dataplane.cnf import METRICS
from secmas.pipeline.cnf_emulated import recorded_normal

ROOT = Path(__file__).parents[2]
SEED_NORMAL_SAMPLES = 2361
"""Samples of normal behaviour `002_…` trains its detector on."""


def write(tmp_path: Path, text: str, name: str = "m.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_metrics_without_timestamps(tmp_path: Path) -> None:
    path = write(tmp_path, "cpu,load\n1,2.5\n3,4e-1\n\n")
    features, values, timestamps, _ = read_series(path)
    assert features == ("cpu", "load")
    np.testing.assert_array_equal(values, [[1.0, 2.5], [3.0, 0.4]])
    assert values.dtype == np.float64
    assert timestamps is None


def test_a_named_timestamp_column_anywhere(tmp_path: Path) -> None:
    path = write(tmp_path, "cpu,Time,load\n1,100,2\n3,160,4\n")
    series = read_series(path)
    assert series.features == ("cpu", "load")
    assert series.timestamps == ("100", "160")
    np.testing.assert_array_equal(series.seconds, [100.0, 160.0])


def test_a_first_column_of_iso_times(tmp_path: Path) -> None:
    text = "when;cpu\n2024-05-01T10:00:00Z;1\n2024-05-01T10:00:15+00:00;2\n"
    series = read_series(write(tmp_path, text))  # semicolons, since the header has no comma
    assert series.features == ("cpu",)
    assert series.seconds is not None
    assert series.seconds[1] - series.seconds[0] == 15.0
    assert timestamp_seconds("2024-05-01 10:00:00") == series.seconds[0]  # zoneless = UTC


def test_tabs_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_bytes("\ufeffcpu\tload\n1\t2\n".encode())
    assert read_series(path).features == ("cpu", "load")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "m.csv is empty"),
        ("\n  \n", "m.csv is empty"),
        ("cpu,load\n", "m.csv has a header but no data rows"),
        ("1,2\n3,4\n", "m.csv:1: no header row"),
        ("cpu,,load\n1,2,3\n", "m.csv:1: column 2 has no name"),
        ("cpu,load,cpu\n1,2,3\n", "m.csv:1: column name 'cpu' appears twice (columns 1 and 3)"),
        ("cpu,load\n1,2\n\n3,\n", "m.csv:4: column 'load' is empty"),
        ("cpu,load\n1,2\n3,abc\n", "m.csv:3: column 'load': 'abc' is not a number"),
        ("cpu,load\n1,nan\n", "m.csv:2: column 'load': 'nan' is not a finite number"),
        ("cpu,load\n1,2,3\n", "m.csv:2: 3 values, but the header names 2 columns"),
        ("time\n1\n", "m.csv:1: no metric columns"),
        ("t,cpu\n5,1\n4,1\n", "m.csv:3: column 't': '4' is earlier than the row before"),
        ("t,cpu\nnoon,1\n", "m.csv:2: column 't': 'noon' is not an ISO 8601 time"),
        ("t,cpu\n,1\n", "m.csv:2: column 't' (the timestamp) is empty"),
        ("time,t,cpu\n1,1,1\n", "two timestamp columns, 'time' and 't'"),
    ],
)
def test_errors_name_the_file_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CSVDataError) as caught:
        read_series(write(tmp_path, text))
    assert message in str(caught.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CSVDataError, match="no such file"):
        read_series(tmp_path / "absent.csv")
    with pytest.raises(CSVDataError, match="is a directory"):
        read_series(tmp_path)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00cpu")
    with pytest.raises(CSVDataError, match="not UTF-8"):
        read_series(binary)


def test_check_rows_names_the_file_and_the_need() -> None:
    check_rows("file.csv", 10, 10)
    with pytest.raises(CSVDataError) as caught:
        check_rows("file.csv", 7, 10)
    assert str(caught.value) == "file.csv has 7 rows; the model needs at least 10"


def test_constant_columns_are_named_with_their_value() -> None:
    values = np.array([[0.5, 10.0, 0.0, 3.0], [0.6, 10.0, 0.0, 3.0], [0.7, 10.0, 0.0, 3.0 + 1e-9]])
    found = constant_columns(values, ("cpu", "load", "errors", "p99"))
    assert found == [("load", 10.0), ("errors", 0.0)]  # p99 varies, if only a little
    assert constant_columns(values[:, :1], ("cpu",)) == []


names = st.lists(
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
        lambda n: (
            n not in {"t", "ts", "time", "date", "epoch", "datetime", "timestamp"}
            and n != "nan"
            and n not in {"inf", "infinity"}
        )
    ),
    min_size=1,
    max_size=5,
    unique=True,
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    columns=names,
    with_time=st.booleans(),
)
def test_round_trip_of_random_tables(
    tmp_path: Path, data: st.DataObject, columns: list[str], with_time: bool
) -> None:
    rows = data.draw(st.integers(1, 20))
    values = data.draw(
        arrays(np.float64, (rows, len(columns)), elements=st.floats(-1e12, 1e12, width=64))
    )
    path = tmp_path / "r.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow((["timestamp"] if with_time else []) + columns)
        for i, row in enumerate(values):
            stamp = [f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}"] if with_time else []
            writer.writerow(stamp + [repr(float(v)) for v in row])
    series = read_series(path)
    assert series.features == tuple(columns)
    np.testing.assert_array_equal(series.values, values)
    assert (series.timestamps is not None) == with_time


class FakeScores:
    """What write_scores reads, for three windows of length 2 over 4 steps."""

    features = ("cpu", "load")
    end = np.array([1, 2, 3])
    score = np.array([0.1, 2.0, 0.2])
    limit = np.array([1.0, 1.0, 1.0])
    flags = np.array([False, True, False])
    per_feature = np.array([[0.1, 0.1], [0.5, 3.5], [0.3, 0.1]])


def test_write_scores(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    write_scores(path, FakeScores(), ("t0", "t1", "t2", "t3"))
    rows = list(csv.reader(path.open()))
    assert rows[0] == [
        "end",
        "timestamp",
        "score",
        "threshold",
        "flag",
        "top_feature",
        "top_error",
    ]
    assert rows[2] == ["2", "t2", "2", "1", "1", "load", "3.5"]
    assert rows[3][5] == "cpu"
    write_scores(path, FakeScores())
    assert next(csv.reader(path.open()))[:2] == ["end", "score"]
    with pytest.raises(ValueError, match="3 timestamps"):
        write_scores(path, FakeScores(), ("t0", "t1", "t2"))


def test_a_series_is_a_named_tuple() -> None:
    series = CSVSeries(("a",), np.zeros((1, 1)), None)
    assert series.seconds is None


def test_a_recording_with_a_frozen_run_is_refused_naming_rows_and_times(tmp_path: Path) -> None:
    rows = [f"{0.5 * i:.1f},{i},{i % 7}" for i in range(30)]
    rows[10:19] = [f"{0.5 * i:.1f},10,3" for i in range(10, 19)]  # one scrape, nine steps
    path = write(tmp_path, "timestamp,cpu,connections\n" + "\n".join(rows) + "\n", "rec.csv")
    assert len(read_series(path).values) == 30  # a user's CSV is read as it is
    with pytest.raises(CSVDataError, match=r"rec\.csv: 9 rows .*rows 10–18 .*time 5\.0 to 9\.0"):
        read_recording(path)


def test_a_live_recording_reads_as_a_series(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,cpu,label\n0,1,normal\n0.5,1,normal\n1,2,http_flood\n")
    series = read_recording(path)
    assert series.features == ("cpu",)
    assert series.labels["label"] == ("normal", "normal", "http_flood")


def test_the_shipped_normal_recording_loads() -> None:
    """Over 40 minutes of the emulated CNF's normal behaviour, no frozen run, every metric
    of the loop; the loop reads all of it as normal."""
    path = shipped_normal_recording()
    series = read_recording(path)
    assert set(METRICS) <= set(series.features)
    assert len(series.values) >= SEED_NORMAL_SAMPLES
    assert series.seconds is not None and series.seconds[-1] - series.seconds[0] >= 40 * 60
    truth = series.truth()
    assert truth is not None and set(truth) == {"normal"}
    assert recorded_normal(path).shape == (len(series.values), len(METRICS))


def test_the_shipped_normal_recording_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["secmas"]
    relative = shipped_normal_recording().relative_to(ROOT / "src" / "secmas").as_posix()
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns)


def test_columns_come_in_the_order_asked_and_a_missing_one_is_named(tmp_path: Path) -> None:
    series = read_series(write(tmp_path, "cpu,memory,net\n1,2,3\n4,5,6\n"))
    assert series.columns(["net", "cpu"]).tolist() == [[3.0, 1.0], [6.0, 4.0]]
    with pytest.raises(CSVDataError, match="no column disk, load"):
        series.columns(["cpu", "disk", "load"])


def test_a_gzipped_recording_reads_as_its_csv(tmp_path: Path) -> None:
    text = "timestamp,cpu,label\n0,0.1,normal\n0.5,0.2,normal\n1.0,0.9,high_cpu\n"
    plain, packed = tmp_path / "r.csv", tmp_path / "r.csv.gz"
    plain.write_text(text, encoding="utf-8")
    packed.write_bytes(gzip.compress(text.encode()))
    a, b = read_series(plain), read_series(packed)
    assert a.values.tolist() == b.values.tolist()
    assert list(a.truth()) == list(b.truth())


def test_a_truncated_gzip_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "r.csv.gz"
    path.write_bytes(gzip.compress(b"timestamp,cpu\n0,1\n" * 100)[:40])
    with pytest.raises(CSVDataError, match="not a complete gzip file"):
        read_series(path)

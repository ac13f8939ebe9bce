"""Stale and frozen samples (secmas.analytics.freshness, cnftelemetry's stale rows)."""

from __future__ import annotations

import time
from http.server import HTTPServer
from pathlib import Path

import numpy as np
import pytest

from secmas.analytics.cnftelemetry import CNFTelemetry, MetricFrame
from secmas.analytics.csvdata import read_recording, read_series
from secmas.analytics.freshness import (
    FrozenRecordingError,
    FrozenRun,
    check_not_frozen,
    frozen_runs,
    stale_rows,
    start_fill,
)

RECORDINGS = Path(__file__).parents[2] / "benchmarks" / "recordings"


def test_a_row_from_no_newer_scrape_is_stale() -> None:
    scrapes = np.array([10.0, 10.5, 10.5, 10.5, 11.5, 11.0, 12.0])
    assert stale_rows(scrapes).tolist() == [False, False, True, True, False, True, False]


def test_fresh_drops_the_stale_rows() -> None:
    frame = MetricFrame(
        np.arange(3.0), np.arange(3.0)[:, None], np.array([False, True, False]), ("cpu",)
    )
    fresh = frame.fresh()
    assert fresh.times.tolist() == [0.0, 2.0]
    assert fresh.values[:, 0].tolist() == [0.0, 2.0]
    assert not fresh.stale.any()


def frozen_recording(path: Path) -> Path:
    """20 live rows, 12 frozen ones (an HTTP flood stuck at 41 req/s), 20 live again."""
    rng = np.random.default_rng(0)
    rows = rng.random((52, 3))
    rows[20:32] = [0.2, 41.0, 3.0]
    lines = ["timestamp,cpu,throughput,connections"]
    lines += [f"{0.5 * i:.3f},{a:.6g},{b:.6g},{c:.6g}" for i, (a, b, c) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_recording_with_frozen_samples_is_refused(tmp_path: Path) -> None:
    path = frozen_recording(tmp_path / "frozen.csv")
    series = read_series(path)
    assert frozen_runs(series.values) == [FrozenRun(20, 32)]
    with pytest.raises(FrozenRecordingError, match=r"frozen\.csv: 12 rows .*rows 20–31"):
        check_not_frozen(series.values, str(path))


def test_short_repeats_are_not_frozen() -> None:
    values = np.repeat(np.arange(10.0), 3)[:, None]  # every value held for 3 rows
    assert frozen_runs(values) == []
    check_not_frozen(values, "held.csv")
    assert frozen_runs(values, min_rows=3) == [FrozenRun(3 * i, 3 * i + 3) for i in range(10)]


def test_the_fill_before_the_first_scrapes_is_dropped_to_its_last_row() -> None:
    """`cnftelemetry.align` copies the first value back over the steps before Prometheus
    held two scrapes: all but the last of those rows go (the last is a measurement)."""
    live = np.arange(12.0).reshape(6, 2)
    filled = np.concatenate([np.repeat(live[:1], 7, axis=0), live[1:]])
    assert start_fill(filled) == 6
    assert np.array_equal(filled[start_fill(filled) :], live)
    assert start_fill(live) == 0
    assert start_fill(np.zeros((0, 2))) == 0


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match="rows, metrics"):
        frozen_runs(np.zeros(4))
    with pytest.raises(ValueError, match="at least 2 rows"):
        frozen_runs(np.zeros((4, 2)), min_rows=1)
    assert frozen_runs(np.zeros((0, 2))) == []


def test_a_frozen_run_is_named_with_its_times() -> None:
    run = FrozenRun(31, 71)
    times = [f"{0.5 * i:.3f}" for i in range(80)]
    assert run.describe() == "rows 31–70 (40 identical)"
    assert run.describe(times) == "rows 31–70 (40 identical, time 15.500 to 35.000)"


@pytest.mark.parametrize("path", sorted(RECORDINGS.glob("*.csv*")), ids=lambda p: p.name)
def test_the_shipped_recordings_hold_no_frozen_run(path: Path) -> None:
    """Recorded again: the loaders accept every one of them, and
    each is labelled with the attacks' ground truth."""
    assert read_recording(path).truth() is not None


def test_rows_prometheus_repeats_after_the_exporter_stopped_are_stale(
    scraped: tuple[CNFTelemetry, HTTPServer],
) -> None:
    telemetry, server = scraped
    server.shutdown()
    stopped = time.time()
    time.sleep(1.0)
    frame = telemetry.read(stopped - 1.0, stopped + 0.8)
    after = frame.times > stopped + 0.4
    assert after.any() and frame.stale[after].all()
    assert (~frame.stale[frame.times < stopped - 0.2]).sum() >= 3

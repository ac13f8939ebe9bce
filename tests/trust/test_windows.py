"""Measurement windows as the report gives them: per agent when it was measured, the
longest and mean gap between two measurements, and how long since the last one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from secmas.scenario.model import Attestation
from secmas.trust.chain import RANDOM, ChainEntry
from secmas.trust.windows import measurement_report, windows


def entry(measured: str, time: float | None, kind: str = "mutual") -> ChainEntry:
    return ChainEntry(kind, 1, measured, "v", True, "v", "0x", 1, 1.0, time=time)


def test_gaps_between_the_measurements_of_each_agent() -> None:
    entries = [
        entry("a1", 0.0, "initial"),
        entry("a2", 0.0),
        entry("a1", 10.0),
        entry("a2", 17.25, RANDOM),
        entry("a1", 70.0),
        entry("a2", None),  # no run time (a bring-up before the run's clock): not counted
    ]
    report = measurement_report(entries, ["a1", "a2", "a3"], Attestation(), 100.0)
    assert report["period_s"] == 10.0 and report["random_mean_interval_s"] == 60.0
    assert report["random"] == 1
    assert report["agents"] == {
        "a1": {"times": [0.0, 10.0, 70.0], "longest_gap_s": 60.0, "mean_gap_s": 35.0,
               "since_last_s": 30.0},
        "a2": {"times": [0.0, 17.25], "longest_gap_s": 17.25, "mean_gap_s": 17.25,
               "since_last_s": 82.75},
        "a3": {"times": [], "longest_gap_s": None, "mean_gap_s": None, "since_last_s": None},
    }  # fmt: skip


def test_without_unannounced_measurements_the_report_says_so() -> None:
    report = measurement_report([], ["a1"], Attestation(random=None), 5.0)
    assert report["random_mean_interval_s"] is None and report["random"] == 0


@given(st.lists(st.floats(0.0, 1e4), min_size=2, max_size=40))
def test_the_gaps_add_up_to_the_span_and_the_longest_bounds_the_mean(times: list[float]) -> None:
    window = windows([entry("a", t) for t in times], ["a"], 1e4)["a"]
    gaps = window.gaps
    assert abs(sum(gaps) - (max(times) - min(times))) < 1e-6
    shown = window.to_json()
    assert shown["mean_gap_s"] <= shown["longest_gap_s"] + 1e-3

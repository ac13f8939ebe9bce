"""Event-window scoring, checked against figures computed by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from secmas.analytics.events import Event, events, score_events

# steps:    0  1  2  3    4    5    6  7  8    9    10 11
LABELS = np.array(
    ["normal"] * 3 + ["syn_flood"] * 3 + ["normal"] * 2 + ["high_cpu"] * 2 + ["normal"] * 2
)
# Windows of 3 steps, stride 1: 10 windows ending at steps 2 … 11; flag those ending at
# 4, 5 (inside syn_flood), 7 and 11 (both labelled normal).
FLAGS = np.isin(np.arange(2, 12), [4, 5, 7, 11])


def test_events_are_maximal_runs_of_one_abnormal_label() -> None:
    assert events(LABELS) == [Event(3, 6, "syn_flood"), Event(8, 10, "high_cpu")]
    assert events(np.array(["a", "a", "b", "normal"])) == [Event(0, 2, "a"), Event(2, 3, "b")]
    assert events(np.array(["normal"] * 4)) == []
    assert events(np.array(["x"])) == [Event(0, 1, "x")]
    assert Event(3, 6, "x").length == 3


def test_window_and_event_figures_by_hand() -> None:
    result = score_events(FLAGS, LABELS, step=2.0)
    # Window labels (their last step): n s s s n n c c n n → 5 anomalous; flagged 4, of
    # which 2 anomalous: precision 2/4, recall 2/5, F1 = 2·0.5·0.4/0.9.
    assert (result.windows, result.flagged_windows, result.anomalous_windows) == (10, 4, 5)
    assert result.precision == 0.5
    assert result.recall == 0.4
    assert result.f1 == pytest.approx(4 / 9)
    assert result.false_alarm_windows == 2
    assert result.false_alarm_rate == pytest.approx(2 / 5)
    # syn_flood [3, 6) first caught by the window ending at 4: (4 − 3) · 2 s; high_cpu
    # [8, 10) has no flagged window ending inside it.
    assert result.detected == (Event(3, 6, "syn_flood"),)
    assert result.missed == (Event(8, 10, "high_cpu"),)
    assert result.delays == (2.0,)
    assert result.event_recall == 0.5
    assert result.per_label() == {"high_cpu": (0, 1), "syn_flood": (1, 1)}


def test_grace_extends_detection_not_the_window_figures() -> None:
    result = score_events(FLAGS, LABELS, step=2.0, grace=2)
    # high_cpu [8, 10) + 2 steps of grace = [8, 12) holds the flag at 11: (11 − 8) · 2 s.
    assert len(result.detected) == 2
    assert result.delays == (2.0, 6.0)
    assert result.mean_delay == 4.0
    assert result.max_delay == 6.0
    assert result.event_recall == 1.0
    assert result.false_alarm_windows == 2  # the window at 11 is still labelled normal
    assert result.precision == 0.5


def test_json_form() -> None:
    data = json.loads(json.dumps(score_events(FLAGS, LABELS, step=2.0).to_json(), allow_nan=False))
    assert (data["events"], data["detected"], data["missed"]) == (2, 1, 1)
    assert data["delays"] == [2.0] and data["max_delay"] == 2.0
    assert data["false_alarm_windows"] == 2 and data["f1"] == pytest.approx(4 / 9)
    assert data["per_label"] == {"high_cpu": [0, 1], "syn_flood": [1, 1]}
    assert data["outcomes"] == [
        {"start": 3, "stop": 6, "label": "syn_flood", "detected": True, "delay": 2.0},
        {"start": 8, "stop": 10, "label": "high_cpu", "detected": False, "delay": None},
    ]
    empty = score_events(np.zeros(3, bool), np.array(["normal"] * 3)).to_json()
    assert empty["event_recall"] is None and empty["mean_delay"] is None


def test_per_step_flags_of_object_labels() -> None:
    # The closed loop scores one flag per step against the data plane's truth list.
    truth = np.array(["normal", "slowloris", "slowloris", "normal"], dtype=object)
    result = score_events(np.array([False, False, True, True]), truth, step=5.0)
    assert result.delays == (5.0,)
    assert result.false_alarm_windows == 1


def test_grace_stops_at_the_next_event() -> None:
    labels = np.array(["a", "a", "b", "b", "normal"])
    flags = np.array([False, False, True, False, False])  # per step (window length 1)
    result = score_events(flags, labels, grace=3)
    assert result.missed == (Event(0, 2, "a"),)
    assert result.detected == (Event(2, 4, "b"),)
    assert result.delays == (0.0,)


def test_one_event_counts_once_however_many_windows_flag_it() -> None:
    labels = np.array(["normal", "x", "x", "x", "normal"])
    result = score_events(np.array([False, True, True, True, False]), labels)
    assert result.detected == (Event(1, 4, "x"),)
    assert result.delays == (0.0,)
    assert (result.precision, result.recall) == (1.0, 1.0)


def test_explicit_window_ends() -> None:
    # Two windows of stride 5, ending at steps 4 and 9.
    ends = np.array([4, 9])
    result = score_events(np.array([False, True]), LABELS, ends=ends)
    assert result.detected == (Event(8, 10, "high_cpu"),)
    assert result.delays == (1.0,)
    assert result.anomalous_windows == 2  # steps 4 (syn_flood) and 9 (high_cpu)


def test_nothing_to_find_nothing_flagged() -> None:
    result = score_events(np.zeros(4, bool), np.array(["normal"] * 6))
    assert (result.precision, result.recall, result.f1) == (0.0, 0.0, 0.0)
    assert math.isnan(result.event_recall)
    assert math.isnan(result.mean_delay) and math.isnan(result.max_delay)
    assert result.per_label() == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flags": np.zeros(13, bool)}, "13 windows cannot end within 12"),
        ({"ends": np.array([1, 2])}, "expected 10 window ends"),
        ({"ends": np.arange(5, 15)}, r"must lie in \[0, 12\)"),
        ({"step": 0.0}, "step must be positive"),
        ({"grace": -1}, "grace must be"),
        ({"flags": np.zeros((2, 5), bool)}, "one flag per window"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"flags": FLAGS, "labels": LABELS, **kwargs}
    with pytest.raises(ValueError, match=message):
        score_events(**arguments)  # type: ignore[arg-type]


def test_span_counts_a_window_anomalous_when_any_step_it_saw_is():
    labels = np.array(["normal"] * 4 + ["http_flood"] * 2 + ["normal"] * 4, dtype=object)
    flags = np.zeros(10, dtype=bool)
    flags[4:9] = True  # still flagged three steps after the episode: the window holds it
    last = score_events(flags, labels, span=1)
    seen = score_events(flags, labels, span=4)
    assert last.false_alarm_windows == 3
    assert seen.false_alarm_windows == 0
    assert seen.anomalous_windows == 5  # steps 4..8 end windows that saw the flood
    assert seen.recall == 1.0


def test_span_must_be_positive():
    with pytest.raises(ValueError, match="span"):
        score_events(np.zeros(3, dtype=bool), np.array(["normal"] * 3, dtype=object), span=0)

"""Detection channels, each (channel, metric) its own alert (secmas.analytics.channels)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.analytics.channels import (
    PAGE_MB,
    Channels,
    LevelChannel,
    ModelChannel,
    OnsetChannel,
    check_channels,
    floors,
    loop_channels,
    onsets,
)
from secmas.analytics.registry import fit_detector
from secmas.analytics.scoring import Fitting

FEATURES = ("throughput", "memory_rss", "connections", "error_rate")


def normal_rows(steps: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    throughput = 20 + rng.normal(0, 2, steps)
    memory = np.full(steps, 19.5)  # never moves: its spread is 0
    connections = rng.integers(1, 4, steps).astype(float)
    errors = np.zeros(steps)
    return np.column_stack([throughput, memory, connections, errors])


def test_floors_are_the_granularity_or_a_share_of_the_level() -> None:
    normal = np.array([[20.0, 19.5, 1.0, 0.0], [20.0, 19.5, 1.0, 0.0]])
    # throughput: 10 % of 20 = 2 > its 1 request/s; memory: 10 % of 19.5 = 1.95 > a page;
    # connections: one connection > 10 % of 1; errors: 0.01 > 10 % of 0.
    assert floors(normal, FEATURES) == pytest.approx([2.0, 1.95, 1.0, 0.01])
    assert floors(np.zeros((2, 1)), ("memory_rss",)) == pytest.approx([PAGE_MB])


def test_level_limits_are_the_normal_maximum_times_the_factor_or_the_floor_above_it() -> None:
    normal = np.array([[10.0, 19.5, 1.0, 0.0], [30.0, 19.5, 1.0, 0.0], [20.0, 19.5, 1.0, 0.0]])
    rules = LevelChannel(FEATURES).fit(normal, FEATURES)
    # throughput: 30 × 1.5 = 45; memory 19.5 × 1.5 = 29.25; connections max(1.5, 1 + 1) = 2;
    # errors: max(0, 0 + 0.01) = 0.01.
    assert [r.limit for r in rules] == pytest.approx([45.0, 29.25, 2.0, 0.01])
    assert [r.name for r in rules] == [f"level:{m}" for m in FEATURES]


def test_an_onset_is_the_recent_mean_over_the_median_before() -> None:
    values = np.array([[0.0], [4.0], [0.0], [0.0], [1.0], [3.0]])
    # the last 2 steps average 2; the 4 before (0, 4, 0, 0) have median 0: a rise of 2, the
    # only window of 6 steps
    assert onsets(values, 2, 4).tolist() == [[2.0]]
    assert onsets(values[:5], 2, 4).shape == (0, 1)


def test_a_rule_fires_after_its_for_and_alerts_once_per_stretch() -> None:
    channels = Channels([LevelChannel(("throughput",), hold=1.0)])
    channels.fit(np.array([[10.0], [20.0]]), ("throughput",))  # limit 30
    seen = [channels.step(t * 0.5, np.array([v])) for t, v in enumerate([40, 40, 40, 40, 5, 40])]
    started = [[f.started for f in firing] for firing in seen]
    # pending at 0 s, firing from 0.5 s (held 0.5 s < 1 s: not yet) ... 1 s: fires, starts
    assert started == [[], [], [True], [False], [], []]


def test_a_standing_alert_does_not_hide_a_new_one_on_another_metric() -> None:
    """The fault of one OR'd alert: memory left high by a first attack keeps it on, so a
    second attack raises nothing new. Per channel and metric, the second one is its own."""
    normal = normal_rows()
    channels = Channels([LevelChannel(FEATURES, hold=0.0)]).fit(normal, FEATURES)
    leaked = normal[-1].copy()
    leaked[1] = 40.0  # memory well above 29.25, and stays there
    starts = []
    for t in range(10):
        row = leaked.copy()
        if t >= 5:
            row[0] = 500.0  # a flood on top
        starts += [(t, f.rule.name) for f in channels.step(t * 0.5, row) if f.started]
    assert starts == [(0, "level:memory_rss"), (5, "level:throughput")]


def test_the_onset_channel_sees_a_rise_on_top_of_a_raised_level() -> None:
    normal = normal_rows()
    onset = OnsetChannel(FEATURES, step=0.5, hold=0.0)
    channels = Channels([onset]).fit(normal, FEATURES)
    channels.prime(normal[-onset.memory :])
    raised = normal[-1].copy()
    raised[0] = 60.0  # the residue of a first flood: high but steady
    for t in range(40):
        channels.step(t * 0.5, raised)  # the rise itself alerts, then it is the new level
    quiet = [f.rule.name for f in channels.step(20.0, raised)]
    assert quiet == []
    row = raised.copy()
    row[0] = 90.0
    names = {f.rule.name for t in range(3) for f in channels.step(20.5 + t * 0.5, row)}
    assert "onset:throughput" in names


def test_a_model_channel_fires_on_its_detectors_threshold() -> None:
    normal = normal_rows(400)
    detector = fit_detector("zscore", normal, FEATURES, Fitting(window=4))
    channels = Channels([ModelChannel(detector, hold=0.0)]).fit(normal, FEATURES)
    channels.prime(normal[-4:])
    assert channels.step(0.0, normal[0]) == []
    wild = normal[0] * np.array([10.0, 3.0, 50.0, 1.0]) + np.array([0, 0, 0, 1.0])
    fired = channels.step(0.5, wild)
    assert [f.rule.name for f in fired] == ["model"] and fired[0].ratio > 1


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=2, max_size=50))
def test_no_normal_value_fires_its_own_level(values: list[float]) -> None:
    normal = np.array(values)[:, None]
    channels = Channels([LevelChannel(("net_rx",), hold=0.0)]).fit(normal, ("net_rx",))
    assert not any(channels.step(float(t), row) for t, row in enumerate(normal))


def test_channel_choices_are_checked() -> None:
    assert check_channels(["level", "onset", "level"]) == ("level", "onset")
    with pytest.raises(ValueError, match="unknown detection channel 'spike'"):
        check_channels(["level", "spike"])
    with pytest.raises(ValueError, match="no detection channel"):
        check_channels([])
    with pytest.raises(ValueError, match="needs a fitted detector"):
        loop_channels(["model"], FEATURES, 0.5, None)


def test_a_normal_series_too_short_or_misnamed_is_refused() -> None:
    with pytest.raises(ValueError, match="expected"):
        Channels([LevelChannel(("cpu",))]).fit(np.zeros((1, 1)), ("cpu",))
    with pytest.raises(ValueError, match="no column 'cpu'"):
        Channels([LevelChannel(("cpu",))]).fit(np.zeros((3, 1)), ("net_rx",))


def test_holding_names_the_rules_pending_or_firing() -> None:
    channels = Channels([LevelChannel(("cpu", "net_rx"), hold=1.0)])
    channels.fit(np.array([[0.1, 1.0], [0.2, 2.0]]), ("cpu", "net_rx"))  # limits 0.3, 3
    channels.step(0.0, np.array([0.5, 1.0]))  # cpu out of line, not yet for 1 s
    assert [r.name for r in channels.holding] == ["level:cpu"]
    channels.step(0.5, np.array([0.5, 9.0]))
    assert [r.name for r in channels.holding] == ["level:cpu", "level:net_rx"]
    channels.step(1.0, np.array([0.1, 1.0]))
    assert channels.holding == []


def test_a_short_history_measures_its_rise_from_what_it_has() -> None:
    onset = OnsetChannel(("net_rx",), step=1.0, recent_s=2.0, before_s=20.0)
    onset.fit(np.zeros((30, 1)), ("net_rx",))
    # 2 recent steps (4, 6: mean 5) over the 3 before them (median 0): a rise of 5
    assert onset.signal(np.array([[0.0], [0.0], [0.0], [4.0], [6.0]])).tolist() == [5.0]
    # fewer than 2 steps before the recent ones: no rise yet
    assert onset.signal(np.array([[0.0], [4.0], [6.0]])).tolist() == [0.0]

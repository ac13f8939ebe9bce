"""Prometheus-style alerting rules (secmas.analytics.alertrules), against hand-computed
cases of Prometheus' `for:` semantics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.analytics.alertrules import (
    AlertRule,
    RuleEvaluator,
    evaluate_rules,
    rules_from_normal,
)

FEATURES = ("cpu", "connections")


def test_thresholds_are_the_normal_maximum_times_the_factor() -> None:
    normal = np.array([[0.01, 2.0], [0.03, 4.0], [0.02, 1.0]])
    rules = rules_from_normal(normal, FEATURES, metrics=FEATURES, factor=1.5, hold=1.0)
    assert [r.metric for r in rules] == ["cpu", "connections"]
    assert [r.threshold for r in rules] == pytest.approx([0.045, 6.0])
    assert {r.hold for r in rules} == {1.0}
    assert rules[1].to_json() == {"alert": "connections", "expr": "connections > 6", "for": "1s"}


def test_for_one_second_at_half_second_steps_fires_on_the_third_true_step() -> None:
    """connections > 6 at t = 1.0, 1.5, 2.0, 2.5; false at 3.0; true at 3.5, 4.0:
    pending from 1.0, firing at 2.0 (2.0 − 1.0 ≥ 1) and 2.5; reset at 3.0; pending again
    from 3.5, not yet firing at 4.0."""
    times = np.arange(0.0, 4.5, 0.5)
    connections = np.array([1, 2, 9, 9, 9, 9, 1, 9, 9], dtype=float)
    values = np.stack([np.zeros_like(times), connections], axis=1)
    verdict = evaluate_rules([AlertRule("connections", 6.0, 1.0)], times, values, FEATURES)
    assert verdict.firing[:, 0].tolist() == [0, 0, 0, 0, 1, 1, 0, 0, 0]
    assert verdict.onsets.tolist() == [4]
    assert verdict.explain(4) == [("connections", 1.5)]


def test_for_zero_fires_at_the_first_true_step_and_equal_is_not_above() -> None:
    times = np.array([0.0, 0.5, 1.0, 1.5])
    values = np.array([[0.0, 6.0], [0.0, 7.0], [0.0, 5.0], [0.0, 8.0]])
    verdict = evaluate_rules([AlertRule("connections", 6.0, 0.0)], times, values, FEATURES)
    assert verdict.alerting.tolist() == [False, True, False, True]
    assert verdict.onsets.tolist() == [1, 3]


def test_for_counts_time_not_rows() -> None:
    """A dropped (stale) row leaves a gap: pending from 0.0, firing at 1.5 although only
    two rows were seen."""
    times = np.array([0.0, 1.5])
    values = np.array([[1.0, 0.0], [1.0, 0.0]])
    verdict = evaluate_rules([AlertRule("cpu", 0.5, 1.0)], times, values, FEATURES)
    assert verdict.firing[:, 0].tolist() == [False, True]


def test_the_set_alerts_while_any_rule_fires_and_names_them() -> None:
    times = np.arange(0.0, 2.5, 0.5)
    values = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 30.0], [0.0, 30.0], [0.0, 0.0]])
    rules = [AlertRule("cpu", 1.0, 0.0), AlertRule("connections", 10.0, 0.0)]
    verdict = evaluate_rules(rules, times, values, FEATURES)
    assert verdict.alerting.tolist() == [False, True, True, True, False]
    assert verdict.onsets.tolist() == [1]
    assert verdict.explain(2) == [("connections", 3.0), ("cpu", 2.0)]


def test_live_evaluation_is_the_batch_one() -> None:
    times = np.arange(0.0, 3.0, 0.5)
    values = np.array([[0.0, 9.0]] * 6)
    rules = (AlertRule("connections", 6.0, 1.0),)
    live = RuleEvaluator(rules, FEATURES)
    steps = [bool(live.step(t, row)[0]) for t, row in zip(times, values, strict=True)]
    assert steps == evaluate_rules(rules, times, values, FEATURES).alerting.tolist()


def test_bad_rules_and_data_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no column 'latency_p90'"):
        rules_from_normal(np.ones((3, 2)), FEATURES, metrics=("latency_p90",))
    with pytest.raises(ValueError, match="factor 0"):
        rules_from_normal(np.ones((3, 2)), FEATURES, metrics=FEATURES, factor=0.0)
    with pytest.raises(ValueError, match="expected"):
        rules_from_normal(np.ones((0, 2)), FEATURES, metrics=FEATURES)
    with pytest.raises(ValueError, match="for -1"):
        AlertRule("cpu", 1.0, -1.0)
    with pytest.raises(ValueError, match="lacks: load"):
        RuleEvaluator((AlertRule("load", 1.0),), FEATURES)


@given(
    st.lists(st.floats(0, 20, allow_nan=False), min_size=1, max_size=40),
    st.integers(0, 6),
)
def test_a_rule_fires_exactly_after_k_true_steps_in_a_row(levels: list[float], k: int) -> None:
    """At a regular 0.5 s step, `for: k·0.5 s` fires where the last k + 1 steps all hold."""
    times = 0.5 * np.arange(len(levels))
    values = np.stack([np.zeros(len(levels)), np.array(levels)], axis=1)
    verdict = evaluate_rules([AlertRule("connections", 10.0, 0.5 * k)], times, values, FEATURES)
    above = np.array(levels) > 10.0
    expected = [i >= k and bool(above[i - k : i + 1].all()) for i in range(len(levels))]
    assert verdict.alerting.tolist() == expected

"""Static (the paper's 99th percentile) and adaptive (drift-following) thresholds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from secmas.analytics.threshold import (
    MAD_TO_SIGMA,
    AdaptiveThreshold,
    StaticThreshold,
    threshold_from_json,
)


def test_static_is_the_percentile_of_the_training_errors() -> None:
    errors = np.arange(1.0, 101.0)  # 1 … 100
    rule = StaticThreshold().calibrate(errors)
    assert rule.value == pytest.approx(np.percentile(errors, 99))
    assert rule.flags([99.0, 99.5, 100.0]).tolist() == [False, True, True]
    assert StaticThreshold(50).calibrate([1.0, 2.0, 3.0]).value == 2.0


def test_static_flags_strictly_above() -> None:
    rule = StaticThreshold(value=1.0)
    flags, limits = rule.evaluate([0.5, 1.0, 1.5])
    assert flags.tolist() == [False, False, True]
    assert limits.tolist() == [1.0, 1.0, 1.0]


def test_uncalibrated_thresholds_say_so() -> None:
    with pytest.raises(RuntimeError, match="call calibrate"):
        StaticThreshold().flags([1.0])
    with pytest.raises(RuntimeError, match="call calibrate"):
        AdaptiveThreshold().flags([1.0])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: StaticThreshold(0), "percentile must be in"),
        (lambda: StaticThreshold(101), "percentile must be in"),
        (lambda: StaticThreshold(value=float("nan")), "value must be a finite number"),
        (lambda: AdaptiveThreshold(window=2), "window must be an integer ≥ 3"),
        (lambda: AdaptiveThreshold(k=0), "k must be a positive number"),
        (lambda: AdaptiveThreshold(percentile=-1), "percentile must be in"),
    ],
)
def test_parameters_are_validated(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_scores_must_be_finite_and_one_dimensional() -> None:
    rule = StaticThreshold(value=1.0)
    with pytest.raises(ValueError, match="finite"):
        rule.flags([1.0, float("nan")])
    with pytest.raises(ValueError, match="one number per window"):
        rule.flags([[1.0]])
    with pytest.raises(ValueError, match="no training errors"):
        StaticThreshold().calibrate([])


def test_adaptive_rule_by_hand() -> None:
    # floor = median of 1…5 = 3; history 1…5: median 3, MAD 1 → limit 3 + 1.4826 = 4.4826.
    rule = AdaptiveThreshold(window=5, k=1.0, percentile=50).calibrate([1.0, 2, 3, 4, 5])
    assert rule.floor == 3.0
    assert rule.history == (1.0, 2.0, 3.0, 4.0, 5.0)
    flags, limits = rule.evaluate([4.0, 10.0, 4.4])
    # 4.0 passes and enters the history: 2 3 4 5 4 → median 4, MAD 1 → limit 5.4826;
    # 10.0 is flagged and stays out, so 4.4 meets the same limit.
    assert flags.tolist() == [False, True, False]
    np.testing.assert_allclose(limits, [3 + MAD_TO_SIGMA, 4 + MAD_TO_SIGMA, 4 + MAD_TO_SIGMA])
    assert rule.history == (1.0, 2.0, 3.0, 4.0, 5.0)  # evaluating leaves the rule unchanged


def test_adaptive_never_goes_below_the_static_floor() -> None:
    rule = AdaptiveThreshold(window=3, k=1.0, floor=2.0, history=(0.1, 0.1, 0.1))
    flags, limits = rule.evaluate([1.5, 2.5])
    assert flags.tolist() == [False, True]
    assert limits.tolist() == [2.0, 2.0]


def test_adaptive_follows_slow_drift_but_not_an_attack() -> None:
    rng = np.random.default_rng(1)
    train = 0.5 + 0.05 * rng.standard_normal(500)
    drift = 0.5 + 0.0005 * np.arange(1000) + 0.05 * rng.standard_normal(1000)
    attack = drift[-1] + 1.0 + 0.05 * rng.standard_normal(50)
    scores = np.concatenate([drift, attack])
    static = StaticThreshold().calibrate(train)
    adaptive = AdaptiveThreshold().calibrate(train)
    static_flags = static.flags(scores)
    adaptive_flags, limits = adaptive.evaluate(scores)
    assert static_flags[:1000].mean() > 0.5  # the static limit cries wolf under drift
    assert adaptive_flags[:1000].mean() < 0.02
    assert adaptive_flags[1000:].all()  # the attack is flagged throughout …
    assert limits[-1] == pytest.approx(limits[1000])  # … and does not raise the limit


def test_live_evaluation_matches_the_batch_one() -> None:
    rule = AdaptiveThreshold(window=4, k=2.0).calibrate([1.0, 1.2, 0.9, 1.1, 1.0])
    scores = [1.0, 3.0, 1.1, 1.4, 5.0, 0.8]
    live = rule.live()
    assert [live.step(s)[0] for s in scores] == rule.flags(scores).tolist()


@pytest.mark.parametrize(
    "rule",
    [
        StaticThreshold(97.5).calibrate([1.0, 2.0, 3.0]),
        AdaptiveThreshold(window=10, k=3.0).calibrate(np.linspace(0, 1, 30)),
        StaticThreshold(),
    ],
)
def test_json_round_trip_through_the_kind(rule: StaticThreshold | AdaptiveThreshold) -> None:
    data = json.loads(json.dumps(rule.to_json()))
    again = threshold_from_json(data)
    assert type(again) is type(rule)
    assert again == rule


def test_json_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="unknown threshold kind 'dynamic'"):
        threshold_from_json({"kind": "dynamic"})
    with pytest.raises(ValueError, match="expected a 'static' threshold"):
        StaticThreshold.from_json({"kind": "adaptive"})
    with pytest.raises(ValueError, match="unknown static threshold fields"):
        threshold_from_json({"kind": "static", "percentile": 99, "level": 3})
    with pytest.raises(ValueError, match="window must be an integer"):
        threshold_from_json({"kind": "adaptive", "window": "ten"})
    with pytest.raises(ValueError, match="JSON object"):
        threshold_from_json([])  # type: ignore[arg-type]

"""SHAP attributions of the ML detections (secmas.policy.attribution): the Shapley routine
against hand-computed values, local accuracy, and what the real reference models'
explanations name on windows with a known cause."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from secmas.analytics.autoencoder import reconstruction_errors
from secmas.analytics.datasets import episode_series, normal_series
from secmas.analytics.reference import detection_models
from secmas.analytics.windows import sliding, window_labels
from secmas.policy.attribution import (
    Attribution,
    background_windows,
    explain_detector,
    explain_profile,
    shapley,
)
from secmas.scenario.loader import load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "cnf-attack.yaml"
CPU_RELATED = {"cpu", "load"}


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(SCENARIO)


@pytest.fixture(scope="module")
def models(scenario):
    """The reference models `secmas demo` uses (trained in ~12 s once, then cached)."""
    return detection_models(scenario)


@pytest.fixture(scope="module")
def detector(models):
    return models[0]


@pytest.fixture(scope="module")
def profiler(models):
    return models[1]


def table_game(table: dict[frozenset[int], float]):
    """A game given by its value on every coalition of players 0, 1, 2."""

    def game(coalitions: np.ndarray) -> np.ndarray:
        return np.array([table[frozenset(np.flatnonzero(row).tolist())] for row in coalitions])

    return game


# -- the Shapley routine ----------------------------------------------------------------------


def test_a_three_player_game_gets_its_hand_computed_shapley_values():
    # v(∅)=0, v(a)=1, v(b)=2, v(c)=0, v(ab)=4, v(ac)=1, v(bc)=2, v(abc)=6. Weights of a
    # marginal contribution to S for n = 3: 1/3 (|S| = 0), 1/6 (|S| = 1), 1/3 (|S| = 2):
    # a: 1/3·1 + 1/6·(4−2) + 1/6·(1−0) + 1/3·(6−2) = 13/6
    # b: 1/3·2 + 1/6·(4−1) + 1/6·(2−0) + 1/3·(6−1) = 19/6
    # c: 1/3·0 + 1/6·(1−1) + 1/6·(2−2) + 1/3·(6−4) = 4/6
    values = {(): 0, (0,): 1, (1,): 2, (2,): 0, (0, 1): 4, (0, 2): 1, (1, 2): 2, (0, 1, 2): 6}
    game = table_game({frozenset(k): float(v) for k, v in values.items()})
    got = shapley(game, ("a", "b", "c"), target="v")
    assert (got.value, got.base) == (6.0, 0.0)
    assert [name for name, _ in got.contributions] == ["b", "a", "c"]
    assert dict(got.contributions) == pytest.approx({"a": 13 / 6, "b": 19 / 6, "c": 4 / 6})
    assert "exact" in got.method


def test_sampled_values_are_exact_on_an_additive_game_and_always_add_up():
    weights = np.linspace(-3, 4, 14)

    def game(coalitions: np.ndarray) -> np.ndarray:
        additive = coalitions @ weights
        return additive + 2.0 * (coalitions[:, 0] & coalitions[:, 1])  # a pairwise synergy

    names = [f"m{i}" for i in range(14)]
    got = shapley(game, names, target="v", evaluations=500, seed=3)
    assert "sampled, seed 3" in got.method and "14 features" in got.method
    expected = dict(zip(names, weights + np.r_[1.0, 1.0, np.zeros(12)], strict=True))
    assert dict(got.contributions) == pytest.approx(expected, abs=0.05)
    assert got.residual == pytest.approx(0.0, abs=1e-9)
    assert got.value == pytest.approx(weights.sum() + 2.0)
    again = shapley(game, names, target="v", evaluations=500, seed=3)
    assert again == got


def test_attribution_text_and_json():
    attribution = Attribution(
        "anomaly score", 7.35, 0.42, (("cpu", 4.1), ("load", 2.0), ("latency_p90", 0.7)), "m"
    )
    assert attribution.text(2) == "anomaly score 7.35 vs 0.42 expected: cpu +4.1, load +2"
    assert attribution.top(1) == (("cpu", 4.1),)
    data = json.loads(json.dumps(attribution.to_json()))
    assert data["contributions"][0] == ["cpu", 4.1] and data["base"] == 0.42


def test_explanations_leave_numpy_global_random_state_alone():
    game = table_game({frozenset(s): float(len(s)) for s in ([], [0], [1], [0, 1])})
    np.random.seed(1)
    expected = np.random.rand()
    np.random.seed(1)
    shapley(game, ("a", "b"), target="v")
    assert np.random.rand() == expected


# -- the reference models ---------------------------------------------------------------------


def test_a_cpu_pushed_far_above_normal_gets_the_largest_share_of_the_anomaly_score(
    scenario, detector
):
    background = background_windows(scenario, detector.window)
    window = sliding(normal_series(scenario, 120, seed=77).values, detector.window)[40]
    cpu = detector.features.index("cpu")
    window[:, cpu] += 8 * detector.scaler.scale[cpu]
    explained = explain_detector(detector, window, background)
    name, share = explained.contributions[0]
    assert name == "cpu" and share > 0
    assert share > 0.5 * (explained.value - explained.base)
    assert explained.value == pytest.approx(detector.score_window(window)[0], rel=1e-4)
    scaled = detector.scaler.transform(background)
    base = reconstruction_errors(detector.model, scaled).mean()
    assert explained.base == pytest.approx(base, rel=1e-5)
    assert sum(v for _, v in explained.contributions) == pytest.approx(
        explained.value - explained.base, abs=1e-9
    )
    assert explained.text().startswith("anomaly score ") and ": cpu +" in explained.text()
    assert "× 16 background windows" in explained.method


def test_a_high_cpu_profile_is_explained_by_cpu_related_metrics(scenario, profiler):
    length = int(profiler.config["window"])
    series = episode_series(scenario, ("high_cpu",), seed=5, seconds=300)
    windows = sliding(series.values, length)
    labels = window_labels(series.labels, length)
    predicted = profiler.predict(windows)
    chosen = [
        i for i, (t, p) in enumerate(zip(labels, predicted, strict=True)) if t == p == "high_cpu"
    ]
    assert chosen, "the profiler names no high_cpu window of the episode"
    window = windows[chosen[len(chosen) // 2]]
    explained = explain_profile(profiler, window, background_windows(scenario, length))
    assert explained.target == "P(high_cpu)"
    assert CPU_RELATED & {name for name, _ in explained.top(3)}
    assert explained.contributions[0][1] > 0
    k = profiler.classes.index("high_cpu")
    stage2 = profiler.predict_detailed(window[None]).probabilities[0, k]
    assert explained.value == pytest.approx(stage2, abs=1e-5)
    assert explained.residual == pytest.approx(0.0, abs=1e-9)
    other = explain_profile(profiler, window, background_windows(scenario, length), "normal")
    assert other.target == "P(normal)" and other.value < explained.value


def test_background_windows_are_normal_deterministic_and_cached(scenario, detector):
    first = background_windows(scenario, detector.window, 8)
    assert first.shape == (8, detector.window, len(detector.features))
    assert background_windows(scenario, detector.window, 8) is first
    assert not first.flags.writeable
    scores = reconstruction_errors(detector.model, detector.scaler.transform(first)).mean(axis=1)
    assert (scores < detector.static.value).all()


# -- bad input --------------------------------------------------------------------------------


def test_bad_windows_backgrounds_and_labels_are_refused_by_name(scenario, detector, profiler):
    background = background_windows(scenario, detector.window)
    good = background[0]
    with pytest.raises(ValueError, match=r"window must have shape \(10, 14\).*got \(9, 14\)"):
        explain_detector(detector, good[1:], background)
    broken = good.copy()
    broken[3, 2] = np.nan
    with pytest.raises(ValueError, match="window holds NaN"):
        explain_detector(detector, broken, background)
    with pytest.raises(ValueError, match="background windows must have shape"):
        explain_detector(detector, good, background[:, :5])
    with pytest.raises(ValueError, match="not an array of numbers"):
        explain_detector(detector, [["x"] * 14] * 10, background)
    length = int(profiler.config["window"])
    window = background_windows(scenario, length)[0]
    with pytest.raises(ValueError, match=r"unknown label 'ddos'; .*high_cpu"):
        explain_profile(profiler, window, background_windows(scenario, length), "ddos")
    with pytest.raises(ValueError, match=r"window must have shape \(30, 14\)"):
        explain_profile(profiler, good, background)
    with pytest.raises(ValueError, match="evaluations must be at least 28 for 14 players"):
        explain_detector(detector, good, background, evaluations=10)
    with pytest.raises(ValueError, match="player names appear more than once"):
        shapley(lambda c: c.sum(axis=1), ("a", "a"), target="v")
    with pytest.raises(ValueError, match="length must be a positive number"):
        background_windows(scenario, 0)

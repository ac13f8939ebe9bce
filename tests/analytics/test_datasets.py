"""Labelled CNF series: shapes, labels, episodes, determinism and speed."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.analytics.datasets import (
    LabelledSeries,
    episode_series,
    normal_series,
    simulate,
)
from secmas.network.dataplane.cnf import METRICS, known_conditions
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "cnf-attack.yaml")
ANOMALIES = [c for c in known_conditions() if c != "normal"]


def runs(labels: np.ndarray) -> list[tuple[str, int, int]]:
    """(label, start, length) of each run of equal labels."""
    out, start = [], 0
    for label, group in itertools.groupby(labels.tolist()):
        length = len(list(group))
        out.append((label, start, length))
        start += length
    return out


def test_simulate_takes_one_cnf_with_its_labels() -> None:
    series = simulate(SCENARIO, 300, seed=1)
    assert isinstance(series, LabelledSeries) and len(series) == 300
    assert series.features == METRICS and series.step == 1.0
    assert series.values.shape == (300, len(METRICS)) and series.labels.shape == (300,)
    assert series.labels.dtype.kind == "U"
    assert [(label, start) for label, start, _ in runs(series.labels)] == [
        ("normal", 0),
        ("http_flood", 60),
        ("normal", 120),
        ("high_memory", 130),
        ("normal", 180),
        ("high_cpu", 190),
        ("normal", 230),
        ("network_latency", 250),
        ("normal", 280),
    ]
    assert np.array_equal(simulate(SCENARIO, 300, seed=1, cnf="web").values, series.values)


def test_normal_series_has_neither_attack_nor_incident() -> None:
    series = normal_series(SCENARIO, 200, seed=2)
    assert set(series.labels.tolist()) == {"normal"}
    cpu = series.values[:, METRICS.index("cpu")]
    assert cpu.max() < 0.6


def test_episodes_cover_every_condition_without_overlap() -> None:
    series = episode_series(SCENARIO, ANOMALIES, seed=5, seconds=1200)
    found = runs(series.labels)
    episodes = [(label, length) for label, _, length in found if label != "normal"]
    assert {label for label, _ in episodes} == set(ANOMALIES)
    assert all(30 <= length <= 60 for _, length in episodes)
    gaps = [length for label, _, length in found[1:-1] if label == "normal"]
    assert all(gap >= 20 for gap in gaps)
    # Each episode leaves its mark: the labelled steps differ from normal ones.
    normal = series.values[series.labels == "normal"].mean(0)
    for condition in ANOMALIES:
        during = series.values[series.labels == condition].mean(0)
        assert np.abs(during - normal).max() / np.abs(normal).max() > 0.01, condition


def test_normal_episodes_add_nothing() -> None:
    series = episode_series(SCENARIO, ["normal"], seed=0, seconds=200)
    assert set(series.labels.tolist()) == {"normal"}


def test_episodes_are_deterministic_for_a_seed() -> None:
    a, b, c = (episode_series(SCENARIO, ANOMALIES, seed=s, seconds=300) for s in (7, 7, 8))
    assert np.array_equal(a.values, b.values) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels, c.labels)


@settings(max_examples=15)
@given(
    conditions=st.lists(st.sampled_from(known_conditions()), min_size=1, max_size=4, unique=True),
    seed=st.integers(0, 2**16),
    low=st.integers(5, 20),
    extra=st.integers(0, 20),
)
def test_labels_come_from_the_chosen_conditions(
    conditions: list[str], seed: int, low: int, extra: int
) -> None:
    series = episode_series(SCENARIO, conditions, seed, seconds=200, episode=(low, low + extra))
    assert len(series) == 200
    assert set(series.labels.tolist()) <= {*conditions, "normal"}
    for label, _, length in runs(series.labels):
        if label != "normal":
            assert low <= length <= low + extra


def test_bad_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown conditions \\['meltdown'\\]"):
        episode_series(SCENARIO, ["high_cpu", "meltdown"], seed=0)
    with pytest.raises(ValueError, match="no conditions"):
        episode_series(SCENARIO, [], seed=0)
    with pytest.raises(ValueError, match="episode length"):
        episode_series(SCENARIO, ["high_cpu"], seed=0, episode=(40, 30))
    with pytest.raises(KeyError, match="unknown CNF 'db'"):
        simulate(SCENARIO, 10, seed=0, cnf="db")
    bare = SCENARIO.model_copy(update={"cnfs": (), "incidents": ()})
    with pytest.raises(ValueError, match="no CNF"):
        normal_series(bare, 10, seed=0)


def test_forty_minutes_of_episodes_are_a_step_a_second() -> None:
    series = episode_series(SCENARIO, ANOMALIES, seed=1, seconds=2400)
    assert len(series) == 2400

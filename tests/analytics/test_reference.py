"""Training the scenario's detection models and caching them (secmas.analytics.reference)."""

from __future__ import annotations

from pathlib import Path

import pytest

from secmas.analytics.reference import TrainingPlan, cache_key, detection_models
from secmas.scenario.loader import load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "cnf-attack.yaml"
TINY = TrainingPlan(samples=120, epochs=1, hidden=4, profile_seconds=400, profile_epochs=1)


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(SCENARIO)


def test_models_are_trained_once_then_loaded_from_the_cache(scenario, tmp_path):
    said: list[str] = []
    detector, profiler = detection_models(scenario, TINY, cache=tmp_path, say=said.append)
    assert any("training the LSTM autoencoder on 120 windows" in s for s in said)
    assert detector.window == TINY.window and detector.features[0] == "cpu"
    assert set(profiler.classes) >= {"normal", "high_cpu", "unknown"}
    said.clear()
    again, _ = detection_models(scenario, TINY, cache=tmp_path, say=said.append)
    assert any("loaded" in s for s in said) and not any("training" in s for s in said)
    assert again.static.value == pytest.approx(detector.static.value)


def test_an_unusable_cached_model_is_trained_again(scenario, tmp_path):
    detection_models(scenario, TINY, cache=tmp_path)
    for path in (tmp_path / "models").glob("*-autoencoder.pt"):
        path.write_bytes(b"not a model")
    said: list[str] = []
    detection_models(scenario, TINY, cache=tmp_path, say=said.append)
    assert any("cached model unusable" in s for s in said)


def test_cache_key_ignores_the_attack_but_not_the_network(scenario):
    quiet = scenario.model_copy(update={"attack": None, "incidents": ()})
    assert cache_key(quiet, TINY) == cache_key(scenario, TINY)
    other = scenario.model_copy(update={"seed": scenario.seed + 1})
    assert cache_key(other, TINY) != cache_key(scenario, TINY)
    assert cache_key(scenario, TrainingPlan()) != cache_key(scenario, TINY)


def test_plan_sizes_are_checked():
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        TrainingPlan(epochs=0)


def test_plan_follows_the_scenario_settings(scenario):
    analytics = scenario.analytics.model_copy(update={"samples": 500, "epochs": 4})
    plan = TrainingPlan.for_scenario(scenario.model_copy(update={"analytics": analytics}))
    assert (plan.samples, plan.epochs, plan.batch) == (500, 4, 50)

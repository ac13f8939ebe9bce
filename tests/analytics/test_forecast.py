"""LSTM forecaster of Annex A / Section 6.3 (004_…) on tiny sine series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from secmas.analytics.forecast import Forecaster, ForecastNet, longest_horizon
from secmas.analytics.metrics import Regression
from secmas.analytics.modelfile import ModelFileError, save_model

FEATURES = ("cpu", "load", "memory_rss")


def sine_series(steps: int = 600, seed: int = 0) -> np.ndarray:
    """cpu: a sine of period 40; load: its double; memory_rss: a slower sine around 500 MB."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    cpu = 1.0 + 0.5 * np.sin(2 * np.pi * t / 40)
    memory = 500.0 + 50.0 * np.sin(2 * np.pi * t / 120)
    series = np.stack([cpu, 2 * cpu, memory], axis=1)
    return series + rng.normal(scale=0.005, size=series.shape) * series.std(axis=0)


@pytest.fixture(scope="module")
def forecaster() -> Forecaster:
    return Forecaster.fit(
        sine_series(),
        ["cpu", "memory_rss"],
        features=FEATURES,
        horizon=3,
        window=10,
        epochs=10,
        width=0.5,
        lr=0.01,
        seed=0,
    )


def test_network_shape() -> None:
    torch.manual_seed(0)
    net = ForecastNet(inputs=5, targets=2, horizon=4).eval()
    assert net(torch.randn(7, 12, 5)).shape == (7, 4, 2)


def test_convolution_and_lstm_are_causal() -> None:
    torch.manual_seed(0)
    net = ForecastNet(inputs=3, targets=1, horizon=2, width=0.25).eval()
    seen: list[torch.Tensor] = []
    net.lstm1.register_forward_hook(lambda _m, _i, out: seen.append(out[0]))
    x = torch.randn(1, 8, 3)
    later = x.clone()
    later[0, -1] += 10.0  # change the last step only
    with torch.no_grad():
        net(x)
        net(later)
    assert torch.equal(seen[0][0, :-1], seen[1][0, :-1])
    assert not torch.equal(seen[0][0, -1], seen[1][0, -1])


def test_forecaster_reaches_r2_above_0_9_one_step_ahead(forecaster: Forecaster) -> None:
    scores = forecaster.evaluate(sine_series(seed=1))
    assert set(scores) == {"cpu", "memory_rss"}
    assert all(len(steps) == 3 for steps in scores.values())
    assert scores["cpu"][0].r2 > 0.9
    assert scores["memory_rss"][0].r2 > 0.9
    assert longest_horizon(scores, "cpu") >= 1
    assert forecaster.targets == (0, 2)
    assert len(forecaster.history["loss"]) == 10


def test_predictions_are_in_original_units(forecaster: Forecaster) -> None:
    series = sine_series(seed=2)[:100]
    guesses = forecaster.predict(series)
    assert guesses.shape == (100 - 10 + 1, 3, 2)
    assert abs(guesses[:, :, 1].mean() - series[:, 2].mean()) < 25  # around 500 MB, not 0
    assert np.allclose(forecaster.forecast(series), guesses[-1])


def test_longest_horizon_on_hand_made_scores() -> None:
    def steps(*r2: float) -> tuple[Regression, ...]:
        return tuple(Regression(r, 0.0, 0.0) for r in r2)

    scores = {
        "cpu": steps(0.99, 0.95, 0.85, 0.92, 0.5),
        "memory_rss": steps(0.95, 0.91, 0.9, 0.2),
        "net_rx": steps(0.5, 0.4),
    }
    assert longest_horizon(scores, "cpu") == 4  # the largest passing step, not the first gap
    assert longest_horizon(scores, "memory_rss") == 2  # R² must exceed 0.9 strictly
    assert longest_horizon(scores, "net_rx") == 0
    assert longest_horizon(scores, "net_rx", r2_min=0.45) == 1
    with pytest.raises(ValueError, match="disk"):
        longest_horizon(scores, "disk")


def test_save_load_round_trip(forecaster: Forecaster, tmp_path: Path) -> None:
    series = sine_series(seed=3)[:60]
    path = tmp_path / "forecaster.pt"
    forecaster.save(path)
    loaded = Forecaster.load(path)
    assert np.array_equal(loaded.predict(series), forecaster.predict(series))
    assert loaded.target_names == ("cpu", "memory_rss")


def test_loading_another_kind_fails(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    save_model(path, "profiler", {}, {}, {})
    with pytest.raises(ModelFileError, match=r"model\.pt.*'profiler'"):
        Forecaster.load(path)
    save_model(path, "forecaster", {"inputs": 3}, {}, {})
    with pytest.raises(ModelFileError, match=r"model\.pt"):
        Forecaster.load(path)


def test_bad_inputs_are_refused(forecaster: Forecaster) -> None:
    series = sine_series(steps=40)
    with pytest.raises(ValueError, match="'gpu'"):
        Forecaster.fit(series, ["gpu"], features=FEATURES)
    with pytest.raises(ValueError, match="outside"):
        Forecaster.fit(series, [7])
    with pytest.raises(ValueError, match="too short"):
        Forecaster.fit(series[:12], [0], window=10, horizon=3)
    with pytest.raises(ValueError, match="expects 3 features"):
        forecaster.predict(series[:, :2])
    with pytest.raises(ValueError, match="known steps"):
        forecaster.evaluate(series[:12])


def test_residual_net_starts_from_the_last_observed_value():
    torch.manual_seed(0)
    net = ForecastNet(3, 1, 4, width=0.25, anchors=[2]).eval()
    for parameter in net.head[-1].parameters():
        torch.nn.init.zeros_(parameter)
    x = torch.randn(5, 8, 3)
    out = net(x)
    assert torch.allclose(out, x[:, -1, 2].reshape(5, 1, 1).expand(5, 4, 1))
    with pytest.raises(ValueError, match="anchors"):
        ForecastNet(3, 2, 4, anchors=[0])


def test_the_peak_is_the_forecasts_highest_value_of_a_target(forecaster: Forecaster) -> None:
    recent = sine_series(seed=3)[:50]
    ahead = forecaster.forecast(recent)
    assert forecaster.peak(recent, "memory_rss") == pytest.approx(ahead[:, 1].max())
    assert forecaster.peak(recent) == pytest.approx(ahead[:, 0].max())
    with pytest.raises(ValueError, match="not one of"):
        forecaster.peak(recent, 5)

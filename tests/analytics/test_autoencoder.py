"""The LSTM autoencoder, its training, and the detector built on it (tiny sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from secmas.analytics.autoencoder import (
    Detector,
    DetectorInputError,
    LSTMAutoencoder,
    reconstruction_errors,
    train_autoencoder,
)
from secmas.analytics.modelfile import ModelFileError, load_model, save_model
from secmas.analytics.threshold import AdaptiveThreshold
from secmas.analytics.windows import Scaler, sliding

FEATURES = ("cpu", "load", "latency")
WINDOW = 8


def normal_series(steps: int = 240, seed: int = 0) -> np.ndarray:
    """Three correlated periodic metrics with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    base = np.sin(2 * np.pi * t / 24)
    values = np.column_stack([2 + base, 1 + 0.5 * base, 10 + 3 * np.cos(2 * np.pi * t / 24)])
    return values + 0.05 * rng.standard_normal(values.shape)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.fit(
        normal_series(), FEATURES, window=WINDOW, epochs=2, hidden=6, latent=3, seed=0
    )


def tiny_windows(count: int = 60) -> np.ndarray:
    x = normal_series(count + WINDOW - 1)
    return sliding(Scaler.fit(x).transform(x), WINDOW)


def test_model_reconstructs_windows_of_any_length() -> None:
    torch.manual_seed(0)
    model = LSTMAutoencoder(3, hidden=4, latent=2)
    assert model(torch.zeros(5, 7, 3)).shape == (5, 7, 3)
    assert model.encode(torch.zeros(5, 7, 3)).shape == (5, 2)
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        LSTMAutoencoder(3, hidden=0)


def test_training_history_progress_and_seed() -> None:
    windows = tiny_windows()
    seen: list[tuple[int, float, float | None]] = []
    before = torch.random.get_rng_state()
    first = train_autoencoder(
        windows,
        epochs=3,
        batch=16,
        hidden=4,
        latent=2,
        learning_rate=1e-2,
        progress=lambda *a: seen.append(a),
    )
    assert torch.equal(torch.random.get_rng_state(), before)  # global state untouched
    assert [h.epoch for h in first.history] == [1, 2, 3]
    assert seen == [(h.epoch, h.train, h.validation) for h in first.history]
    assert first.history[-1].train < first.history[0].train
    assert all(h.validation is not None for h in first.history)
    again = train_autoencoder(windows, epochs=3, batch=16, hidden=4, latent=2, learning_rate=1e-2)
    for a, b in zip(first.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not first.model.training


def test_training_without_validation_and_with_too_few_windows() -> None:
    windows = tiny_windows(10)
    result = train_autoencoder(windows, epochs=1, hidden=4, latent=2, validation=0.0)
    assert result.history[0].validation is None
    with pytest.raises(ValueError, match="too few to hold 20% out"):
        train_autoencoder(windows, epochs=1, hidden=4, latent=2, gap=8)
    with pytest.raises(ValueError, match="validation share"):
        train_autoencoder(windows, validation=1.0)
    with pytest.raises(ValueError, match=r"windows \[N, T, F\]"):
        train_autoencoder(windows[0])


def test_static_threshold_is_the_99th_percentile_of_the_normal_windows(
    detector: Detector,
) -> None:
    x = normal_series()
    windows = sliding(detector.scaler.transform(x), WINDOW)
    errors = reconstruction_errors(detector.model, windows).mean(axis=1)
    assert detector.static.value == pytest.approx(np.percentile(errors, 99))
    assert detector.adaptive.floor == pytest.approx(detector.static.value)
    scores = detector.score(x)
    assert len(scores) == len(x) - WINDOW + 1
    assert scores.end.tolist() == list(range(WINDOW - 1, len(x)))
    assert 0 < scores.flags.sum() <= 0.02 * len(scores)
    np.testing.assert_allclose(scores.score, errors, rtol=1e-6)
    assert len(detector.history) == 2


def test_an_anomaly_is_flagged_and_explained_by_its_metric(detector: Detector) -> None:
    x = normal_series(120, seed=5)
    x[60:70, 1] += 8 * detector.scaler.scale[1]  # load jumps by 8 standard deviations
    scores = detector.score(x)
    inside = (scores.end >= 60) & (scores.end < 70)
    assert scores.flags[inside].all()
    worst = int(np.argmax(scores.score))
    assert scores.top_feature(worst) == "load"
    explained = scores.explain(worst)
    assert explained[0][0] == "load"
    assert [e for _, e in explained] == sorted((e for _, e in explained), reverse=True)
    assert len(scores.explain(worst, top=2)) == 2
    adaptive = detector.score(x, threshold="adaptive")
    assert adaptive.flags[inside].all()
    assert not (adaptive.flags & ~scores.flags).any()  # its floor is the static limit


def test_live_scoring_matches_batch_scoring(detector: Detector) -> None:
    x = normal_series(40, seed=3)
    x[20:24, 0] += 6 * detector.scaler.scale[0]
    static = detector.score(x)
    adaptive = detector.score(x, threshold="adaptive")
    detector.reset_live()
    assert detector.threshold_value("adaptive") == adaptive.limit[0]
    live = []
    for i in range(len(static)):
        score, per_feature, flags = detector.score_window(x[i : i + WINDOW])
        assert score == pytest.approx(static.score[i], rel=1e-5)
        np.testing.assert_allclose(per_feature, static.per_feature[i], rtol=1e-5)
        assert flags["static"] == static.flags[i]
        assert detector.threshold_value("static") == static.limit[i]
        assert detector.threshold_value("adaptive") == pytest.approx(adaptive.limit[i])
        live.append(flags["adaptive"])
    assert live == adaptive.flags.tolist()
    assert any(live)
    detector.reset_live()
    with pytest.raises(DetectorInputError, match=r"shape \(8, 3\)"):
        detector.score_window(x[:5])


def test_describe_is_json(detector: Detector) -> None:
    summary = json.loads(json.dumps(detector.describe()))
    assert summary["features"] == list(FEATURES)
    assert summary["window"] == WINDOW
    assert summary["thresholds"]["static"]["value"] == detector.static.value
    assert "history" not in summary["thresholds"]["adaptive"]
    assert summary["epochs"] == 2 and summary["validation_loss"] is not None


def test_columns_are_matched_by_name(detector: Detector) -> None:
    x = normal_series(30)
    shuffled = x[:, [2, 0, 1]]
    named = detector.score(shuffled, columns=("latency", "cpu", "load"))
    np.testing.assert_allclose(named.score, detector.score(x).score)
    with pytest.raises(DetectorInputError, match="missing 'latency'; unexpected 'mem'"):
        detector.score(x, columns=("cpu", "load", "mem"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((30, 2)), "the data has 2 columns; the model was fitted on 3 features"),
        (np.zeros((7, 3)), "the data has 7 rows; the model needs at least 8"),
        (np.zeros(30), r"expected a series \[steps, features\]"),
    ],
)
def test_data_the_model_cannot_score(detector: Detector, data: np.ndarray, message: str) -> None:
    with pytest.raises(DetectorInputError, match=message):
        detector.score(data)


def test_missing_values_and_unknown_threshold(detector: Detector) -> None:
    x = normal_series(30)
    x[12, 0] = np.nan
    with pytest.raises(DetectorInputError, match="missing or infinite value at row 12"):
        detector.score(x)
    with pytest.raises(ValueError, match="'static' or 'adaptive'"):
        detector.score(normal_series(30), threshold="dynamic")  # type: ignore[arg-type]


def test_save_and_load_give_the_same_verdicts(detector: Detector, tmp_path: Path) -> None:
    path = tmp_path / "ae.pt"
    detector.save(path)
    again = Detector.load(path)
    x = normal_series(60, seed=9)
    x[30, 0] += 20
    a, b = detector.score(x), again.score(x)
    np.testing.assert_array_equal(a.score, b.score)
    np.testing.assert_array_equal(a.flags, b.flags)
    assert again.features == FEATURES
    assert again.window == WINDOW
    assert again.history == detector.history
    assert again.adaptive == detector.adaptive
    assert load_model(path, "autoencoder").config == {
        "features": list(FEATURES),
        "window": WINDOW,
        "hidden": 6,
        "latent": 3,
    }


def test_loading_a_damaged_or_foreign_model(detector: Detector, tmp_path: Path) -> None:
    path = tmp_path / "ae.pt"
    detector.save(path)
    stored = load_model(path, "autoencoder")
    wrong = tmp_path / "wrong.pt"
    config = {**stored.config, "features": ["cpu", "load"]}
    save_model(wrong, "autoencoder", config, stored.state, stored.extras)
    with pytest.raises(ModelFileError, match=r"wrong\.pt: malformed autoencoder model"):
        Detector.load(wrong)
    no_scaler = tmp_path / "ns.pt"
    save_model(no_scaler, "autoencoder", stored.config, stored.state, {})
    with pytest.raises(ModelFileError, match="missing field 'scaler'"):
        Detector.load(no_scaler)
    profiler = tmp_path / "p.pt"
    save_model(profiler, "profiler", {}, {}, {})
    with pytest.raises(ModelFileError, match="holds a 'profiler' model, expected 'autoencoder'"):
        Detector.load(profiler)


def test_fit_takes_adaptive_parameters() -> None:
    fitted = Detector.fit(
        normal_series(60),
        FEATURES,
        window=4,
        epochs=1,
        hidden=4,
        latent=2,
        adaptive=AdaptiveThreshold(window=10, k=2.0),
    )
    assert (fitted.adaptive.window, fitted.adaptive.k) == (10, 2.0)
    assert len(fitted.adaptive.history) == 10

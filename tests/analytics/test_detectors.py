"""The baseline detectors (secmas.analytics.detectors) behind the autoencoder's interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from secmas.analytics.modelfile import ModelFileError, load_model, save_model
from secmas.analytics.registry import fit_detector, load_detector
from secmas.analytics.scoring import DetectorInputError, Fitting

FEATURES = ("cpu", "connections")
LEVEL_SENSITIVE = ("zscore", "pca", "iforest")
"""The baselines that see a level shift throughout (discord, z-normalised, sees its edges)."""


def normal(steps: int, seed: int = 0) -> np.ndarray:
    """CPU following the load (a period of 19 steps); connections following the CPU."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    cpu = 0.5 + 0.2 * np.sin(t / 3) + 0.01 * rng.standard_normal(steps)
    connections = 40 + 60 * (cpu - 0.5) + 0.5 * rng.standard_normal(steps)
    return np.stack([cpu, connections], axis=1)


def with_flood(steps: int = 300) -> np.ndarray:
    series = normal(steps, seed=1)
    series[150:180, 1] += 30  # connections jump, the CPU does not follow
    return series


@pytest.fixture(scope="module", params=LEVEL_SENSITIVE)
def detector(request):
    return fit_detector(request.param, normal(800), FEATURES, Fitting(window=10))


def test_a_level_shift_is_flagged_explained_and_the_normal_part_is_quiet(detector) -> None:
    scores = detector.score(with_flood())
    inside = (scores.end >= 155) & (scores.end < 180)
    assert scores.flags[inside].mean() > 0.9
    before = scores.end < 140
    assert scores.flags[before].mean() < 0.05
    strongest = int(np.argmax(scores.score))
    assert 150 <= scores.end[strongest] < 190
    assert scores.top_feature(strongest) == "connections"
    assert detector.describe()["detector"] == detector.name


def test_live_scoring_matches_batch_scoring(detector) -> None:
    series = with_flood()
    batch = detector.score(series)
    detector.reset_live()
    for end in (20, 160, 299):
        score, errors, flags = detector.score_window(series[end - 9 : end + 1])
        index = int(np.flatnonzero(batch.end == end)[0])
        assert score == pytest.approx(batch.score[index])
        np.testing.assert_allclose(errors, batch.per_feature[index])
        assert flags["static"] == bool(batch.flags[index])


def test_save_and_load_any_detector_give_the_same_verdicts(detector, tmp_path: Path) -> None:
    path = tmp_path / f"{detector.name}.pt"
    detector.save(path)
    assert load_model(path, detector.name).kind == detector.name  # the file records it
    loaded = load_detector(path)
    assert type(loaded) is type(detector) and loaded.features == FEATURES
    series = with_flood()
    np.testing.assert_allclose(loaded.score(series).score, detector.score(series).score)
    assert loaded.static.value == detector.static.value


def test_columns_by_name_and_data_it_cannot_score(detector) -> None:
    series = with_flood()
    swapped = detector.score(series[:, ::-1], columns=("connections", "cpu"))
    np.testing.assert_allclose(swapped.score, detector.score(series).score)
    with pytest.raises(DetectorInputError, match="missing 'cpu'"):
        detector.score(series, columns=("load", "connections"))
    with pytest.raises(DetectorInputError, match="at least 10"):
        detector.score(series[:5])
    broken = series.copy()
    broken[7, 0] = np.nan
    with pytest.raises(DetectorInputError, match="row 7"):
        detector.score(broken)


def test_a_single_spike_is_seen_by_the_robust_z_score_of_differences() -> None:
    detector = fit_detector("zscore", normal(800), FEATURES, Fitting(window=10))
    series = normal(200, seed=2)
    series[100, 0] += 0.15  # cpu: 15 noise σ but inside the sine's range of levels
    scores = detector.score(series)
    assert scores.flags[(scores.end >= 100) & (scores.end < 110)].all()
    assert 100 <= scores.end[int(np.argmax(scores.score))] < 110


def test_discord_finds_a_shape_never_seen_in_normal_behaviour(tmp_path: Path) -> None:
    detector = fit_detector("discord", normal(600), FEATURES, Fitting(window=10))
    series = normal(300, seed=3)
    series[120:130, 0] = 0.5 + 0.2 * np.sin(np.arange(10) * 2.5)  # a fast oscillation
    series[120:130, 1] = 40 + 60 * (series[120:130, 0] - 0.5)
    scores = detector.score(series)
    strongest = int(np.argmax(scores.score))
    assert 120 <= scores.end[strongest] < 140 and scores.top_feature(strongest) == "cpu"
    assert scores.flags[(scores.end >= 125) & (scores.end < 135)].any()
    detector.save(tmp_path / "d.pt")
    loaded = load_detector(tmp_path / "d.pt")
    np.testing.assert_allclose(loaded.score(series).score, scores.score)
    with pytest.raises(ValueError, match="≥ 3 steps"):
        fit_detector("discord", normal(100), FEATURES, Fitting(window=2))


def test_unknown_names_and_foreign_or_damaged_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no detector 'lof' is installed \(installed: discord"):
        fit_detector("lof", normal(100), FEATURES)
    save_model(tmp_path / "p.pt", "profiler", {}, {}, {})
    with pytest.raises(
        ModelFileError,
        match=r"holds a 'profiler' model, which no installed detector reads \(installed "
        r"detectors read: autoencoder \(lstm-ae\), discord \(discord\)",
    ):
        load_detector(tmp_path / "p.pt")
    good = fit_detector("pca", normal(200), FEATURES)
    good.save(tmp_path / "pca.pt")
    stored = load_model(tmp_path / "pca.pt", "pca")
    state = {k: v for k, v in stored.state.items() if k != "components"}
    save_model(tmp_path / "bad.pt", "pca", stored.config, state, stored.extras)
    with pytest.raises(ModelFileError, match=r"malformed pca model .*'components'"):
        load_detector(tmp_path / "bad.pt")

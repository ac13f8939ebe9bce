"""Two-stage 1D-CNN profiler (004_… Section 6.1.1, Annex A) on tiny synthetic windows."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from secmas.analytics.modelfile import ModelFileError, load_model, save_model
from secmas.analytics.profiling import (
    PATHS,
    PROFILE_CLASSES,
    BinaryCNN,
    MulticlassCNN,
    SeparableConv1d,
    TwoStageProfiler,
    balanced_weights,
)

STEPS, CHANNELS = 10, 6


def make_windows(per_class: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Noise windows; class k > 0 lifts channel k − 1 by 4 (the "unknown" class: channel 5)."""
    rng = np.random.default_rng(seed)
    labels = [c for c in PROFILE_CLASSES for _ in range(per_class)]
    x = rng.normal(size=(len(labels), STEPS, CHANNELS)).astype(np.float32)
    for i, label in enumerate(labels):
        k = PROFILE_CLASSES.index(label)
        if k:
            x[i, :, k - 1] += 4.0
    return x, labels


@pytest.fixture(scope="module")
def profiler() -> TwoStageProfiler:
    torch.manual_seed(0)
    x, labels = make_windows(30, seed=1)
    return TwoStageProfiler.fit(x, labels, width=0.5, epochs=5, batch=32, lr=0.01, seed=0)


@pytest.fixture(scope="module")
def test_set() -> tuple[np.ndarray, list[str]]:
    return make_windows(10, seed=2)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_networks_map_windows_to_class_logits() -> None:
    torch.manual_seed(0)
    for steps in (8, 30):
        x = torch.randn(4, steps, 14)
        assert BinaryCNN(14).eval()(x).shape == (4, 2)
        assert MulticlassCNN(14).eval()(x).shape == (4, 7)
    assert n_params(BinaryCNN(14, width=0.25)) < n_params(BinaryCNN(14))
    with pytest.raises(ValueError, match=r"\[N, T, C\]"):
        BinaryCNN(14)(torch.randn(4, 14))


def test_annex_a_parameter_counts() -> None:
    c = 14
    binary = (
        (c * 16 * 5 + 16)  # Conv1D(16, k5)
        + 2 * 16  # BatchNorm
        + (16 * 3 + 16 * 32 + 32)  # SeparableConv1D(32, k3)
        + (32 * 64 * 3 + 64)  # Conv1D(64, k3)
        + (64 * 32 + 32)  # Dense(32)
        + (32 * 2 + 2)  # Dense(2)
    )
    multiclass = (
        (c * 32 * 5 + 32)
        + 2 * 32
        + (32 * 64 * 3 + 64)
        + (64 * 128 * 3 + 128)
        + (128 * 64 + 64)
        + (64 * 7 + 7)
    )
    assert n_params(BinaryCNN(c)) == binary
    assert n_params(MulticlassCNN(c)) == multiclass


def test_separable_convolution_is_depthwise_then_pointwise() -> None:
    layer = SeparableConv1d(16, 32, 3)
    assert layer.depthwise.groups == 16
    assert tuple(layer.depthwise.weight.shape) == (16, 1, 3)
    assert layer.depthwise.bias is None
    assert tuple(layer.pointwise.weight.shape) == (32, 16, 1)
    assert n_params(layer) == 16 * 3 + 16 * 32 + 32
    assert n_params(layer) < n_params(torch.nn.Conv1d(16, 32, 3))
    # Depthwise: each channel's output depends on that channel only.
    x = torch.zeros(1, 16, 9)
    x[0, 3] = 1.0
    out = layer.depthwise(x)
    assert torch.count_nonzero(out[0, torch.arange(16) != 3]) == 0


def test_balanced_weights() -> None:
    weights = balanced_weights(np.array([0, 0, 0, 1]), 3)
    assert weights.tolist() == pytest.approx([4 / 6, 4 / 2, 0.0])


def test_profiler_learns_a_separable_problem(
    profiler: TwoStageProfiler, test_set: tuple[np.ndarray, list[str]]
) -> None:
    x, labels = test_set
    guesses = profiler.predict(x)
    assert set(guesses) <= set(PROFILE_CLASSES)
    accuracy = np.mean(np.array(guesses) == np.array(labels))
    assert accuracy > 0.8  # chance is 1/7
    binary = profiler.predict_binary(x)
    truth = ["normal" if label == "normal" else "anomalous" for label in labels]
    assert np.mean(np.array(binary) == np.array(truth)) > 0.8
    assert 0.0 < profiler.confidence <= 1.0
    assert set(profiler.history) == {"binary", "multiclass"}


def test_detailed_output(
    profiler: TwoStageProfiler, test_set: tuple[np.ndarray, list[str]]
) -> None:
    x, _ = test_set
    detail = profiler.predict_detailed(x)
    assert detail.anomaly.shape == (len(x),)
    assert detail.probabilities.shape == (len(x), len(PROFILE_CLASSES))
    assert np.allclose(detail.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert set(detail.paths) <= set(PATHS)
    for label, path, p in zip(detail.labels, detail.paths, detail.anomaly, strict=True):
        if path == "stage1_normal":
            assert label == "normal" and p < 0.5
        if path == "stage2":
            assert label not in ("normal", "unknown")


def test_trained_unknown_class_is_recognised(
    profiler: TwoStageProfiler, test_set: tuple[np.ndarray, list[str]]
) -> None:
    x, labels = test_set
    detail = profiler.predict_detailed(x)
    unknown = [i for i, label in enumerate(labels) if label == "unknown"]
    answers = [detail.labels[i] for i in unknown]
    assert answers.count("unknown") >= 0.8 * len(unknown)
    assert "stage2_unknown" in {detail.paths[i] for i in unknown}


def test_second_stage_overturns_stage_one_false_positives(
    profiler: TwoStageProfiler, test_set: tuple[np.ndarray, list[str]]
) -> None:
    x, labels = test_set
    normal = x[[i for i, label in enumerate(labels) if label == "normal"]]
    # A hair-trigger stage 1 flags every window, normal ones included (false positives).
    eager = copy.deepcopy(profiler)
    eager.stage1_threshold = 0.0
    detail = eager.predict_detailed(normal)
    overturned = [i for i, path in enumerate(detail.paths) if path == "overturned"]
    assert len(overturned) >= 0.8 * len(normal)
    assert all(detail.labels[i] == "normal" for i in overturned)
    assert "stage1_normal" not in detail.paths


def test_out_of_distribution_window_is_unknown(
    profiler: TwoStageProfiler, test_set: tuple[np.ndarray, list[str]]
) -> None:
    x, _ = test_set
    odd = x[:3].copy()
    odd[:, :, 2] = 1000.0  # far beyond anything seen on channel 2
    detail = profiler.predict_detailed(odd)
    assert detail.labels == ["unknown"] * 3
    assert detail.paths == ["envelope"] * 3
    assert profiler.outside(odd).all()
    assert not profiler.outside(x).any()


def test_low_confidence_is_rejected_as_unknown(
    profiler: TwoStageProfiler, test_set: tuple[np.ndarray, list[str]]
) -> None:
    x, _ = test_set
    strict = copy.deepcopy(profiler)
    strict.confidence = 1.01  # no softmax output reaches it
    detail = strict.predict_detailed(x)
    for label, path in zip(detail.labels, detail.paths, strict=True):
        assert path in ("stage1_normal", "low_confidence")
        assert label == ("normal" if path == "stage1_normal" else "unknown")


def test_save_load_round_trip(
    profiler: TwoStageProfiler, test_set: tuple[np.ndarray, list[str]], tmp_path: Path
) -> None:
    x, _ = test_set
    path = tmp_path / "profiler.pt"
    profiler.save(path)
    loaded = TwoStageProfiler.load(path)
    assert loaded.predict(x) == profiler.predict(x)
    before, after = profiler.predict_detailed(x), loaded.predict_detailed(x)
    assert np.array_equal(before.probabilities, after.probabilities)
    assert np.array_equal(before.anomaly, after.anomaly)
    assert loaded.confidence == profiler.confidence
    assert loaded.classes == PROFILE_CLASSES


def test_loading_another_kind_fails_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "detector.pt"
    save_model(path, "autoencoder", {"features": ["cpu"]}, {"w": torch.zeros(2)}, {})
    with pytest.raises(ModelFileError, match=r"detector\.pt.*'autoencoder'"):
        TwoStageProfiler.load(path)


def test_loading_a_profiler_of_the_wrong_shape_fails(
    profiler: TwoStageProfiler, tmp_path: Path
) -> None:
    path = tmp_path / "profiler.pt"
    profiler.save(path)
    stored = load_model(path, "profiler")
    broken = tmp_path / "broken.pt"
    save_model(broken, "profiler", stored.config | {"channels": 9}, stored.state, stored.extras)
    with pytest.raises(ModelFileError, match=r"broken\.pt"):
        TwoStageProfiler.load(broken)


def test_bad_inputs_are_refused(profiler: TwoStageProfiler) -> None:
    x, labels = make_windows(2, seed=3)
    with pytest.raises(ValueError, match="disk_storm"):
        TwoStageProfiler.fit(x, ["disk_storm"] * len(x))
    with pytest.raises(ValueError, match="both normal and anomalous"):
        TwoStageProfiler.fit(x, ["normal"] * len(x))
    with pytest.raises(ValueError, match="labels"):
        TwoStageProfiler.fit(x, labels[:-1])
    with pytest.raises(ValueError, match="expects 6 channels"):
        profiler.predict(x[:, :, :4])
    with pytest.raises(ValueError, match="at least 2 steps"):
        profiler.predict(x[:, :1])


def test_fit_is_deterministic_for_a_seed() -> None:
    x, labels = make_windows(4, seed=4)
    first = TwoStageProfiler.fit(x, labels, width=0.25, epochs=1, seed=3)
    second = TwoStageProfiler.fit(x, labels, width=0.25, epochs=1, seed=3)
    assert np.array_equal(
        first.predict_detailed(x).probabilities, second.predict_detailed(x).probabilities
    )


def pulse_windows(count: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Windows whose label is the state at their last step, as `window_labels` gives it.

    Every window holds one pulse of the same height and length range on channel 0; in a
    "high_cpu" window it lasts to the window's end, in a "normal" one it ended before. Level,
    spread and rise from the window's start are alike in both: only where the pulse sits
    tells them apart.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.1, size=(count, STEPS * 2, CHANNELS)).astype(np.float32)
    labels = []
    for i in range(count):
        length = int(rng.integers(3, 8))
        ongoing = i % 2 == 1
        end = STEPS * 2 if ongoing else int(rng.integers(length + 1, STEPS * 2 - 2))
        x[i, end - length : end, 0] += 3.0
        labels.append("high_cpu" if ongoing else "normal")
    return x, labels


def test_the_state_at_the_window_end_is_learnt() -> None:
    x, labels = pulse_windows(160, seed=5)
    test_x, test_labels = pulse_windows(80, seed=6)
    profiler = TwoStageProfiler.fit(x, labels, width=0.5, epochs=8, batch=32, lr=0.01, seed=0)
    truth = ["normal" if label == "normal" else "anomalous" for label in test_labels]
    assert np.mean(np.array(profiler.predict_binary(test_x)) == np.array(truth)) > 0.9


def test_inputs_take_each_metric_relative_to_the_anchor_step(
    profiler: TwoStageProfiler,
) -> None:
    scaled = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
    assert profiler.anchor == "end"
    inputs = profiler.inputs(scaled)
    assert np.array_equal(inputs[..., :3], scaled)
    assert np.array_equal(inputs[..., 3:], scaled - scaled[:, -1:, :])
    start = copy.deepcopy(profiler)
    start.anchor = "start"
    assert np.array_equal(start.inputs(scaled)[..., 3:], scaled - scaled[:, :1, :])
    with pytest.raises(ValueError, match="anchor 'middle'"):
        TwoStageProfiler.fit(*make_windows(2, seed=3), anchor="middle")  # type: ignore[arg-type]


def test_a_file_from_before_anchor_existed_keeps_its_start_anchor(
    profiler: TwoStageProfiler, tmp_path: Path
) -> None:
    path = tmp_path / "profiler.pt"
    profiler.save(path)
    stored = load_model(path, "profiler")
    older = tmp_path / "older.pt"
    config = {k: v for k, v in stored.config.items() if k != "anchor"} | {"anchored": True}
    save_model(older, "profiler", config, stored.state, stored.extras)
    assert TwoStageProfiler.load(older).anchor == "start"
    odd = tmp_path / "odd.pt"
    save_model(odd, "profiler", stored.config | {"anchor": "middle"}, stored.state, stored.extras)
    with pytest.raises(ModelFileError, match=r"odd\.pt.*anchor 'middle'"):
        TwoStageProfiler.load(odd)


RECORDED = ("normal", "syn_flood", "slowloris", "http_flood", "high_memory", "high_cpu")


def test_a_deployment_names_its_own_classes(tmp_path: Path) -> None:
    x, labels = make_windows(30, seed=5)
    mine = [RECORDED[PROFILE_CLASSES.index(label) % len(RECORDED)] for label in labels]
    trained = TwoStageProfiler.fit(
        x, mine, classes=RECORDED, width=0.5, epochs=5, batch=32, lr=0.01, seed=0
    )
    trained.save(tmp_path / "recorded.pt")
    loaded = TwoStageProfiler.load(tmp_path / "recorded.pt")
    assert trained.classes == loaded.classes == RECORDED
    said = loaded.predict(x)
    assert set(said) <= {*RECORDED, "unknown"}
    assert np.mean(np.array(said) == np.array(mine)) > 0.8


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (("syn_flood", "normal"), "start with 'normal'"),
        (("normal",), "start with 'normal'"),
        (("normal", "syn_flood", "syn_flood"), "repeat"),
    ],
)
def test_a_class_set_without_normal_first_or_with_repeats_is_refused(
    classes: tuple[str, ...], message: str
) -> None:
    x, _ = make_windows(2, seed=6)
    with pytest.raises(ValueError, match=message):
        TwoStageProfiler.fit(x, ["normal", "syn_flood"] * (len(x) // 2), classes=classes)

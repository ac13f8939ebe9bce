"""Sliding windows, window labels and the standardisation of metric series."""

from __future__ import annotations

import numpy as np
import pytest

from secmas.analytics.windows import Scaler, sliding, window_count, window_ends, window_labels


def series(steps: int = 6, features: int = 2) -> np.ndarray:
    return np.arange(steps * features, dtype=np.float64).reshape(steps, features)


def test_sliding_stride_one_gives_every_window_in_order() -> None:
    x = series()
    windows = sliding(x, 3)
    assert windows.shape == (4, 3, 2)
    assert windows.dtype == np.float32
    for i in range(4):
        np.testing.assert_array_equal(windows[i], x[i : i + 3])


def test_sliding_with_a_stride_and_an_exact_fit() -> None:
    x = series(7)
    windows = sliding(x, 3, stride=2)
    assert windows.shape == (3, 3, 2)
    np.testing.assert_array_equal(windows[2], x[4:7])
    assert sliding(x, 7).shape == (1, 7, 2)


def test_sliding_returns_a_writable_copy() -> None:
    x = series()
    windows = sliding(x, 2)
    windows[0, 0, 0] = 99.0
    assert x[0, 0] == 0.0
    assert windows.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize(
    ("steps", "length", "stride", "message"),
    [
        (4, 5, 1, "shorter than one window of 5"),
        (4, 0, 1, "at least 1"),
        (4, 2, 0, "stride must be at least 1"),
    ],
)
def test_sliding_refuses_impossible_windows(
    steps: int, length: int, stride: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sliding(series(steps), length, stride)


def test_sliding_needs_a_two_dimensional_series() -> None:
    with pytest.raises(ValueError, match=r"\[steps, features\]"):
        sliding(np.zeros(10), 3)


def test_window_labels_are_the_labels_of_the_last_steps() -> None:
    labels = np.array(["normal", "normal", "a", "a", "normal", "b"])
    assert window_labels(labels, 3).tolist() == ["a", "a", "normal", "b"]
    assert window_labels(labels, 2, stride=2).tolist() == ["normal", "a", "b"]
    assert window_ends(6, 2, 2).tolist() == [1, 3, 5]
    assert window_count(6, 3) == len(sliding(series(6), 3))


def test_scaler_standardises_each_feature() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[5.0, -3.0], scale=[2.0, 0.5], size=(500, 2))
    scaled = Scaler.fit(x).transform(x)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(scaled.std(axis=0), 1.0, atol=1e-5)


def test_a_constant_feature_gets_scale_one() -> None:
    x = np.column_stack([np.arange(10.0), np.full(10, 0.3)])
    scaler = Scaler.fit(x)
    assert scaler.scale[1] == 1.0
    np.testing.assert_allclose(scaler.transform(x)[:, 1], 0.0, atol=1e-7)


def test_scaler_fits_windows_like_their_series_and_transforms_any_shape() -> None:
    x = series(8, 3)
    windows = sliding(x, 8)
    a, b = Scaler.fit(x), Scaler.fit(windows)
    np.testing.assert_allclose(a.mean, b.mean)
    np.testing.assert_allclose(a.scale, b.scale)
    assert a.transform(sliding(x, 4)).shape == (5, 4, 3)


def test_scaler_refuses_data_of_another_width() -> None:
    with pytest.raises(ValueError, match="data has 2 features, the scaler was fitted on 3"):
        Scaler.fit(series(5, 3)).transform(series(5, 2))


def test_scaler_refuses_missing_values() -> None:
    x = series()
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Scaler.fit(x)


def test_scaler_json_round_trip_and_validation() -> None:
    scaler = Scaler.fit(series())
    again = Scaler.from_json(scaler.to_json())
    np.testing.assert_array_equal(again.mean, scaler.mean)
    np.testing.assert_array_equal(again.scale, scaler.scale)
    with pytest.raises(ValueError, match="malformed scaler"):
        Scaler.from_json({"mean": [0.0]})
    with pytest.raises(ValueError, match="positive"):
        Scaler.from_json({"mean": [0.0], "scale": [0.0]})
    with pytest.raises(ValueError, match="one length"):
        Scaler.from_json({"mean": [0.0, 1.0], "scale": [1.0]})

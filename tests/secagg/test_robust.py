"""Robust aggregation under MPC: sorting network, clamping, norm bounding, trimmed mean,
and federated training with label-flipping clients (accuracy kept vs plain averaging)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
from sklearn.datasets import load_digits

from secmas.secagg.beaver import TwoParty
from secmas.secagg.mpc import mpc_config
from secmas.secagg.robust import (
    RobustOptions,
    clip_norm,
    robust_aggregate,
    robust_mpc,
    sorting_network,
    trim_count,
    trimmed_mean,
)


@pytest.mark.parametrize("n", range(1, 11))
def test_sorting_network_sorts_every_zero_one_input(n: int) -> None:
    """The 0-1 principle: a comparator network that sorts all 2^n 0-1 inputs sorts all."""
    network = sorting_network(n)
    for bits in itertools.product((0, 1), repeat=n):
        values = list(bits)
        for layer in network:
            touched = [i for pair in layer for i in pair]
            assert len(touched) == len(set(touched))  # comparators of a layer are disjoint
            for i, j in layer:
                if values[i] > values[j]:
                    values[i], values[j] = values[j], values[i]
        assert values == sorted(values)


def test_robust_mean_under_mpc_matches_the_clear_rule() -> None:
    rng = np.random.default_rng(0)
    inputs = {i: rng.normal(0, 0.2, 300) for i in range(13)}
    result = robust_mpc(inputs, RobustOptions(trim=0.2), dropouts=[4])
    assert result.clients == tuple(c for c in range(13) if c != 4)
    assert result.trimmed == trim_count(12, 0.2) == 2
    expected = trimmed_mean(np.stack([inputs[c] for c in result.clients]), 0.2)
    assert np.max(np.abs(result.mean - expected)) < 1e-4
    assert result.bytes_parties > 0 and result.bytes_dealer > 0 and result.rounds > 0


def test_out_of_range_and_wrapping_values_are_clamped() -> None:
    """A malicious client writes ring elements directly: ±2^63-ish values and values
    beyond the quantiser's range all count as ±L at most."""
    config = mpc_config(range(4), 5, ring_bits=64)
    engine = TwoParty()
    levels = config.quantiser.levels
    rows = np.array(
        [
            [2**63 - 1, -(2**63), 3 * levels, -5 * levels, 7, 0],
            [1, 2, 3, 4, 5, 0],
            [1, 2, 3, 4, 5, 0],
            [1, 2, 3, 4, 5, 0],
        ],
        dtype=np.int64,
    )
    shares = engine.share(rows.view(np.uint64))
    result = robust_aggregate(engine, shares, config, RobustOptions())
    total = np.rint(result.mean * 4 / config.quantiser.step).astype(np.int64)
    # the two wrapping values end up somewhere in [−L, L] (which end is not specified)
    assert np.all(np.abs(total[:2] - 3 * np.array([1, 2])) <= levels)
    # the others are clamped exactly
    assert np.array_equal(total[2:], [levels + 9, -levels + 12, 7 + 15])


def test_norm_bound_drops_boosted_updates_without_naming_them() -> None:
    rng = np.random.default_rng(1)
    inputs = {i: clip_norm(rng.normal(0, 0.05, 400), 1.0) for i in range(10)}
    inputs[3] = inputs[3] * 40  # boosted: norm ≈ 40
    result = robust_mpc(inputs, RobustOptions(norm_bound=1.0))
    assert result.kept == 9
    honest = np.stack([inputs[c] for c in range(10) if c != 3])
    assert np.max(np.abs(result.mean - honest.sum(axis=0) / 9)) < 1e-4


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="trim"):
        RobustOptions(trim=0.5)
    with pytest.raises(ValueError, match="positive"):
        RobustOptions(norm_bound=0)
    assert trim_count(10, 0.2) == 2 and trim_count(3, 0.3) == 0
    assert np.linalg.norm(clip_norm(np.full(4, 3.0), 1.0)) == pytest.approx(1.0)


# -- federated softmax regression on the digits data set, with label flippers ------------

Aggregate = Callable[[dict[int, np.ndarray]], np.ndarray]


class Digits:
    """sklearn's bundled 8×8 digits, split over 20 clients (IID), 397 held-out test images."""

    def __init__(self, clients: int = 20) -> None:
        x, y = load_digits(return_X_y=True)
        order = np.random.default_rng(0).permutation(len(y))
        x = np.c_[x[order] / 16.0, np.ones(len(y))]
        y = y[order]
        self.x_train, self.y_train = x[:1400], y[:1400]
        self.x_test, self.y_test = x[1400:], y[1400:]
        self.parts = np.array_split(np.arange(1400), clients)

    def local_update(self, weights: np.ndarray, client: int, flip: bool) -> np.ndarray:
        x, y = self.x_train[self.parts[client]], self.y_train[self.parts[client]]
        if flip:
            y = 9 - y  # label flipping
        w = weights.copy()
        for _ in range(5):
            z = x @ w
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(y)), y] -= 1
            w -= 0.5 * x.T @ p / len(y)
        return (w - weights).ravel()

    def accuracy(self, weights: np.ndarray) -> float:
        return float(np.mean(np.argmax(self.x_test @ weights, axis=1) == self.y_test))

    def train(
        self, aggregate: Aggregate, flippers: int, boost: float = 1.0, bound: float | None = None
    ) -> float:
        weights = np.zeros((65, 10))
        for _ in range(15):
            updates = {}
            for c in range(len(self.parts)):
                update = self.local_update(weights, c, c < flippers)
                if c < flippers:
                    update = update * boost  # model poisoning: a boosted update
                elif bound is not None:
                    update = clip_norm(update, bound)
                updates[c] = update
            weights = weights + aggregate(updates).reshape(65, 10)
        return self.accuracy(weights)


def plain_mean(updates: dict[int, np.ndarray]) -> np.ndarray:
    return np.mean(list(updates.values()), axis=0)


def test_label_flipping_clients_hurt_plain_averaging_not_the_trimmed_mean() -> None:
    data = Digits()
    clean = data.train(plain_mean, flippers=0)
    plain = data.train(plain_mean, flippers=8)  # 40 % of the clients flip their labels
    robust = data.train(lambda u: robust_mpc(u, RobustOptions(trim=0.4)).mean, flippers=8)
    assert clean > 0.9
    assert robust >= clean - 0.04  # accuracy kept
    assert robust >= plain + 0.05  # plain averaging loses it


def test_boosted_poisoning_is_stopped_by_the_norm_bound() -> None:
    data = Digits()
    plain = data.train(plain_mean, flippers=3, boost=10.0)
    bounded = data.train(
        lambda u: robust_mpc(u, RobustOptions(norm_bound=3.0)).mean,
        flippers=3,
        boost=10.0,
        bound=3.0,
    )
    assert plain < 0.6
    assert bounded > 0.9

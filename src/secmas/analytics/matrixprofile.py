"""Nearest-neighbour distances between z-normalised subsequences: the matrix profile.

For each subsequence of `window` steps of a query series, the z-normalised Euclidean
distance to its nearest neighbour among the subsequences of a reference series (an
AB-join), or among the query's own subsequences outside a trivial-match zone (a
self-join). Yeh et al., Matrix Profile I (ICDM 2016), Section III: with QT the dot product
of two subsequences, μ and σ their means and population standard deviations,

    d = sqrt(2m (1 − (QT − m μ_Q μ_T) / (m σ_Q σ_T)))

computed here for a block of query rows at a time as one matrix product, so that no kernel
has to be compiled (stumpy's numba kernels took 30–60 s on a fresh install). Conventions
as stumpy's: a constant subsequence (max = min) is at 0 from another constant one and at
√m from any other; a subsequence holding a non-finite value is infinitely far from all;
the self-join's trivial-match zone is ⌈m/4⌉ steps either side.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

BLOCK_CELLS = 1 << 22
"""Distances computed at once (query rows × reference subsequences): 32 MiB of float64."""
DENOMINATOR_FLOOR = 1e-14
"""Smallest m·σ_Q·σ_T divided by (stumpy's threshold), for nearly constant subsequences."""
EXCLUSION_DENOMINATOR = 4
"""A self-join ignores neighbours within ⌈m / 4⌉ steps (stumpy's default)."""


def ab_join(query: np.ndarray, reference: np.ndarray, window: int) -> np.ndarray:
    """Each query subsequence's distance to its nearest reference subsequence."""
    return _nearest(query, reference, window, exclusion=None)


def self_join(series: np.ndarray, window: int) -> np.ndarray:
    """Each subsequence's distance to its nearest neighbour more than ⌈m/4⌉ steps away
    (infinite where there is none)."""
    return _nearest(series, series, window, math.ceil(window / EXCLUSION_DENOMINATOR))


def _nearest(
    query: np.ndarray, reference: np.ndarray, window: int, exclusion: int | None
) -> np.ndarray:
    q, r = _Subsequences(query, window), _Subsequences(reference, window)
    found = np.empty(len(q.values))
    rows = max(1, BLOCK_CELLS // max(1, len(r.values)))
    for start in range(0, len(q.values), rows):
        stop = min(start + rows, len(q.values))
        squared = _squared(q, r, slice(start, stop), window)
        if exclusion is not None:
            i = np.arange(start, stop)[:, None]
            squared[np.abs(i - np.arange(len(r.values))[None, :]) <= exclusion] = np.inf
        found[start:stop] = squared.min(axis=1, initial=np.inf)
    return np.sqrt(found)


class _Subsequences:
    """A series' subsequences with their means, deviations and constancy."""

    def __init__(self, series: np.ndarray, window: int) -> None:
        values = np.asarray(series, dtype=np.float64)
        if values.ndim != 1 or window < 1 or len(values) < window:
            raise ValueError(f"need a 1-D series of at least {window} values")
        views = sliding_window_view(values, window)
        self.finite = np.isfinite(views).all(axis=1)
        self.values = np.where(self.finite[:, None], views, 0.0)
        self.mean = self.values.mean(axis=1)
        self.std = self.values.std(axis=1)
        self.constant = self.finite & (np.ptp(self.values, axis=1) == 0)


def _squared(q: _Subsequences, r: _Subsequences, rows: slice, m: int) -> np.ndarray:
    """Squared distances of query rows `rows` to every reference subsequence (the
    module's equation; ρ clipped at 1 against rounding)."""
    products = q.values[rows] @ r.values.T
    denominator = np.maximum(m * np.outer(q.std[rows], r.std), DENOMINATOR_FLOOR)
    rho = np.minimum((products - m * np.outer(q.mean[rows], r.mean)) / denominator, 1.0)
    squared = np.abs(2 * m * (1.0 - rho))
    q_constant, r_constant = q.constant[rows][:, None], r.constant[None, :]
    squared = np.where(q_constant | r_constant, float(m), squared)
    squared = np.where(q_constant & r_constant, 0.0, squared)
    return np.where(q.finite[rows][:, None] & r.finite[None, :], squared, np.inf)

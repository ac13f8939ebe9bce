"""Robust aggregation against label flipping and model poisoning (004_… Section 5.2).

Two defences, both applied to the clients' updates while they stay secret-shared between
the two computation parties of MPC aggregation (`secmas.secagg.mpc`, `secmas.secagg.beaver`):

- norm bounding (Sun et al., "Can You Really Backdoor Federated Learning?", 2019): every
  value is first clamped to the quantiser's range [−c, c] (so a malicious client cannot
  use ring wrap-around), then an update whose L2 norm exceeds the bound is replaced by
  zeros, without revealing which; only how many were kept is opened (the bound is checked
  on the quantised update, with half a quantisation step per value of slack). Honest clients clip
  their own update to the bound before sending (`clip_norm`), so they are never dropped;
  boosted (scaled-up) poisoned updates are.
- coordinate-wise trimmed mean (Yin et al., "Byzantine-Robust Distributed Learning",
  ICML 2018): for each coordinate the β·n largest and β·n smallest values are discarded
  and the rest averaged. Computed under MPC with Batcher's odd–even merge sorting network
  (Batcher 1968; every comparator a secure compare-exchange, each layer one vectorised
  batch over all coordinates); only the trimmed sum is opened.

`trimmed_mean` is the same rule in the clear (a reference, and what plain federated
averaging would be compared with).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from secmas.secagg.beaver import Shared, TwoParty
from secmas.secagg.errors import ProtocolAbort
from secmas.secagg.messages import Config
from secmas.secagg.mpc import ComputationParty, MpcClient, mpc_config
from secmas.secagg.neighbours import ThreatModel
from secmas.secagg.quantise import Quantiser
from secmas.secagg.session import Identities

__all__ = [
    "RobustOptions",
    "RobustResult",
    "clip_norm",
    "robust_aggregate",
    "robust_mpc",
    "sorting_network",
    "trim_count",
    "trimmed_mean",
]


@dataclass(frozen=True)
class RobustOptions:
    """`trim` β: the share of values discarded at each end of every coordinate (0: plain
    mean); `norm_bound`: the largest L2 norm an update may have (None: no bound)."""

    trim: float = 0.0
    norm_bound: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.trim < 0.5:
            raise ValueError(f"trim must lie in [0, 0.5), got {self.trim}")
        if self.norm_bound is not None and not self.norm_bound > 0:
            raise ValueError(f"norm bound must be positive, got {self.norm_bound}")


def trim_count(clients: int, trim: float) -> int:
    """Values discarded at each end: ⌊β·n⌋, leaving at least one."""
    count = int(np.floor(trim * clients + 1e-9))
    if clients - 2 * count < 1:
        raise ValueError(f"trimming {count} at each end of {clients} values leaves none")
    return count


def clip_norm(update: np.ndarray, bound: float) -> np.ndarray:
    """The update scaled down to L2 norm `bound` if it is longer (what honest clients do)."""
    array = np.asarray(update, dtype=np.float64)
    norm = float(np.linalg.norm(array))
    return array if norm <= bound else array * (bound / norm)


def trimmed_mean(updates: np.ndarray, trim: float) -> np.ndarray:
    """Coordinate-wise trimmed mean of updates [n, L] in the clear."""
    array = np.asarray(updates, dtype=np.float64)
    cut = trim_count(array.shape[0], trim)
    ordered = np.sort(array, axis=0)
    return ordered[cut : array.shape[0] - cut].mean(axis=0)


@lru_cache(maxsize=64)
def sorting_network(n: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Batcher's odd–even merge sort for n inputs, as layers of disjoint comparators
    (i < j: after the comparator position i holds the smaller value). Comparators that
    would touch positions ≥ n are left out: that is padding with +∞, which never moves."""
    layers = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            layer = []
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        layer.append((i + j, i + j + k))
            if layer:
                layers.append(tuple(layer))
            k //= 2
        p *= 2
    return tuple(layers)


def _public(value: int, shape: tuple[int, ...]) -> Shared:
    return Shared(
        np.full(shape, value, dtype=np.int64).astype(np.uint64), np.zeros(shape, np.uint64)
    )


def _sort_rows(engine: TwoParty, x: Shared) -> Shared:
    """Sort each column of x [n, L] ascending, under MPC."""
    s0, s1 = x.s0.copy(), x.s1.copy()
    for layer in sorting_network(x.shape[0]):
        low_idx = np.array([a for a, _ in layer])
        high_idx = np.array([b for _, b in layer])
        low, high = engine.compare_exchange(
            Shared(s0[low_idx], s1[low_idx]), Shared(s0[high_idx], s1[high_idx])
        )
        s0[low_idx], s1[low_idx] = low.s0, low.s1
        s0[high_idx], s1[high_idx] = high.s0, high.s1
    return Shared(s0, s1)


def _signed(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.uint64).view(np.int64)


def _open_int(engine: TwoParty, value: Shared) -> int:
    return int(_signed(np.atleast_1d(engine.open(value)))[0])


@dataclass(frozen=True, eq=False)
class RobustResult:
    """The robust mean (floats), how many updates passed the norm bound, how many values
    were trimmed at each end, and what it cost: openings between the parties (bytes,
    rounds), dealer bytes and seconds."""

    mean: np.ndarray
    clients: tuple[int, ...]
    kept: int
    trimmed: int
    clipped: int
    bytes_parties: int
    rounds: int
    bytes_dealer: int
    seconds: float


def robust_aggregate(
    engine: TwoParty,
    shares: Shared,
    config: Config,
    options: RobustOptions,
    clients: tuple[int, ...] = (),
) -> RobustResult:
    """The robust mean of the secret-shared updates `shares` [n, width] (quantised in
    Z_2^64 as `config` says, the clipped count in the last column)."""
    began = time.perf_counter()
    start_bytes, start_rounds, start_dealer = engine.bytes, engine.rounds, engine.dealer.bytes
    if config.ring_bits != 64:
        raise ValueError("robust aggregation works in Z_2^64: make the session with ring_bits=64")
    n = shares.shape[0]
    quantiser = config.quantiser
    x = shares[:, : config.length]
    clipped = _open_int(engine, shares[:, config.length].sum(axis=0))

    # clamp to [−L, L]: values beyond (even wrapped ones) are pulled to the bounds
    bound = quantiser.levels
    shape = x.shape
    below = engine.less_than(x, _public(-bound, shape))
    x = engine.select(below, _public(-bound, shape), x)
    above = engine.less_than(_public(bound, shape), x)
    x = engine.select(above, _public(bound, shape), x)

    kept = n
    if options.norm_bound is not None:
        # the bound in quantised units, plus the rounding slack of half a step per value
        slack = 0.5 * np.sqrt(config.length)
        limit = int(np.floor((options.norm_bound * quantiser.scale + slack) ** 2))
        if limit >= 2**62:
            raise ValueError("norm bound too large for Z_2^64")
        squares = engine.mul(x, x).sum(axis=1)
        over = engine.less_than(_public(limit, (n,)), squares)
        keep = _public(1, (n,)) - over
        x = engine.mul(Shared(keep.s0[:, None], keep.s1[:, None]), x)
        kept = _open_int(engine, keep.sum(axis=0))

    cut = trim_count(n, options.trim)
    if cut:
        ordered = _sort_rows(engine, x)
        total = _signed(engine.open(ordered[cut : n - cut].sum(axis=0)))
        mean = quantiser.dequantise(total) / (n - 2 * cut)
    else:
        total = _signed(engine.open(x.sum(axis=0)))
        mean = quantiser.dequantise(total) / max(kept, 1)
    return RobustResult(
        mean=mean,
        clients=clients,
        kept=kept,
        trimmed=cut,
        clipped=clipped,
        bytes_parties=engine.bytes - start_bytes,
        rounds=engine.rounds - start_rounds,
        bytes_dealer=engine.dealer.bytes - start_dealer,
        seconds=time.perf_counter() - began,
    )


def robust_mpc(
    inputs: Mapping[int, np.ndarray],
    options: RobustOptions,
    *,
    threat: ThreatModel | None = None,
    quantiser: Quantiser | None = None,
    dropouts: Iterable[int] = (),
    identities: Identities | None = None,
) -> RobustResult:
    """Clients share their updates between two computation parties (`secmas.secagg.mpc`);
    the parties agree on the clients present and aggregate robustly under MPC."""
    ids = sorted(inputs)
    length = int(np.asarray(inputs[ids[0]]).shape[0])
    config = mpc_config(ids, length, threat=threat, quantiser=quantiser, ring_bits=64)
    people = identities or Identities.generate(ids)
    parties = [ComputationParty(j, 2, config, people.directory) for j in range(2)]
    keys = [p.public for p in parties]
    gone = set(dropouts)
    for u in ids:
        if u in gone:
            continue
        for message in MpcClient(u, people.keys[u], config, keys).shares(inputs[u]):
            parties[message.party].receive(message)
    views = [p.view() for p in parties]
    agreed = parties[0].agreed(views)
    if parties[1].agreed(views) != agreed:
        raise ProtocolAbort("the computation parties disagree on the client set")
    shares = Shared(parties[0].shares(agreed), parties[1].shares(agreed))
    return robust_aggregate(TwoParty(), shares, config, options, agreed)

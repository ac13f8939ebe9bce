"""Who shares secrets with whom, and the threshold t, derived from a threat model.

Bonawitz et al. (CCS 2017) use the complete graph: every client shares its secrets with
all n − 1 others, and the pairwise masks cost O(n²·L). SecAgg+ (Bell, Bonawitz, Gascón,
Lepoint, Raykova, "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead",
CCS 2020, §3–4) replaces it with a sparse random graph of degree k = O(log n) and shows how
k and t follow from the fraction of corrupt clients γ, the dropout rate δ, a statistical
security parameter σ and a correctness parameter η. The graph here is theirs in its
practical form (as in Flower's SecAgg+): a Harary graph H(n, k) — each client linked to
the k/2 nearest on each side of a ring — over a pseudo-random permutation of the clients,
derived from the session id. Every client holds a share of its own secrets too, so a
secret is shared t-out-of-(k + 1).

Conditions (union bounds over the clients; C and D are hypergeometric: the number of
corrupt, resp. corrupt-or-dropped, clients among a client's k neighbours when
c = ⌈γn⌉, resp. r = ⌈(γ + δ)n⌉, of the n − 1 others are):

1. privacy of each input (the "t > (k + corrupt)/2" condition of Bell et al. §4):
   honest neighbours reveal one share of a client, of b or of s^SK, never both, so the
   server and the corrupt neighbours get t shares of both only if 2t ≤ k + C + 1
   (the +1 is the client's own share of b): need (n − c)·P[C ≥ 2t − k − 1] ≤ 2^−σ;
2. privacy of the sum: the honest surviving clients must stay connected, else the
   server learns the sums of the parts. H(n, k) loses connectivity only if a run of k/2
   consecutive ring positions is removed: need n·Π_{i<k/2} (r − i)/(n − i) ≤ 2^−σ;
3. correctness: every client's secret needs t shares from neighbours that are honest
   and survive: need n·P[D ≥ k − t + 1] ≤ 2^−η.

`choose` returns the smallest even k (and for it the smallest t) meeting all three, or
the complete graph (k = n − 1, where C = c and D = r exactly: t = ⌈(n + 1 + c)/2⌉, and
n − r ≥ t is required: a client's live holders are itself and the n − 1 − r others, or,
if it is one of the r, the n − r others) when no sparse graph is cheaper. As in Bell et al.'s model,
corruptions and dropouts are taken to be independent of the random graph (a server that
chooses whom to declare dropped after seeing the graph is outside the sparse model; the
complete graph does not need that assumption).
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import numpy as np

__all__ = [
    "GraphParameters",
    "ThreatModel",
    "choose",
    "complete_graph",
    "harary_graph",
    "neighbourhoods",
]


@dataclass(frozen=True)
class ThreatModel:
    """What the parameters must withstand.

    `corrupt` (γ): fraction of clients colluding with the server; `dropout` (δ): fraction
    of clients that may drop out; `security` (σ): privacy may fail with probability at
    most 2^−σ; `correctness` (η): the sum may be unrecoverable with probability at most
    2^−η (Bell et al. use σ = 40, η = 20).
    """

    corrupt: float = 0.0
    dropout: float = 0.1
    security: int = 40
    correctness: int = 20

    def __post_init__(self) -> None:
        if not 0 <= self.corrupt < 1 or not 0 <= self.dropout < 1:
            raise ValueError("corrupt and dropout fractions must lie in [0, 1)")
        if self.corrupt + self.dropout >= 1:
            raise ValueError("corrupt + dropout fractions must stay below 1")
        if self.security < 1 or self.correctness < 1:
            raise ValueError("security and correctness parameters must be ≥ 1 bit")


@dataclass(frozen=True)
class GraphParameters:
    """Degree k (k = n − 1: the complete graph), threshold t, and the bounds they meet
    (log2 of the failure probabilities)."""

    clients: int
    degree: int
    threshold: int
    privacy_log2: float
    correctness_log2: float

    @property
    def complete(self) -> bool:
        """Whether every client shares with all others (Bonawitz et al.)."""
        return self.degree >= self.clients - 1

    @property
    def tolerated_dropouts(self) -> int:
        """For the complete graph, how many clients may drop out: n − t."""
        return self.clients - self.threshold


def _log_factorials(n: int) -> np.ndarray:
    return np.array([math.lgamma(i + 1) for i in range(n + 1)])


def _tail_table(logfact: np.ndarray, population: int, marked: int, draws: int) -> np.ndarray:
    """P[X ≥ x] for x = 0 … draws + 1, X hypergeometric (marked among draws of population)."""
    x = np.arange(draws + 1)
    valid = (x <= marked) & (draws - x <= population - marked)
    xs = x[valid]
    logs = (
        logfact[marked]
        - logfact[xs]
        - logfact[marked - xs]
        + logfact[population - marked]
        - logfact[draws - xs]
        - logfact[population - marked - draws + xs]
        - (logfact[population] - logfact[draws] - logfact[population - draws])
    )
    pmf = np.zeros(draws + 2)
    pmf[xs] = np.exp(logs)
    return np.minimum(1.0, np.cumsum(pmf[::-1])[::-1])


def hypergeometric_tail(population: int, marked: int, draws: int, at_least: int) -> float:
    """P[X ≥ at_least] for X the marked items among `draws` taken from `population`."""
    table = _tail_table(_log_factorials(population), population, marked, draws)
    return float(table[min(max(at_least, 0), draws + 1)])


def _log2(p: float) -> float:
    return -math.inf if p <= 0 else math.log2(p)


def _run_removed(n: int, removed: int, run: int) -> float:
    """P that `run` given ring positions are all among `removed` random ones of n."""
    if run > removed:
        return 0.0
    return math.exp(sum(math.log((removed - i) / (n - i)) for i in range(run)))


def _count(fraction: float, n: int) -> int:
    """⌈fraction · n⌉, immune to float noise (0.3 · 10 is 3.0000000000000004)."""
    return math.ceil(round(fraction * n, 9))


def _complete(n: int, corrupt: int, removed: int) -> GraphParameters:
    threshold = max(2, math.ceil((n + 1 + corrupt) / 2))
    if n - removed < threshold:
        raise ValueError(
            f"no threshold fits {n} clients with {corrupt} corrupt and {removed} corrupt or "
            f"dropped: privacy needs t ≥ {threshold}, recovery t ≤ {n - removed}"
        )
    return GraphParameters(n, n - 1, threshold, -math.inf, -math.inf)


def choose(clients: int, model: ThreatModel, *, sparse: bool = True) -> GraphParameters:
    """Degree and threshold for `clients` clients under `model` (see the module's doc).

    With `sparse` False, or when no even k < n − 1 meets the bounds, the complete graph.
    Raises ValueError when not even the complete graph can meet the threat model.
    """
    n = clients
    if n < 3:
        raise ValueError(f"secure aggregation needs at least 3 clients, got {n}")
    corrupt = _count(model.corrupt, n)
    removed = min(n - 1, _count(model.corrupt + model.dropout, n))
    if sparse:
        logfact = _log_factorials(n)
        for k in range(2, n - 1, 2):
            chosen = _sparse(logfact, n, k, corrupt, removed, model)
            if chosen is not None:
                return chosen
    return _complete(n, corrupt, removed)


def _sparse(
    logfact: np.ndarray, n: int, k: int, corrupt: int, removed: int, model: ThreatModel
) -> GraphParameters | None:
    connectivity = n * _run_removed(n, removed, k // 2)
    if _log2(connectivity) > -model.security:
        return None
    corrupt_tail = _tail_table(logfact, n - 1, corrupt, k)
    lost_tail = _tail_table(logfact, n - 1, removed, k)
    for t in range(k // 2 + 1, k + 1):
        privacy = (n - corrupt) * float(corrupt_tail[2 * t - k - 1])
        if _log2(privacy) <= -model.security:
            failure = n * float(lost_tail[k - t + 1])
            if _log2(failure) <= -model.correctness:
                return GraphParameters(n, k, t, _log2(max(privacy, connectivity)), _log2(failure))
            return None  # a larger t only makes recovery harder
    return None


def _order(clients: Sequence[int], seed: bytes) -> list[int]:
    """The clients in a pseudo-random order fixed by `seed` (SHA-256 of seed ‖ id)."""
    return sorted(clients, key=lambda c: hashlib.sha256(seed + struct.pack("<I", c)).digest())


def complete_graph(clients: Sequence[int]) -> dict[int, tuple[int, ...]]:
    """Every client's neighbours: all the others."""
    ids = sorted(clients)
    return {c: tuple(o for o in ids if o != c) for c in ids}


def harary_graph(clients: Sequence[int], degree: int, seed: bytes) -> dict[int, tuple[int, ...]]:
    """H(n, k) for even k over the order `seed` fixes: neighbours at ring distance ≤ k/2."""
    n = len(clients)
    if degree >= n - 1:
        return complete_graph(clients)
    if degree < 2 or degree % 2:
        raise ValueError(f"a sparse degree must be even and ≥ 2, got {degree}")
    ring = _order(clients, seed)
    half = degree // 2
    return {
        c: tuple(sorted(ring[(i + d) % n] for d in range(-half, half + 1) if d != 0))
        for i, c in enumerate(ring)
    }


@lru_cache(maxsize=8)
def _graph(clients: tuple[int, ...], degree: int, seed: bytes) -> Mapping[int, tuple[int, ...]]:
    if degree >= len(clients) - 1:
        return MappingProxyType(complete_graph(clients))
    return MappingProxyType(harary_graph(clients, degree, seed))


def neighbourhoods(
    clients: Sequence[int], degree: int, seed: bytes
) -> Mapping[int, tuple[int, ...]]:
    """The graph of a session (read-only): complete for degree ≥ n − 1, else
    `harary_graph`."""
    return _graph(tuple(clients), degree, bytes(seed))

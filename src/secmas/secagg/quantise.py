"""Floats to ring elements and back: clipping, fixed-point quantisation, the ring's width.

Secure aggregation adds integers modulo 2^w (Bonawitz et al., CCS 2017, §3: inputs are
vectors in Z_R). A client's float vector x becomes

    q = round(clip(x, −c, c) · s),   s = (2^(b−1) − 1) / c,

an integer in [−L, L] with L = 2^(b−1) − 1 (`Quantiser`: clipping range c, b bits of
precision), written into Z_2^w in two's complement (`Ring`). The sum of n clients lies in
[−nL, nL]; `Quantiser.ring(n)` picks the smallest of w = 32 or 64 with 2nL < 2^w, so the
sum never wraps and reads back exactly as a signed integer, then as Σ q / s. Each value is
off by at most 1/(2s) (round to nearest; stochastic rounding: below 1/s, unbiased), so the
sum by at most n/(2s): `Quantiser.error_bound(n)`.

Values outside [−c, c] are clipped, and counted: the protocol adds each client's count to
the aggregate as one more ring element, so the server reports how many values were
clipped in total without learning whose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_BITS", "RING_WIDTHS", "Quantised", "Quantiser", "Ring"]

RING_WIDTHS = (32, 64)
"""The ring widths numpy adds natively (uint32, uint64 wrap-around arithmetic)."""

MAX_BITS = 48
"""Most precision bits: a quantised value stays an exact float64 integer, and sums of up to
2^15 clients fit in Z_2^64."""


@dataclass(frozen=True)
class Ring:
    """Z_2^bits with its numpy dtype; signed integers are stored in two's complement."""

    bits: int = 32

    def __post_init__(self) -> None:
        if self.bits not in RING_WIDTHS:
            raise ValueError(f"ring width must be one of {RING_WIDTHS} bits, got {self.bits}")

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        """uint32 or uint64."""
        return np.uint32 if self.bits == 32 else np.uint64

    @property
    def bytes(self) -> int:
        """Bytes per element."""
        return self.bits // 8

    @classmethod
    def holding(cls, bound: int) -> Ring:
        """The narrowest ring in which every integer of [−bound, bound] is distinct."""
        for bits in RING_WIDTHS:
            if 2 * bound < 1 << bits:
                return cls(bits)
        raise ValueError(
            f"sums up to ±{bound} do not fit in a {RING_WIDTHS[-1]}-bit ring: fewer "
            "clients, fewer precision bits or a smaller clipping range"
        )

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Signed integers (int64) into the ring (two's complement)."""
        return np.asarray(values, dtype=np.int64).astype(self.dtype)

    def decode(self, elements: np.ndarray) -> np.ndarray:
        """Ring elements as signed integers (int64), the upper half being negative."""
        array = np.asarray(elements, dtype=self.dtype)
        signed = np.int32 if self.bits == 32 else np.int64
        return array.view(signed).astype(np.int64)

    def zeros(self, length: int) -> np.ndarray:
        """A zero vector of the ring."""
        return np.zeros(length, dtype=self.dtype)


@dataclass(frozen=True)
class Quantised:
    """A quantised vector (int64 in [−L, L]) and how many of its values were clipped."""

    values: np.ndarray
    clipped: int


@dataclass(frozen=True)
class Quantiser:
    """Clipping range `clip` (c) and `bits` of precision (b): x ↦ round(clip(x) · s).

    `stochastic` rounds up with probability equal to the fractional part (unbiased sums)
    instead of to the nearest integer.
    """

    clip: float = 1.0
    bits: int = 16
    stochastic: bool = False

    def __post_init__(self) -> None:
        if not (np.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"clipping range must be a positive number, got {self.clip!r}")
        if not 2 <= self.bits <= MAX_BITS:
            raise ValueError(f"precision must be 2–{MAX_BITS} bits, got {self.bits}")

    @property
    def levels(self) -> int:
        """L = 2^(b−1) − 1: quantised values lie in [−L, L]."""
        return (1 << (self.bits - 1)) - 1

    @property
    def scale(self) -> float:
        """s = L / c: steps per unit."""
        return self.levels / self.clip

    @property
    def step(self) -> float:
        """1 / s: the value of one quantisation step."""
        return self.clip / self.levels

    def quantise(self, x: np.ndarray, rng: np.random.Generator | None = None) -> Quantised:
        """Clip to [−c, c], scale and round; NaN is refused (ValueError)."""
        array = np.asarray(x, dtype=np.float64)
        if array.ndim != 1:
            raise ValueError(f"expected a vector, got shape {array.shape}")
        if np.isnan(array).any():
            raise ValueError("the vector holds NaN values")
        clipped = int(np.count_nonzero(np.abs(array) > self.clip))
        scaled = np.clip(array, -self.clip, self.clip) * self.scale
        if self.stochastic:
            generator = rng if rng is not None else np.random.default_rng()
            floor = np.floor(scaled)
            values = floor + (generator.random(scaled.shape) < scaled - floor)
        else:
            values = np.rint(scaled)
        values = np.clip(values, -self.levels, self.levels).astype(np.int64)
        return Quantised(values, clipped)

    def dequantise(self, total: np.ndarray) -> np.ndarray:
        """A (sum of) quantised vector(s) back as floats."""
        return np.asarray(total, dtype=np.float64) * self.step

    def error_bound(self, clients: int) -> float:
        """Largest error of one coordinate of a sum of `clients` unclipped vectors."""
        return clients * self.step * (1.0 if self.stochastic else 0.5)

    def ring(self, clients: int, length: int = 0) -> Ring:
        """The narrowest ring for sums of `clients` vectors (and of clipped counts of up to
        `length` values each): 2·n·max(L, length) < 2^w."""
        if clients < 1:
            raise ValueError(f"at least one client, got {clients}")
        return Ring.holding(clients * max(self.levels, length))

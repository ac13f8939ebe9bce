"""Two-party computation on additive shares in Z_2^64, with a dealer's correlated
randomness (Beaver triples): what the computation parties use to compare, clamp and sort
secret-shared values for robust aggregation (`secmas.secagg.robust`).

Model: two computation parties P0 and P1 hold additive shares x = x0 + x1 (mod 2^64) of
every value; a third party, the dealer, hands out correlated randomness before the inputs
are known and takes no further part (the "trusted third party" provider of CrypTen and
the commodity model of Beaver, 1997). Security is semi-honest with non-colluding P0, P1
and dealer: each party sees only uniformly random shares and values opened under one-time
masks.

- `mul`: Beaver's multiplication: open d = x − a, e = y − b, then xy = c + d·b + e·a + d·e
  for a triple c = ab (Beaver, CRYPTO 1991).
- `msb`: the sign bit of a shared value, by converting the two arithmetic shares into a
  boolean sharing of their sum with a Kogge–Stone adder on 64-bit words (log₂ 64 = 6
  levels; every AND uses a boolean triple), as CrypTen's arithmetic-to-binary conversion
  (Knott et al., NeurIPS 2021); `b2a` turns the bit back into an arithmetic share with a
  dealer's random bit shared both ways.
- On top: `less_than`, `select`, `compare_exchange` (a sorting-network comparator).

The two parties live in one object here (`TwoParty`): their computations use only their
own shares and opened values, and every opening is counted (`bytes`, `rounds`) as the
traffic between them. All operations are vectorised over numpy arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from secmas.secagg import prg

__all__ = ["Dealer", "Shared", "TwoParty", "XorShared"]

_U64 = np.uint64
_BITS = 64


@dataclass(frozen=True, eq=False)
class Shared:
    """Additive shares (P0's, P1's) of a uint64 array: value = s0 + s1 mod 2^64."""

    s0: np.ndarray
    s1: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.s0.shape

    def __add__(self, other: Shared) -> Shared:
        return Shared(self.s0 + other.s0, self.s1 + other.s1)

    def __sub__(self, other: Shared) -> Shared:
        return Shared(self.s0 - other.s0, self.s1 - other.s1)

    def __neg__(self) -> Shared:
        return Shared(-self.s0, -self.s1)

    def __getitem__(self, index: object) -> Shared:
        return Shared(self.s0[index], self.s1[index])  # type: ignore[index]

    def plus(self, constant: np.ndarray | int) -> Shared:
        """Add a public constant (P0 adds it)."""
        return Shared(self.s0 + np.asarray(constant).astype(_U64), self.s1)

    def times(self, constant: np.ndarray | int) -> Shared:
        """Multiply by a public constant (both parties, locally)."""
        c = np.asarray(constant).astype(_U64)
        return Shared(self.s0 * c, self.s1 * c)

    def sum(self, axis: int) -> Shared:
        """Sum along an axis (locally, mod 2^64); a full reduction keeps one element."""
        return Shared(
            np.atleast_1d(self.s0.sum(axis=axis, dtype=_U64)),
            np.atleast_1d(self.s1.sum(axis=axis, dtype=_U64)),
        )


@dataclass(frozen=True, eq=False)
class XorShared:
    """Boolean shares of uint64 words: value = b0 ⊕ b1 (bitwise)."""

    b0: np.ndarray
    b1: np.ndarray

    def __xor__(self, other: XorShared) -> XorShared:
        return XorShared(self.b0 ^ other.b0, self.b1 ^ other.b1)

    def shift(self, bits: int) -> XorShared:
        """Left shift (locally)."""
        s = _U64(bits)
        return XorShared(self.b0 << s, self.b1 << s)


def _random(shape: tuple[int, ...]) -> np.ndarray:
    size = int(np.prod(shape)) if shape else 1
    return prg.expand(os.urandom(prg.KEY_BYTES), size, _U64).reshape(shape).copy()


class Dealer:
    """Correlated randomness, uniformly drawn with the AES-CTR PRG from fresh OS entropy.

    `bytes` counts what it sends to the two parties (both shares of everything).
    """

    def __init__(self) -> None:
        self.bytes = 0

    def _split(self, value: np.ndarray) -> Shared:
        share = _random(value.shape)
        self.bytes += 2 * value.nbytes
        return Shared(share, value - share)

    def _xor_split(self, value: np.ndarray) -> XorShared:
        share = _random(value.shape)
        self.bytes += 2 * value.nbytes
        return XorShared(share, value ^ share)

    def triple(self, shape: tuple[int, ...]) -> tuple[Shared, Shared, Shared]:
        """Shares of uniform a, b and of c = a·b mod 2^64."""
        a, b = _random(shape), _random(shape)
        return self._split(a), self._split(b), self._split(a * b)

    def and_triple(self, shape: tuple[int, ...]) -> tuple[XorShared, XorShared, XorShared]:
        """Boolean shares of uniform words a, b and of c = a AND b."""
        a, b = _random(shape), _random(shape)
        return self._xor_split(a), self._xor_split(b), self._xor_split(a & b)

    def random_bit(self, shape: tuple[int, ...]) -> tuple[XorShared, Shared]:
        """A uniform bit r, shared both as a boolean (in bit 0) and as an arithmetic value."""
        r = _random(shape) & _U64(1)
        return self._xor_split(r), self._split(r)


class TwoParty:
    """The two computation parties, their channel (`bytes`, `rounds` of openings) and
    their dealer."""

    def __init__(self, dealer: Dealer | None = None) -> None:
        self.dealer = dealer or Dealer()
        self.bytes = 0
        self.rounds = 0

    def share(self, values: np.ndarray) -> Shared:
        """Split a uint64 array into fresh additive shares (what a client does)."""
        array = np.asarray(values).astype(_U64)
        share = _random(array.shape)
        return Shared(share, array - share)

    def open(self, x: Shared) -> np.ndarray:
        """Both parties reveal their shares to each other: the value."""
        self.bytes += 2 * x.s0.nbytes
        self.rounds += 1
        return x.s0 + x.s1

    def _open_many(self, *values: Shared) -> list[np.ndarray]:
        self.rounds += 1
        self.bytes += sum(2 * v.s0.nbytes for v in values)
        return [v.s0 + v.s1 for v in values]

    def _open_xor_many(self, *values: XorShared) -> list[np.ndarray]:
        self.rounds += 1
        self.bytes += sum(2 * v.b0.nbytes for v in values)
        return [v.b0 ^ v.b1 for v in values]

    def mul(self, x: Shared, y: Shared) -> Shared:
        """x·y elementwise (one Beaver triple per element, one round)."""
        shape = np.broadcast_shapes(x.shape, y.shape)
        x = Shared(np.broadcast_to(x.s0, shape), np.broadcast_to(x.s1, shape))
        y = Shared(np.broadcast_to(y.s0, shape), np.broadcast_to(y.s1, shape))
        a, b, c = self.dealer.triple(shape)
        d, e = self._open_many(x - a, y - b)
        return Shared(c.s0 + d * b.s0 + e * a.s0 + d * e, c.s1 + d * b.s1 + e * a.s1)

    def _and(self, x: XorShared, y: XorShared) -> XorShared:
        a, b, c = self.dealer.and_triple(x.b0.shape)
        d, e = self._open_xor_many(x ^ a, y ^ b)
        return XorShared(c.b0 ^ (d & b.b0) ^ (e & a.b0) ^ (d & e), c.b1 ^ (d & b.b1) ^ (e & a.b1))

    def msb(self, x: Shared) -> XorShared:
        """Boolean sharing of the top bit of x (bit 0 of the result words): x0 + x1 computed
        by a Kogge–Stone adder on the parties' shares, each known to one party."""
        zeros = np.zeros_like(x.s0)
        a = XorShared(x.s0, zeros)  # P0's share, as a boolean sharing
        b = XorShared(zeros, x.s1)  # P1's share
        propagate = a ^ b
        generate = self._and(a, b)
        p = propagate
        shift = 1
        while shift < _BITS:
            generate = generate ^ self._and(p, generate.shift(shift))  # disjoint: OR = XOR
            if shift * 2 < _BITS:
                p = self._and(p, p.shift(shift))
            shift *= 2
        total = propagate ^ generate.shift(1)
        top = _U64(_BITS - 1)
        return XorShared((total.b0 >> top) & _U64(1), (total.b1 >> top) & _U64(1))

    def b2a(self, bit: XorShared) -> Shared:
        """A boolean-shared bit (in bit 0) as an arithmetic share (one round)."""
        r_bool, r_arith = self.dealer.random_bit(bit.b0.shape)
        (c,) = self._open_xor_many(bit ^ r_bool)
        c = c & _U64(1)
        two_c = c * _U64(2)
        return Shared(c + r_arith.s0 - two_c * r_arith.s0, r_arith.s1 - two_c * r_arith.s1)

    def negative(self, x: Shared) -> Shared:
        """[x < 0] (x read as a signed 64-bit integer), arithmetically shared."""
        return self.b2a(self.msb(x))

    def less_than(self, x: Shared, y: Shared) -> Shared:
        """[x < y], exact while |x − y| < 2^63."""
        return self.negative(x - y)

    def select(self, bit: Shared, if_one: Shared, if_zero: Shared) -> Shared:
        """bit ? if_one : if_zero (one multiplication)."""
        return if_zero + self.mul(bit, if_one - if_zero)

    def compare_exchange(self, x: Shared, y: Shared) -> tuple[Shared, Shared]:
        """(min, max) elementwise: one comparison and one multiplication."""
        swap = self.less_than(y, x)
        low = x + self.mul(swap, y - x)
        return low, x + y - low

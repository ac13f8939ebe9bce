"""Shamir secret sharing over the prime field GF(2³¹ − 1), vectorised with numpy.

Bonawitz et al. (CCS 2017, §3 and Fig. 4, round ShareKeys) share two 32-byte secrets of
each client, its pairwise-mask key s^SK and its self-mask seed b, t-out-of-n. Here a
secret is cut into 3-byte chunks, each chunk a field element below 2²⁴ < p, and every
chunk gets its own random polynomial of degree t − 1 (the same x-coordinates for all), so
sharing is one Horner evaluation over an [x, chunk] array of int64: products of two
elements stay below 2⁶² and never overflow. Reconstruction is Lagrange interpolation at
0 with coefficients computed once per set of x-coordinates; further shares, when there
are more than t, are checked to lie on the same polynomial.

`decode` tolerates wrong shares (a malicious or faulty holder): with k shares of
polynomials of degree t − 1 it corrects up to ⌊(k − t)/2⌋ of them by Berlekamp–Welch
(Reed–Solomon decoding: find the error locator E and Q = P·E from k linear equations
Q(x_i) = y_i·E(x_i), then P = Q / E), and, given a check of the secret (a public key or a
commitment the owner published), one more by trying the share sets that leave shares out:
with k = t + 1 one wrong share is corrected, with k = t it is detected.

Only the short secrets are shared this way; the long masked vectors live in the ring
Z_2^32 or Z_2^64 (`secmas.secagg.quantise.Ring`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from secmas.secagg.errors import ReconstructionError

__all__ = [
    "CHUNK_BYTES",
    "PRIME",
    "Decoded",
    "decode",
    "decode_secret",
    "elements_for",
    "encode_secret",
    "lagrange_coefficients",
    "random_elements",
    "reconstruct",
    "split",
]

PRIME = 2**31 - 1
"""The field's modulus, a Mersenne prime: elements and x-coordinates are below it."""

CHUNK_BYTES = 3
"""Bytes of secret per field element (2²⁴ − 1 < PRIME)."""


def elements_for(length: int) -> int:
    """How many field elements hold a secret of `length` bytes."""
    return -(-length // CHUNK_BYTES)


def encode_secret(secret: bytes) -> np.ndarray:
    """A byte string as field elements (3 big-endian bytes each, zero-padded at the end)."""
    padded = secret + bytes(elements_for(len(secret)) * CHUNK_BYTES - len(secret))
    raw = np.frombuffer(padded, dtype=np.uint8).reshape(-1, CHUNK_BYTES).astype(np.int64)
    return (raw[:, 0] << 16) | (raw[:, 1] << 8) | raw[:, 2]


def decode_secret(elements: np.ndarray, length: int) -> bytes:
    """The `length` bytes that `encode_secret` turned into `elements`.

    Raises ReconstructionError when an element is not a 3-byte chunk (wrong shares).
    """
    values = np.asarray(elements, dtype=np.int64)
    if values.shape != (elements_for(length),):
        raise ReconstructionError(f"{values.shape} elements cannot hold a secret of {length} bytes")
    if np.any((values < 0) | (values >= 1 << (8 * CHUNK_BYTES))):
        raise ReconstructionError("a reconstructed element is not a 3-byte chunk: wrong shares")
    raw = np.stack([(values >> 16) & 0xFF, (values >> 8) & 0xFF, values & 0xFF], axis=1)
    return raw.astype(np.uint8).tobytes()[:length]


def random_elements(count: int) -> np.ndarray:
    """`count` uniform field elements from the operating system's CSPRNG (int64)."""
    values = np.frombuffer(os.urandom(4 * count), dtype=np.uint32).astype(np.int64) & 0x7FFFFFFF
    bad = values == PRIME
    while np.any(bad):  # probability 2^-31 per element
        values[bad] = random_elements(int(bad.sum()))
        bad = values == PRIME
    return values


def _check_xs(xs: Sequence[int]) -> np.ndarray:
    array = np.asarray(xs, dtype=np.int64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError("x-coordinates must be a non-empty list")
    if np.any((array <= 0) | (array >= PRIME)):
        raise ValueError(f"x-coordinates must lie in [1, {PRIME - 1}]")
    if np.unique(array).size != array.size:
        raise ValueError("x-coordinates must be distinct")
    return array


def split(secret: np.ndarray, threshold: int, xs: Sequence[int]) -> np.ndarray:
    """Shares of the field elements `secret` [m]: row i is the share for x = xs[i] [len(xs), m].

    Any `threshold` rows give the secret back (`reconstruct`); fewer reveal nothing about
    it (Shamir 1979). Each element has its own uniformly random polynomial of degree
    `threshold` − 1 whose constant term is the element.
    """
    points = _check_xs(xs)
    values = np.asarray(secret, dtype=np.int64)
    if values.ndim != 1:
        raise ValueError(f"a secret is a vector of field elements, got shape {values.shape}")
    if np.any((values < 0) | (values >= PRIME)):
        raise ValueError("secret elements must lie in [0, PRIME)")
    if not 1 <= threshold <= points.size:
        raise ValueError(f"threshold must be in [1, {points.size}] shares, got {threshold}")
    degree = threshold - 1
    coefficients = random_elements(degree * values.size).reshape(degree, values.size)
    x = points[:, None]
    acc = np.zeros((points.size, values.size), dtype=np.int64)
    for row in coefficients[::-1]:  # Horner, highest degree first
        acc = (acc + row) * x % PRIME
    return (acc + values) % PRIME


@lru_cache(maxsize=4096)
def _lagrange(xs: tuple[int, ...], at: int) -> tuple[int, ...]:
    coefficients = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * (at - xj) % PRIME
                den = den * (xi - xj) % PRIME
        coefficients.append(num * pow(den, PRIME - 2, PRIME) % PRIME)
    return tuple(coefficients)


def lagrange_coefficients(xs: Sequence[int], at: int = 0) -> np.ndarray:
    """λ_i with f(at) = Σ λ_i f(xs[i]) for every polynomial f of degree < len(xs)."""
    points = _check_xs(xs)
    return np.asarray(_lagrange(tuple(int(x) for x in points), at % PRIME), dtype=np.int64)


def _combine(coefficients: np.ndarray, ys: np.ndarray) -> np.ndarray:
    return (coefficients[:, None] * ys % PRIME).sum(axis=0) % PRIME


def reconstruct(xs: Sequence[int], ys: np.ndarray, threshold: int) -> np.ndarray:
    """The secret [m] from shares ys [k, m] at x-coordinates xs (k ≥ threshold).

    The first `threshold` shares interpolate the polynomials; every further share must lie
    on them, or ReconstructionError is raised (a corrupted or forged share). Raises
    ReconstructionError when fewer than `threshold` shares are given.
    """
    points, values = _checked_shares(xs, ys, threshold)
    base = tuple(int(x) for x in points[:threshold])
    secret = _combine(lagrange_coefficients(base, 0), values[:threshold])
    for extra in range(threshold, points.size):
        expected = _combine(lagrange_coefficients(base, int(points[extra])), values[:threshold])
        if not np.array_equal(expected, values[extra]):
            raise ReconstructionError(
                f"the share at x = {int(points[extra])} is not on the polynomial of the others"
            )
    return secret


MAX_TRIES = 256
"""Share sets `decode` tries against the check before it gives up (leaving out shares)."""


@dataclass(frozen=True)
class Decoded:
    """A secret rebuilt from shares, and the x-coordinates of the shares found wrong."""

    secret: np.ndarray
    wrong: tuple[int, ...]


def _solve(matrix: list[list[int]], rhs: list[int]) -> list[int] | None:
    """One solution of matrix · z = rhs over GF(p) (free unknowns 0), None if none."""
    rows, cols = len(matrix), len(matrix[0])
    a = [[*row, b] for row, b in zip(matrix, rhs, strict=True)]
    pivots: list[int] = []
    r = 0
    for c in range(cols):
        pivot = next((i for i in range(r, rows) if a[i][c]), None)
        if pivot is None:
            continue
        a[r], a[pivot] = a[pivot], a[r]
        inverse = pow(a[r][c], PRIME - 2, PRIME)
        a[r] = [v * inverse % PRIME for v in a[r]]
        for i in range(rows):
            if i != r and a[i][c]:
                f = a[i][c]
                a[i] = [(v - f * w) % PRIME for v, w in zip(a[i], a[r], strict=True)]
        pivots.append(c)
        r += 1
        if r == rows:
            break
    if any(a[i][cols] for i in range(r, rows)):
        return None
    z = [0] * cols
    for i, c in enumerate(pivots):
        z[c] = a[i][cols]
    return z


def _divide(numerator: list[int], denominator: list[int]) -> list[int] | None:
    """numerator / denominator (coefficients, lowest degree first; monic denominator), or
    None when the division leaves a remainder."""
    rest = numerator[:]
    degree = len(denominator) - 1
    quotient = [0] * max(len(rest) - degree, 1)
    for i in range(len(rest) - 1, degree - 1, -1):
        f = rest[i]
        if f:
            quotient[i - degree] = f
            for j, d in enumerate(denominator):
                rest[i - degree + j] = (rest[i - degree + j] - f * d) % PRIME
    return quotient if not any(rest[:degree]) else None


def _evaluate(coefficients: list[int], x: int) -> int:
    acc = 0
    for c in reversed(coefficients):
        acc = (acc * x + c) % PRIME
    return acc


def _welch(xs: list[int], ys: list[int], threshold: int) -> set[int] | None:
    """Berlekamp–Welch for one column: the indices of the wrong shares (at most
    ⌊(k − t)/2⌋), or None when more are wrong than it can correct."""
    errors = (len(xs) - threshold) // 2
    if errors == 0:
        return None
    # unknowns: Q's e + t coefficients, then E's e low coefficients (E monic of degree e)
    matrix, rhs = [], []
    for x, y in zip(xs, ys, strict=True):
        powers = [pow(x, j, PRIME) for j in range(errors + threshold)]
        matrix.append(powers + [(-y * powers[j]) % PRIME for j in range(errors)])
        rhs.append(y * powers[errors] % PRIME)
    z = _solve(matrix, rhs)
    if z is None:
        return None
    q, e = z[: errors + threshold], [*z[errors + threshold :], 1]
    p = _divide(q, e)
    if p is None:
        return None
    wrong = {i for i, (x, y) in enumerate(zip(xs, ys, strict=True)) if _evaluate(p, x) != y}
    return wrong if len(wrong) <= errors else None


def _consistent(points: np.ndarray, values: np.ndarray, threshold: int) -> np.ndarray | None:
    """The secret if every share lies on the polynomials of the first `threshold`."""
    base = tuple(int(x) for x in points[:threshold])
    for extra in range(threshold, points.size):
        expected = _combine(lagrange_coefficients(base, int(points[extra])), values[:threshold])
        if not np.array_equal(expected, values[extra]):
            return None
    return _combine(lagrange_coefficients(base, 0), values[:threshold])


def decode(
    xs: Sequence[int],
    ys: np.ndarray,
    threshold: int,
    check: Callable[[np.ndarray], bool] | None = None,
) -> Decoded:
    """The secret [m] from shares ys [k, m] at xs (k ≥ threshold) when some are wrong.

    All shares consistent (and passing `check`, when given): the secret, nothing wrong.
    Otherwise Berlekamp–Welch locates up to ⌊(k − t)/2⌋ wrong shares (per column; their
    union is left out), and with `check` the share sets leaving out one, then two, …
    shares are tried (at most MAX_TRIES) until one passes it. ReconstructionError when
    no share set both lies on one polynomial and passes the check: the wrong shares were
    detected but cannot be corrected (with k = t shares, or too many wrong ones).
    """
    points, values = _checked_shares(xs, ys, threshold)
    k = points.size

    def accept(keep: list[int]) -> np.ndarray | None:
        secret = _consistent(points[keep], values[keep], threshold)
        if secret is None or (check is not None and not check(secret)):
            return None
        return secret

    everyone = list(range(k))
    secret = accept(everyone)
    if secret is not None:
        return Decoded(secret, ())
    wrong: set[int] = set()
    xs_list = [int(x) for x in points]
    for column in range(values.shape[1]):
        found = _welch(xs_list, [int(v) for v in values[:, column]], threshold)
        wrong |= found or set()
    if wrong and k - len(wrong) >= threshold:
        keep = [i for i in everyone if i not in wrong]
        secret = accept(keep)
        if secret is not None:
            return Decoded(secret, tuple(xs_list[i] for i in sorted(wrong)))
    if check is not None:
        tries = 0
        for leave in range(1, k - threshold + 1):
            for out in itertools.combinations(everyone, leave):
                tries += 1
                if tries > MAX_TRIES:
                    break
                keep = [i for i in everyone if i not in out]
                secret = accept(keep)
                if secret is not None:
                    return Decoded(secret, tuple(xs_list[i] for i in out))
    raise ReconstructionError(
        f"the {k} shares (t = {threshold}) do not all lie on one polynomial"
        + (" passing the owner's check" if check is not None else "")
        + "; the wrong ones cannot be corrected"
        + (" (exactly t shares: detected only)" if k == threshold else "")
    )


def _checked_shares(
    xs: Sequence[int], ys: np.ndarray, threshold: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shares as field arrays (x-coordinates [k], values [k, m]), at least `threshold` of
    them; ValueError for mismatched shapes, ReconstructionError for too few shares or a
    value outside the field."""
    points = _check_xs(xs)
    values = np.asarray(ys, dtype=np.int64)
    if values.ndim != 2 or values.shape[0] != points.size:
        raise ValueError(f"{points.size} x-coordinates for shares of shape {values.shape}")
    if np.any((values < 0) | (values >= PRIME)):
        raise ReconstructionError("a share holds a value outside the field")
    if points.size < threshold:
        raise ReconstructionError(f"{points.size} shares, {threshold} needed")
    return points, values

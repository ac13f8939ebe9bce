"""The pseudo-random generator that expands a secret into a mask vector.

Bonawitz et al. (CCS 2017, §3, "PRG") expand a short seed into a vector of ring elements;
the security of the masks rests on the PRG being cryptographic and its seed being a full
secret. Here:

- `derive_key` turns a secret (an X25519 shared secret or a 32-byte self-mask seed) into
  a 256-bit key with HKDF-SHA256 (RFC 5869), bound to a label (what the mask is for) and
  a context (session, round, the pair of clients), so no key is ever used for two masks;
- `expand` is the keystream of AES-256 in counter mode under that key (NIST SP 800-38A),
  read as little-endian uint32 or uint64 words: uniform in Z_2^32 or Z_2^64. A fixed
  all-zero initial counter is safe because every key is used once.

The keystream comes out of OpenSSL (several GB/s with AES-NI) into a numpy array without
a Python-level loop.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["KEY_BYTES", "derive_key", "expand", "expand_into"]

KEY_BYTES = 32
"""AES-256 keys: the PRG's seed is a full 256-bit secret."""

_ZERO_COUNTER = bytes(16)
_ZEROS: dict[int, bytes] = {}


def derive_key(secret: bytes, label: bytes, context: bytes = b"") -> bytes:
    """A 32-byte PRG key from `secret` (≥ 16 bytes) bound to `label` and `context`."""
    if len(secret) < 16:
        raise ValueError(f"a PRG secret must have at least 128 bits, got {8 * len(secret)}")
    info = b"secmas.secagg/" + label + b"/" + context
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(secret)


def _zeros(size: int) -> bytes:
    block = _ZEROS.get(size)
    if block is None:
        if len(_ZEROS) > 16:
            _ZEROS.clear()
        block = _ZEROS[size] = bytes(size)
    return block


def expand(key: bytes, length: int, dtype: type[np.unsignedinteger] = np.uint32) -> np.ndarray:
    """`length` uniform words of `dtype` (uint32 or uint64): AES-256-CTR keystream of `key`."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"a PRG key has {KEY_BYTES} bytes, got {len(key)}")
    if length < 0:
        raise ValueError(f"length must be ≥ 0, got {length}")
    width = np.dtype(dtype).itemsize
    encryptor = Cipher(algorithms.AES(key), modes.CTR(_ZERO_COUNTER)).encryptor()
    stream = encryptor.update(_zeros(length * width))
    return np.frombuffer(stream, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype, copy=False)


def expand_into(key: bytes, out: np.ndarray, sign: int) -> None:
    """Add (`sign` = +1) or subtract (−1) the keystream of `key` to `out` in place (mod 2^w)."""
    mask = expand(key, out.shape[0], out.dtype.type)
    if sign > 0:
        np.add(out, mask, out=out)
    else:
        np.subtract(out, mask, out=out)

"""The versioned binary wire format of the secure-aggregation messages.

Nothing a party receives is ever unpickled: every message is a frame of fixed-layout
little-endian fields (`struct`) that `decode` parses field by field, checking every
count and length against the bytes left, and refusing anything malformed with a
`WireError` (a ValueError) that says what is wrong.

Frame (version 2; version 1 had no self-mask commitment in ShareCiphertexts)::

    magic  "SAGG"   4 bytes
    version u8      = 1
    kind    u8      message kind (KINDS)
    reserved u16    = 0
    session         16 bytes
    body length u32
    body            kind-specific, below

Bodies (u32 unless said; ids are u32; keys 32 bytes; signatures 64 bytes; a "blob" is a
u32 length and that many bytes; a "vector" is u8 ring width (32 or 64), u32 count and
count little-endian words; a "share" is count u32 field elements):

    1 Setup                 n, n ids, threshold, degree, length, clip f64, bits u8, ring_bits u8
    2 Advertise             id, cipher_pk, mask_pk, signature
    3 KeyBook               count, count × Advertise body
    4 ShareCiphertexts      id, commitment (32 bytes), count, count × (recipient id, blob)
    5 Forwarded             count, count × (sender id, blob)
    6 MaskedInput           id, vector
    7 Survivors             count, count ids
    8 ConsistencySignature  id, signature
    9 SignatureBook         count, count × (id, signature)
    10 UnmaskShares         id, elements per share m, count, count × (owner, m elements),
                            count, count × (owner, m elements)   (self-mask, then mask-key)
    11 MpcShare             id, party, public key, signature, blob
    12 PartyView            party, count, count ids
    13 PartySum             party, count, count ids, vector

The plaintext of a round-1 share ciphertext has its own layout (`encode_share_payload`):
version u8 = 1, sender, recipient, m, m elements of the s^SK share, m of the b share.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from secmas.secagg.errors import WireError
from secmas.secagg.field import PRIME
from secmas.secagg.messages import (
    SESSION_BYTES,
    Advertise,
    Config,
    ConsistencySignature,
    Forwarded,
    KeyBook,
    MaskedInput,
    Message,
    MpcShare,
    PartySum,
    PartyView,
    Setup,
    ShareCiphertexts,
    SignatureBook,
    Survivors,
    UnmaskShares,
)

__all__ = [
    "KINDS",
    "MAGIC",
    "VERSION",
    "decode",
    "decode_share_payload",
    "encode",
    "encode_share_payload",
]

MAGIC = b"SAGG"
VERSION = 2
_HEADER = struct.Struct(f"<4sBBH{SESSION_BYTES}sI")
_PAYLOAD_VERSION = 2
KEY = 32
SIGNATURE = 64

KINDS: dict[type, int] = {
    Setup: 1,
    Advertise: 2,
    KeyBook: 3,
    ShareCiphertexts: 4,
    Forwarded: 5,
    MaskedInput: 6,
    Survivors: 7,
    ConsistencySignature: 8,
    SignatureBook: 9,
    UnmaskShares: 10,
    MpcShare: 11,
    PartyView: 12,
    PartySum: 13,
}
_NAMES = {kind: cls.__name__ for cls, kind in KINDS.items()}


class _Reader:
    """Consumes a body front to back; every shortfall is a WireError."""

    def __init__(self, data: bytes | memoryview, what: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.what = what

    def take(self, size: int) -> memoryview:
        if size < 0 or self.pos + size > len(self.data):
            raise WireError(
                f"{self.what}: truncated (needs {size} more bytes at offset {self.pos}, "
                f"{len(self.data) - self.pos} left)"
            )
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def f64(self) -> float:
        return float(struct.unpack("<d", self.take(8))[0])

    def raw(self, size: int) -> bytes:
        return bytes(self.take(size))

    def count(self, item_size: int, field: str) -> int:
        """A u32 count of items of at least `item_size` bytes that the body can hold."""
        count = self.u32()
        if item_size and count > (len(self.data) - self.pos) // item_size:
            raise WireError(f"{self.what}: {field} count {count} exceeds the frame")
        return count

    def ids(self, field: str) -> tuple[int, ...]:
        count = self.count(4, field)
        return tuple(int(v) for v in np.frombuffer(self.take(4 * count), dtype="<u4"))

    def blob(self) -> bytes:
        return self.raw(self.u32())

    def elements(self, count: int) -> np.ndarray:
        values = np.frombuffer(self.take(4 * count), dtype="<u4").astype(np.int64)
        if np.any(values >= PRIME):
            raise WireError(f"{self.what}: a share element is outside the field")
        return values

    def vector(self) -> np.ndarray:
        bits = self.u8()
        if bits not in (32, 64):
            raise WireError(f"{self.what}: ring width {bits} is not 32 or 64")
        width = bits // 8
        count = self.count(width, "vector")
        dtype = np.dtype(f"<u{width}")
        return np.frombuffer(self.take(width * count), dtype=dtype).astype(
            np.uint32 if bits == 32 else np.uint64, copy=False
        )

    def done(self) -> None:
        if self.pos != len(self.data):
            raise WireError(f"{self.what}: {len(self.data) - self.pos} trailing bytes")


def _u32(value: int, field: str) -> bytes:
    if not 0 <= value < 2**32:
        raise ValueError(f"{field} {value} does not fit in 32 bits")
    return struct.pack("<I", value)


def _ids(ids: tuple[int, ...], field: str) -> bytes:
    for value in ids:
        _u32(value, field)
    return _u32(len(ids), field) + np.asarray(ids, dtype="<u4").tobytes()


def _key(value: bytes, size: int, field: str) -> bytes:
    if len(value) != size:
        raise ValueError(f"{field} must have {size} bytes, got {len(value)}")
    return value


def _blob(value: bytes) -> bytes:
    return _u32(len(value), "blob length") + value


def _vector(vector: np.ndarray) -> bytes:
    if vector.dtype == np.uint32:
        bits, dtype = 32, "<u4"
    elif vector.dtype == np.uint64:
        bits, dtype = 64, "<u8"
    else:
        raise ValueError(f"a ring vector is uint32 or uint64, got {vector.dtype}")
    if vector.ndim != 1:
        raise ValueError(f"a ring vector is one-dimensional, got shape {vector.shape}")
    return bytes([bits]) + _u32(vector.shape[0], "vector length") + vector.astype(dtype).tobytes()


def _elements(values: np.ndarray, size: int) -> bytes:
    array = np.asarray(values, dtype=np.int64)
    if array.shape != (size,) or np.any((array < 0) | (array >= PRIME)):
        raise ValueError(f"a share is {size} field elements")
    return array.astype("<u4").tobytes()


def _advert(message: Advertise) -> bytes:
    return (
        _u32(message.client, "client id")
        + _key(message.cipher_pk, KEY, "cipher_pk")
        + _key(message.mask_pk, KEY, "mask_pk")
        + _key(message.signature, SIGNATURE, "signature")
    )


def _read_advert(reader: _Reader) -> Advertise:
    return Advertise(reader.u32(), reader.raw(KEY), reader.raw(KEY), reader.raw(SIGNATURE))


def _pairs(items: tuple[tuple[int, bytes], ...], field: str) -> bytes:
    parts = [_u32(len(items), field)]
    for ident, blob in items:
        parts.append(_u32(ident, field) + _blob(blob))
    return b"".join(parts)


def _read_pairs(reader: _Reader, field: str) -> tuple[tuple[int, bytes], ...]:
    count = reader.count(8, field)
    return tuple((reader.u32(), reader.blob()) for _ in range(count))


def _share_list(items: tuple[tuple[int, np.ndarray], ...], size: int) -> bytes:
    parts = [_u32(len(items), "share count")]
    for owner, share in items:
        parts.append(_u32(owner, "owner id") + _elements(share, size))
    return b"".join(parts)


def _read_share_list(reader: _Reader, size: int) -> tuple[tuple[int, np.ndarray], ...]:
    count = reader.count(4 + 4 * size, "share")
    return tuple((reader.u32(), reader.elements(size)) for _ in range(count))


def _encode_body(message: Message) -> bytes:
    match message:
        case Setup(config=c):
            return _ids(c.clients, "client id") + struct.pack(
                "<IIIdBB", c.threshold, c.degree, c.length, c.clip, c.bits, c.ring_bits
            )
        case Advertise():
            return _advert(message)
        case KeyBook(adverts=adverts):
            return _u32(len(adverts), "advert count") + b"".join(_advert(a) for a in adverts)
        case ShareCiphertexts(client=client, items=items):
            return (
                _u32(client, "client id")
                + _key(message.commitment, KEY, "commitment")
                + _pairs(items, "recipient")
            )
        case Forwarded(items=items):
            return _pairs(items, "sender")
        case MaskedInput(client=client, vector=vector):
            return _u32(client, "client id") + _vector(vector)
        case Survivors(clients=clients):
            return _ids(clients, "survivor id")
        case ConsistencySignature(client=client, signature=signature):
            return _u32(client, "client id") + _key(signature, SIGNATURE, "signature")
        case SignatureBook(items=items):
            return _u32(len(items), "signature count") + b"".join(
                _u32(c, "client id") + _key(s, SIGNATURE, "signature") for c, s in items
            )
        case UnmaskShares(client=client, self_mask=self_mask, mask_key=mask_key):
            shares = [s for _, s in self_mask + mask_key]
            size = len(shares[0]) if shares else 0
            return (
                _u32(client, "client id")
                + _u32(size, "share size")
                + _share_list(self_mask, size)
                + _share_list(mask_key, size)
            )
        case MpcShare(client=client, party=party, public=public, signature=sig, sealed=sealed):
            return (
                _u32(client, "client id")
                + _u32(party, "party")
                + _key(public, KEY, "public key")
                + _key(sig, SIGNATURE, "signature")
                + _blob(sealed)
            )
        case PartyView(party=party, clients=clients):
            return _u32(party, "party") + _ids(clients, "client id")
        case PartySum(party=party, clients=clients, vector=vector):
            return _u32(party, "party") + _ids(clients, "client id") + _vector(vector)
    raise TypeError(f"not a secure-aggregation message: {type(message).__name__}")


def _setup(reader: _Reader, session: bytes) -> Setup:
    clients = reader.ids("client")
    threshold, degree, length = reader.u32(), reader.u32(), reader.u32()
    clip, bits, ring_bits = reader.f64(), reader.u8(), reader.u8()
    if not math.isfinite(clip):
        raise WireError("Setup: clipping range is not finite")
    try:
        config = Config(session, clients, threshold, degree, length, clip, bits, ring_bits)
    except ValueError as exc:
        raise WireError(f"Setup: invalid configuration ({exc})") from None
    return Setup(config)


def _unmask(reader: _Reader) -> UnmaskShares:
    client, size = reader.u32(), reader.u32()
    if size > 1024:
        raise WireError(f"UnmaskShares: {size} elements per share is implausible")
    self_mask = _read_share_list(reader, size)
    mask_key = _read_share_list(reader, size)
    return UnmaskShares(client, self_mask, mask_key)


_DECODERS: dict[int, Callable[[_Reader, bytes], Any]] = {
    1: _setup,
    2: lambda r, s: _read_advert(r),
    3: lambda r, s: KeyBook(tuple(_read_advert(r) for _ in range(r.count(132, "advert")))),
    4: lambda r, s: ShareCiphertexts(r.u32(), r.raw(KEY), _read_pairs(r, "recipient")),
    5: lambda r, s: Forwarded(_read_pairs(r, "sender")),
    6: lambda r, s: MaskedInput(r.u32(), r.vector()),
    7: lambda r, s: Survivors(r.ids("survivor")),
    8: lambda r, s: ConsistencySignature(r.u32(), r.raw(SIGNATURE)),
    9: lambda r, s: SignatureBook(
        tuple((r.u32(), r.raw(SIGNATURE)) for _ in range(r.count(4 + SIGNATURE, "signature")))
    ),
    10: lambda r, s: _unmask(r),
    11: lambda r, s: MpcShare(r.u32(), r.u32(), r.raw(KEY), r.raw(SIGNATURE), r.blob()),
    12: lambda r, s: PartyView(r.u32(), r.ids("client")),
    13: lambda r, s: PartySum(r.u32(), r.ids("client"), r.vector()),
}


def encode(message: Message, session: bytes) -> bytes:
    """The frame of `message` in session `session` (ValueError for out-of-range fields)."""
    kind = KINDS.get(type(message))
    if kind is None:
        raise TypeError(f"not a secure-aggregation message: {type(message).__name__}")
    if len(session) != SESSION_BYTES:
        raise ValueError(f"a session id has {SESSION_BYTES} bytes, got {len(session)}")
    body = _encode_body(message)
    return _HEADER.pack(MAGIC, VERSION, kind, 0, session, len(body)) + body


def decode(frame: bytes | bytearray | memoryview) -> tuple[bytes, Message]:
    """(session, message) of a frame; WireError for anything malformed."""
    data = memoryview(frame)
    if len(data) < _HEADER.size:
        raise WireError(
            f"frame of {len(data)} bytes is shorter than the {_HEADER.size}-byte header"
        )
    magic, version, kind, reserved, session, length = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise WireError(f"bad magic {bytes(magic)!r}: not a secure-aggregation frame")
    if version != VERSION:
        raise WireError(f"unsupported wire version {version} (this side speaks {VERSION})")
    if kind not in _DECODERS:
        raise WireError(f"unknown message kind {kind}")
    if reserved != 0:
        raise WireError("reserved header bits are set")
    if length != len(data) - _HEADER.size:
        raise WireError(
            f"body length field says {length} bytes, the frame holds {len(data) - _HEADER.size}"
        )
    reader = _Reader(data[_HEADER.size :], _NAMES[kind])
    message = _DECODERS[kind](reader, bytes(session))
    reader.done()
    return bytes(session), message


def encode_share_payload(
    sender: int, recipient: int, mask_key: np.ndarray, self_mask: np.ndarray
) -> bytes:
    """The plaintext of a round-1 share ciphertext: sender, recipient and the two shares."""
    size = len(mask_key)
    if len(self_mask) != size:
        raise ValueError("both shares must have the same number of elements")
    return (
        bytes([_PAYLOAD_VERSION])
        + struct.pack("<III", sender, recipient, size)
        + _elements(mask_key, size)
        + _elements(self_mask, size)
    )


def decode_share_payload(data: bytes) -> tuple[int, int, np.ndarray, np.ndarray]:
    """(sender, recipient, s^SK share, b share) of a decrypted share payload (WireError)."""
    reader = _Reader(data, "share payload")
    if reader.u8() != _PAYLOAD_VERSION:
        raise WireError("share payload: unsupported version")
    sender, recipient, size = reader.u32(), reader.u32(), reader.u32()
    if size > 1024:
        raise WireError(f"share payload: {size} elements per share is implausible")
    mask_key, self_mask = reader.elements(size), reader.elements(size)
    reader.done()
    return sender, recipient, mask_key, self_mask

"""Envelopes: trust messages sealed end to end between two identity keys.

Every control-plane message of the trust layer (join, challenge, evidence, verdict,
welcome, rekey, heartbeat) travels in an envelope from one identity to another, so the
bus (in memory, or a NATS server and everyone subscribed to `>`) carries nothing readable
and nothing forgeable (DESIGN.md, "Trust: who measures whom").

Keys: the sender's and the receiver's static X25519 identity keys (registered on chain,
or handed out of band for the MLFO and SECaaS) agree on a shared secret; HKDF-SHA256
over it, with both public keys in sender → receiver order in `info`, gives one
ChaCha20-Poly1305 key per direction. Only the two key holders can make a frame that
opens, so a frame that opens came from the named sender (the receiver does not forge
frames to itself). The nonce is the sender's counter towards that receiver (from 1,
never reused under a key); the receiver keeps an anti-replay window per sender
(`secmas.transport.replay`, RFC 4303), updated only after the frame authenticated.

An enrolment frame (a join) comes from an agent the receiver does not know yet: its body
is a sealed box (`secmas.trust.sealing`, ephemeral X25519) to the receiver's key holding
the sender's X25519 public key and the payload. It is confidential but not authenticated
by a key; the enrolment protocol (`secmas.trust.enrolment`) authenticates it with the
one-time credential of step 8, and the reply is sealed to the key the join carried.

Wire format, version 1 (integers big-endian):

    offset  size  field
    0       1     format version, 1
    1       1     kind: 1 message, 2 request, 3 reply, 4 enrolment
    2       1     n, length of the sender name (1..64)
    3       n     sender name, UTF-8
    3+n     1     m, length of the receiver name (1..64)
    4+n     m     receiver name, UTF-8
    4+n+m   8     counter (0 in enrolment frames)
    12+n+m  1     r, length of the reply subject (requests and enrolments, else 0)
    13+n+m  r     reply subject, ASCII
    …             ciphertext and 16-byte tag (enrolment: a sealed box)

Associated data: the header and the subject it is published on, so no header field can
be changed and no frame re-routed to another subject or request.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from secmas.transport.replay import MAX_SEQ, ReplayWindow
from secmas.trust.identity import AgentIdentity
from secmas.trust.sealing import SealError, open_sealed, seal

VERSION = 1
MAX_NAME_BYTES = 64
MAX_REPLY_BYTES = 255
KEY_BYTES = 32
TAG_BYTES = 16
_LABEL = b"secmas/envelope/1"
_COUNTER = struct.Struct(">Q")
_CACHE_LIMIT = 4096
"""Pair keys kept; frames naming made-up senders must not grow the cache without bound."""


class KeyHolder(Protocol):
    """A directory entry: the party's registered public keys (`PeerKeys` is one)."""

    @property
    def sealing(self) -> bytes:
        """Its raw 32-byte X25519 key."""
        ...


class Kind(IntEnum):
    """What a frame is."""

    MESSAGE = 1
    REQUEST = 2
    REPLY = 3
    ENROL = 4


class EnvelopeError(ValueError):
    """A frame that does not open; `reason` is a short word for counters."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Header:
    """The clear part of a frame: who to whom, which frame, where to answer."""

    kind: Kind
    sender: str
    receiver: str
    counter: int
    reply: str = ""

    def encode(self) -> bytes:
        sender, receiver, reply = _name(self.sender), _name(self.receiver), self.reply.encode()
        if len(reply) > MAX_REPLY_BYTES:
            raise ValueError(f"reply subject longer than {MAX_REPLY_BYTES} bytes")
        return (
            bytes([VERSION, self.kind, len(sender)])
            + sender
            + bytes([len(receiver)])
            + receiver
            + _COUNTER.pack(self.counter)
            + bytes([len(reply)])
            + reply
        )

    @classmethod
    def decode(cls, frame: bytes) -> tuple[Header, int]:
        """The header and where the body starts; EnvelopeError if it is not one."""
        try:
            if frame[0] != VERSION:
                raise EnvelopeError("version", f"unknown envelope version {frame[0]}")
            kind = Kind(frame[1])
            at = 2
            sender, at = _read_name(frame, at)
            receiver, at = _read_name(frame, at)
            (counter,) = _COUNTER.unpack_from(frame, at)
            at += _COUNTER.size
            size = frame[at]
            reply = frame[at + 1 : at + 1 + size].decode("ascii")
            at += 1 + size
        except (IndexError, ValueError, struct.error, UnicodeDecodeError) as exc:
            if isinstance(exc, EnvelopeError):
                raise
            raise EnvelopeError("malformed", f"not an envelope: {exc}") from None
        if len(reply) != size or at + TAG_BYTES > len(frame):
            raise EnvelopeError("truncated", "frame shorter than its header and tag")
        return cls(kind, sender, receiver, counter, reply), at


def _name(name: str) -> bytes:
    raw = name.encode()
    if not 1 <= len(raw) <= MAX_NAME_BYTES:
        raise ValueError(f"name {name!r}: 1 to {MAX_NAME_BYTES} UTF-8 bytes")
    return raw


def _read_name(frame: bytes, at: int) -> tuple[str, int]:
    size = frame[at]
    if not 1 <= size <= MAX_NAME_BYTES or at + 1 + size > len(frame):
        raise EnvelopeError("malformed", "bad name length")
    return frame[at + 1 : at + 1 + size].decode(), at + 1 + size


def pair_key(identity: AgentIdentity, peer: bytes, *, outgoing: bool) -> bytes:
    """The AEAD key for frames between `identity` and the holder of X25519 key `peer`, in
    one direction: from us (`outgoing`) or to us."""
    try:
        shared = identity.sealing.exchange(X25519PublicKey.from_public_bytes(peer))
    except ValueError as exc:
        raise EnvelopeError("key", f"peer key: {exc}") from None
    own = identity.sealing_public
    info = _LABEL + (own + peer if outgoing else peer + own)
    return HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=info).derive(shared)


def _nonce(counter: int) -> bytes:
    return b"\x00" * 4 + _COUNTER.pack(counter)


@dataclass(frozen=True, slots=True)
class Opened:
    """A frame that opened: its header, the plaintext, and for enrolment frames the
    X25519 key the sender says it holds (`authenticated` is False for those)."""

    header: Header
    payload: bytes
    sender_key: bytes
    authenticated: bool

    @property
    def sender(self) -> str:
        return self.header.sender


class Envelopes:
    """One identity's envelopes: counters per receiver, replay windows per sender.

    `directory` maps names to public keys (the MLFO, SECaaS and registered members); it
    may grow while in use (agents learn the members from the chain)."""

    def __init__(self, identity: AgentIdentity, directory: Mapping[str, KeyHolder]) -> None:
        self.identity = identity
        self.directory = directory
        self._counters: dict[str, int] = {}
        self._windows: dict[tuple[str, bytes], ReplayWindow] = {}
        self._keys: dict[tuple[bytes, bool], ChaCha20Poly1305] = {}

    @property
    def name(self) -> str:
        return self.identity.name

    def _aead(self, peer: bytes, *, outgoing: bool) -> ChaCha20Poly1305:
        cached = self._keys.get((peer, outgoing))
        if cached is None:
            if len(self._keys) >= _CACHE_LIMIT:
                self._keys.clear()
            cached = ChaCha20Poly1305(pair_key(self.identity, peer, outgoing=outgoing))
            self._keys[(peer, outgoing)] = cached
        return cached

    def _key(self, name: str) -> bytes | None:
        entry = self.directory.get(name)
        return None if entry is None else entry.sealing

    def _next(self, receiver: str) -> int:
        counter = self._counters.get(receiver, 0) + 1
        if counter > MAX_SEQ:
            raise OverflowError(f"counter towards {receiver} exhausted")
        self._counters[receiver] = counter
        return counter

    def seal(
        self,
        kind: Kind,
        receiver: str,
        subject: str,
        payload: bytes,
        reply: str = "",
        receiver_key: bytes | None = None,
    ) -> bytes:
        """A frame from us to `receiver` (its key from the directory unless given)."""
        key = receiver_key if receiver_key is not None else self._key(receiver)
        if key is None:
            raise LookupError(f"no key for {receiver!r}")
        counter = self._next(receiver)
        header = Header(kind, self.name, receiver, counter, reply).encode()
        aead = self._aead(key, outgoing=True)
        return header + aead.encrypt(_nonce(counter), payload, header + subject.encode())

    def enrol(
        self, receiver: str, receiver_key: bytes, subject: str, payload: bytes, reply: str
    ) -> bytes:
        """An enrolment frame: a sealed box to `receiver_key` with our X25519 key inside."""
        header = Header(Kind.ENROL, self.name, receiver, 0, reply).encode()
        box = seal(self.identity.sealing_public + payload, receiver_key, header + subject.encode())
        return header + box

    def open(self, subject: str, frame: bytes) -> Opened:
        """The plaintext of a frame addressed to us; EnvelopeError (with a reason) if it is
        not ours, does not authenticate, or was seen before."""
        header, at = Header.decode(frame)
        if header.receiver != self.name:
            raise EnvelopeError("misdirected", f"addressed to {header.receiver!r}")
        ad = frame[:at] + subject.encode()
        if header.kind is Kind.ENROL:
            try:
                body = open_sealed(frame[at:], self.identity.sealing, ad)
            except SealError as exc:
                raise EnvelopeError("forged", str(exc)) from None
            if len(body) < KEY_BYTES:
                raise EnvelopeError("malformed", "enrolment without a key")
            return Opened(header, body[KEY_BYTES:], body[:KEY_BYTES], authenticated=False)
        key = self._key(header.sender)
        if key is None:
            raise EnvelopeError("unknown", f"unknown sender {header.sender!r}")
        window = self._windows.get((header.sender, key))
        if window is not None and not window.check(header.counter):
            raise EnvelopeError("replayed", f"counter {header.counter} from {header.sender}")
        if header.counter == 0:
            raise EnvelopeError("malformed", "counter 0")
        try:
            payload = self._aead(key, outgoing=False).decrypt(
                _nonce(header.counter), frame[at:], ad
            )
        except InvalidTag:
            raise EnvelopeError("forged", f"does not open as from {header.sender}") from None
        if window is None:
            window = self._windows.setdefault((header.sender, key), ReplayWindow())
        window.accept(header.counter)
        return Opened(header, payload, key, authenticated=True)

"""Signed envelopes: every protocol message, in every round, under its sender's identity.

Bonawitz et al. sign only the round-0 keys and the round-3 survivor set; the other
messages rely on authenticated channels to the server. Over the agents' bus anyone on it
can publish a frame in another agent's name, so here every frame travels in an envelope
signed with the sender's Ed25519 identity key, bound to the session, the round, the
sender and the recipient. Layout (little-endian)::

    magic "SAGE" 4 bytes, version u8 = 1, round u8, reserved u16 = 0,
    session 16 bytes, sender u32, recipient u32, frame length u32,
    frame (`secmas.secagg.wire`), Ed25519 signature 64 bytes

The signature covers a domain string ‖ everything before it. `Inbox.open` refuses:
a frame that does not parse (WireError); a sender without a registered key, a signature
that does not verify, a message inside that names another client than the signer, or an
envelope for another recipient (ImpersonationError); an envelope of another session,
of a round other than the one the receiver is in, or a second one from a sender in a
round (ReplayError). Nothing here does I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.secagg import crypto, wire
from secmas.secagg.errors import ImpersonationError, ReplayError, WireError
from secmas.secagg.messages import (
    SESSION_BYTES,
    Advertise,
    ConsistencySignature,
    Forwarded,
    KeyBook,
    MaskedInput,
    Message,
    Setup,
    ShareCiphertexts,
    SignatureBook,
    Survivors,
    UnmaskShares,
)

__all__ = ["MAGIC", "SERVER", "Inbox", "round_of", "seal"]

MAGIC = b"SAGE"
VERSION = 1
SERVER = 2**32 - 1
"""The aggregation server's id in envelopes (client ids are below 2³¹)."""
_HEADER = struct.Struct(f"<4sBBH{SESSION_BYTES}sIII")
_DOMAIN = b"secmas.secagg/envelope/v1"
_SIGNATURE = crypto.SIGNATURE_BYTES

_ROUNDS: dict[type, int] = {
    Setup: 0,
    Advertise: 0,
    KeyBook: 1,
    ShareCiphertexts: 1,
    Forwarded: 2,
    MaskedInput: 2,
    Survivors: 3,
    ConsistencySignature: 3,
    SignatureBook: 4,
    UnmaskShares: 4,
}


_REQUESTS = (Setup, KeyBook, Forwarded, Survivors, SignatureBook)
"""What only the server sends; clients send the other round messages."""


def round_of(message: Message) -> int:
    """The protocol round (0–4) a message belongs to."""
    try:
        return _ROUNDS[type(message)]
    except KeyError:
        raise TypeError(f"{type(message).__name__} is not a round message") from None


def _name(party: int) -> str:
    return "the server" if party == SERVER else f"client {party}"


def seal(
    identity: Ed25519PrivateKey,
    session: bytes,
    sender: int,
    recipient: int,
    message: Message,
) -> bytes:
    """The signed envelope of `message` from `sender` to `recipient` in `session`."""
    frame = wire.encode(message, session)
    head = _HEADER.pack(
        MAGIC, VERSION, round_of(message), 0, session, sender, recipient, len(frame)
    )
    body = head + frame
    return body + identity.sign(_DOMAIN + body)


@dataclass
class Inbox:
    """What one party (`me`: a client id or SERVER) accepts in one session.

    `directory` maps every party it hears from to its raw Ed25519 public key. Set `round`
    to the round it is in; `open` accepts one envelope per sender and round."""

    session: bytes
    me: int
    directory: Mapping[int, bytes]
    round: int = 0
    _seen: set[tuple[int, int]] = field(default_factory=set, repr=False)

    def open(self, data: bytes) -> tuple[int, Message]:
        """(sender, message) of an envelope addressed to us now; see the module docstring
        for what is refused and how."""
        if len(data) < _HEADER.size + _SIGNATURE:
            raise WireError(f"envelope of {len(data)} bytes is shorter than header + signature")
        magic, version, number, reserved, session, sender, recipient, length = _HEADER.unpack_from(
            data
        )
        if magic != MAGIC or version != VERSION or reserved:
            raise WireError("not a version-1 secure-aggregation envelope")
        if length != len(data) - _HEADER.size - _SIGNATURE:
            raise WireError(f"envelope frame length field says {length} bytes")
        body, signature = data[:-_SIGNATURE], data[-_SIGNATURE:]
        registered = self.directory.get(sender)
        if registered is None or not crypto.verify(registered, signature, _DOMAIN + body):
            raise ImpersonationError(
                f"{_name(self.me)}: a round-{number} envelope claiming to come from "
                f"{_name(sender)} is not signed by its identity key: refused"
            )
        if recipient != self.me:
            raise ImpersonationError(
                f"{_name(self.me)}: an envelope from {_name(sender)} addressed to "
                f"{_name(recipient)}: refused"
            )
        if session != self.session:
            raise ReplayError(
                f"{_name(self.me)}: an envelope from {_name(sender)} of session "
                f"{session.hex()}, this is session {self.session.hex()}: replayed, refused"
            )
        inner, message = wire.decode(data[_HEADER.size : _HEADER.size + length])
        if type(message) not in _ROUNDS:
            raise WireError(
                f"{_name(self.me)}: {_name(sender)} sent a {type(message).__name__}, not a "
                "message of the aggregation's rounds: refused"
            )
        if inner != session or round_of(message) != number:
            raise ImpersonationError(
                f"{_name(self.me)}: the frame inside {_name(sender)}'s envelope is of "
                "another session or round: refused"
            )
        if (sender == SERVER) != isinstance(message, _REQUESTS):
            raise ImpersonationError(
                f"{_name(self.me)}: {_name(sender)} sent a {type(message).__name__}, "
                "which only the other side sends: refused"
            )
        named = getattr(message, "client", SERVER)
        if named != sender:
            raise ImpersonationError(
                f"{_name(self.me)}: {_name(sender)} signed a {type(message).__name__} in "
                f"the name of {_name(named)}: refused"
            )
        if number != self.round:
            raise ReplayError(
                f"{_name(self.me)}: a round-{number} {type(message).__name__} from "
                f"{_name(sender)} during round {self.round}: replayed or late, refused"
            )
        if (sender, number) in self._seen:
            raise ReplayError(
                f"{_name(self.me)}: a second round-{number} {type(message).__name__} from "
                f"{_name(sender)}: replayed, refused"
            )
        self._seen.add((sender, number))
        return sender, message

"""The secure channel: every bus message between the agents of one pipeline, sealed.

The paper encrypts inter-agent links with pre-shared secrets the agents obtain from the
ledger after attestation, and separates pipelines by VXLAN segment (VNI). Kernel IPsec is
not available to the agents, so this module does at the application level what ESP would
do (RFC 4303): an AEAD per direction, an explicit sequence number as the nonce, and an
anti-replay window (`secmas.transport.replay`). `SecureBus` wraps any `Bus`, so agents
keep the bus interface and the inner bus (in memory or NATS) only ever carries frames.

Wire format, version 1 (integers big-endian):

    offset  size  field
    0       1     format version, 1
    1       3     VNI, the pipeline's segment (24-bit, as VXLAN)
    4       1     n, length of the sender id (1..64)
    5       n     sender id, UTF-8
    5+n     4     key epoch (uint32)
    9+n     8     sequence number (uint64, from 1)
    17+n    1     flags: 0x01 request, 0x02 reply (at most one), 0x04 signed
    18+n    1     m, length of the reply subject (request frames only, 1..255)
    19+n    m     reply subject, ASCII (request frames only)
    …             AEAD ciphertext of the payload, then its 16-byte tag
    …             signed frames: the sender's 64-byte Ed25519 signature

The AEAD (AES-256-GCM or ChaCha20-Poly1305, configured alike on every member; not on the
wire) uses the link key of (sender, receiver, epoch) from `ChannelKeys`, where the
receiver is the agent the subject addresses, or `GROUP` for subjects all members read.
Nonce: 4 zero bytes ‖ the sequence number. Associated data: the header ‖ the subject
(UTF-8), so every header field is authenticated and a frame cannot be re-routed to
another subject; a reply is published on the request's one-off reply subject, so it
answers that request only.

A link key between two agents is known to its two ends only (`secmas.trust.linkkeys`:
pairwise, from their X25519 identities), so the tag alone proves the sender. A group key
is known to every member, so frames to `GROUP` are signed (flag 0x04, always set on
them and never on others): the sender's Ed25519 signature over the header ‖ the subject
‖ the ciphertext, checked with the sender's registered key. A member holding the group
key thus reads group frames but cannot write one in another member's name.

Nonces never repeat under a key: the sender numbers frames per (receiver, epoch) from 1
with a counter that only grows and is shared by every SecureBus built on the same
`ChannelKeys` object, and a link key belongs to one (sender, receiver, epoch). The
counters live in memory, so an agent process that restarts must not send under an epoch
it sent under before (its numbers would start again at 1): it needs a new epoch.

Receiving, a frame is parsed, checked against the VNI, the addressee and the replay
window (`check` only, so forgeries cost nothing but the parse), decrypted, its signature
checked if it is a group frame, and only then recorded in the window (`accept`). Windows
are per authenticated sender and epoch: a frame that names a sender it does not come
from never opens, so it cannot move that sender's window (a sequence number of 2^64-1
in another member's name would otherwise shut that member out until the next epoch).
Each subscription keeps its own windows: messages of one publisher reach one
subscription in order, while two subscriptions may run apart. What they accepted is
shared, though, per receiver (`replay.Heard`, one per `ChannelKeys` object as the send
counters are): a subscription made later, or on a SecureBus that re-joined on the same
keys, refuses every frame numbered at or below what its receiver had accepted on that
link when it was made, so a captured frame cannot be replayed into it.
Anything that fails is dropped and counted in `ChannelStats.dropped` by reason, never
raised into the bus.

What opens is handed on with its authenticated sender (`subscribe_from`): the channel
proves who sealed a frame, not who its payload says sent it, so a payload naming a sender
of its own (an ACL message's `sender`) counts only where the two agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import struct
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, NamedTuple, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from secmas.transport.bus import Bus, BusClosed, BusStats, Handler, NoResponders, Subscription
from secmas.transport.replay import DEFAULT_SIZE, MAX_SEQ, Heard, ReplayWindow

logger = logging.getLogger(__name__)

VERSION = 1
GROUP = "*"
"""The receiver of frames on subjects that address no single agent."""
MAX_ID_BYTES = 64
MAX_VNI = 2**24 - 1
REQUEST = 0x01
REPLY = 0x02
SIGNED = 0x04
TAG_BYTES = 16
SIGNATURE_BYTES = 64

Cipher = Literal["aes-256-gcm", "chacha20-poly1305"]
_AEADS: dict[str, type[AESGCM] | type[ChaCha20Poly1305]] = {
    "aes-256-gcm": AESGCM,
    "chacha20-poly1305": ChaCha20Poly1305,
}

_TAIL = struct.Struct(">IQB")  # epoch, sequence number, flags
_NONCE = struct.Struct(">4xQ")
_CACHE_LIMIT = 1024
"""AEAD objects and addressees cached; made-up senders must not grow them without bound."""


SenderHandler = Callable[[str, str | None, bytes], Awaitable[bytes | None]]
"""Receives (subject, authenticated sender, data), else as `Handler`; the sender is None
on a bus that authenticates nobody (`subscribe_authenticated`)."""


class ChannelKeys(Protocol):
    """One agent's link keys and identity (`secmas.trust.linkkeys.EpochKeyring` is one).

    `send_key` raises LookupError when there is no key to send with. Once `receive_key`
    answers None for a (sender, epoch, receiver) that had a key, it never answers a key
    again (epochs only move forward, revocation is final): replay windows rely on it.
    `sign` and `verify` sign group frames with the agents' identity keys; `revoked`
    names the agents no frame is taken from any more."""

    @property
    def revoked(self) -> frozenset[str]: ...

    def send_key(self, receiver: str) -> tuple[int, bytes]:
        """(epoch, key) for frames from us to `receiver`, an agent or `GROUP`."""
        ...

    def receive_key(self, sender: str, epoch: int, receiver: str) -> bytes | None:
        """The key `sender` sealed with under `epoch` for `receiver` (us or `GROUP`)."""
        ...

    def sign(self, message: bytes) -> bytes:
        """Our 64-byte signature over `message`."""
        ...

    def verify(self, sender: str, signature: bytes, message: bytes) -> bool:
        """Whether `signature` over `message` is `sender`'s."""
        ...


class Drop(StrEnum):
    """Why a frame was dropped."""

    TRUNCATED = "truncated"
    """Shorter than its header and tag."""
    VERSION = "version"
    """Unknown format version (or not a frame at all)."""
    VNI = "vni"
    """From another pipeline segment."""
    MALFORMED = "malformed"
    """A bad sender id or reply subject, or sequence number 0."""
    FLAGS = "flags"
    """Unknown flags, a reply where a request or message belongs or the reverse, or a
    group frame not signed (or a directed frame signed)."""
    MISDIRECTED = "misdirected"
    """On a subject that addresses another agent."""
    NO_KEY = "no_key"
    """Epoch unknown or past its grace, or a sender with no registered keys."""
    REVOKED = "revoked"
    """From a revoked agent."""
    REPLAY = "replay"
    """Sequence number already accepted, or older than the window."""
    AUTH = "auth"
    """The tag does not verify: wrong key, tampered header, payload or subject."""
    SIGNATURE = "signature"
    """A group frame whose signature is not its named sender's."""
    RESPONDER = "responder"
    """A reply from an agent other than the one the request addressed."""
    LATE_REPLY = "late_reply"
    """A reply to no pending request (answered, timed out, or made up)."""


class FrameDropped(Exception):
    """A frame that does not open; `reason` says why."""

    def __init__(self, reason: Drop) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(slots=True)
class ChannelStats:
    """Frames sealed, frames opened, and frames dropped by `Drop` reason."""

    sealed: int = 0
    opened: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


class Opened(NamedTuple):
    """An authenticated frame: who sent it, under which epoch and number, and the payload.
    `reply` is the subject to answer on (request frames only). A tuple: cheap to build."""

    sender: str
    epoch: int
    seq: int
    flags: int
    reply: str | None
    payload: bytes


def frame_sender(frame: bytes, vni: int) -> str | None:
    """The sender named by `frame`'s header when it has the envelope of a sealed frame of
    segment `vni` (version, VNI, sender, room for the tag), else None. What a wire tap can
    tell without keys: whether a message travels sealed, and who claims to have sent it."""
    if len(frame) < 5 or frame[0] != VERSION or frame[1:4] != vni.to_bytes(3, "big"):
        return None
    end = 5 + frame[4]
    if not 1 <= frame[4] <= MAX_ID_BYTES or len(frame) < end + _TAIL.size + TAG_BYTES:
        return None
    try:
        sender = frame[5:end].decode()
    except UnicodeDecodeError:
        return None
    return None if sender == GROUP else sender


def id_bytes(agent: str) -> bytes:
    """`agent` as it goes on the wire; ValueError unless 1 to 64 UTF-8 bytes, not `GROUP`."""
    raw = agent.encode()
    if agent == GROUP or not 1 <= len(raw) <= MAX_ID_BYTES:
        raise ValueError(f"agent id {agent!r}: 1 to {MAX_ID_BYTES} UTF-8 bytes, not {GROUP!r}")
    return raw


Link = tuple[str, int, str]
"""(sender, epoch, receiver): what a sender numbers its frames on, and one key."""

# What each receiver accepted, per ChannelKeys object (its identity), shared by all its
# subscriptions, those of every SecureBus built on it included.
_HEARD: weakref.WeakKeyDictionary[ChannelKeys, Heard[Link]] = weakref.WeakKeyDictionary()


class ReplayWindows:
    """One subscription's replay windows, per (sender, epoch, receiver), above the floors
    its receiver's `Heard` had when the subscription was made (module docstring).

    A window is only added after a frame from its link authenticated, so forged frames
    cannot fill memory; windows of links whose key is gone are pruned as new ones come."""

    __slots__ = ("_floors", "_heard", "_keys", "_size", "_windows")

    def __init__(self, keys: ChannelKeys, size: int = DEFAULT_SIZE) -> None:
        ReplayWindow(size)  # validates the size
        self._keys = keys
        self._size = size
        self._heard = _HEARD.setdefault(keys, Heard())
        self._floors = self._heard.floors()
        self._windows: dict[Link, ReplayWindow] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def check(self, link: Link, seq: int) -> bool:
        """Whether frame `seq` of `link` may open here: sent after this subscription was
        made, and new to its window. Records nothing (the frame is not authenticated)."""
        if seq <= self._floors.get(link, 0):
            return False
        window = self._windows.get(link)
        return window is None or window.check(seq)

    def accept(self, link: Link, seq: int) -> None:
        """Record frame `seq` of `link`, authenticated: here, and for the subscriptions
        its receiver makes from now on."""
        window = self._windows.get(link)
        if window is None:
            for gone in [k for k in self._windows if not self._alive(k)]:
                del self._windows[gone]
            window = self._windows[link] = ReplayWindow(self._size)
        window.accept(seq)
        self._heard.record(link, seq, self._alive)

    def _alive(self, link: Link) -> bool:
        return self._keys.receive_key(*link) is not None


# Send counters per ChannelKeys object, so that two SecureBus on one keyring (an agent
# that re-joins the bus, say) continue one sequence instead of reusing nonces.
_COUNTERS: weakref.WeakKeyDictionary[ChannelKeys, dict[tuple[str, int], int]] = (
    weakref.WeakKeyDictionary()
)


class SecureChannel:
    """Seals and opens frames for agent `me` of segment `vni`: no I/O, no event loop.

    `recipient(subject)` names the agent a subject addresses, None for group subjects; it
    must depend on the subject alone (answers are cached)."""

    def __init__(
        self,
        me: str,
        vni: int,
        keys: ChannelKeys,
        recipient: Callable[[str], str | None],
        *,
        cipher: Cipher = "aes-256-gcm",
        window: int = DEFAULT_SIZE,
    ) -> None:
        me_bytes = id_bytes(me)
        if not isinstance(vni, int) or not 0 <= vni <= MAX_VNI:
            raise ValueError(f"VNI {vni!r} is not 24-bit")
        if cipher not in _AEADS:
            raise ValueError(f"cipher {cipher!r}: one of {', '.join(_AEADS)}")
        ReplayWindow(window)  # validates the size
        self.me = me
        self.vni = vni
        self.cipher = cipher
        self.window = window
        self.keys = keys
        self.stats = ChannelStats()
        self._recipient = recipient
        self._aead = _AEADS[cipher]
        self._vni_bytes = vni.to_bytes(3, "big")
        self._prefix = bytes([VERSION]) + self._vni_bytes + bytes([len(me_bytes)]) + me_bytes
        try:
            self._counters = _COUNTERS.setdefault(keys, {})
        except TypeError:
            raise TypeError("ChannelKeys must be hashable and weak-referenceable") from None
        self._sealers: dict[bytes, AESGCM | ChaCha20Poly1305] = {}
        self._openers: dict[bytes, AESGCM | ChaCha20Poly1305] = {}
        self._receivers: dict[str, str] = {}

    def receiver(self, subject: str) -> str:
        """Whom frames on `subject` are sealed for: the agent it addresses, or `GROUP`."""
        try:
            return self._receivers[subject]
        except KeyError:
            pass
        agent = self._recipient(subject)
        if len(self._receivers) >= _CACHE_LIMIT:
            self._receivers.clear()
        receiver = self._receivers[subject] = GROUP if agent is None else agent
        return receiver

    def seal(
        self,
        subject: str,
        payload: bytes,
        *,
        to: str | None = None,
        flags: int = 0,
        reply: str | None = None,
    ) -> bytes:
        """A frame carrying `payload` on `subject`, for `to` (default: whom the subject
        addresses). A request names its `reply` subject; LookupError from the keys when
        there is no key for the receiver."""
        receiver = self.receiver(subject) if to is None else to
        if receiver == GROUP:
            flags |= SIGNED
        epoch, key = self.keys.send_key(receiver)
        aead = self._sealers.get(key)
        if aead is None:
            aead = self._cached(self._sealers, key)
        counters = self._counters
        seq = counters.get((receiver, epoch), 0) + 1
        if seq > MAX_SEQ:
            raise OverflowError(f"sequence numbers to {receiver!r} exhausted in epoch {epoch}")
        counters[receiver, epoch] = seq
        header = self._prefix + _TAIL.pack(epoch, seq, flags)
        if flags & REQUEST:
            if reply is None:
                raise ValueError("a request needs a reply subject")
            raw = reply.encode("ascii")
            if not 1 <= len(raw) <= 255:
                raise ValueError(f"reply subject {reply!r} is not 1 to 255 bytes")
            header += bytes([len(raw)]) + raw
        self.stats.sealed += 1
        authenticated = header + subject.encode()
        body = aead.encrypt(_NONCE.pack(seq), payload, authenticated)
        if flags & SIGNED:
            return header + body + self.keys.sign(authenticated + body)
        return header + body

    def open(
        self, subject: str, frame: bytes, windows: ReplayWindows, *, reply: bool = False
    ) -> Opened:
        """The authenticated content of `frame`, received on `subject` (a reply inbox when
        `reply`), recorded in `windows`; FrameDropped, counted, when it does not open."""
        try:
            return self._open(subject, frame, windows, reply)
        except FrameDropped as drop:
            self.stats.dropped[drop.reason] += 1
            logger.debug("%s dropped a frame on %r: %s", self.me, subject, drop.reason)
            raise

    def _open(self, subject: str, frame: bytes, windows: ReplayWindows, reply: bool) -> Opened:
        size = len(frame)
        if size < 5:
            raise FrameDropped(Drop.TRUNCATED)
        if frame[0] != VERSION:
            raise FrameDropped(Drop.VERSION)
        if frame[1:4] != self._vni_bytes:
            raise FrameDropped(Drop.VNI)
        if not 1 <= frame[4] <= MAX_ID_BYTES:
            raise FrameDropped(Drop.MALFORMED)
        end = 5 + frame[4]
        pos = end + _TAIL.size
        if size < pos + TAG_BYTES:
            raise FrameDropped(Drop.TRUNCATED)
        epoch, seq, flags = _TAIL.unpack_from(frame, end)
        try:
            sender = frame[5:end].decode()
        except UnicodeDecodeError:
            raise FrameDropped(Drop.MALFORMED) from None
        if sender == GROUP or seq == 0:
            raise FrameDropped(Drop.MALFORMED)
        if reply:
            if flags != REPLY:
                raise FrameDropped(Drop.FLAGS)
            receiver = self.me
        else:
            receiver = self.receiver(subject)
            signed = SIGNED if receiver == GROUP else 0
            if flags not in (signed, REQUEST | signed):
                raise FrameDropped(Drop.FLAGS)
            if receiver != GROUP and receiver != self.me:
                raise FrameDropped(Drop.MISDIRECTED)
        end_body = size
        if flags & SIGNED:
            end_body -= SIGNATURE_BYTES
            if end_body < pos + TAG_BYTES:
                raise FrameDropped(Drop.TRUNCATED)
        reply_to = None
        if flags & REQUEST:
            length = frame[pos]  # size >= pos + TAG_BYTES
            start, pos = pos + 1, pos + 1 + length
            if length == 0 or end_body < pos + TAG_BYTES:
                raise FrameDropped(Drop.MALFORMED if length == 0 else Drop.TRUNCATED)
            try:
                reply_to = frame[start:pos].decode("ascii")
            except UnicodeDecodeError:
                raise FrameDropped(Drop.MALFORMED) from None
        key = self.keys.receive_key(sender, epoch, receiver)
        if key is None:
            raise FrameDropped(Drop.REVOKED if sender in self.keys.revoked else Drop.NO_KEY)
        link = (sender, epoch, receiver)
        if not windows.check(link, seq):
            raise FrameDropped(Drop.REPLAY)
        aead = self._openers.get(key)
        if aead is None:
            aead = self._cached(self._openers, key)
        authenticated = frame[:pos] + subject.encode()
        body = frame[pos:end_body]
        try:
            payload = aead.decrypt(_NONCE.pack(seq), body, authenticated)
        except InvalidTag:
            raise FrameDropped(Drop.AUTH) from None
        if end_body != size and not self.keys.verify(
            sender, frame[end_body:], authenticated + body
        ):
            raise FrameDropped(Drop.SIGNATURE)
        windows.accept(link, seq)
        self.stats.opened += 1
        return Opened(sender, epoch, seq, flags, reply_to, payload)

    def _cached(
        self, cache: dict[bytes, AESGCM | ChaCha20Poly1305], key: bytes
    ) -> AESGCM | ChaCha20Poly1305:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        aead = cache[key] = self._aead(key)
        return aead


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[bytes]
    responder: str | None
    """The agent whose answer counts; None for a group subject: any member's."""


class SecureSubscription:
    """A SecureBus subscription: unsubscribing also ends the SecureBus's claim on it."""

    __slots__ = ("_bus", "_inner")

    def __init__(self, bus: SecureBus, inner: Subscription) -> None:
        self._bus = bus
        self._inner = inner

    def __repr__(self) -> str:
        return f"SecureSubscription({self.subject!r})"

    @property
    def subject(self) -> str:
        return self._inner.subject

    async def unsubscribe(self) -> None:
        self._bus._subs.pop(self, None)
        await self._inner.unsubscribe()


class SecureBus:
    """A `Bus` for agent `me` of pipeline segment `vni` that seals what it sends and opens
    what it receives (see the module docstring), over any inner `Bus`.

    The inner bus is shared: many agents' SecureBus wrap one MemoryBus or NATS connection.
    So `close` ends only what this SecureBus owns, its subscriptions and pending requests,
    and leaves the inner bus open; `stats` and `flush` are the inner bus's.

    Requests carry a one-off reply subject under this bus's own inbox, and the answer is
    sealed to it: a forged or garbled answer is dropped and the request keeps waiting for
    a genuine one until its timeout. The frame goes out with the inner bus's `request`, so
    NoResponders comes as it would without the channel; its answer path stays unused.
    """

    def __init__(
        self,
        inner: Bus,
        me: str,
        vni: int,
        keys: ChannelKeys,
        recipient: Callable[[str], str | None],
        *,
        cipher: Cipher = "aes-256-gcm",
        window: int = DEFAULT_SIZE,
    ) -> None:
        self.channel = SecureChannel(me, vni, keys, recipient, cipher=cipher, window=window)
        self._inner = inner
        self._subs: dict[SecureSubscription, None] = {}
        self._inbox: Subscription | None = None
        self._inbox_lock = asyncio.Lock()
        self._inbox_prefix = f"_INBOX.{secrets.token_hex(8)}"
        self._reply_windows = ReplayWindows(keys, window)
        self._pending: dict[str, _Pending] = {}
        self._request_ids = itertools.count(1)
        self._closed = False

    def __repr__(self) -> str:
        return f"SecureBus({self.me!r}, vni={self.vni}, subscriptions={len(self._subs)})"

    @property
    def me(self) -> str:
        return self.channel.me

    @property
    def vni(self) -> int:
        return self.channel.vni

    @property
    def stats(self) -> BusStats:
        """The inner bus's counters (it carries every agent's frames)."""
        return self._inner.stats

    @property
    def channel_stats(self) -> ChannelStats:
        """This agent's frames: sealed, opened, dropped by reason."""
        return self.channel.stats

    @property
    def closed(self) -> bool:
        return self._closed

    async def publish(self, subject: str, data: bytes) -> None:
        """Seal `data` for whom `subject` addresses and publish it on the inner bus."""
        self._check_open(data)
        try:
            frame = self.channel.seal(subject, data)
        except LookupError as exc:  # no key: the receiver (or we) revoked, not keyed yet
            self._unsendable(subject, exc)
            return
        await self._inner.publish(subject, frame)

    def _unsendable(self, subject: str, exc: LookupError) -> None:
        """A frame with no key to seal it (a revoked peer): counted and dropped, so a
        revocation never crashes the sender."""
        self.channel.stats.dropped["unsendable"] += 1
        logger.info("%s: not sent on %s: %s", self.me, subject, exc)

    async def subscribe(self, subject: str, handler: Handler) -> SecureSubscription:
        """Deliver the frames on `subject` that open to `handler`, as plaintext; bytes it
        returns to a request are sealed for the requester and sent to its reply subject."""
        if not callable(handler):
            raise TypeError(f"handler for {subject!r} is not callable")
        return await self.subscribe_from(subject, lambda got, _sender, data: handler(got, data))

    async def subscribe_from(self, subject: str, handler: SenderHandler) -> SecureSubscription:
        """As `subscribe`, and `handler` also gets who sealed each frame: the sender the
        channel authenticated, which a payload naming a sender of its own must match."""
        self._check_open()
        if not callable(handler):
            raise TypeError(f"handler for {subject!r} is not callable")
        channel = self.channel
        windows = ReplayWindows(channel.keys, channel.window)

        async def deliver(received: str, frame: bytes) -> None:
            try:
                opened = channel.open(received, frame, windows)
            except FrameDropped:
                return
            answer = await handler(received, opened.sender, opened.payload)
            if answer is not None and opened.reply is not None:
                if type(answer) is not bytes:
                    raise TypeError(f"handler for {subject!r} answered {answer!r}, not bytes")
                try:
                    sealed = channel.seal(opened.reply, answer, to=opened.sender, flags=REPLY)
                except LookupError as exc:
                    self._unsendable(opened.reply, exc)
                    return
                await self._inner.publish(opened.reply, sealed)

        sub = SecureSubscription(self, await self._inner.subscribe(subject, deliver))
        self._subs[sub] = None
        return sub

    async def request(self, subject: str, data: bytes, timeout: float) -> bytes:
        """Send a sealed request and return the first answer that opens, from the agent
        `subject` addresses (any member for a group subject); TimeoutError when none does
        within `timeout` s, NoResponders at once when no subscription matches."""
        self._check_open(data)
        responder = self.channel.receiver(subject)
        await self._open_inbox()
        self._check_open()  # closed while the inbox was subscribed
        reply = f"{self._inbox_prefix}.{next(self._request_ids)}"
        try:
            frame = self.channel.seal(subject, data, flags=REQUEST, reply=reply)
        except LookupError as exc:
            self._unsendable(subject, exc)
            raise NoResponders(f"no key to reach {subject!r}: {exc}") from None
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[reply] = _Pending(future, None if responder == GROUP else responder)
        sent = asyncio.ensure_future(self._inner.request(subject, frame, timeout))
        sent.add_done_callback(lambda task: _relay_refusal(task, future))
        try:
            async with asyncio.timeout(timeout):
                return await future
        except NoResponders:
            raise
        except TimeoutError:
            raise TimeoutError(f"no reply that opens on {subject!r} within {timeout} s") from None
        finally:
            del self._pending[reply]
            sent.cancel()

    async def flush(self) -> None:
        """The inner bus's flush: wait until what was published has been handed on."""
        self._check_open()
        await self._inner.flush()

    async def close(self) -> None:
        """Unsubscribe what this SecureBus subscribed and fail its pending requests with
        BusClosed; the inner bus stays open for the others. Idempotent."""
        if self._closed:
            return
        self._closed = True
        owned: list[Subscription] = list(self._subs)
        if self._inbox is not None:
            owned.append(self._inbox)
        self._subs.clear()
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(BusClosed("bus closed while waiting for a reply"))
        for sub in owned:
            with contextlib.suppress(BusClosed):  # the inner bus closed first: nothing to undo
                await sub.unsubscribe()

    def _check_open(self, data: object = b"") -> None:
        if self._closed:
            raise BusClosed("the secure bus is closed")
        if type(data) is not bytes:
            raise TypeError(f"message data must be bytes, got {type(data).__name__}")

    async def _open_inbox(self) -> None:
        if self._inbox is not None:
            return
        async with self._inbox_lock:
            if self._inbox is None:
                self._inbox = await self._inner.subscribe(f"{self._inbox_prefix}.*", self._on_reply)

    async def _on_reply(self, subject: str, frame: bytes) -> None:
        pending = self._pending.get(subject)
        stats = self.channel.stats
        if pending is None or pending.future.done():
            stats.dropped[Drop.LATE_REPLY] += 1
            return
        try:
            opened = self.channel.open(subject, frame, self._reply_windows, reply=True)
        except FrameDropped:
            return
        if pending.responder is not None and opened.sender != pending.responder:
            stats.dropped[Drop.RESPONDER] += 1
            logger.info("%s dropped a reply from %s on %r", self.me, opened.sender, subject)
            return
        pending.future.set_result(opened.payload)


async def subscribe_authenticated(bus: Bus, subject: str, handler: SenderHandler) -> Subscription:
    """Subscribe `handler` with each message's authenticated sender: the channel's on a
    `SecureBus`; None on a bus that seals nothing (encryption off), where no message
    proves who sent it and a name in the payload is all there is."""
    if isinstance(bus, SecureBus):
        return await bus.subscribe_from(subject, handler)
    return await bus.subscribe(subject, lambda got, data: handler(got, None, data))


def _relay_refusal(sent: asyncio.Future[bytes], future: asyncio.Future[bytes]) -> None:
    """Pass on what the inner request says about the request itself: no responders, or a
    closed bus. Its timeout races ours, and an answer on its path is none of the channel's."""
    if sent.cancelled():
        return
    error = sent.exception()
    if isinstance(error, NoResponders | BusClosed) and not future.done():
        future.set_exception(error)

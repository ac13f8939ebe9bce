"""An agent's link keys: one per direction and key epoch, pairwise between identities.

The paper's links are encrypted with pre-shared secrets that attested agents fetch from
the ledger (`secmas.trust.epochs`). One pipeline secret shared by every member cannot
tell members apart: whoever holds it derives every link's key, so one dishonest member
could seal frames in another's name. Link keys are therefore pairwise, as in a static
Diffie-Hellman key schedule (Noise's KK pattern, or HPKE's Auth mode, RFC 9180 §5.1.3):

    key(s -> r, e) = HKDF-SHA256(IKM  = X25519(s_priv, r_pub) = X25519(r_priv, s_pub),
                                 salt = the pipeline secret of epoch e,
                                 info = "secmas/pair/1", pipeline, VNI, e, s, r,
                                        s's and r's X25519 public keys)

Only `s` and `r` can compute the Diffie-Hellman value, so only the two ends of a link
know its key; the epoch secret in the salt makes each epoch's keys fresh and keeps out a
revoked member, which holds the identities' Diffie-Hellman values but not the new
secret. The direction, the segment and both identities are in `info`, every field
length-prefixed, so no two links share a key, nor therefore a nonce space.

Frames for the whole group (the MLFO's start and ticks, link-state announcements, the
auction floor; NFV-A messages themselves go to one agent's inbox each) are sealed once
under a group key of the sender, HKDF over the epoch secret alone (every member reads
them, and a revoked member does not have the new secret), and signed with the sender's
Ed25519 identity key (`sign`, `verify`): the AEAD keeps them from outsiders, the
signature keeps one member from writing in another's name. The alternative, fanning each
group message out as a pairwise frame to every member's inbox, costs receivers less (an
AEAD open instead of an Ed25519 verification, about 0.15 ms on the reference machine)
but makes the sender seal and publish N-1 frames (N-1 times the bytes) and makes the
channel track who belongs to each group subject. Group traffic is a few frames per
second, mostly from the MLFO to every agent, so one signature, one publish and a frame
whose size does not grow with N were chosen (measured side by side in
`benchmarks/bench_channel.py`, section 4).

The public keys come from `peers`, a live mapping from agent id to `PeerKeys` that the
caller fills from the registry on chain (step 7 registers both keys of every agent):
a sender or receiver missing there has no key.

Epochs move forward only, and rotate in two phases so no frame is dropped:
1. `install(e+1)` makes the new epoch receivable while sending stays on epoch e (the
   first epoch ever installed is sent under at once: nobody sent before);
2. `activate(e+1)`, once every member acknowledged the install, makes it the send epoch,
   or it activates by itself `switch_after` seconds after the install (a member that
   missed the coordinator's switch); the epochs before it stay receivable `grace`
   seconds more, for frames sealed before a peer switched, then are forgotten.
Time comes from `clock` or an explicit `now`, never from a hidden wall clock, so tests
can step it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from secmas.transport.channel import GROUP, MAX_ID_BYTES, MAX_VNI, id_bytes
from secmas.trust.identity import AgentIdentity

PAIR_LABEL = "secmas/pair/1"
GROUP_LABEL = "secmas/group/1"
KEY_BYTES = 32
SECRET_BYTES = 32
MAX_EPOCH = 2**32 - 1
DEFAULT_GRACE = 5.0
DEFAULT_SWITCH = 5.0
"""Seconds after an install when a member switches by itself if no coordinator did."""
MAX_EPOCHS = 4
"""Epochs held at once (sending, pending, and those still in their grace period)."""

_CACHE_LIMIT = 4096
"""Derived keys kept; the peer directory bounds them, the limit is a second guard."""


class KeyUnavailable(LookupError):
    """No key to send with: no epoch installed yet, an unknown receiver, or revoked."""


@dataclass(frozen=True, slots=True)
class PeerKeys:
    """A member's registered public keys, raw 32 bytes each: X25519 for link keys,
    Ed25519 for the signatures of its group frames."""

    sealing: bytes
    signing: bytes

    @classmethod
    def of(cls, identity: AgentIdentity) -> PeerKeys:
        return cls(identity.sealing_public, identity.signing_public)


def agent_id_valid(agent: str) -> bool:
    """Whether `agent` can name an agent on a link: 1 to 64 bytes of UTF-8, not `GROUP`."""
    if not isinstance(agent, str):
        return False
    try:
        id_bytes(agent)
    except ValueError:  # lone surrogates too: UnicodeEncodeError is a ValueError
        return False
    return True


def _info(*fields: bytes) -> bytes:
    """HKDF `info`: every field length-prefixed (2 bytes), so no two tuples encode alike."""
    return b"".join(len(f).to_bytes(2, "big") + f for f in fields)


def _link_fields(pipeline: str, vni: int, epoch: int, sender: str, receiver: str) -> list[bytes]:
    return [
        pipeline.encode(),
        vni.to_bytes(3, "big"),
        epoch.to_bytes(4, "big"),
        sender.encode(),
        receiver.encode(),
    ]


def pair_info(
    pipeline: str,
    vni: int,
    epoch: int,
    sender: str,
    receiver: str,
    sender_key: bytes,
    receiver_key: bytes,
) -> bytes:
    """HKDF `info` of the link `sender` -> `receiver`, with both X25519 public keys."""
    fields = _link_fields(pipeline, vni, epoch, sender, receiver)
    return _info(PAIR_LABEL.encode(), *fields, sender_key, receiver_key)


def group_info(pipeline: str, vni: int, epoch: int, sender: str) -> bytes:
    """HKDF `info` of `sender`'s frames to the whole group."""
    return _info(GROUP_LABEL.encode(), *_link_fields(pipeline, vni, epoch, sender, GROUP))


def pair_key(shared: bytes, secret: bytes, info: bytes) -> bytes:
    """The 32-byte link key from the ends' X25519 value and the epoch's secret."""
    return HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=secret, info=info).derive(shared)


def group_key(secret: bytes, info: bytes) -> bytes:
    """The 32-byte key of one sender's group frames in one epoch."""
    return HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=info).derive(secret)


@dataclass(slots=True)
class _Epoch:
    number: int
    secret: bytes
    installed: float
    active_since: float | None = None
    """When it became the send epoch; None while pending."""
    retire_at: float | None = None
    """When it stops being receivable; None while it is the newest sent under."""


class EpochKeyring:
    """One agent's link keys in one pipeline segment (the `ChannelKeys` of a SecureBus).

    `send_key`, `receive_key`, `install` and `activate` take an optional `now`; without
    it they ask `clock`."""

    def __init__(
        self,
        identity: AgentIdentity,
        pipeline: str,
        vni: int,
        peers: Mapping[str, PeerKeys],
        *,
        grace: float = DEFAULT_GRACE,
        switch_after: float = DEFAULT_SWITCH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        me = identity.name
        if not agent_id_valid(me):
            raise ValueError(f"agent id {me!r}: 1 to {MAX_ID_BYTES} UTF-8 bytes, not {GROUP!r}")
        if not 0 <= vni <= MAX_VNI:
            raise ValueError(f"VNI {vni} is not 24-bit")
        if not grace >= 0:
            raise ValueError(f"grace must be >= 0 s, got {grace}")
        if not switch_after >= 0:
            raise ValueError(f"switch_after must be >= 0 s, got {switch_after}")
        self.me = me
        self.identity = identity
        self.pipeline = pipeline
        self.vni = vni
        self.peers = peers
        self.grace = grace
        self.switch_after = switch_after
        self._clock = clock
        self._own = PeerKeys.of(identity)
        self._epochs: list[_Epoch] = []  # oldest first
        self._sending: _Epoch | None = None
        self._due = math.inf
        """When an epoch next activates by itself or retires (so most calls do nothing)."""
        self._revoked: set[str] = set()
        self._shared: dict[bytes, bytes | None] = {}
        self._keys: dict[tuple[int, str, str], tuple[bytes, bytes]] = {}
        self._verifiers: dict[bytes, Ed25519PublicKey | None] = {}

    def __repr__(self) -> str:
        return f"EpochKeyring({self.me!r}, {self.pipeline!r}, vni={self.vni}, epochs={self.epochs})"

    @property
    def epochs(self) -> tuple[int, ...]:
        """Epochs held (receivable), newest first."""
        self._advance(self._clock())
        return tuple(e.number for e in reversed(self._epochs))

    @property
    def sending(self) -> int | None:
        """The epoch frames are sealed under now; None before the first install."""
        current = self._current(self._clock())
        return None if current is None else current.number

    @property
    def pending(self) -> tuple[int, ...]:
        """Installed epochs not sent under yet."""
        self._advance(self._clock())
        return tuple(e.number for e in self._epochs if e.active_since is None)

    @property
    def revoked(self) -> frozenset[str]:
        return frozenset(self._revoked)

    # -- epochs -------------------------------------------------------------------------------
    def install(self, epoch: int, secret: bytes, now: float | None = None) -> None:
        """Phase 1: make `epoch` receivable. The first epoch is also sent under at once; a
        later one when `activate`d, or by itself `switch_after` seconds from now.
        Installing the newest epoch again with the same secret does nothing; an older
        epoch, or the newest with another secret, is a ValueError."""
        if not isinstance(epoch, int) or not 0 <= epoch <= MAX_EPOCH:
            raise ValueError(f"epoch {epoch!r} is not a uint32")
        if not isinstance(secret, bytes) or len(secret) != SECRET_BYTES:
            raise ValueError(f"a pipeline secret is {SECRET_BYTES} bytes")
        at = self._now(now)
        self._advance(at)
        if self._epochs:
            newest = self._epochs[-1]
            if epoch == newest.number and secret == newest.secret:
                return
            if epoch <= newest.number:
                raise ValueError(f"epoch {epoch} does not follow epoch {newest.number}")
        first = self._current(at) is None
        self._epochs.append(_Epoch(epoch, secret, at))
        self._settle()
        if first or self.switch_after == 0:
            self._activate(self._epochs[-1], at)
        if len(self._epochs) > MAX_EPOCHS:
            self._retire(self._epochs[0])
            if self._current(at) is None:  # the one sent under was the oldest
                self._activate(self._epochs[0], at)

    def activate(self, epoch: int, now: float | None = None) -> None:
        """Phase 2: send under `epoch` from now on (every member has it); the epochs
        before it stay receivable for `grace` seconds. An epoch already sent under (or
        superseded) is left as it is; one never installed is a LookupError."""
        at = self._now(now)
        self._advance(at)
        held = next((e for e in self._epochs if e.number == epoch), None)
        if held is None:
            raise LookupError(f"epoch {epoch} is not installed")
        if held.active_since is None:
            self._activate(held, at)

    def revoke(self, agent: str) -> None:
        """Refuse frames from and to `agent` from now on."""
        if not agent_id_valid(agent):
            raise ValueError(f"not an agent id: {agent!r}")
        self._revoked.add(agent)
        self._forget(lambda _e, s, r: agent in (s, r))

    # -- keys ---------------------------------------------------------------------------------
    def send_key(self, receiver: str, now: float | None = None) -> tuple[int, bytes]:
        """(send epoch, key) for frames from us to `receiver` (an agent, or `GROUP`)."""
        current = self._current(self._now(now))
        if current is None:
            raise KeyUnavailable("no key epoch installed")
        if receiver in self._revoked or self.me in self._revoked:
            raise KeyUnavailable(f"link to {receiver!r} revoked")
        key = self._key(current, self.me, receiver, receiver)
        if key is None:
            if not agent_id_valid(receiver):
                raise ValueError(f"not a receiver: {receiver!r}")
            raise KeyUnavailable(f"no registered keys for {receiver!r}")
        return current.number, key

    def receive_key(
        self, sender: str, epoch: int, receiver: str, now: float | None = None
    ) -> bytes | None:
        """The key for a frame `sender` sealed under `epoch` for `receiver` (us, or
        `GROUP`); None if the epoch is unknown or retired, the sender unknown, or the link
        revoked. Once None for a link and epoch that had a key, never a key again."""
        if sender in self._revoked or receiver in self._revoked:
            return None
        if receiver != self.me and receiver != GROUP:
            raise ValueError(f"receiver {receiver!r} is neither {self.me!r} nor {GROUP!r}")
        self._advance(self._now(now))
        for held in self._epochs:
            if held.number == epoch:
                return self._key(held, sender, receiver, sender)  # None for an unknown sender
        return None

    def sign(self, message: bytes) -> bytes:
        """Our Ed25519 signature over a group frame."""
        return self.identity.sign(message)

    def verify(self, sender: str, signature: bytes, message: bytes) -> bool:
        """Whether `signature` over `message` is `sender`'s, by its registered key."""
        keys = self._own if sender == self.me else self.peers.get(sender)
        if keys is None or sender in self._revoked:
            return False
        if keys.signing not in self._verifiers:
            try:
                self._verifiers[keys.signing] = Ed25519PublicKey.from_public_bytes(keys.signing)
            except ValueError:
                self._verifiers[keys.signing] = None
        public = self._verifiers[keys.signing]
        if public is None:
            return False
        try:
            public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    # -- internals ----------------------------------------------------------------------------
    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def _current(self, now: float) -> _Epoch | None:
        self._advance(now)
        return self._sending

    def _advance(self, now: float) -> None:
        """Pending epochs whose switch time came activate; retired epochs are dropped."""
        if now < self._due:
            return
        for held in list(self._epochs):
            due = held.installed + self.switch_after
            if held.active_since is None and now >= due:
                self._activate(held, due)
        for held in [e for e in self._epochs if e.retire_at is not None and now >= e.retire_at]:
            self._retire(held)

    def _activate(self, epoch: _Epoch, at: float) -> None:
        epoch.active_since = at
        for older in self._epochs:
            if older.number < epoch.number and older.retire_at is None:
                older.retire_at = at + self.grace
        self._settle()

    def _retire(self, epoch: _Epoch) -> None:
        self._epochs.remove(epoch)
        self._forget(lambda e, _s, _r: e == epoch.number)
        self._settle()

    def _settle(self) -> None:
        """The send epoch and the next due time, after the epochs changed."""
        active = [e for e in self._epochs if e.active_since is not None]
        self._sending = active[-1] if active else None
        due = [e.installed + self.switch_after for e in self._epochs if e.active_since is None]
        due += [e.retire_at for e in self._epochs if e.retire_at is not None]
        self._due = min(due, default=math.inf)

    def _key(self, epoch: _Epoch, sender: str, receiver: str, peer: str) -> bytes | None:
        """The key of `sender` -> `receiver` in `epoch`; `peer` is the other end."""
        peer_keys = self._own if peer == self.me else self.peers.get(peer)
        if peer_keys is None:  # not registered (the directory holds valid agent ids only)
            sending_to_group = receiver == GROUP and sender == self.me
            return self._group_key(epoch, sender) if sending_to_group else None
        link = (epoch.number, sender, receiver)
        cached = self._keys.get(link)
        if cached is not None and cached[0] == peer_keys.sealing:
            return cached[1]
        if receiver == GROUP:
            key = group_key(epoch.secret, group_info(self.pipeline, self.vni, epoch.number, sender))
        else:
            shared = self._agree(peer_keys.sealing)
            if shared is None:
                return None
            ends = (self._own, peer_keys) if sender == self.me else (peer_keys, self._own)
            info = pair_info(
                self.pipeline,
                self.vni,
                epoch.number,
                sender,
                receiver,
                ends[0].sealing,
                ends[1].sealing,
            )
            key = pair_key(shared, epoch.secret, info)
        if len(self._keys) >= _CACHE_LIMIT:
            self._keys.clear()
        self._keys[link] = (peer_keys.sealing, key)
        return key

    def _group_key(self, epoch: _Epoch, sender: str) -> bytes:
        """Our own group key (sending: no peer to look up)."""
        link = (epoch.number, sender, GROUP)
        cached = self._keys.get(link)
        if cached is None:
            key = group_key(epoch.secret, group_info(self.pipeline, self.vni, epoch.number, sender))
            cached = self._keys[link] = (self._own.sealing, key)
        return cached[1]

    def _agree(self, public: bytes) -> bytes | None:
        """X25519 with a peer's registered key; None for a key that is not one (or a
        low-order point, whose shared value would be all zeros)."""
        if public in self._shared:
            return self._shared[public]
        try:
            shared: bytes | None = self.identity.sealing.exchange(
                X25519PublicKey.from_public_bytes(public)
            )
        except ValueError:
            shared = None
        if len(self._shared) >= _CACHE_LIMIT:
            self._shared.clear()
        self._shared[public] = shared
        return shared

    def _forget(self, drop: Callable[[int, str, str], bool]) -> None:
        for link in [link for link in self._keys if drop(*link)]:
            del self._keys[link]

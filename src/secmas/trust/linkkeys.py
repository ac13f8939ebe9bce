"""An agent's link keys: one per direction and key epoch, from the epoch's pipeline secret.

The paper's links are encrypted with pre-shared secrets that attested agents fetch from
the ledger (`secmas.trust.epochs`). One secret serves the whole pipeline, so each link
gets its own key, HKDF-SHA256 over the secret with every part of the link in `info`:
a label, the pipeline, its VNI, the epoch, the sender and the receiver (`GROUP`, "*", for
subjects every member reads). Distinct links thus never share a key, nor therefore a
nonce space, and a frame only opens under the sender, receiver, segment and epoch it was
sealed for. Every agent of the pipeline holds the secret, so a dishonest member could
derive any link's key: the keys separate pipelines and keep out everyone without the
secret; inside a pipeline they rest on the members being attested.

Epochs move forward only. A new epoch becomes the one keys are sent under at once; the
previous one stays open for receiving `grace` seconds, long enough for frames sealed
before a peer saw the new secret; older ones are forgotten. Time comes from `clock` or an
explicit `now`, never from a hidden wall clock, so tests can step it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from secmas.transport.channel import GROUP, MAX_ID_BYTES, MAX_VNI, id_bytes

LABEL = "secmas/link/1"
KEY_BYTES = 32
SECRET_BYTES = 32
MAX_EPOCH = 2**32 - 1
DEFAULT_GRACE = 5.0

_CACHE_LIMIT = 4096
"""Derived keys kept; frames from made-up senders must not grow the cache without bound."""


class KeyUnavailable(LookupError):
    """No key to send with: no epoch installed yet, or the receiver (or we) revoked."""


def agent_id_valid(agent: str) -> bool:
    """Whether `agent` can name an agent on a link: 1 to 64 bytes of UTF-8, not `GROUP`."""
    if not isinstance(agent, str):
        return False
    try:
        id_bytes(agent)
    except ValueError:  # lone surrogates too: UnicodeEncodeError is a ValueError
        return False
    return True


def link_info(pipeline: str, vni: int, epoch: int, sender: str, receiver: str) -> bytes:
    """HKDF `info` for one link: every field length-prefixed (2 bytes), so no two distinct
    tuples encode alike."""
    fields = (
        LABEL.encode(),
        pipeline.encode(),
        vni.to_bytes(3, "big"),
        epoch.to_bytes(4, "big"),
        sender.encode(),
        receiver.encode(),
    )
    return b"".join(len(f).to_bytes(2, "big") + f for f in fields)


def link_key(
    secret: bytes, pipeline: str, vni: int, epoch: int, sender: str, receiver: str
) -> bytes:
    """The 32-byte key for frames from `sender` to `receiver` in one pipeline epoch."""
    info = link_info(pipeline, vni, epoch, sender, receiver)
    return HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=info).derive(secret)


@dataclass(frozen=True, slots=True)
class _Epoch:
    number: int
    secret: bytes
    since: float
    """When it became the send epoch."""


class EpochKeyring:
    """One agent's link keys in one pipeline segment (the `ChannelKeys` of a SecureBus).

    `send_key` and `receive_key` take an optional `now`; without it they ask `clock`."""

    def __init__(
        self,
        me: str,
        pipeline: str,
        vni: int,
        *,
        grace: float = DEFAULT_GRACE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not agent_id_valid(me):
            raise ValueError(f"agent id {me!r}: 1 to {MAX_ID_BYTES} UTF-8 bytes, not {GROUP!r}")
        if not 0 <= vni <= MAX_VNI:
            raise ValueError(f"VNI {vni} is not 24-bit")
        if not grace >= 0:
            raise ValueError(f"grace must be >= 0 s, got {grace}")
        self.me = me
        self.pipeline = pipeline
        self.vni = vni
        self.grace = grace
        self._clock = clock
        self._current: _Epoch | None = None
        self._previous: _Epoch | None = None
        self._revoked: set[str] = set()
        self._keys: dict[tuple[int, str, str], bytes] = {}

    def __repr__(self) -> str:
        return f"EpochKeyring({self.me!r}, {self.pipeline!r}, vni={self.vni}, epochs={self.epochs})"

    @property
    def epochs(self) -> tuple[int, ...]:
        """Epochs held, newest first: the send epoch, then the previous one if held."""
        return tuple(e.number for e in (self._current, self._previous) if e is not None)

    @property
    def revoked(self) -> frozenset[str]:
        return frozenset(self._revoked)

    def install(self, epoch: int, secret: bytes, now: float | None = None) -> None:
        """Make `epoch` the send epoch; the one it replaces stays receivable for `grace`
        seconds. Installing the current epoch again with the same secret does nothing;
        an older epoch, or the current one with another secret, is a ValueError."""
        if not isinstance(epoch, int) or not 0 <= epoch <= MAX_EPOCH:
            raise ValueError(f"epoch {epoch!r} is not a uint32")
        if not isinstance(secret, bytes) or len(secret) != SECRET_BYTES:
            raise ValueError(f"a pipeline secret is {SECRET_BYTES} bytes")
        current = self._current
        if current is not None:
            if epoch == current.number and secret == current.secret:
                return
            if epoch <= current.number:
                raise ValueError(f"epoch {epoch} does not follow epoch {current.number}")
        self._previous = current
        self._current = _Epoch(epoch, secret, self._now(now))
        self._forget(lambda e, _s, _r: e not in self.epochs)

    def revoke(self, agent: str) -> None:
        """Refuse frames from and to `agent` from now on."""
        if not agent_id_valid(agent):
            raise ValueError(f"not an agent id: {agent!r}")
        self._revoked.add(agent)
        self._forget(lambda _e, s, r: agent in (s, r))

    def send_key(self, receiver: str, now: float | None = None) -> tuple[int, bytes]:
        """(send epoch, key) for frames from us to `receiver` (an agent, or `GROUP`)."""
        current = self._current
        if current is None:
            raise KeyUnavailable("no key epoch installed")
        if receiver in self._revoked or self.me in self._revoked:
            raise KeyUnavailable(f"link to {receiver!r} revoked")
        if self._previous is not None:
            self._expire(self._now(now))
        key = self._keys.get((current.number, self.me, receiver))
        if key is None:
            if receiver != GROUP and not agent_id_valid(receiver):
                raise ValueError(f"not a receiver: {receiver!r}")
            key = self._derive(current, self.me, receiver)
        return current.number, key

    def receive_key(
        self, sender: str, epoch: int, receiver: str, now: float | None = None
    ) -> bytes | None:
        """The key for a frame `sender` sealed under `epoch` for `receiver` (us, or
        `GROUP`); None if the epoch is unknown or past its grace, or the link revoked.
        Once None for a link and epoch that had a key, never a key again."""
        if sender in self._revoked or receiver in self._revoked:
            return None
        current = self._current
        if current is not None and epoch == current.number:
            held = current
        elif self._previous is not None and epoch == self._previous.number:
            self._expire(self._now(now))
            if self._previous is None:
                return None
            held = self._previous
        else:
            return None
        key = self._keys.get((epoch, sender, receiver))
        if key is None:
            if receiver not in (self.me, GROUP):
                raise ValueError(f"receiver {receiver!r} is neither {self.me!r} nor {GROUP!r}")
            if not agent_id_valid(sender):
                return None
            key = self._derive(held, sender, receiver)
        return key

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def _expire(self, now: float) -> None:
        previous, current = self._previous, self._current
        if previous is not None and current is not None and now >= current.since + self.grace:
            self._previous = None
            self._forget(lambda e, _s, _r: e == previous.number)

    def _derive(self, epoch: _Epoch, sender: str, receiver: str) -> bytes:
        if len(self._keys) >= _CACHE_LIMIT:
            self._keys.clear()
        key = link_key(epoch.secret, self.pipeline, self.vni, epoch.number, sender, receiver)
        self._keys[epoch.number, sender, receiver] = key
        return key

    def _forget(self, drop: Callable[[int, str, str], bool]) -> None:
        for link in [link for link in self._keys if drop(*link)]:
            del self._keys[link]

"""An anti-replay sliding window, as IPsec ESP keeps one per security association.

A sender numbers its frames 1, 2, 3, … under a key; a receiver that remembers every
number it accepted would grow without bound, and one that only remembers the highest
would refuse frames the network merely reordered. RFC 4303 §3.4.3 (algorithm in its
Appendix A) keeps the highest number seen and a bitmap of the `size` numbers ending
there: a number above the highest is new, one inside the window is new unless its bit is
set, and one below the window is refused as too old to tell. `check` answers before the
frame is authenticated, and only `accept`, called after authentication, records, so a
forged frame cannot move the window (RFC 4303 §3.4.3: "the receive window is updated
only if the integrity verification succeeds").
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

DEFAULT_SIZE = 64
"""RFC 4303 §3.4.3: "a window size of 64 SHOULD be employed as the default"."""

MAX_SIZE = 1024
MAX_SEQ = 2**64 - 1
"""Sequence numbers are 64-bit on the wire (ESP's extended sequence numbers)."""


class ReplayWindow:
    """The highest accepted sequence number and which of the `size` numbers up to it were
    accepted. Sequence number 0 is never valid: senders start at 1 (RFC 4303 §3.3.3)."""

    __slots__ = ("_bits", "_mask", "size", "top")

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
            raise ValueError(f"window size must be an int in 1..{MAX_SIZE}, got {size!r}")
        self.size = size
        self.top = 0
        self._bits = 0  # bit i: top - i was accepted
        self._mask = (1 << size) - 1

    def __repr__(self) -> str:
        return f"ReplayWindow(size={self.size}, top={self.top})"

    def check(self, seq: int) -> bool:
        """Whether `seq` would be accepted: new and not older than the window. Records
        nothing, so it is safe on frames not yet authenticated."""
        if seq > self.top:
            return seq <= MAX_SEQ
        offset = self.top - seq
        return seq > 0 and offset < self.size and not (self._bits >> offset) & 1

    def accept(self, seq: int) -> bool:
        """Record `seq` if `check` allows it; False for a duplicate or a number too old."""
        if not self.check(seq):
            return False
        if seq > self.top:
            shift = seq - self.top
            self._bits = 1 if shift >= self.size else ((self._bits << shift) | 1) & self._mask
            self.top = seq
        else:
            self._bits |= 1 << (self.top - seq)
        return True


L = TypeVar("L", bound=Hashable)
"""A link: what a sender numbers its frames on."""


class Heard(Generic[L]):
    """The highest sequence number a receiver accepted on each link, whichever of its
    subscriptions accepted it: the part of its replay windows every subscription shares.

    One frame rightly reaches every subscription of its receiver that matches its subject,
    each in its own order, so each subscription keeps its own `ReplayWindow`. A window made
    later, though, knows nothing of what came before it: a frame captured on the wire and
    published again would open in a subscription made after the frame was first sent.
    So a subscription starts above its receiver's `floors` as they were when it was made: a
    frame numbered at or below them was sealed before a frame the receiver had already
    accepted, hence before the subscription existed, and is not owed to it. Like the
    windows, only frames that authenticated are recorded."""

    __slots__ = ("_tops",)

    def __init__(self) -> None:
        self._tops: dict[L, int] = {}

    def __len__(self) -> int:
        return len(self._tops)

    def floors(self) -> dict[L, int]:
        """What was accepted so far, per link: the floors of a subscription made now."""
        return dict(self._tops)

    def record(self, link: L, seq: int, alive: Callable[[L], bool]) -> None:
        """`seq` was accepted on `link`. A link heard for the first time first prunes those
        `alive` no longer answers for (their key is gone), so the record stays bounded."""
        top = self._tops.get(link)
        if top is None:
            for gone in [k for k in self._tops if not alive(k)]:
                del self._tops[gone]
        if top is None or seq > top:
            self._tops[link] = seq

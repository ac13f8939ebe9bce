"""Message buses the agents talk through: the interface, the in-memory bus, the NATS bus.

The NATS bus is imported on first use (`secmas.transport.NatsBus`), so importing the
package does not load nats-py; `NatsServer` runs a local broker and needs only the stdlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from secmas.transport.broker import NatsServer
from secmas.transport.bus import (
    Bus,
    BusClosed,
    BusStats,
    Handler,
    NoResponders,
    Subscription,
    check_subject,
    subject_matches,
)
from secmas.transport.memory import MemoryBus, MemorySubscription

if TYPE_CHECKING:
    from secmas.transport.nats import BusUnavailable, NatsBus, NatsSubscription

_LAZY = frozenset({"BusUnavailable", "NatsBus", "NatsSubscription"})

__all__ = [
    "Bus",
    "BusClosed",
    "BusStats",
    "BusUnavailable",
    "Handler",
    "MemoryBus",
    "MemorySubscription",
    "NatsBus",
    "NatsServer",
    "NatsSubscription",
    "NoResponders",
    "Subscription",
    "check_subject",
    "subject_matches",
]


def __getattr__(name: str) -> Any:
    """Load the NATS bus when one of its names is first asked for."""
    if name in _LAZY:
        from secmas.transport import nats

        return getattr(nats, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

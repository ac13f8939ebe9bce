"""Message buses the agents talk through: the interface and the in-memory bus."""

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

__all__ = [
    "Bus",
    "BusClosed",
    "BusStats",
    "Handler",
    "MemoryBus",
    "MemorySubscription",
    "NoResponders",
    "Subscription",
    "check_subject",
    "subject_matches",
]

"""The message bus the agents talk through, shaped after NATS so buses are interchangeable.

Agents only talk through a bus, even in one process (DESIGN.md), so the in-memory bus and
a NATS bus must behave the same. Subjects are NATS subjects: dot-separated tokens, where a
subscription may use `*` for exactly one token and a final `>` for one or more tokens.
A handler may answer a request by returning bytes; that is how a NATS responder replies to
`msg.reply`, so a NATS implementation wraps handlers the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

Handler = Callable[[str, bytes], Awaitable[bytes | None]]
"""Receives (subject, data); bytes returned answer a request, None answers nothing."""


class BusClosed(RuntimeError):
    """The bus was closed: nothing more can be published, subscribed or requested."""


class NoResponders(TimeoutError):
    """A request that no subscription could receive; it fails at once (NATS 'no responders').

    A TimeoutError, so callers that retry on timeouts also handle it."""


@dataclass(slots=True)
class BusStats:
    """Counters for benchmarks; replies to requests count as published messages."""

    messages_published: int = 0
    bytes_published: int = 0
    messages_delivered: int = 0
    handler_errors: int = 0


@runtime_checkable
class Subscription(Protocol):
    """Interest in a subject; `unsubscribe` stops delivery, dropping what is still queued."""

    @property
    def subject(self) -> str: ...

    async def unsubscribe(self) -> None: ...


@runtime_checkable
class Bus(Protocol):
    """What every bus provides: publish, subscribe, request/reply, flush, close, stats.

    Messages published by one client to one subscription arrive in publish order. A
    handler's exception is logged and counted, never propagated to the publisher. Every
    operation on a closed bus raises `BusClosed`; `close` itself may be called again.
    """

    stats: BusStats

    async def publish(self, subject: str, data: bytes) -> None:
        """Send `data` to every subscription whose subject matches."""
        ...

    async def subscribe(self, subject: str, handler: Handler) -> Subscription:
        """Deliver matching messages to `handler`, one at a time, in order."""
        ...

    async def request(self, subject: str, data: bytes, timeout: float) -> bytes:
        """Publish with a reply inbox and return the first answer; TimeoutError after
        `timeout` seconds, NoResponders at once when no subscription matches."""
        ...

    async def flush(self) -> None:
        """Wait until what was published so far has been handed on."""
        ...

    async def close(self) -> None:
        """Stop delivery and release resources; pending requests raise BusClosed."""
        ...


def check_subject(subject: str, *, wildcards: bool) -> None:
    """Raise ValueError unless `subject` is a valid publish (or, with wildcards, subscribe)
    subject. Stricter than the NATS server on purpose: tokens that merely contain `*` or
    `>` are refused, so no subject means something different on another bus."""
    if not isinstance(subject, str):
        raise TypeError(f"subject must be a string, got {type(subject).__name__}")
    tokens = subject.split(".")
    last = len(tokens) - 1
    for i, token in enumerate(tokens):
        if not token:
            raise ValueError(f"subject {subject!r} has an empty token")
        if any(ch.isspace() for ch in token):
            raise ValueError(f"subject {subject!r} contains whitespace")
        if token in ("*", ">"):
            if not wildcards:
                raise ValueError(f"cannot publish to wildcard subject {subject!r}")
            if token == ">" and i != last:
                raise ValueError(f"subject {subject!r}: '>' must be the last token")
        elif "*" in token or ">" in token:
            raise ValueError(f"subject {subject!r}: wildcards must be whole tokens")


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether a subscription subject (with wildcards) matches a published subject."""
    want = pattern.split(".")
    have = subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)

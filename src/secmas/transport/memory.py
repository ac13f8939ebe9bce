"""The in-memory bus: the embedded default, one asyncio event loop, no server.

Each subscription owns a queue and a task that feeds its handler one message at a time, so
publishing never waits for handlers, order per subscription is publish order, and a slow
or failing handler delays nobody else. Subject matching is cached per published subject,
so the hot path of `publish` is a dict lookup and one append per matching subscription;
wildcard subscriptions are filed under their literal head, so that a subject the cache
does not hold (every reply inbox) is matched against the few patterns that could match it,
not against every agent's.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque

from secmas.transport.bus import (
    BusClosed,
    BusStats,
    Handler,
    NoResponders,
    check_subject,
    subject_matches,
)

logger = logging.getLogger(__name__)

_Item = tuple[str, bytes, str | None]

_BATCH = 64
"""Messages a subscription handles before yielding, so one busy queue cannot starve others."""

_CACHE_LIMIT = 4096
"""Distinct published subjects whose subscriber lists are cached."""


def _check_data(data: object) -> None:
    if type(data) is not bytes:
        raise TypeError(f"message data must be bytes, got {type(data).__name__}")


def _literal_prefix(pattern: str) -> tuple[str, ...] | None:
    """The tokens of a wildcard subscription before its first wildcard (None for a literal
    subject): only published subjects that start with them can match, so a lookup checks
    the patterns under each of the subject's prefixes, not every wildcard subscription."""
    tokens = pattern.split(".")
    for i, token in enumerate(tokens):
        if token in ("*", ">"):
            return tuple(tokens[:i])
    return None


class MemorySubscription:
    """A subscription on a MemoryBus: its queue and the task that feeds the handler."""

    __slots__ = (
        "_bus",
        "_handler",
        "_idle",
        "_queue",
        "_running",
        "_seq",
        "_task",
        "_waiter",
        "subject",
    )

    def __init__(self, bus: MemoryBus, subject: str, handler: Handler, seq: int) -> None:
        self.subject = subject
        self._seq = seq
        self._bus = bus
        self._handler = handler
        self._queue: deque[_Item] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._idle: list[asyncio.Future[None]] = []
        self._running = False
        self._task = asyncio.get_running_loop().create_task(self._pump(), name=f"bus:{subject}")

    def __repr__(self) -> str:
        return f"MemorySubscription({self.subject!r}, pending={len(self._queue)})"

    @property
    def pending(self) -> int:
        """Messages queued and not yet handed to the handler."""
        return len(self._queue)

    @property
    def active(self) -> bool:
        """Whether messages are still delivered."""
        return not self._task.done() and self in self._bus._subs

    async def unsubscribe(self) -> None:
        """Stop delivery: queued messages are dropped; a running handler call finishes."""
        self._bus._remove(self)
        self._queue.clear()
        self._wake()

    def _push(self, item: _Item) -> None:
        self._queue.append(item)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # cancelled when the bus closed
                waiter.set_result(None)

    async def _until_idle(self) -> None:
        if self._queue or self._running:
            future = asyncio.get_running_loop().create_future()
            self._idle.append(future)
            await future

    def _release_idle(self) -> None:
        waiters, self._idle = self._idle, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def _pump(self) -> None:
        queue = self._queue
        bus = self._bus
        stats = bus.stats
        loop = asyncio.get_running_loop()
        handled = 0
        while self in bus._subs:
            if not queue:
                self._release_idle()
                self._waiter = loop.create_future()
                await self._waiter
                continue
            subject, data, reply = queue.popleft()
            self._running = True
            try:
                answer = await self._handler(subject, data)
            except Exception:
                stats.handler_errors += 1
                logger.exception("bus handler for %r failed on %r", self.subject, subject)
                answer = None
            finally:
                self._running = False
            stats.messages_delivered += 1
            if reply is not None and answer is not None:
                bus._answer(self.subject, reply, answer)
            handled += 1
            if handled % _BATCH == 0:
                await asyncio.sleep(0)
        self._release_idle()


class MemoryBus:
    """An asyncio in-process `Bus` with NATS subject semantics (see `secmas.transport.bus`)."""

    def __init__(self) -> None:
        self.stats = BusStats()
        self._subs: dict[MemorySubscription, None] = {}
        self._exact: dict[str, list[MemorySubscription]] = {}
        self._wild: dict[tuple[str, ...], list[MemorySubscription]] = {}
        self._cache: dict[str, tuple[MemorySubscription, ...]] = {}
        self._inboxes: dict[str, asyncio.Future[bytes]] = {}
        self._inbox_ids = itertools.count(1)
        self._sub_ids = itertools.count()
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._closed

    async def publish(self, subject: str, data: bytes) -> None:
        """Queue `data` for every matching subscription; never waits for handlers."""
        self._check_open()
        _check_data(data)
        self._send(subject, data, None)

    async def subscribe(self, subject: str, handler: Handler) -> MemorySubscription:
        """Deliver messages matching `subject` (wildcards allowed) to `handler`, in order."""
        self._check_open()
        check_subject(subject, wildcards=True)
        if not callable(handler):
            raise TypeError(f"handler for {subject!r} is not callable")
        sub = MemorySubscription(self, subject, handler, next(self._sub_ids))
        self._subs[sub] = None
        prefix = _literal_prefix(subject)
        if prefix is not None:
            self._wild.setdefault(prefix, []).append(sub)
        else:
            self._exact.setdefault(subject, []).append(sub)
        self._cache.clear()
        return sub

    async def request(self, subject: str, data: bytes, timeout: float) -> bytes:
        """Publish with a reply inbox and return the first answer a handler returns."""
        self._check_open()
        _check_data(data)
        if not self._lookup(subject):
            raise NoResponders(f"no subscription matches {subject!r}")
        inbox = f"_INBOX.{next(self._inbox_ids)}"
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inboxes[inbox] = future
        try:
            self._send(subject, data, inbox)
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise TimeoutError(f"no reply on {subject!r} within {timeout} s") from None
        finally:
            del self._inboxes[inbox]

    async def flush(self) -> None:
        """Wait until every queue is empty and no handler runs (handlers may publish more).

        Called from a handler, it does not wait for that handler's own subscription."""
        self._check_open()
        me = asyncio.current_task()
        while busy := [s for s in self._subs if (s._queue or s._running) and s._task is not me]:
            await asyncio.gather(*(s._until_idle() for s in busy))

    async def close(self) -> None:
        """Stop every subscription and fail pending requests with BusClosed; idempotent."""
        if self._closed:
            return
        self._closed = True
        subs = list(self._subs)
        self._subs.clear()
        self._exact.clear()
        self._wild.clear()
        self._cache.clear()
        for future in self._inboxes.values():
            if not future.done():
                future.set_exception(BusClosed("bus closed while waiting for a reply"))
        me = asyncio.current_task()
        tasks = [s._task for s in subs if s._task is not me]
        for sub in subs:
            sub._release_idle()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosed("the bus is closed")

    def _lookup(self, subject: str, *, cache: bool = True) -> tuple[MemorySubscription, ...]:
        """Matching subscriptions in subscription order; validates uncached subjects."""
        subs = self._cache.get(subject)
        if subs is None:
            check_subject(subject, wildcards=False)
            found = [*self._exact.get(subject, ())]
            tokens = tuple(subject.split("."))
            for end in range(len(tokens)):  # a wildcard pattern's literal head is a prefix
                for s in self._wild.get(tokens[:end], ()):
                    if subject_matches(s.subject, subject):
                        found.append(s)
            subs = tuple(sorted(found, key=lambda s: s._seq))
            if cache:
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                self._cache[subject] = subs
        return subs

    def _send(self, subject: str, data: bytes, reply: str | None, *, cache: bool = True) -> None:
        subs = self._lookup(subject, cache=cache)
        stats = self.stats
        stats.messages_published += 1
        stats.bytes_published += len(data)
        inbox = self._inboxes.get(subject)
        if inbox is not None and not inbox.done():
            inbox.set_result(data)
        item = (subject, data, reply)
        for sub in subs:
            sub._push(item)

    def _answer(self, subscription: str, reply: str, answer: object) -> None:
        if self._closed:
            return
        if type(answer) is not bytes:
            self.stats.handler_errors += 1
            logger.error("bus handler for %r answered %r, not bytes", subscription, answer)
            return
        self._send(reply, answer, None, cache=False)  # inboxes are used once

    def _remove(self, sub: MemorySubscription) -> None:
        if sub not in self._subs:
            return
        del self._subs[sub]
        prefix = _literal_prefix(sub.subject)
        if prefix is not None:
            wild = self._wild[prefix]
            wild.remove(sub)
            if not wild:
                del self._wild[prefix]
        else:
            exact = self._exact[sub.subject]
            exact.remove(sub)
            if not exact:
                del self._exact[sub.subject]
        self._cache.clear()

"""The trust layer's control plane: publish, request and serve over any bus, every frame
an envelope between identity keys (`secmas.trust.envelope`).

A `ControlPlane` is one identity's endpoint (an agent, the MLFO, SECaaS). Handlers are
told who sent a message, as authenticated by its key, and answer a request with bytes
that go back sealed to that sender. A request waits for the first reply that opens as
from the party it asked: anything else published on its reply subject (a forged or
replayed verdict, a made-up refusal) is dropped and counted, so an adversary on the bus
can neither answer in a party's name nor make a requester give up early.

Requests carry their own reply subject, `secmas.reply.<pipeline>.<random>.<n>`, in the
authenticated header; replies are published there (not through the bus's own
request/reply), which is what lets a requester ignore forged answers and wait for the
genuine one. The request itself still goes as a bus request, which a server acknowledges
with an empty answer once it handled an authentic frame: so a request that nobody
listens for fails at once with `NoResponders` (a broker restart is told apart from a
party that does not answer), and one nobody could open times out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from secmas.transport.bus import Bus, BusClosed, NoResponders, Subscription
from secmas.trust.envelope import EnvelopeError, Envelopes, KeyHolder, Kind, Opened
from secmas.trust.identity import AgentIdentity

logger = logging.getLogger(__name__)

MLFO = "mlfo"
"""The MLFO's name on the control plane and the secure channel."""
SECAAS = "secaas"
"""SECaaS's name on the control plane (it challenges the first agent itself)."""

ControlHandler = Callable[[Opened], Awaitable[bytes | None]]
"""Receives an opened frame; bytes returned answer a request, sealed to its sender."""


@dataclass
class ControlStats:
    """Frames sealed and opened, and frames dropped by reason."""

    sealed: int = 0
    opened: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


class ControlPlane:
    """One identity's sealed endpoint on `bus` for pipeline `pipeline`."""

    def __init__(
        self, bus: Bus, identity: AgentIdentity, directory: Mapping[str, KeyHolder], pipeline: str
    ) -> None:
        self.bus = bus
        self.pipeline = pipeline
        self.envelopes = Envelopes(identity, directory)
        self.stats = ControlStats()
        self._inbox = f"secmas.reply.{pipeline}.{secrets.token_hex(8)}"
        self._inbox_sub: Subscription | None = None
        self._waiting: dict[str, tuple[str, asyncio.Future[bytes]]] = {}
        self._ids = 0
        self._subs: list[Subscription] = []

    @property
    def name(self) -> str:
        return self.envelopes.name

    @property
    def identity(self) -> AgentIdentity:
        return self.envelopes.identity

    @property
    def directory(self) -> Mapping[str, KeyHolder]:
        return self.envelopes.directory

    def _open(self, subject: str, frame: bytes) -> Opened | None:
        try:
            opened = self.envelopes.open(subject, frame)
        except EnvelopeError as exc:
            self.stats.dropped[exc.reason] += 1
            logger.debug("%s: dropped a frame on %s: %s", self.name, subject, exc)
            return None
        self.stats.opened += 1
        return opened

    async def publish(self, subject: str, receiver: str, payload: bytes) -> None:
        """Send `payload` to `receiver` on `subject`."""
        frame = self.envelopes.seal(Kind.MESSAGE, receiver, subject, payload)
        self.stats.sealed += 1
        await self.bus.publish(subject, frame)

    async def request(
        self,
        subject: str,
        receiver: str,
        payload: bytes,
        timeout: float,
        *,
        handling: float | None = None,
    ) -> bytes:
        """Ask `receiver` on `subject`; its first authentic answer, or TimeoutError.

        `handling` bounds, in wall seconds, how long the receiver may take to handle the
        request before it acknowledges (default `timeout`); `timeout` then bounds the
        wait for its answer. An in-process receiver acknowledges only once its handler
        ran, so on the virtual clock a long `handling` keeps a busy machine from failing
        a slow handler (`secmas.trust.deadlines`)."""
        return await self._request(
            subject,
            receiver,
            timeout,
            lambda reply: self.envelopes.seal(Kind.REQUEST, receiver, subject, payload, reply),
            handling,
        )

    async def enrol(
        self, subject: str, receiver: str, receiver_key: bytes, payload: bytes, timeout: float
    ) -> bytes:
        """A join: `payload` sealed to `receiver_key` by someone `receiver` does not know
        yet; its answer comes sealed to our key."""
        return await self._request(
            subject,
            receiver,
            timeout,
            lambda reply: self.envelopes.enrol(receiver, receiver_key, subject, payload, reply),
        )

    async def _request(
        self,
        subject: str,
        receiver: str,
        timeout: float,
        frame: Callable[[str], bytes],
        handling: float | None = None,
    ) -> bytes:
        if self._inbox_sub is None:
            self._inbox_sub = await self.bus.subscribe(f"{self._inbox}.*", self._on_reply)
        self._ids += 1
        reply = f"{self._inbox}.{self._ids}"
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[reply] = (receiver, future)
        try:
            data = frame(reply)
            self.stats.sealed += 1
            ack = timeout if handling is None else handling
            await self.bus.request(subject, data, ack)  # the acknowledgement
            async with asyncio.timeout(timeout):
                return await future
        except NoResponders:
            raise
        except TimeoutError:
            raise TimeoutError(f"no authentic reply from {receiver} on {subject!r}") from None
        finally:
            self._waiting.pop(reply, None)

    async def _on_reply(self, subject: str, frame: bytes) -> None:
        waiting = self._waiting.get(subject)
        if waiting is None:
            self.stats.dropped["unexpected"] += 1
            return
        opened = self._open(subject, frame)
        if opened is None:
            return
        receiver, future = waiting
        if opened.header.kind is not Kind.REPLY or opened.sender != receiver:
            self.stats.dropped["impostor"] += 1
            return
        if not future.done():
            future.set_result(opened.payload)

    async def serve(
        self, subject: str, handler: ControlHandler, *, enrolment: bool = False
    ) -> Subscription:
        """Hand authentic frames on `subject` to `handler` and seal its answers back;
        `enrolment` also admits (unauthenticated) join frames, for the handler to check."""

        async def on_frame(subject_: str, frame: bytes) -> bytes | None:
            """Handles one frame; an authentic request is acknowledged (empty answer)."""
            opened = self._open(subject_, frame)
            if opened is None:
                return None
            if opened.header.kind is Kind.ENROL and not enrolment:
                self.stats.dropped["enrolment"] += 1
                return None
            if opened.header.kind is Kind.REPLY:
                self.stats.dropped["flags"] += 1
                return None
            answer = await handler(opened)
            if opened.header.kind is Kind.MESSAGE:
                return None
            if answer is not None and opened.header.reply:
                await self._answer(opened, answer)
            return b""

        sub = await self.bus.subscribe(subject, on_frame)
        self._subs.append(sub)
        return sub

    async def _answer(self, opened: Opened, answer: bytes) -> None:
        """Seal `answer` to the sender of request `opened` and publish it where it asked."""
        sealed = self.envelopes.seal(
            Kind.REPLY,
            opened.sender,
            opened.header.reply,
            answer,
            receiver_key=opened.sender_key,
        )
        self.stats.sealed += 1
        try:
            await self.bus.publish(opened.header.reply, sealed)
        except ValueError as exc:  # a reply subject the bus refuses
            self.stats.dropped["malformed"] += 1
            logger.debug("%s: cannot answer on %r: %s", self.name, opened.header.reply, exc)

    async def close(self) -> None:
        """Stop serving and receiving replies (the bus itself stays open)."""
        subs, self._subs = self._subs, []
        if self._inbox_sub is not None:
            subs.append(self._inbox_sub)
            self._inbox_sub = None
        for sub in subs:
            with contextlib.suppress(BusClosed):
                await sub.unsubscribe()

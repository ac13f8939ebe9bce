"""The NATS bus: the `Bus` interface over a nats-server, for agents in separate processes.

It behaves like the in-memory bus (see `secmas.transport.bus`), so agents do not know
which one they run on:

* nats-py runs each subscription's callback in its own task, one message at a time, so
  order per subscription is publish order and a slow handler delays nobody else.
* `subscribe` returns once the server knows the interest (a PING/PONG), so a request
  sent right after, from any client, finds the responder.
* Requests use one reply subscription per connection, `_INBOX.<nuid>.*`, and our own
  futures rather than `nc.request`, so `close` can fail pending requests with BusClosed
  at once (nats-py would leave them to time out). The server answers a request nobody
  listens to with a 503 status message: that is `NoResponders`, raised at once.
* `flush` waits for a PING/PONG with the server (see `_sync_with_server`), then for this
  client's own subscriptions to go idle, so publish-flush-check works as on the memory
  bus within one client. Messages from other clients arrive when the network delivers
  them: wait for an effect there, not for a flush.

Reconnection: when the server goes away the client retries every `reconnect_wait`
seconds, at most `max_reconnects` times, while publishes are buffered (up to 2 MB) and
subscriptions are replayed on the new connection. `reconnects` and `disconnects` count
what happened. When the client gives up, every operation raises `BusUnavailable`. The
first connection is not retried: an unreachable server raises `BusUnavailable` at once.

Security (see `secmas.transport.address`, `tls` and `credentials`): `url` may list several
servers (a cluster; the client fails over between them). With a `tls://` server or a CA
file, every connection must be TLS with a certificate chained to that CA: the client
checks that the server required TLS before it sends CONNECT, so credentials and the
nonce signature never cross a connection an attacker stripped of TLS. `nkey_file` names
the client's nkey seed (mode 0600). A server that refuses the certificate, the
credentials or plain text fails the first connection at once with the reason, never
after a hang. `url` as kept and shown carries no credentials.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import ssl
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSub

from secmas.transport.address import BusAddress
from secmas.transport.bus import BusClosed, BusStats, Handler, NoResponders, check_subject
from secmas.transport.credentials import read_seed
from secmas.transport.tls import client_context

logger = logging.getLogger(__name__)

DEFAULT_URL = "nats://127.0.0.1:4222"
_STATUS_HEADER = "Status"
_NO_RESPONDERS = "503"
_FLUSH_TIMEOUT_S = 10.0
_RECONNECT_POLL_S = 0.01
_PING_INTERVAL_S = 20
"""A server gone without closing the socket is noticed within a minute (missed pings)."""


class BusUnavailable(ConnectionError):
    """The NATS server cannot be reached, or the client gave up reconnecting to it."""


TLS_NOT_OFFERED = "the server did not require TLS: refusing to connect in plain text"
_AUTH_REFUSED = "Authorization Violation"
_DENIED = re.compile(r'permissions violation for (publish|subscription) to "([^"]*)"')


class _GuardedClient(Client):
    """nats-py's client with two guards nats-py 2.16 lacks.

    * It never sends CONNECT (with its credentials or nonce signature) over a connection
      that is not TLS, when told so. nats-py upgrades to TLS only when the server's INFO
      says `tls_required`, and builds CONNECT right after that upgrade: an INFO without
      it (a plain server, or an attacker in the path who removed the flag) would
      otherwise get the credentials in clear.
    * A PONG whose flush was cancelled (by a signal or a timeout, between its PING and the
      PONG) is counted and otherwise dropped. nats-py would set the result of the
      cancelled future, and the InvalidStateError ends its reading loop: a traceback in
      the log and a connection that hears nothing more."""

    require_tls = False

    def _connect_command(self) -> bytes:
        if self.require_tls and not self._server_info.get("tls_required", False):
            raise nats.errors.Error(TLS_NOT_OFFERED)
        return super()._connect_command()

    async def _process_pong(self) -> None:
        if self._pongs and self._pongs[0].done():
            self._pongs.pop(0)
            self._pongs_received += 1
            self._pings_outstanding = 0
            return
        await super()._process_pong()


class _QuietTLSClose(logging.Filter):
    """asyncio warns on every TLS connection nats-py closes ("returning true from
    eof_received() has no effect when using ssl"): harmless, and noise in agent logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "eof_received()" not in record.getMessage()


logging.getLogger("asyncio").addFilter(_QuietTLSClose())


def _fatal(exc: BaseException) -> bool:
    """Errors that retrying the same server cannot cure."""
    text = str(exc)
    return isinstance(exc, ssl.SSLError) or _AUTH_REFUSED in text or TLS_NOT_OFFERED in text


def _explain(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the server's certificate is not trusted ({exc.verify_message}): "
            "give the CA that issued it (--bus-ca)"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc}): is the server speaking TLS?"
    if _AUTH_REFUSED in str(exc):
        return "the server refused the credentials (authorization violation)"
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    """An exception as text: some (timeouts) have no message of their own."""
    return str(exc) or type(exc).__name__


def _check_data(data: object) -> None:
    if type(data) is not bytes:
        raise TypeError(f"message data must be bytes, got {type(data).__name__}")


class NatsSubscription:
    """A subscription on a NatsBus: wraps the handler for nats-py's per-subscription task."""

    __slots__ = ("_active", "_bus", "_handler", "_idle", "_nats", "_running", "_task", "subject")

    def __init__(self, bus: NatsBus, subject: str, handler: Handler) -> None:
        self.subject = subject
        self._bus = bus
        self._handler = handler
        self._nats: NatsSub | None = None
        self._active = True
        self._running = False
        self._task: asyncio.Task[object] | None = None
        self._idle: list[asyncio.Future[None]] = []

    def __repr__(self) -> str:
        return f"NatsSubscription({self.subject!r}, pending={self.pending})"

    @property
    def pending(self) -> int:
        """Messages received from the server and not yet handed to the handler."""
        return self._nats.pending_msgs if self._nats is not None and self._active else 0

    @property
    def active(self) -> bool:
        """Whether messages are still delivered."""
        return self._active

    async def unsubscribe(self) -> None:
        """Stop delivery: queued messages are dropped; a running handler call finishes."""
        if not self._active:
            return
        self._deactivate()
        self._bus._subs.pop(self, None)
        if not self._running:  # else _deliver stops the NATS subscription after the call
            await self._stop()

    def _deactivate(self) -> None:
        self._active = False
        self._release_idle()

    async def _stop(self) -> None:
        if self._nats is None:
            return
        try:
            await self._nats.unsubscribe()
        except nats.errors.Error as exc:  # closed, draining or already gone: nothing to stop
            logger.debug("unsubscribe %r: %s", self.subject, exc)

    def _busy(self) -> bool:
        return self._active and (self._running or self.pending > 0)

    async def _until_idle(self) -> None:
        if self._busy():
            future = asyncio.get_running_loop().create_future()
            self._idle.append(future)
            await future

    def _release_idle(self) -> None:
        waiters, self._idle = self._idle, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def _deliver(self, msg: Msg) -> None:
        """nats-py's callback: run the handler, count, answer `msg.reply` with its bytes."""
        if not self._active:
            return
        bus = self._bus
        self._task = asyncio.current_task()
        self._running = True
        try:
            answer = await self._handler(msg.subject, msg.data)
        except Exception:
            bus.stats.handler_errors += 1
            logger.exception("bus handler for %r failed on %r", self.subject, msg.subject)
            answer = None
        finally:
            self._running = False
        bus.stats.messages_delivered += 1
        if msg.reply and answer is not None:
            await bus._answer(self.subject, msg.reply, answer)
        if not self._active:  # unsubscribed during the call: stop from outside this task
            bus._spawn(self._stop())
        elif self.pending == 0:
            self._release_idle()


class NatsBus:
    """A `Bus` over one nats-py connection; create it with `await NatsBus.connect(url)`."""

    def __init__(
        self, address: BusAddress, *, pending_msgs_limit: int, pending_bytes_limit: int
    ) -> None:
        """Not connected yet: use `connect`, which also sets up the reply subscription."""
        self.address = address
        self.url = address.redacted
        """The servers, credentials masked: safe to log and record."""
        self.stats = BusStats()
        self.reconnects = 0
        self.disconnects = 0
        self.dropped = 0
        self.denied: dict[str, int] = {}
        """Subjects the server refused this client, by subject: publishes and
        subscriptions its permissions do not allow (the message was not routed)."""
        self._refused_subscriptions: set[str] = set()
        self._pending_msgs_limit = pending_msgs_limit
        self._pending_bytes_limit = pending_bytes_limit
        self._nc = _GuardedClient()
        self._fatal: asyncio.Future[str] | None = None
        self._fatal_servers: set[str] = set()
        self._first_error: Exception | None = None
        self._subs: dict[NatsSubscription, None] = {}
        self._replies: dict[str, asyncio.Future[bytes | None]] = {}
        self._reply_prefix = ""
        self._tokens = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._max_reconnects = 0
        self._reconnect_wait = 0.0
        self._down_since: float | None = None
        self._up = False  # connected once: the callbacks then report on a real connection
        self._closed = False
        self._lost = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "lost" if self._lost else "open"
        return f"NatsBus({self.url!r}, {state}, subscriptions={len(self._subs)})"

    @classmethod
    async def connect(
        cls,
        url: str | BusAddress = DEFAULT_URL,
        *,
        ca_file: Path | None = None,
        nkey_file: Path | None = None,
        name: str | None = None,
        connect_timeout: float = 2.0,
        reconnect_wait: float = 0.5,
        max_reconnects: int = 120,
        pending_msgs_limit: int = 1_000_000,
        pending_bytes_limit: int = 1 << 30,
    ) -> NatsBus:
        """Connect to the server at `url` (one or a comma-separated list; see the module
        docstring for `ca_file` and `nkey_file`), or raise BusUnavailable naming it.
        BusAddressError (a ValueError) for a malformed `url`, CredentialError for an
        unusable seed file, ValueError for an unreadable CA file.

        `max_reconnects` attempts `reconnect_wait` seconds apart (1 minute by default)
        follow a lost connection; 0 disables reconnection. The pending limits bound what a
        subscription buffers while its handler is busy; beyond them nats-py drops messages
        (counted in `dropped`, logged)."""
        if max_reconnects < 0:
            raise ValueError("max_reconnects must be >= 0 (0: never reconnect)")
        address = url if isinstance(url, BusAddress) else BusAddress.parse(url)
        bus = cls(
            address, pending_msgs_limit=pending_msgs_limit, pending_bytes_limit=pending_bytes_limit
        )
        options = bus._security(ca_file, nkey_file)
        await bus._open(name, connect_timeout, reconnect_wait, max_reconnects, options)
        return bus

    def _security(self, ca_file: Path | None, nkey_file: Path | None) -> dict[str, Any]:
        """nats-py's options for TLS and credentials (checked before anything is sent)."""
        address = self.address
        options: dict[str, Any] = {}
        if address.tls or ca_file is not None:
            self._nc.require_tls = True
            options["tls"] = client_context(ca_file)
        if nkey_file is not None:
            read_seed(nkey_file)  # a clear error now rather than a failed signature later
            options["nkeys_seed"] = str(nkey_file)
        if address.token is not None:
            options["token"] = address.token
        elif address.user is not None:
            options["user"] = address.user
            options["password"] = address.password or ""
        if (nkey_file is not None or address.has_credentials) and not self._nc.require_tls:
            logger.warning(
                "NATS client %s: credentials go in clear unless the server requires TLS "
                "(use tls:// URLs and --bus-ca)",
                self.url,
            )
        return options

    async def _open(
        self,
        name: str | None,
        timeout: float,
        reconnect_wait: float,
        max_reconnects: int,
        security: dict[str, Any],
    ) -> None:
        await self._probe(timeout)
        self._max_reconnects = max_reconnects
        self._reconnect_wait = reconnect_wait
        self._fatal = asyncio.get_running_loop().create_future()
        connecting = asyncio.ensure_future(
            self._nc.connect(
                servers=list(self.address.servers),
                name=name,
                connect_timeout=timeout,
                allow_reconnect=max_reconnects > 0,
                reconnect_time_wait=reconnect_wait,
                max_reconnect_attempts=max_reconnects,
                ping_interval=_PING_INTERVAL_S,
                dont_randomize=True,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
                closed_cb=self._on_closed,
                **security,
            )
        )
        try:
            async with asyncio.timeout(timeout):
                await asyncio.wait({connecting, self._fatal}, return_when=asyncio.FIRST_COMPLETED)
            if not connecting.done():
                raise BusUnavailable(self._fatal.result())
            connecting.result()
            self._reply_prefix = self._nc.new_inbox() + "."
            await self._nc.subscribe(self._reply_prefix + "*", cb=self._on_reply)
            logger.info("NATS client %s connected to %s", name or "", self.server)
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            await self._abandon(connecting)
            if isinstance(exc, BusUnavailable):
                raise
            reason = _explain(exc)
            if isinstance(exc, TimeoutError) and self._first_error is not None:
                reason = f"no connection within {timeout:g} s; {_explain(self._first_error)}"
            raise BusUnavailable(
                f"cannot connect to the NATS server at {self.url}: {reason}"
            ) from exc
        self._up = True

    async def _abandon(self, connecting: asyncio.Future[None]) -> None:
        connecting.cancel()
        await asyncio.gather(connecting, return_exceptions=True)
        await self._nc.close()

    async def _probe(self, timeout: float) -> None:
        """Fail fast when nothing listens on any server: nats-py retries a failed first
        connect."""
        failures: list[str] = []
        for server in self.address.servers:
            parts = urlsplit(server)
            try:
                async with asyncio.timeout(timeout):
                    _, writer = await asyncio.open_connection(parts.hostname, parts.port)
            except (OSError, TimeoutError) as exc:
                failures.append(f"{server}: {_describe(exc)}")
                continue
            writer.close()
            return
        raise BusUnavailable(f"no NATS server at {self.url}: {'; '.join(failures)}")

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._closed

    @property
    def max_payload(self) -> int:
        """The largest message the server accepts, in bytes (1 MiB unless configured)."""
        return self._nc.max_payload

    @property
    def server(self) -> str | None:
        """The server of the list this client is connected to now (no credentials)."""
        url = self._nc.connected_url
        return None if url is None else f"{url.scheme}://{url.hostname}:{url.port}"

    @property
    def connected(self) -> bool:
        """Whether the connection is up now (False while reconnecting)."""
        return self._nc.is_connected

    async def publish(self, subject: str, data: bytes) -> None:
        """Send `data` to every matching subscription of every client; never waits for them."""
        self._check_open()
        _check_data(data)
        check_subject(subject, wildcards=False)
        await self._send(subject, data, "")

    async def subscribe(self, subject: str, handler: Handler) -> NatsSubscription:
        """Deliver messages matching `subject` (wildcards allowed) to `handler`, in order."""
        self._check_open()
        check_subject(subject, wildcards=True)
        if not callable(handler):
            raise TypeError(f"handler for {subject!r} is not callable")
        sub = NatsSubscription(self, subject, handler)
        try:
            sub._nats = await self._nc.subscribe(
                subject,
                cb=sub._deliver,
                pending_msgs_limit=self._pending_msgs_limit,
                pending_bytes_limit=self._pending_bytes_limit,
            )
        except nats.errors.Error as exc:
            raise self._translate(exc) from exc
        self._subs[sub] = None
        try:
            await self._sync_with_server()
        except Exception:
            await sub.unsubscribe()
            raise
        if subject in self._refused_subscriptions:  # the server's -ERR came before its PONG
            self._refused_subscriptions.discard(subject)
            await sub.unsubscribe()
            raise PermissionError(f"the NATS server refuses this client subscribing to {subject!r}")
        return sub

    async def request(self, subject: str, data: bytes, timeout: float) -> bytes:
        """Publish with a reply inbox and return the first answer a handler returns."""
        self._check_open()
        _check_data(data)
        check_subject(subject, wildcards=False)
        token = str(next(self._tokens))
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._replies[token] = future
        try:
            await self._send(subject, data, self._reply_prefix + token)
            async with asyncio.timeout(timeout):
                answer = await future
        except TimeoutError:
            raise TimeoutError(f"no reply on {subject!r} within {timeout} s") from None
        finally:
            del self._replies[token]
        if answer is None:
            raise NoResponders(f"no subscription matches {subject!r}")
        return answer

    async def flush(self) -> None:
        """Wait until the server has routed everything published so far, then for this
        client's subscriptions to go idle (handlers may publish more: repeat until quiet).

        Called from a handler, it does not wait for that handler's own subscription."""
        self._check_open()
        me = asyncio.current_task()
        while True:
            await self._sync_with_server()
            busy = [s for s in self._subs if s._busy() and s._task is not me]
            if not busy:
                return
            await asyncio.gather(*(s._until_idle() for s in busy))

    async def _sync_with_server(self) -> None:
        """Return once the server has read everything sent so far (a PING/PONG).

        nats-py 2.16 writes the PING of `flush` straight to the socket, ahead of commands
        still in its pending buffer, so its PONG can come back before the server has read
        them (about one flush in eight, more under load). Waiting for the buffer to be
        written first restores the order. While reconnecting, wait for the connection."""
        nc = self._nc
        try:
            async with asyncio.timeout(_FLUSH_TIMEOUT_S):
                while not nc.is_connected or nc.pending_data_size > 0:
                    if nc.is_closed:
                        raise nats.errors.ConnectionClosedError
                    await asyncio.sleep(0 if nc.is_connected else _RECONNECT_POLL_S)
                await nc.flush(_FLUSH_TIMEOUT_S)
        except nats.errors.Error as exc:
            raise self._translate(exc) from exc
        except TimeoutError:
            raise TimeoutError(
                f"no answer from the NATS server at {self.url} within {_FLUSH_TIMEOUT_S} s"
            ) from None

    async def close(self) -> None:
        """Fail pending requests with BusClosed, stop delivery, withdraw the subscriptions,
        flush what was published and close the connection; idempotent.

        When it returns the server routes nothing more here, so another client's request
        to a subject only this bus served fails with NoResponders at once. nats-py cancels
        subscription tasks on close, so a handler that closes the bus is cancelled at that
        point; the close itself completes regardless (it runs in a task of its own)."""
        if self._closed:
            return
        self._closed = True
        self._fail_requests(BusClosed("bus closed while waiting for a reply"))
        subs = list(self._subs)
        self._subs.clear()
        for sub in subs:
            sub._deactivate()
        await asyncio.shield(asyncio.ensure_future(self._shutdown(subs)))

    async def _shutdown(self, subs: list[NatsSubscription]) -> None:
        if self._nc.is_connected:
            for sub in subs:
                await sub._stop()
            try:  # then the server has withdrawn the interest
                await self._sync_with_server()
            except (TimeoutError, ConnectionError, BusClosed) as exc:
                logger.debug("flush on close of %s: %s", self.url, exc)
        await self._nc.close()

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosed("the bus is closed")
        if self._lost:
            raise BusUnavailable(
                f"lost the connection to {self.url}: "
                f"gave up after {self._max_reconnects} reconnect attempts"
            )

    async def _send(self, subject: str, data: bytes, reply: str) -> None:
        try:
            await self._nc.publish(subject, data, reply=reply)
        except nats.errors.Error as exc:
            raise self._translate(exc) from exc
        stats = self.stats
        stats.messages_published += 1
        stats.bytes_published += len(data)

    def _translate(self, exc: nats.errors.Error) -> Exception:
        """nats-py's errors as the Bus interface's: payload too big is the caller's error."""
        if isinstance(exc, nats.errors.MaxPayloadError):
            return ValueError(f"message larger than the server's limit of {self.max_payload} B")
        if isinstance(exc, nats.errors.TimeoutError):
            return TimeoutError(f"no answer from the NATS server at {self.url}: {_describe(exc)}")
        if self._closed:
            return BusClosed("the bus is closed")
        return BusUnavailable(f"NATS server at {self.url}: {_describe(exc)}")

    async def _answer(self, subscription: str, reply: str, answer: object) -> None:
        if self._closed or self._lost:
            return
        if type(answer) is not bytes:
            self.stats.handler_errors += 1
            logger.error("bus handler for %r answered %r, not bytes", subscription, answer)
            return
        try:
            await self._send(reply, answer, "")
        except (ConnectionError, BusClosed, ValueError) as exc:
            self.stats.handler_errors += 1
            logger.error("bus handler for %r: its answer was not sent: %s", subscription, exc)

    async def _on_reply(self, msg: Msg) -> None:
        future = self._replies.get(msg.subject[len(self._reply_prefix) :])
        if future is None or future.done():
            return
        headers = msg.headers
        if headers and headers.get(_STATUS_HEADER) == _NO_RESPONDERS:
            future.set_result(None)
        else:
            future.set_result(msg.data)

    def _fail_requests(self, error: Exception) -> None:
        for future in self._replies.values():
            if not future.done():
                future.set_exception(error)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_error(self, exc: Exception) -> None:
        denied = _DENIED.search(str(exc))
        if denied is not None:
            kind, subject = denied.groups()
            self.denied[subject] = self.denied.get(subject, 0) + 1
            if kind == "subscription":
                self._refused_subscriptions.add(subject)
            logger.warning("NATS client %s: the server refused %s to %r", self.url, kind, subject)
        elif isinstance(exc, nats.errors.SlowConsumerError):
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                logger.warning(
                    "NATS client %s: subscription %r too slow, %d messages dropped so far",
                    self.url,
                    exc.subject,
                    self.dropped,
                )
        elif not self._up:
            logger.debug("NATS client %s: connect attempt failed: %s", self.url, _describe(exc))
            self._note_first_failure(exc)
        elif self._nc.is_reconnecting:
            logger.debug("NATS client %s: connect attempt failed: %s", self.url, _describe(exc))
        else:
            logger.warning("NATS client %s: %s", self.url, _describe(exc))

    def _note_first_failure(self, exc: Exception) -> None:
        """The first connection fails at once when every server refused it for a reason
        that retrying cannot cure (certificate, credentials, no TLS)."""
        self._first_error = exc
        if not _fatal(exc) or self._fatal is None or self._fatal.done():
            return
        current = self._nc._current_server  # nats-py names no public "server being tried"
        self._fatal_servers.add(current.uri.geturl() if current is not None else "?")
        if len(self._fatal_servers) >= len(self.address.servers):
            self._fatal.set_result(
                f"cannot connect to the NATS server at {self.url}: {_explain(exc)}"
            )

    async def _on_disconnected(self) -> None:
        if self._closed or not self._up or self._down_since is not None:
            return
        self.disconnects += 1
        self._down_since = asyncio.get_running_loop().time()
        logger.warning(
            "NATS connection to %s lost; reconnecting (%d attempts, %.2f s apart)",
            self.url,
            self._max_reconnects,
            self._reconnect_wait,
        )

    async def _on_reconnected(self) -> None:
        self.reconnects += 1
        down = self._down_since
        self._down_since = None
        elapsed = asyncio.get_running_loop().time() - down if down is not None else 0.0
        logger.warning("NATS connection to %s restored after %.2f s", self.url, elapsed)

    async def _on_closed(self) -> None:
        if self._closed or not self._up:
            return
        self._lost = True
        error = BusUnavailable(f"lost the connection to {self.url} while waiting for a reply")
        self._fail_requests(error)
        for sub in list(self._subs):
            sub._release_idle()
        logger.error("NATS connection to %s given up; the bus is unavailable", self.url)

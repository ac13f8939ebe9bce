"""The contract every bus keeps, checked on the in-memory bus and on NATS alike, so a
difference between them fails here (NATS runs against a real nats-server; its cases
skip with the install hint where the binary is absent)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
from tests.conftest import until

from secmas.transport import (
    Bus,
    BusClosed,
    MemoryBus,
    NoResponders,
    Subscription,
    subject_matches,
)
from secmas.transport.broker import MISSING_BINARY, NatsServer, find_nats_server

Connect = Callable[[], Awaitable[Bus]]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 300))


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer | None]:
    if find_nats_server() is None:
        yield None
        return
    with NatsServer() as running:
        yield running


@pytest.fixture(params=["memory", "nats"])
def connect(request: pytest.FixtureRequest, server: NatsServer | None) -> Connect:
    if request.param == "memory":

        async def memory() -> Bus:
            return MemoryBus()

        return memory
    if server is None:
        pytest.skip(f"NATS bus tests need a server: {MISSING_BINARY}")
    from secmas.transport.nats import NatsBus

    return lambda: NatsBus.connect(server.url, name=request.node.name)


async def nothing(subject: str, data: bytes) -> None:
    return None


# --- the contract shared with the memory bus ---------------------------------------------


def test_each_subscription_gets_exactly_the_matching_messages_in_order(connect: Connect):
    patterns = ["agents.*.inbox", "agents.>", ">", "agents.pop1.inbox", "*.pop2.*", "a.b"]
    sent = [
        "agents.pop1.inbox",
        "agents.pop2.inbox",
        "agents.pop1.x.inbox",
        "agents",
        "a.b",
        "x.pop2.y",
        "agents.pop2",
        "agents.pop1.inbox",
    ]

    async def scenario():
        bus = await connect()
        got: dict[str, list[str]] = {p: [] for p in patterns}
        for pattern in patterns:

            async def handler(subject: str, data: bytes, pattern: str = pattern) -> None:
                got[pattern].append(data.decode())

            await bus.subscribe(pattern, handler)
        for n, subject in enumerate(sent):
            await bus.publish(subject, f"{n}:{subject}".encode())
        await bus.flush()
        await bus.close()
        return got

    got = run(scenario())
    for pattern in patterns:
        want = [f"{n}:{s}" for n, s in enumerate(sent) if subject_matches(pattern, s)]
        assert got[pattern] == want, pattern


def test_order_per_subscriber_is_kept_and_a_slow_handler_delays_nobody(connect: Connect):
    async def scenario():
        bus = await connect()
        slow: list[int] = []
        fast: list[int] = []
        gate = asyncio.Event()

        async def slow_handler(subject: str, data: bytes) -> None:
            await gate.wait()
            await asyncio.sleep(0.001 * (int(data) % 3))
            slow.append(int(data))

        async def fast_handler(subject: str, data: bytes) -> None:
            fast.append(int(data))

        await bus.subscribe("agents.pop1.inbox", slow_handler)
        await bus.subscribe("agents.*.inbox", fast_handler)
        for n in range(200):
            await bus.publish("agents.pop1.inbox", str(n).encode())
        await until(lambda: len(fast) == 200)
        blocked = len(slow)
        gate.set()
        await bus.flush()
        await bus.close()
        return slow, fast, blocked

    slow, fast, blocked = run(scenario())
    assert blocked == 0
    assert slow == list(range(200)) and fast == list(range(200))


def test_unsubscribe_stops_delivery_even_from_inside_the_handler(connect: Connect):
    async def scenario():
        bus = await connect()
        once: list[bytes] = []
        kept: list[bytes] = []
        subscription: Subscription | None = None

        async def first_only(subject: str, data: bytes) -> None:
            once.append(data)
            assert subscription is not None
            await subscription.unsubscribe()

        async def keep(subject: str, data: bytes) -> None:
            kept.append(data)

        subscription = await bus.subscribe("x", first_only)
        other = await bus.subscribe("x", keep)
        for data in (b"1", b"2", b"3"):
            await bus.publish("x", data)
        await bus.flush()
        await other.unsubscribe()
        await other.unsubscribe()  # twice is harmless
        await bus.publish("x", b"4")
        await bus.flush()
        states = (subscription.active, other.active)  # type: ignore[attr-defined]
        await bus.close()
        return once, kept, states

    once, kept, states = run(scenario())
    assert once == [b"1"] and kept == [b"1", b"2", b"3"] and states == (False, False)


def test_request_reply_first_answer_wins_and_observers_see_the_reply(connect: Connect):
    async def scenario():
        bus = await connect()
        seen: list[str] = []

        async def echo(subject: str, data: bytes) -> bytes:
            return b"echo:" + data

        async def late(subject: str, data: bytes) -> bytes:
            await asyncio.sleep(0.01)
            return b"late"

        async def observer(subject: str, data: bytes) -> None:
            seen.append(subject)

        await bus.subscribe("svc.echo", echo)
        await bus.subscribe("svc.*", late)
        await bus.subscribe("_INBOX.>", observer)
        answer = await bus.request("svc.echo", b"hi", timeout=1)
        await bus.flush()
        await bus.close()
        return answer, seen

    answer, seen = run(scenario())
    assert answer == b"echo:hi"
    assert len(seen) == 2 and all(s.startswith("_INBOX.") for s in seen)


def test_request_times_out_or_fails_at_once_without_responders(connect: Connect):
    async def scenario():
        bus = await connect()
        await bus.subscribe("svc.silent", nothing)
        with pytest.raises(TimeoutError, match=r"no reply on 'svc\.silent'"):
            await bus.request("svc.silent", b"?", timeout=0.05)
        began = time.perf_counter()
        with pytest.raises(NoResponders, match=r"svc\.nobody"):
            await bus.request("svc.nobody", b"?", timeout=5)
        elapsed = time.perf_counter() - began
        await bus.close()
        return elapsed

    assert run(scenario()) < 0.5


def test_closed_bus_raises_a_clear_error_and_fails_pending_requests(connect: Connect):
    async def scenario():
        bus = await connect()

        async def never(subject: str, data: bytes) -> None:
            await asyncio.Event().wait()

        sub = await bus.subscribe("svc", never)
        pending = asyncio.ensure_future(bus.request("svc", b"?", timeout=5))
        await asyncio.sleep(0.05)
        await bus.close()
        await bus.close()  # idempotent
        await sub.unsubscribe()  # harmless after close
        with pytest.raises(BusClosed, match="closed while waiting"):
            await pending
        with pytest.raises(BusClosed, match="the bus is closed"):
            await bus.publish("svc", b"x")
        with pytest.raises(BusClosed):
            await bus.subscribe("svc", never)
        with pytest.raises(BusClosed):
            await bus.request("svc", b"x", timeout=1)
        with pytest.raises(BusClosed):
            await bus.flush()
        return bus.closed  # type: ignore[attr-defined]

    assert run(scenario())


def test_handler_exceptions_are_logged_counted_and_isolated(connect: Connect, caplog):
    async def scenario():
        bus = await connect()
        good: list[bytes] = []
        survived: list[bytes] = []

        async def flaky(subject: str, data: bytes) -> bytes:
            if data == b"boom":
                raise RuntimeError("handler bug")
            survived.append(data)
            return "not bytes"  # type: ignore[return-value]

        async def fine(subject: str, data: bytes) -> None:
            good.append(data)

        await bus.subscribe("x", flaky)
        await bus.subscribe("x", fine)
        for data in (b"1", b"boom", b"2"):
            await bus.publish("x", data)
        await bus.flush()
        with pytest.raises(TimeoutError):  # the wrong answer type is an error, not a reply
            await bus.request("x", b"3", timeout=0.05)
        await bus.flush()
        await bus.close()
        return bus.stats, good, survived

    with caplog.at_level(logging.ERROR, logger="secmas.transport"):
        stats, good, survived = run(scenario())
    assert good == [b"1", b"boom", b"2", b"3"] and survived == [b"1", b"2", b"3"]
    assert stats.handler_errors == 2
    assert "handler bug" in caplog.text and "not bytes" in caplog.text


def test_counters_and_argument_checks(connect: Connect):
    async def scenario():
        bus = await connect()
        assert isinstance(bus, Bus)
        sub = await bus.subscribe("a.>", nothing)
        assert isinstance(sub, Subscription)
        for n in range(10):
            await bus.publish(f"a.{n}", b"12345")
        await bus.publish("unheard", b"123")
        await bus.flush()
        with pytest.raises(TypeError, match="bytes"):
            await bus.publish("a.b", "text")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="wildcard"):
            await bus.publish("a.*", b"")
        with pytest.raises(ValueError, match="empty token"):
            await bus.subscribe("a..b", nothing)
        with pytest.raises(TypeError, match="not callable"):
            await bus.subscribe("a.b", None)  # type: ignore[arg-type]
        stats = bus.stats
        await bus.close()
        return stats

    stats = run(scenario())
    assert (stats.messages_published, stats.bytes_published) == (11, 53)
    assert stats.messages_delivered == 10 and stats.handler_errors == 0


# --- several clients on one server ---------------------------------------------------------

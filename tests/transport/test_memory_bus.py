"""The in-memory bus: NATS subject semantics, ordering, request/reply, isolation, close."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.transport import (
    Bus,
    BusClosed,
    MemoryBus,
    NoResponders,
    Subscription,
    check_subject,
    subject_matches,
)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def reference_match(pattern: str, subject: str) -> bool:
    """NATS matching written as a regular expression, independently of the bus."""
    parts = []
    for token in pattern.split("."):
        if token == "*":
            parts.append(r"[^.]+")
        elif token == ">":
            parts.append(r"[^.]+(\.[^.]+)*")
        else:
            parts.append(re.escape(token))
    return re.fullmatch(r"\.".join(parts), subject) is not None


literal = st.sampled_from(["agents", "pop1", "pop2", "inbox", "a", "b"])
subjects = st.lists(literal, min_size=1, max_size=5).map(".".join)
patterns = (
    st.lists(literal | st.just("*"), min_size=1, max_size=5)
    .flatmap(lambda tokens: st.sampled_from([tokens, [*tokens, ">"], [*tokens[:-1], ">"]]))
    .map(".".join)
)


@settings(max_examples=500)
@given(patterns, subjects)
def test_subject_matching_agrees_with_a_reference_matcher(pattern: str, subject: str):
    check_subject(pattern, wildcards=True)
    check_subject(subject, wildcards=False)
    assert subject_matches(pattern, subject) == reference_match(pattern, subject)


def test_nats_wildcard_examples():
    assert subject_matches("agents.*.inbox", "agents.pop1.inbox")
    assert not subject_matches("agents.*.inbox", "agents.pop1.x.inbox")
    assert subject_matches("agents.>", "agents.pop1.inbox")
    assert not subject_matches("agents.>", "agents")  # '>' needs at least one token
    assert subject_matches(">", "x")
    assert not subject_matches("agents.*", "agents.pop1.inbox")


@pytest.mark.parametrize(
    ("subject", "wildcards", "words"),
    [
        ("", True, "empty token"),
        ("agents..inbox", True, "empty token"),
        ("agents.pop 1", True, "whitespace"),
        ("agents.>.inbox", True, "last token"),
        ("agents.pop*", True, "whole tokens"),
        ("agents.*", False, "wildcard"),
        ("agents.>", False, "wildcard"),
    ],
)
def test_invalid_subjects_are_refused(subject: str, wildcards: bool, words: str):
    with pytest.raises(ValueError, match=words):
        check_subject(subject, wildcards=wildcards)


@settings(max_examples=60, deadline=None)
@given(st.lists(patterns, min_size=1, max_size=5), st.lists(subjects, min_size=1, max_size=10))
def test_each_subscription_gets_exactly_the_matching_messages(subs: list[str], sent: list[str]):
    async def scenario():
        bus = MemoryBus()
        got: dict[int, list[str]] = {i: [] for i in range(len(subs))}
        for i, pattern in enumerate(subs):

            async def handler(subject: str, data: bytes, i: int = i) -> None:
                got[i].append(subject)

            await bus.subscribe(pattern, handler)
        for subject in sent:
            await bus.publish(subject, subject.encode())
        await bus.flush()
        await bus.close()
        return got

    got = run(scenario())
    for i, pattern in enumerate(subs):
        assert got[i] == [s for s in sent if reference_match(pattern, s)]


def test_order_per_subscriber_is_kept_and_publish_does_not_wait_for_handlers():
    async def scenario():
        bus = MemoryBus()
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
        published_before_handling = slow == []
        await asyncio.sleep(0.01)
        fast_done_while_slow_blocked = (len(fast), len(slow))
        gate.set()
        await bus.flush()
        await bus.close()
        return slow, fast, published_before_handling, fast_done_while_slow_blocked

    slow, fast, published_first, progress = run(scenario())
    assert published_first and progress == (200, 0)
    assert slow == list(range(200)) and fast == list(range(200))


def test_unsubscribe_stops_delivery_even_from_inside_the_handler():
    async def scenario():
        bus = MemoryBus()
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
        states = (subscription.active, other.active)
        await bus.close()
        return once, kept, states

    once, kept, states = run(scenario())
    assert once == [b"1"] and kept == [b"1", b"2", b"3"] and states == (False, False)


def test_request_reply_first_answer_wins_and_observers_see_the_reply():
    async def scenario():
        bus = MemoryBus()
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
    assert seen and all(s.startswith("_INBOX.") for s in seen)


def test_request_times_out_or_fails_at_once_without_responders():
    async def scenario():
        bus = MemoryBus()

        async def silent(subject: str, data: bytes) -> None:
            return None

        await bus.subscribe("svc.silent", silent)
        with pytest.raises(TimeoutError, match=r"no reply on 'svc\.silent'"):
            await bus.request("svc.silent", b"?", timeout=0.01)
        with pytest.raises(NoResponders):
            await bus.request("svc.nobody", b"?", timeout=5)
        await bus.close()

    run(scenario())


def test_closed_bus_raises_a_clear_error_and_fails_pending_requests():
    async def scenario():
        bus = MemoryBus()

        async def never(subject: str, data: bytes) -> None:
            await asyncio.Event().wait()

        await bus.subscribe("svc", never)
        pending = asyncio.ensure_future(bus.request("svc", b"?", timeout=5))
        await asyncio.sleep(0)
        await bus.close()
        await bus.close()  # idempotent
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
        return bus.closed

    assert run(scenario())


def test_handler_exceptions_are_logged_counted_and_isolated(caplog):
    async def scenario():
        bus = MemoryBus()
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
            await bus.request("x", b"3", timeout=0.01)
        await bus.flush()
        await bus.close()
        return bus.stats, good, survived

    with caplog.at_level(logging.ERROR, logger="secmas.transport.memory"):
        stats, good, survived = run(scenario())
    assert good == [b"1", b"boom", b"2", b"3"] and survived == [b"1", b"2", b"3"]
    assert stats.handler_errors == 2
    assert "handler bug" in caplog.text and "not bytes" in caplog.text


def test_counters_and_argument_checks():
    async def scenario():
        bus = MemoryBus()
        assert isinstance(bus, Bus)

        async def sink(subject: str, data: bytes) -> None:
            return None

        sub = await bus.subscribe("a.>", sink)
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
            await bus.subscribe("a..b", sink)
        with pytest.raises(TypeError, match="not callable"):
            await bus.subscribe("a.b", None)  # type: ignore[arg-type]
        stats = bus.stats
        await bus.close()
        return stats

    stats = run(scenario())
    assert (stats.messages_published, stats.bytes_published) == (11, 53)
    assert stats.messages_delivered == 10 and stats.handler_errors == 0


def test_hundred_thousand_messages_are_delivered():
    async def scenario():
        bus = MemoryBus()
        count = 0

        async def count_it(subject: str, data: bytes) -> None:
            nonlocal count
            count += 1

        await bus.subscribe("agents.*.inbox", count_it)
        for _ in range(100_000):
            await bus.publish("agents.pop1.inbox", b"x" * 32)
        await bus.flush()
        await bus.close()
        return count

    assert run(scenario()) == 100_000


def test_unsubscribe_after_close_is_harmless():
    async def main():
        bus = MemoryBus()

        async def handler(_subject: str, _data: bytes) -> None:
            return None

        sub = await bus.subscribe("a.b", handler)
        await bus.close()
        await sub.unsubscribe()

    run(main())

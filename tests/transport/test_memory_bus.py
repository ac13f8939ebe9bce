"""The in-memory bus: NATS subject semantics, ordering, request/reply, isolation, close."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.transport import (
    MemoryBus,
    check_subject,
    subject_matches,
)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 300))


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

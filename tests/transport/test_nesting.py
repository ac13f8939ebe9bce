"""The nesting guard: depth of arrays and objects, brackets inside strings not counted."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from secmas.transport.nesting import _STRINGS, too_deep


def depth_by_hand(text: str) -> int:
    """The deepest nesting, walking the text character by character (the oracle)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), children, max_size=3)
    ),
    max_leaves=20,
)


@given(JSON, st.integers(0, 12))
def test_json_depth_is_judged_as_by_hand(value: object, limit: int) -> None:
    text = json.dumps(value)
    assert too_deep(text, limit) == (depth_by_hand(text) > limit)


@given(st.text(alphabet='[]{}"\\a\n', max_size=40))
def test_the_unrolled_string_pattern_cuts_what_the_plain_one_does(text: str) -> None:
    # any text, JSON or not: quotes left open, escapes at the end, a newline after a backslash
    plain = re.compile(r'"(?:[^"\\]|\\.)*"')
    assert _STRINGS.sub("", text) == plain.sub("", text)


def test_brackets_in_strings_do_not_count() -> None:
    assert not too_deep(json.dumps(["[[[[[[[[[[", {"{{{{{{": "]]]]"}]), 3)
    assert too_deep("[[[[1]]]]", 3)
    assert not too_deep("[[[1]]]", 3)


def test_a_megabyte_of_brackets_is_refused_without_recursion() -> None:
    assert too_deep("[" * 1_000_000, 8)

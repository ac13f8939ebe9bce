"""The bounded YAML loader: same data as PyYAML's safe loader on benign input; aliases,
nesting, duplicate keys, size and hostile characters refused with a line and a short reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.scenario.yamlbombs import bomb, expansion

from secmas.scenario.yamlfile import (
    MAX_ALIAS_NODES,
    MAX_CHARS,
    MAX_DEPTH,
    YAMLInputError,
    brief,
    clip,
    compose,
    load,
    read_text,
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


def refused(text: str) -> YAMLInputError:
    with pytest.raises(YAMLInputError) as info:
        load(text)
    return info.value


@settings(max_examples=80, deadline=None)
@given(DATA, st.booleans())
def test_benign_documents_load_as_pyyaml_does(data: Any, flow: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow)
    loaded, node = load(text)
    assert loaded == yaml.safe_load(text)
    assert node is not None


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_is_loaded_or_refused(text: str) -> None:
    try:
        load(text)
    except YAMLInputError as exc:
        assert len(str(exc)) < 300


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=12), st.integers(min_value=2, max_value=12))
def test_aliases_are_bounded(width: int, levels: int) -> None:
    text = bomb(width, levels)
    if expansion(width, levels) <= MAX_ALIAS_NODES:
        assert load(text)[0] == yaml.safe_load(text)
    else:
        error = refused(text)
        assert "aliases repeat more than" in error.reason and "alias bomb" in error.reason
        assert error.line is not None and 2 <= error.line <= levels


def test_the_billion_laughs_is_refused_at_the_alias_that_goes_over() -> None:
    error = refused(bomb(9, 9))
    assert error.line == 6 and error.path == ("l5", 0)
    assert error.reason == (
        f"aliases repeat more than {MAX_ALIAS_NODES} nodes (at alias *l4): refused as an alias bomb"
    )


def test_recursive_alias_is_refused() -> None:
    error = refused("a: &a [1, *a]\n")
    assert (error.line, error.reason) == (1, "recursive alias *a: the node it names contains it")
    assert refused("a: &a {b: {c: *a}}\n").line == 1


def test_nesting_is_bounded_also_through_aliases() -> None:
    deep = "x: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    assert "nested deeper than" in refused(deep).reason
    half = MAX_DEPTH // 2 + 2
    text = f"a: &a {'[' * half}{']' * half}\nb: {'[' * half}*a{']' * half}\n"
    error = refused(text)
    assert error.line == 2 and "alias *a nests the document deeper than" in error.reason


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first at line 1)"),
        ("{a: 1, a: 2}", 1, "duplicate key 'a' (first at line 1)"),
        (
            "x:\n  - {n: 1}\n  - n: 2\n    m: 3\n    n: 4\n",
            5,
            "duplicate key 'n' (first at line 3)",
        ),
        ("1: a\n0x1: b\n", 2, "duplicate key '0x1', read as 1, (first at line 1)"),
        ("on: a\nyes: b\n", 2, "duplicate key 'yes', read as True, (first at line 1)"),
    ],
)
def test_duplicate_keys_are_refused(text: str, line: int, reason: str) -> None:
    error = refused(text)
    assert (error.line, error.reason) == (line, reason)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("a: 1\na: 2\n", ("a",)),
        ("x:\n  - {n: 1}\n  - n: 2\n    n: 4\n", ("x", 1, "n")),
        ("x:\n  y: [1, [2, &a [3], *a, [*a, *a, *a]]]\n", None),
        ("x:\n  y: [0, " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "]\n", ("x", "y", 1) + (0,) * 61),
        ("s: &s [1]\nt: {u: [*s, *s, *s]}\nv: &v [*v]\n", ("v", 0)),
    ],
)
def test_refusals_carry_the_path_to_the_place(text: str, path: tuple[str | int, ...]) -> None:
    if path is None:
        assert load(text)[0]["x"]["y"][1][3] == [[3], [3], [3]]
        return
    assert refused(text).path == path


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), min_size=1, unique=True),
    st.data(),
)
def test_any_repeated_key_is_named_with_its_lines(keys: list[str], data: st.DataObject) -> None:
    repeated = data.draw(st.sampled_from(keys))
    at = data.draw(st.integers(min_value=keys.index(repeated) + 1, max_value=len(keys)))
    order = [*keys[:at], repeated, *keys[at:]]
    error = refused("".join(f"{key}: {index}\n" for index, key in enumerate(order)))
    assert error.line == at + 1
    # YAML reads some words as other than text (`on`, `null`): the message adds how.
    assert error.reason.startswith(f"duplicate key '{repeated}'")
    assert error.reason.endswith(f" (first at line {keys.index(repeated) + 1})")


def test_merge_keys_may_be_overridden_and_the_tree_stays_as_written() -> None:
    data, node = load("base: &b {x: 1, y: 2}\nthing:\n  <<: *b\n  x: 3\n")
    assert data["thing"] == {"x": 3, "y": 2}
    assert node is not None
    thing = node.value[1][1]
    assert [(key.value, key.start_mark.line + 1) for key, _ in thing.value] == [("<<", 3), ("x", 4)]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a: [\n", 2, "YAML syntax"),
        ("a: 1\n---\nb: 2\n", 2, "expected a single document"),
        ("a: *nowhere\n", 1, "found undefined alias"),
        ("a: 1\nb: \x08\n", 2, "character #x0008 is not allowed"),
        ("a: " + "9" * 5000 + "\n", 1, "bad value: Exceeds the limit"),
        ("a: 2001-13-45\n", 1, "bad value: month must be in 1..12"),
        ("a: !!python/object:os.system x\n", 1, "could not determine a constructor"),
        ("? [a]\n: 1\n", 1, "found unhashable key"),
    ],
)
def test_bad_documents_are_located(text: str, line: int, fragment: str) -> None:
    error = refused(text)
    assert error.line == line and fragment in error.reason


def test_size_is_bounded(tmp_path: Path) -> None:
    assert "larger than" in refused("#" * (MAX_CHARS + 1)).reason
    big = tmp_path / "big.yaml"
    big.write_text("#" * (MAX_CHARS + 1))
    with pytest.raises(YAMLInputError, match="file larger than"):
        read_text(big)
    with pytest.raises(YAMLInputError, match="cannot read file"):
        read_text(tmp_path)
    (tmp_path / "ok.yaml").write_text("a: 1\n")
    assert read_text(tmp_path / "ok.yaml") == "a: 1\n"


def test_long_values_are_never_echoed_in_full() -> None:
    name = "n" * 10_000
    error = refused(f"? {name}\n: 1\n? {name}\n: 2\n")
    assert len(error.reason) < 200 and "..." in error.reason
    assert len(refused(f"a: *{name}\n").reason) <= len("YAML syntax: ") + 200
    assert brief(2**10_000) == "<an integer of 10001 bits>"
    assert brief(list(range(10**6))) == "[0, 1, 2, 3, ...]"
    assert brief("a\x1b[31mb") == "'a\\x1b[31mb'"
    assert clip("x" * 500, 10) == "x" * 9 + "…"


def test_compose_is_bounded_and_empty_documents_are_none() -> None:
    assert compose("") is None and load("") == (None, None)
    with pytest.raises(YAMLInputError, match="alias bomb"):
        compose(bomb(9, 9))

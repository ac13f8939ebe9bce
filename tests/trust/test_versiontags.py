"""Dictionary version tags as a cache key: a watch must never call a changed dictionary
unchanged (soundness); calling an unchanged one changed only costs a walk."""

from __future__ import annotations

import types

from hypothesis import given
from hypothesis import strategies as st

from secmas.trust import versiontags
from secmas.trust.versiontags import Watch, watch

_KEYS = st.sampled_from(["a", "b", "c", "d"])
_VALUES = st.sampled_from([None, 0, "x", len, print])
_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _KEYS, _VALUES),
        st.tuples(st.just("pop"), _KEYS, st.none()),
        st.tuples(st.just("get"), _KEYS, st.none()),
        st.tuples(st.just("clear"), st.none(), st.none()),
        st.tuples(st.just("update"), _KEYS, _VALUES),
        st.tuples(st.just("setdefault"), _KEYS, _VALUES),
    ),
    max_size=8,
)


def _apply(table: dict[object, object], operation: tuple[str, object, object]) -> None:
    kind, key, value = operation
    if kind == "set":
        table[key] = value
    elif kind == "pop":
        table.pop(key, None)
    elif kind == "get":
        table.get(key)
    elif kind == "clear":
        table.clear()
    elif kind == "update":
        table.update({key: value})
    else:
        table.setdefault(key, value)


def _content(table: dict[object, object]) -> list[tuple[object, int]]:
    return [(k, id(v)) for k, v in table.items()]


def test_this_interpreter_has_readable_tags() -> None:
    assert versiontags.AVAILABLE  # CPython 3.11, the supported interpreter


@given(start=st.dictionaries(_KEYS, _VALUES), operations=_OPERATIONS)
def test_a_changed_dictionary_is_never_called_unchanged(
    start: dict[object, object], operations: list[tuple[str, object, object]]
) -> None:
    table = dict(start)
    before = _content(table)
    watched = watch([table])
    assert watched is not None and watched.unchanged()
    for operation in operations:
        _apply(table, operation)
    if _content(table) != before:
        assert not watched.unchanged()
        assert list(watched.moved()) == [True]


def test_reads_and_setting_the_same_object_keep_a_dictionary_unchanged() -> None:
    value = object()
    table: dict[object, object] = {"k": value}
    watched = watch([table])
    assert watched is not None
    _ = table["k"], list(table.items()), table.get("missing")
    table["k"] = value
    assert watched.unchanged()


def test_a_class_namespace_and_a_functions_dictionary_are_watched() -> None:
    class Probe:
        def method(self) -> int:
            return 1

    function = Probe.method
    watched = watch([vars(Probe), function.__dict__])
    assert watched is not None and watched.unchanged()
    function.__wrapped__ = len  # type: ignore[attr-defined]
    assert list(watched.moved()) == [False, True]
    Probe.method = lambda self: 2  # type: ignore[method-assign]
    assert list(watched.moved()) == [True, True]


def test_what_has_no_tag_to_read_is_not_watched() -> None:
    from collections import OrderedDict

    assert watch([OrderedDict(a=1)]) is None
    assert watch([types.SimpleNamespace()]) is None
    assert watch([]) == Watch((), (), ())


def test_joined_watches_report_per_dictionary() -> None:
    first, second = {"a": 1}, {"b": 2}
    one, two = watch([first]), watch([second])
    assert one is not None and two is not None
    joined = Watch.joined([one, two])
    second["b"] = 3
    assert list(joined.moved()) == [False, True]
    assert one.unchanged() and not joined.unchanged()

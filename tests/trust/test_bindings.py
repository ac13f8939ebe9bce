"""Bindings walk live dictionaries that something else may change meanwhile.

CI failed once with "dictionary changed size during iteration" in `_bound`: a module's
weak-keyed memo (`codehash`'s digests per code object) lost entries to a garbage
collection that building the items' tuples had started. Here a collection callback
empties a module's table whenever a collection starts, and collections are made to start
every few allocations, so walking the live table would fail every time.
"""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Iterator

import pytest

from secmas.trust.bindings import Bindings
from secmas.trust.pycode import KnownCode


@pytest.fixture
def shrinking() -> Iterator[dict[object, object]]:
    """A module table that loses an entry at the start of every garbage collection, with
    a collection every few allocations."""
    table: dict[object, object] = {n: (n, "digest") for n in range(2000)}

    def forget(phase: str, _info: dict[str, int]) -> None:
        if phase == "start" and table:
            table.pop(next(iter(table)))

    threshold = gc.get_threshold()
    gc.callbacks.append(forget)
    gc.set_threshold(5)
    try:
        yield table
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(forget)


def test_a_module_table_shrinking_while_measured_is_measured(
    shrinking: dict[object, object],
) -> None:
    module = types.ModuleType("secmas_probe_memo")
    module.MEMO = shrinking
    assert Bindings(KnownCode(())).module_problems(module) == []
    assert len(shrinking) < 2000  # collections did run while it was walked


def test_the_standard_library_is_walked_while_modules_change(
    shrinking: dict[object, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    modules = {name: sys.modules[name] for name in ("json", "re", "hmac")}
    monkeypatch.setattr(sys.modules["json"], "SECMAS_PROBE_MEMO", shrinking, raising=False)
    assert Bindings(KnownCode.around(modules.values())).stdlib_problems(modules) == []

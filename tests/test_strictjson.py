"""Strict JSON: what secmas writes parses with a strict parser; non-finite numbers become
null with a note that says where and what they were."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas import strictjson

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=20,
)


def test_non_finite_numbers_are_null_with_their_pointers() -> None:
    value = {"a": math.inf, "b": [1.5, math.nan], "c/d": {"e~": -math.inf}, "f": "inf"}
    data = strictjson.loads(strictjson.dumps(value))
    assert data["a"] is None and data["b"] == [1.5, None] and data["c/d"] == {"e~": None}
    assert data["f"] == "inf"
    assert data["non_finite"] == {"/a": "Infinity", "/b/1": "NaN", "/c~1d/e~0": "-Infinity"}


def test_a_finite_document_is_written_as_it_is() -> None:
    value = {"x": [1, 2.5, None, True], "y": {"z": "é"}}
    assert strictjson.loads(strictjson.dumps(value)) == value


def test_the_strict_reader_refuses_what_python_writes_by_default(tmp_path: Path) -> None:
    loose = tmp_path / "loose.json"
    loose.write_text(json.dumps({"max_latency_ms": math.inf}))
    with pytest.raises(ValueError, match="Infinity is not JSON"):
        strictjson.loads(loose.read_text())
    assert "Infinity is not JSON" in (strictjson.problem(loose) or "")
    assert strictjson.problem(strictjson.write(tmp_path / "strict.json", {"a": math.nan})) is None


@given(JSON)
def test_anything_json_holds_is_written_strict(value: object) -> None:
    text = strictjson.dumps(value)
    parsed = strictjson.loads(text)
    if not isinstance(value, dict) or "non_finite" not in parsed:
        assert strictjson.dumps(parsed) == text  # stable once strict


def test_the_session_records_the_json_files_secmas_writes(
    tmp_path: Path, strict_json_files: object
) -> None:
    """The check at the end of the session sees what secmas writes, and only that: a test's
    own deliberately loose input is not secmas's."""
    written = strictjson.write(tmp_path / "report.json", {"a": math.inf})
    own = tmp_path / "input.json"
    own.write_text('{"a": Infinity}')
    paths = strict_json_files.paths  # type: ignore[attr-defined]
    assert written.absolute() in paths and own.absolute() not in paths

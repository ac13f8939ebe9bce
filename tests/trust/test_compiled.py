"""Source files compiled once per version: an unchanged file is not compiled again, any
change (even with its modification time put back) is."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.trust import compiled
from secmas.trust.compiled import measure_source, source_file

SOURCE = (
    b"def f(x):\n    return x + 1\n\n\n"
    b"class C:\n    def m(self):\n        return [i for i in range(3)]\n"
)


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files count as settled at once (else one written in the last 2 s is never kept)."""
    monkeypatch.setattr(compiled, "RACY_NS", 0)


def test_an_unchanged_file_is_measured_once(tmp_path: Path, settled: None) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    first = source_file(path)
    assert source_file(path) is first
    assert first.sha256 == hashlib.sha256(SOURCE).digest()
    assert first.functions == measure_source(SOURCE, str(path))
    assert set(first.functions.values()) <= first.every  # the listcomp's code is in every too
    assert len(first.every) > len(first.functions)


def test_a_rewritten_file_is_measured_again_even_with_its_times_put_back(
    tmp_path: Path, settled: None
) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    first = source_file(path)
    status = path.stat()
    path.write_bytes(SOURCE.replace(b"x + 1", b"x - 1"))
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    again = source_file(path)
    assert again.version != first.version
    assert again.functions["f"] != first.functions["f"]
    assert again.functions["C.m"] == first.functions["C.m"]


def test_a_file_replaced_by_rename_is_measured_again(tmp_path: Path, settled: None) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    first = source_file(path)
    other = tmp_path / "other.py"
    other.write_bytes(SOURCE + b"\n\ndef g():\n    pass\n")
    other.replace(path)
    assert "g" in source_file(path).functions and "g" not in first.functions


def test_a_file_changed_in_the_last_moments_is_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    assert source_file(path) is not source_file(path)


def test_invalid_python_is_an_error_not_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_bytes(b"def (:\n")
    measured = source_file(path)
    assert measured.error is not None and "bad.py:1" in measured.error
    assert measured.functions == {} and measured.every == frozenset()


@given(st.binary(max_size=200))
def test_any_bytes_are_measured_or_refused_with_a_reason(data: bytes) -> None:
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    path = folder / f"secmas-compiled-{os.getpid()}.py"
    try:
        path.write_bytes(data)
        measured = source_file(path)
        assert measured.sha256 == hashlib.sha256(data).digest()
        assert (measured.error is None) or (measured.functions == {})
    finally:
        path.unlink(missing_ok=True)

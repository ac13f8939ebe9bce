"""Measured files kept on disk: a version measured in one process is not compiled again in
another; a changed file, a store others may write, or one that is not a database is never
believed."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from secmas.trust import compiled
from secmas.trust.compiled import source_file
from secmas.trust.sourcestore import SourceStore

FORGED = "00" * 32
SOURCE = b"def f(x):\n    return x + 1\n\n\nclass C:\n    def m(self):\n        return 2\n"

# Measures a file in a fresh process where compiling is an error: it must come from disk.
FROM_STORE = """
import sys
from pathlib import Path
from secmas.trust import compiled
def refuse(*args):
    raise SystemExit("compiled again")
compiled._measure = refuse
print(compiled.source_file(Path(sys.argv[1])).functions["f"])
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private $SECMAS_HOME, an empty in-memory table and files settled at once."""
    folder = tmp_path / "home"
    monkeypatch.setenv("SECMAS_HOME", str(folder))
    monkeypatch.setattr(compiled, "_FILES", {})
    monkeypatch.setattr(compiled, "_STORES", {})
    monkeypatch.setattr(compiled, "RACY_NS", 0)
    return folder


def _store_file(home: Path) -> Path:
    (found,) = (home / "cache").glob("measured-*.db")
    return found


def test_a_file_measured_in_one_process_is_not_compiled_in_the_next(
    home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    here = source_file(path)
    other = subprocess.run(
        [sys.executable, "-c", FROM_STORE, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "SECMAS_HOME": str(home)},
        check=False,
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == here.functions["f"]
    assert _store_file(home).stat().st_mode & 0o777 == 0o600


def test_a_record_read_back_is_the_measurement(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    measured = source_file(path)
    compiled._FILES.clear()
    assert source_file(path) == measured


def test_a_file_rewritten_with_its_times_put_back_is_compiled_again(
    home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    first = source_file(path)
    status = path.stat()
    path.write_bytes(SOURCE.replace(b"x + 1", b"x - 1"))
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    compiled._FILES.clear()
    assert source_file(path).functions["f"] != first.functions["f"]


@pytest.mark.parametrize(
    ("mode", "believed"),
    [(0o600, True), (0o620, False), (0o602, False)],
    ids=["private", "group-writable", "world-writable"],
)
def test_a_store_others_may_write_is_not_believed(
    home: Path, tmp_path: Path, mode: int, believed: bool
) -> None:
    """The owner's private store is trusted as __pycache__ is (the control case: a forged
    record there is read back); one the group or others may write is not."""
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    genuine = source_file(path)
    store = _store_file(home)
    _forge(store, path)
    store.chmod(mode)
    compiled._FILES.clear()
    compiled._STORES.clear()
    assert (source_file(path).functions["f"] == FORGED) is believed
    assert (source_file(path).functions["f"] == genuine.functions["f"]) is not believed


def test_a_store_of_another_user_is_not_believed(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    genuine = source_file(path)
    store = _store_file(home)
    _forge(store, path)
    os.chown(store, 65534, -1)
    compiled._FILES.clear()
    compiled._STORES.clear()
    assert source_file(path).functions["f"] == genuine.functions["f"]


def test_a_store_that_is_not_a_database_turns_itself_off(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    genuine = source_file(path)
    _store_file(home).write_bytes(b"not sqlite" * 100)
    compiled._FILES.clear()
    compiled._STORES.clear()
    assert source_file(path) == genuine


def test_an_unreadable_record_is_compiled_again(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    genuine = source_file(path)
    store = SourceStore(_store_file(home))
    version = compiled._version_key(genuine.version)
    assert store.get(str(path), version) is not None
    store.put(str(path), version, b"{not json")
    compiled._FILES.clear()
    assert source_file(path) == genuine


def _forge(store_file: Path, path: Path) -> None:
    """Rewrite the file's record so `f` has another digest, as an attacker would."""
    store = SourceStore(store_file)
    version = compiled._version_key(compiled.FileVersion.of(path.stat()))
    record = json.loads(store.get(str(path), version) or b"")
    record["functions"]["f"] = FORGED
    store.put(str(path), version, json.dumps(record).encode())


def test_a_store_another_process_is_writing_is_passed_by_not_waited_for(
    home: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    first.write_bytes(SOURCE)
    second.write_bytes(SOURCE.replace(b"x + 1", b"x + 2"))
    source_file(first)
    writer = sqlite3.connect(_store_file(home), isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        measured = source_file(second)  # not kept: the store is busy
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    compiled._FILES.clear()
    assert source_file(second) == measured  # compiled again, and kept now
    assert compiled._store().get(str(second), compiled._version_key(measured.version))

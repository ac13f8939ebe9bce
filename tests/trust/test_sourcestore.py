"""Measured files kept on disk: a version measured in one process is not compiled again in
another; a changed file, a store others may write, or one that is not a database is never
believed."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from secmas.trust import compiled
from secmas.trust.compiled import SHARED_STORE_ENV, source_file
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


def _shared_copy(home: Path, tmp_path: Path, path: Path) -> Path:
    """The owner's store, with `path` measured, copied for another user (`share_store`)
    into a folder of its own; the owner's store emptied after, so that only the copy holds
    the record."""
    folder = tmp_path / "shared"
    folder.mkdir()
    copy = compiled.share_store(folder, [path])
    for stale in (home / "cache").iterdir():
        stale.unlink()
    compiled._FILES.clear()
    compiled._STORES.clear()
    return copy


@pytest.mark.skipif(os.geteuid() != 0, reason="only root starts a process as the agent user")
def test_an_agent_user_process_reads_the_copy_root_shared_instead_of_compiling(
    home: Path, tmp_path: Path
) -> None:
    from secmas.pipeline.agentuser import agent_user

    user = agent_user()
    open_folder = Path(tempfile.mkdtemp(prefix="secmas-shared-test-"))
    try:
        open_folder.chmod(0o755)
        path = open_folder / "m.py"
        path.write_bytes(SOURCE)
        path.chmod(0o644)
        genuine = source_file(path)
        copy = compiled.share_store(open_folder, [path])
        agent_home = open_folder / "agent-home"
        agent_home.mkdir()
        os.chown(agent_home, user.uid, user.gid)
        other = subprocess.run(
            user.command([sys.executable, "-c", FROM_STORE, str(path)]),
            capture_output=True,
            text=True,
            env={**os.environ, "SECMAS_HOME": str(agent_home), SHARED_STORE_ENV: str(copy)},
            check=False,
        )
        assert other.returncode == 0, other.stderr
        assert other.stdout.strip() == genuine.functions["f"]
        assert (copy.stat().st_uid, copy.stat().st_mode & 0o777) == (0, 0o644)
    finally:
        shutil.rmtree(open_folder)


@pytest.mark.parametrize(
    ("file_mode", "folder_mode", "believed"),
    [(0o644, 0o755, True), (0o646, 0o755, False), (0o644, 0o757, False)],
    ids=["read-only", "others-may-write-the-copy", "others-may-write-its-folder"],
)
def test_a_shared_copy_others_may_write_is_not_believed(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    file_mode: int,
    folder_mode: int,
    believed: bool,
) -> None:
    path, genuine, copy = _forged_copy(home, tmp_path)
    copy.chmod(file_mode)
    copy.parent.chmod(folder_mode)
    monkeypatch.setenv(SHARED_STORE_ENV, str(copy))
    assert (source_file(path).functions["f"] == FORGED) is believed
    assert (source_file(path).functions["f"] == genuine.functions["f"]) is not believed


def test_a_shared_copy_of_a_user_other_than_root_is_not_believed(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, genuine, copy = _forged_copy(home, tmp_path)
    os.chown(copy, 65534, -1)
    monkeypatch.setenv(SHARED_STORE_ENV, str(copy))
    assert source_file(path).functions["f"] == genuine.functions["f"]


def test_a_shared_copy_is_read_and_never_written(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, new = tmp_path / "m.py", tmp_path / "new.py"
    path.write_bytes(SOURCE)
    new.write_bytes(SOURCE.replace(b"x + 1", b"x + 3"))
    genuine = source_file(path)
    copy = _shared_copy(home, tmp_path, path)
    before = copy.read_bytes()
    monkeypatch.setenv(SHARED_STORE_ENV, str(copy))
    measure = compiled._measure
    monkeypatch.setattr(compiled, "_measure", _refuse)
    assert source_file(path).functions == genuine.functions  # from the copy
    monkeypatch.setattr(compiled, "_measure", measure)
    source_file(new)  # compiled, and kept in the user's own store only
    assert copy.read_bytes() == before
    assert compiled._store().get(
        str(new), compiled._version_key(compiled.FileVersion.of(new.stat()))
    )


def _forged_copy(home: Path, tmp_path: Path) -> tuple[Path, compiled.SourceFile, Path]:
    """A file, its genuine measurement, and a shared copy whose record of it is forged."""
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    genuine = source_file(path)
    copy = _shared_copy(home, tmp_path, path)
    _forge_copy(copy, path)
    return path, genuine, copy


def _forge_copy(copy: Path, path: Path) -> None:
    """`_forge` on a shared copy, as its writer would (it stays one file, no WAL)."""
    database = sqlite3.connect(copy)
    try:
        (record,) = database.execute("SELECT record FROM files WHERE path = ?", (str(path),))
        fields = json.loads(record[0])
        fields["functions"]["f"] = FORGED
        with database:
            database.execute(
                "UPDATE files SET record = ? WHERE path = ?",
                (json.dumps(fields).encode(), str(path)),
            )
    finally:
        database.close()


def _refuse(*args: object) -> None:
    raise AssertionError("compiled again")

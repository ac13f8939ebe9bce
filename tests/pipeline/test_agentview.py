"""The agent's view of the host's files: which folders it covers, and what it brings
back beneath them (mode bits only; the namespace itself in
tests/security/test_agent_reads_no_secret.py)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from secmas.pipeline.agentview import Cover, covers, trail


def test_the_trail_to_a_path_names_each_link_followed(tmp_path: Path) -> None:
    real = tmp_path / "real" / "bin"
    real.mkdir(parents=True)
    (real / "python3.11").write_text("")
    (real / "python3").symlink_to("python3.11")
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(real / "python3")
    assert trail(venv / "python") == [venv / "python", real / "python3", real / "python3.11"]
    assert trail(real / ".." / "bin" / "python3.11") == [real / "python3.11"]
    (tmp_path / "up").symlink_to(real)  # ".." after a link: from where the link leads
    assert trail(tmp_path / "up" / ".." / "bin") == [tmp_path / "up", real]


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder any user may search (pytest's own are its user's only)."""
    with tempfile.TemporaryDirectory(prefix="secmas-test-") as name:
        Path(name).chmod(0o755)
        yield Path(name)


def test_only_the_topmost_folder_a_user_may_not_search_is_covered(open_folder: Path) -> None:
    tmp_path = open_folder
    private = tmp_path / "private"
    lib = private / "inner" / "lib"
    (lib / "pkg").mkdir(parents=True)
    (private / "inner").chmod(0o700)
    private.chmod(0o700)
    (tmp_path / "python").symlink_to(private / "inner" / "python")
    (private / "inner" / "python").write_text("")
    stranger = os.getuid() + 4242
    needed = [lib, lib / "pkg", tmp_path / "python"]
    assert covers(needed, stranger, stranger) == [
        Cover(private, (private / "inner" / "lib", private / "inner" / "python"))
    ]
    assert covers(needed, os.getuid(), os.getgid()) == []

"""Native runtime measurement: this interpreter's mapped code against its files."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from secmas.trust.elf import measure_elf
from secmas.trust.procmem import ProcessMemoryError, check_process_image, read_maps


def _loaded(fragment: str) -> Path:
    """A shared object this process has mapped executable, e.g. libc."""
    for region in read_maps():
        if region.executable and fragment in Path(region.path).name:
            return Path(region.path)
    pytest.skip(f"no {fragment} mapped")


def test_interpreter_code_in_memory_matches_its_file() -> None:
    check = check_process_image(Path(sys.executable).resolve())
    assert check.ok, check.differing()
    assert ".text" in {s.name for s in check.sections}


def test_shared_library_in_memory_matches_its_file() -> None:
    check = check_process_image(_loaded("libc.so"))
    assert check.ok, check.differing()
    assert check.differing() == []


def test_a_modified_copy_is_reported_by_section(
    tmp_path: Path, flip: Callable[[Path, int], None]
) -> None:
    libc = _loaded("libc.so")
    copy = tmp_path / libc.name
    shutil.copyfile(libc, copy)
    flip(copy, measure_elf(copy).sections[".text"].offset + 4096)
    check = check_process_image(copy, mapped=libc)
    assert not check.ok
    assert check.differing() == ["mismatch .text"]
    assert all(s.status == "match" for s in check.sections if s.name != ".text")


def test_an_image_that_is_not_loaded_is_unmapped(ls_copy: Path) -> None:
    check = check_process_image(ls_copy)
    assert not check.ok
    assert check.sections and all(s.status == "unmapped" for s in check.sections)


def test_a_missing_process_is_an_error() -> None:
    with pytest.raises(ProcessMemoryError, match="/proc/999999999/maps"):
        read_maps(999_999_999)

"""ELF measurement: which sections, their digests, the root, and malformed files."""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import given
from hypothesis import strategies as st

from secmas.trust.digests import diff_entries, root_digest
from secmas.trust.elf import ElfError, interpreter_of, measure_elf, measure_relro, opened
from secmas.trust.measurer_probe import load_base
from secmas.trust.procmem import read_maps


def test_measures_loaded_read_only_sections(ls_copy: Path) -> None:
    measured = measure_elf(ls_copy)
    assert {".text", ".rodata", ".dynsym", ".eh_frame"} <= measured.digests.keys()
    assert not {".data", ".bss", ".got", ".dynamic", ".comment"} & measured.digests.keys()
    assert measured.root == root_digest(measured.entries.items())
    assert {"elf:header", "elf:phdrs", "elf:rest"} <= measured.entries.keys()
    assert measured.spoofs == ()
    with ls_copy.open("rb") as stream:
        text = ELFFile(stream).get_section_by_name(".text").data()
    assert measured.digests[".text"] == hashlib.sha256(text).hexdigest()


@pytest.mark.parametrize("binary", [Path("/bin/ls"), Path(sys.executable).resolve()])
def test_section_table_agrees_with_pyelftools(binary: Path) -> None:
    with opened(binary) as (_, sections), binary.open("rb") as stream:
        expected = [
            (s.name, s["sh_flags"], s["sh_addr"], s["sh_offset"], s["sh_size"])
            for s in ELFFile(stream).iter_sections()
        ]
        assert [(s.name, s.flags, s.address, s.offset, s.size) for s in sections.values()] == (
            expected
        )


def test_one_changed_byte_changes_only_its_section(
    ls_copy: Path, flip: Callable[[Path, int], None]
) -> None:
    before = measure_elf(ls_copy)
    flip(ls_copy, before.sections[".text"].offset + 100)
    after = measure_elf(ls_copy)
    assert diff_entries(before.digests, after.digests).changed == (".text",)
    assert after.root != before.root


def test_rejects_files_that_are_not_sound_elf(tmp_path: Path, ls_copy: Path) -> None:
    empty, text, truncated = tmp_path / "empty", tmp_path / "text", tmp_path / "truncated"
    empty.write_bytes(b"")
    text.write_text("#!/bin/sh\necho hi\n")
    truncated.write_bytes(ls_copy.read_bytes()[:200])
    for path, reason in [(empty, "empty"), (text, "not an ELF"), (truncated, "past the end")]:
        with pytest.raises(ElfError, match=reason) as error:
            measure_elf(path)
        assert str(path) in str(error.value)


@given(noise=st.binary(max_size=300))
def test_random_bytes_after_the_magic_only_raise_elf_error(
    tmp_path_factory: pytest.TempPathFactory, noise: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "image"
    path.write_bytes(b"\x7fELF" + noise)
    with contextlib.suppress(ElfError):
        measure_elf(path)


@given(edits=st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), max_size=6))
def test_corrupted_headers_only_raise_elf_error(
    tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(Path("/bin/ls").read_bytes())
    for offset, value in edits:
        data[offset] = value
    path = tmp_path_factory.mktemp("fuzz") / "ls"
    path.write_bytes(bytes(data))
    with contextlib.suppress(ElfError):
        measure_elf(path)


def test_relro_as_loaded_matches_the_file_with_its_relocations() -> None:
    """Every x86-64 library this process maps (but the dynamic loader, which writes its
    own RELRO data): RELATIVE, packed RELR and .dynamic slots rebased, symbol slots
    filled; with the load base taken out, memory matches what the file and its
    relocations give."""
    maps = read_maps()
    loader = str(Path(interpreter_of(Path(sys.executable).resolve()) or "").resolve())
    checked = 0
    with open("/proc/self/mem", "rb", buffering=0) as memory:
        for path in sorted({r.path for r in maps if ".so" in r.path and r.path != loader}):
            found = measure_relro(Path(path))
            if found is None:
                continue
            layout, relro, expected = found
            base = load_base(layout, [r for r in maps if r.path == path])
            assert base is not None
            memory.seek(base + relro.address)
            assert relro.digest(memory.read(relro.size), base, loaded=True) == expected, path
            checked += 1
    assert checked >= 3

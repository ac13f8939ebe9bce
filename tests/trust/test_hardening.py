"""The checksec-like report, on a real binary and on copies with one mitigation changed."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from elftools.elf.elffile import ELFFile

from secmas.trust.hardening import DF_1_NOW, DF_1_PIE, Relro, hardening_report

PF_X = 0x1
PT_NULL = 0
DT_DEBUG = 21


def _program_header(path: Path, kind: str) -> int:
    """File offset of the first program header of `kind` (64-bit, little-endian)."""
    with path.open("rb") as stream:
        elf = ELFFile(stream)
        for index, segment in enumerate(elf.iter_segments()):
            if segment["p_type"] == kind:
                return elf["e_phoff"] + index * elf["e_phentsize"]
    raise AssertionError(f"no {kind}")


def _patch(path: Path, offset: int, layout: str, value: int) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into(layout, data, offset, value)
    path.write_bytes(bytes(data))


def test_report_for_a_distribution_binary(ls_copy: Path) -> None:
    report = hardening_report(ls_copy)
    assert report.pie and report.nx and report.canary and report.stripped
    assert report.relro in (Relro.PARTIAL, Relro.FULL)
    assert report.fortify and all(
        n.startswith("__") and n.endswith("_chk") for n in report.fortified
    )
    assert (
        "PIE yes" in report.summary()
        and f"FORTIFY yes ({len(report.fortified)}" in report.summary()
    )


def test_symbols_of_an_unstripped_binary() -> None:
    assert not hardening_report(Path(sys.executable).resolve()).stripped


def test_executable_stack_is_reported(ls_copy: Path) -> None:
    flags_at = _program_header(ls_copy, "PT_GNU_STACK") + 4
    (flags,) = struct.unpack_from("<I", ls_copy.read_bytes(), flags_at)
    _patch(ls_copy, flags_at, "<I", flags | PF_X)
    assert not hardening_report(ls_copy).nx


def test_relro_none_partial_full(ls_copy: Path) -> None:
    with ls_copy.open("rb") as stream:
        elf = ELFFile(stream)
        dynamic = elf.get_section_by_name(".dynamic")
        tags = [t.entry.d_tag for t in dynamic.iter_tags()]
        base, size = dynamic["sh_offset"], dynamic["sh_entsize"]
    # Turn every bind-now marker off: partial; then DF_1_NOW on: full.
    for index, tag in enumerate(tags):
        if tag in ("DT_BIND_NOW", "DT_FLAGS", "DT_FLAGS_1"):
            entry = base + index * size
            value = DF_1_PIE if tag == "DT_FLAGS_1" else 0
            _patch(ls_copy, entry + 8, "<Q", value)
            if tag == "DT_BIND_NOW":
                _patch(ls_copy, entry, "<q", DT_DEBUG)  # a harmless tag in its place
    assert hardening_report(ls_copy).relro is Relro.PARTIAL
    flags_1 = base + tags.index("DT_FLAGS_1") * size
    _patch(ls_copy, flags_1 + 8, "<Q", DF_1_PIE | DF_1_NOW)
    assert hardening_report(ls_copy).relro is Relro.FULL
    _patch(ls_copy, _program_header(ls_copy, "PT_GNU_RELRO"), "<I", PT_NULL)
    assert hardening_report(ls_copy).relro is Relro.NONE

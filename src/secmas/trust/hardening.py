"""A checksec-like report of an ELF image's exploit mitigations.

SECaaS records it in the reference manifest so an operator sees, before admitting an agent,
whether its binary was built with PIE, a non-executable stack, RELRO, stack canaries and
FORTIFY_SOURCE, and whether its symbols were stripped.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.construct.core import ConstructError
from elftools.elf.constants import P_FLAGS
from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from secmas.trust.elf import ElfError

DF_BIND_NOW = 0x8
DF_1_NOW = 0x1
DF_1_PIE = 0x08000000
CANARY_SYMBOLS = frozenset({"__stack_chk_fail", "__stack_chk_guard"})
FORTIFIED = re.compile(r"__\w+_chk")

# What pyelftools raises on truncated or inconsistent headers and tables.
_PARSE_ERRORS = (ELFError, ConstructError, struct.error, ValueError, IndexError, KeyError)


class Relro(StrEnum):
    """How much of the relocation data the loader makes read-only."""

    NONE = "none"
    PARTIAL = "partial"  # PT_GNU_RELRO, but the GOT stays writable for lazy binding
    FULL = "full"  # PT_GNU_RELRO with immediate binding: the whole GOT is read-only


@dataclass(frozen=True)
class HardeningReport:
    """The mitigations an ELF image was built with."""

    pie: bool
    nx: bool
    relro: Relro
    canary: bool
    fortified: tuple[str, ...]  # the `__*_chk` functions it calls (FORTIFY_SOURCE)
    stripped: bool

    @property
    def fortify(self) -> bool:
        return bool(self.fortified)

    def rows(self) -> list[tuple[str, str]]:
        """(mitigation, state) pairs, in checksec's order."""
        return [
            ("PIE", _yes(self.pie)),
            ("NX stack", _yes(self.nx)),
            ("RELRO", self.relro.value),
            ("stack canary", _yes(self.canary)),
            ("FORTIFY", f"yes ({len(self.fortified)} functions)" if self.fortify else "no"),
            ("stripped", _yes(self.stripped)),
        ]

    def summary(self) -> str:
        """One line, e.g. `PIE yes, NX stack yes, RELRO full, …`."""
        return ", ".join(f"{name} {state}" for name, state in self.rows())


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def hardening_report(path: Path) -> HardeningReport:
    """Inspect an ELF file; ElfError (naming the file) if pyelftools cannot parse it."""
    try:
        with path.open("rb") as stream:
            return inspect_elf(ELFFile(stream))
    except _PARSE_ERRORS as exc:
        raise ElfError(f"{path}: malformed ELF: {exc}") from exc


def inspect_elf(elf: ELFFile) -> HardeningReport:
    """The report for an open ELF file."""
    segments = {segment["p_type"]: segment for segment in elf.iter_segments()}
    tags = _dynamic_tags(elf)
    stack = segments.get("PT_GNU_STACK")
    flags_1 = tags.get("DT_FLAGS_1", 0)
    bind_now = (
        "DT_BIND_NOW" in tags
        or bool(tags.get("DT_FLAGS", 0) & DF_BIND_NOW)
        or bool(flags_1 & DF_1_NOW)
    )
    relro = Relro.NONE
    if "PT_GNU_RELRO" in segments:
        relro = Relro.FULL if bind_now else Relro.PARTIAL
    tables = [s for s in elf.iter_sections() if isinstance(s, SymbolTableSection)]
    names = {name for table in tables for name in _symbol_names(elf, table)}
    return HardeningReport(
        pie=elf["e_type"] == "ET_DYN" and ("PT_INTERP" in segments or bool(flags_1 & DF_1_PIE)),
        nx=stack is not None and not stack["p_flags"] & P_FLAGS.PF_X,
        relro=relro,
        canary=bool(names & CANARY_SYMBOLS),
        fortified=tuple(sorted(n for n in names if FORTIFIED.fullmatch(n))),
        stripped=not any(t["sh_type"] == "SHT_SYMTAB" for t in tables),
    )


def _dynamic_tags(elf: ELFFile) -> dict[str, int]:
    """DT_* tag → value from the dynamic segment (present even without section headers)."""
    tags: dict[str, int] = {}
    for segment in elf.iter_segments():
        if isinstance(segment, DynamicSegment):
            for tag in segment.iter_tags():
                tags[tag.entry.d_tag] = tag.entry.d_val
    return tags


def _symbol_names(elf: ELFFile, table: SymbolTableSection) -> set[str]:
    """Every name in a symbol table.

    Reads st_name (the first word of a symbol in both ELF classes) with `struct` and the
    strings table directly: pyelftools' per-symbol parsing takes a third of a second on
    libpython's 16 000 symbols.
    """
    size = table["sh_entsize"]
    if size < 4:
        raise ElfError(f"symbol table {table.name} has {size}-byte entries")
    strings = elf.get_section(table["sh_link"]).data()
    data = table.data()
    layout = ("<" if elf.little_endian else ">") + f"I{size - 4}x"
    names = set()
    for (start,) in struct.iter_unpack(layout, data[: len(data) - len(data) % size]):
        end = strings.find(b"\0", start)
        names.add(strings[start : end if end >= 0 else len(strings)].decode("utf-8", "replace"))
    return names

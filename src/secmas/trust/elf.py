"""Measure an ELF image: what the loader reads and maps, part by part, and a root over them.

Parts (the keys of `ElfMeasurement.entries`, as a manifest records them):
- one SHA-256 per loaded read-only section (`.text`, `.rodata`, `.dynsym`, …), by name,
  which a running process's mapped code is compared with (`secmas.trust.procmem`);
- `elf:header`: the ELF header, e_entry and the table offsets included;
- `elf:phdrs`: the program header table (segment flags, so a cleared NX on PT_GNU_STACK
  or a data segment made executable, the interpreter, PT_DYNAMIC);
- `elf:load@<i>`: the file bytes of each PT_LOAD segment (program header index `i`):
  everything the loader maps, writable data included (`.data`, `.data.rel.ro`,
  `.init_array`, `.dynamic`, `.got`), as it is on disk before relocation;
- `elf:rest`: every byte no header or segment covers (section header table, non-loaded
  sections, bytes appended to the file), so no byte of the file goes unmeasured.

Section headers are not what the loader uses: a section-header redirect (`.text`'s header
pointed at an untouched copy while the mapped code is patched) would keep the section
digests. So the measurement checks that every loaded section lies where a PT_LOAD segment
maps its address, with the segment's permissions (`ElfMeasurement.spoofs`); SECaaS refuses
to wrap an image where they disagree and `verify` reports it.

The headers are unpacked with `struct` rather than pyelftools (which `hardening` uses, and
the tests check this reader against): building pyelftools' construct parsers costs about
0.3 ms a file and 30 µs a section header, a fifth of the time to hash a 5 MB binary, and
measuring must keep within 80 % of plain `hashlib` throughput. Section bytes are hashed
straight out of an mmap, without copies.
"""

from __future__ import annotations

import functools
import hashlib
import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from secmas.trust.digests import root_digest

ELF_MAGIC = b"\x7fELF"

SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHF_TLS = 0x400
SHT_NOBITS = 8

SHN_XINDEX = 0xFFFF
PT_LOAD = 1
PF_X, PF_W = 0x1, 0x2
ET_EXEC, ET_DYN = 2, 3
_IDENT_SIZE = 16  # e_ident: magic, class, byte order, version, ABI, padding

# By EI_CLASS: the ELF header after e_ident (type … shnum, shstrndx) and a section header
# (name, type, flags, addr, offset, size, link, info, addralign, entsize).
_FORMATS = {1: ("HHIIIIIHHHHHH", "IIIIIIIIII"), 2: ("HHIQQQIHHHHHH", "IIQQQQIIQQ")}
# A program header: ELF32 (type, offset, vaddr, paddr, filesz, memsz, flags, align);
# ELF64 moves flags second (type, flags, offset, vaddr, paddr, filesz, memsz, align).
_PHDR_FORMATS = {1: "IIIIIIII", 2: "IIQQQQQQ"}
_BYTE_ORDERS = {1: "<", 2: ">"}
HEADER, PHDRS, REST = "elf:header", "elf:phdrs", "elf:rest"
PT_DYNAMIC, PT_GNU_RELRO = 2, 0x6474E552
EM_X86_64 = 62
R_X86_64_NONE, R_X86_64_RELATIVE = 0, 8
POINTER_RELOCATIONS = frozenset({1, 6, 7, 37})  # R_X86_64_64, GLOB_DAT, JUMP_SLOT, IRELATIVE
PT_INTERP = 3
DT_NULL, DT_PLTGOT, DT_RELA, DT_RELASZ, DT_JMPREL, DT_PLTRELSZ = 0, 3, 7, 8, 23, 2
DT_RELRSZ, DT_RELR, DT_DEBUG = 35, 36, 21
_SLOT = 8


class ElfError(Exception):
    """A file that is not a well-formed ELF image."""


@dataclass(frozen=True)
class Section:
    """One section header: where its bytes lie in the file and in memory."""

    name: str
    type: int
    flags: int
    address: int
    offset: int
    size: int

    @property
    def measured(self) -> bool:
        """Loaded, never written and backed by file bytes."""
        return (
            bool(self.flags & SHF_ALLOC)
            and not self.flags & SHF_WRITE
            and self.type != SHT_NOBITS
            and self.size > 0
        )

    @property
    def executable(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)


@dataclass(frozen=True)
class Segment:
    """One program header: what the loader maps, from where, with which permissions."""

    index: int
    type: int
    flags: int
    offset: int
    address: int
    file_size: int
    memory_size: int

    def maps(self, section: Section) -> bool:
        """Whether the section's address falls in this segment's memory image."""
        return self.address <= section.address < self.address + max(self.memory_size, 1)


@dataclass(frozen=True)
class ElfLayout:
    """The headers of an ELF image: type, header size, program headers, sections."""

    type: int
    header_size: int
    phdrs: tuple[int, int]  # (file offset, size in bytes) of the program header table
    segments: tuple[Segment, ...]
    sections: dict[str, Section]
    machine: int = 0
    elf64_little: bool = False

    def file_offset(self, address: int) -> int | None:
        """Where a virtual address's byte lies in the file (None: not file-backed)."""
        for s in self.segments:
            if s.type == PT_LOAD and s.address <= address < s.address + s.file_size:
                return s.offset + address - s.address
        return None


@dataclass(frozen=True)
class Relro:
    """What the loader writes in the part of an image it then makes read-only
    (PT_GNU_RELRO, x86-64): where it is, the RELATIVE slots (load base + addend), the
    slots it fills with a symbol's address, and the slots it rebases in place (packed
    RELR relocations, whose addend is the slot's file value, and .dynamic's values)."""

    address: int
    size: int
    relative: dict[int, int]
    symbolic: frozenset[int]
    rebased: tuple[int, ...]  # slots holding file value + load base once loaded
    pointers: frozenset[int] = frozenset()  # symbol slots that hold an address in an image

    def normalised(self, image: bytes, base: int, loaded: bool) -> bytes:
        """The region with what depends on the load base taken out: RELATIVE slots hold
        their addend, symbol slots zero, rebased .dynamic values their file value. For
        `loaded` bytes (read from memory) the base is subtracted; file bytes are set from
        the relocations. Slots are written as 64-bit words where they are aligned."""
        data = bytearray(image)
        words = memoryview(data)[: len(data) - len(data) % _SLOT].cast("Q")
        relative, symbolic, rebased = self._slots
        for index, addend in relative:
            words[index] = addend
        for index in symbolic:
            words[index] = 0
        if loaded:
            for index in rebased:
                value = words[index]
                words[index] = value - base if value >= base else value
        words.release()
        mask = (1 << 64) - 1
        for at, addend in self._unaligned_relative:
            _put(data, at, addend & mask)
        for at in self._unaligned_symbolic:
            _put(data, at, 0)
        return bytes(data)

    @functools.cached_property
    def _slots(self) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """Word indices of the aligned RELATIVE, symbol and rebased slots inside the region."""
        words = (self.size - self.size % _SLOT) // _SLOT
        if self.address % _SLOT:
            return [], [], []

        def index(address: int) -> int | None:
            at = address - self.address
            return at // _SLOT if at % _SLOT == 0 and 0 <= at // _SLOT < words else None

        relative = [(i, v) for a, v in self.relative.items() if (i := index(a)) is not None]
        symbolic = [i for a in self.symbolic if (i := index(a)) is not None]
        rebased = [i for a in self.rebased if (i := index(a)) is not None]
        return relative, symbolic, rebased

    @functools.cached_property
    def _unaligned_relative(self) -> list[tuple[int, int]]:
        aligned = self.address % _SLOT == 0
        return [
            (a - self.address, v)
            for a, v in self.relative.items()
            if not aligned or (a - self.address) % _SLOT
        ]

    @functools.cached_property
    def _unaligned_symbolic(self) -> list[int]:
        aligned = self.address % _SLOT == 0
        return [
            a - self.address for a in self.symbolic if not aligned or (a - self.address) % _SLOT
        ]

    def digest(self, image: bytes, base: int = 0, loaded: bool = False) -> str:
        return hashlib.sha256(self.normalised(image, base, loaded)).hexdigest()


def _put(data: bytearray, at: int, value: int) -> None:
    if 0 <= at <= len(data) - _SLOT:
        data[at : at + _SLOT] = value.to_bytes(_SLOT, "little")


@dataclass(frozen=True)
class ElfMeasurement:
    """Digests of an image's measured sections (by name), of its headers, segments and
    the rest of the file (`parts`), their root, and where section and program headers
    disagree (`spoofs`)."""

    sections: dict[str, Section]
    digests: dict[str, str]
    root: str
    parts: dict[str, str] = field(default_factory=dict)
    spoofs: tuple[str, ...] = ()

    @property
    def entries(self) -> dict[str, str]:
        """Every part's digest: what a manifest records and `root` covers."""
        return {**self.digests, **self.parts}


@contextmanager
def opened(path: Path) -> Iterator[tuple[mmap.mmap, dict[str, Section]]]:
    """A read-only mapping of an ELF file and its sections by key; ElfError names the path."""
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise ElfError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    with stream:
        try:
            memory = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # mmap refuses zero-length files
            raise ElfError(f"{path}: empty file") from None
        with memory:
            if memory[: len(ELF_MAGIC)] != ELF_MAGIC:
                raise ElfError(f"{path}: not an ELF file")
            try:
                sections = _read_sections(memory)
            except ElfError as exc:
                raise ElfError(f"{path}: {exc}") from exc
            yield memory, _keyed(sections)


def read_layout(path: Path) -> ElfLayout:
    """The headers of an ELF file; ElfError names the path."""
    with opened(path) as (memory, sections):
        try:
            return _layout(memory, sections)
        except ElfError as exc:
            raise ElfError(f"{path}: {exc}") from exc


def _formats(memory: mmap.mmap) -> tuple[str, str, str, int]:
    """struct formats of the ELF header, a section header and a program header, and the
    EI_CLASS."""
    if len(memory) < _IDENT_SIZE:
        raise ElfError("truncated ELF header")
    klass, order = memory[4], memory[5]
    if klass not in _FORMATS or order not in _BYTE_ORDERS:
        raise ElfError(f"unknown ELF class {klass} or byte order {order}")
    ehdr, shdr = (_BYTE_ORDERS[order] + f for f in _FORMATS[klass])
    if len(memory) < _IDENT_SIZE + struct.calcsize(ehdr):
        raise ElfError("truncated ELF header")
    return ehdr, shdr, _BYTE_ORDERS[order] + _PHDR_FORMATS[klass], klass


def _layout(memory: mmap.mmap, sections: dict[str, Section]) -> ElfLayout:
    ehdr, _, phdr, klass = _formats(memory)
    e_type, machine, _, _, phoff, _, _, ehsize, phentsize, phnum, *_ = struct.unpack_from(
        ehdr, memory, _IDENT_SIZE
    )
    elf64_little = klass == 2 and memory[5] == 1
    header_size = max(ehsize, _IDENT_SIZE + struct.calcsize(ehdr))
    if header_size > len(memory):
        raise ElfError("ELF header extends past the end of the file")
    if phoff == 0 or phnum == 0:
        return ElfLayout(e_type, header_size, (0, 0), (), sections, machine, elf64_little)
    if phentsize < struct.calcsize(phdr):
        raise ElfError(f"program headers of {phentsize} bytes are too short")
    if phoff + phnum * phentsize > len(memory):
        raise ElfError("program header table extends past the end of the file")
    segments = []
    for i in range(phnum):
        row = struct.unpack_from(phdr, memory, phoff + i * phentsize)
        if klass == 1:
            p_type, offset, vaddr, _, filesz, memsz, flags, _ = row
        else:
            p_type, flags, offset, vaddr, _, filesz, memsz, _ = row
        segment = Segment(i, p_type, flags, offset, vaddr, filesz, memsz)
        if p_type == PT_LOAD and offset + filesz > len(memory):
            raise ElfError(f"segment {i} extends past the end of the file")
        segments.append(segment)
    table = (phoff, phnum * phentsize)
    return ElfLayout(e_type, header_size, table, tuple(segments), sections, machine, elf64_little)


def read_relro(memory: bytes | mmap.mmap, layout: ElfLayout) -> Relro | None:
    """The RELRO region and the loader's writes into it (x86-64 ELF64 only; None for
    other images or when there is no PT_GNU_RELRO)."""
    relro = next((s for s in layout.segments if s.type == PT_GNU_RELRO), None)
    dynamic = next((s for s in layout.segments if s.type == PT_DYNAMIC), None)
    if relro is None or dynamic is None or not layout.elf64_little:
        return None
    if layout.machine != EM_X86_64:
        return None
    inside = range(relro.address, relro.address + relro.memory_size)
    tags = _dynamic_tags(memory, dynamic)
    relative: dict[int, int] = {}
    symbolic: set[int] = set()
    pointers: set[int] = set()
    tables = ((DT_RELA, DT_RELASZ), (DT_JMPREL, DT_PLTRELSZ))
    for table, size in tables:
        start = layout.file_offset(tags.get(table, -1)) if table in tags else None
        if start is None:
            continue
        for offset in range(start, min(start + tags.get(size, 0), len(memory)) - 23, 24):
            where, info, addend = struct.unpack_from("<QQq", memory, offset)
            if where not in inside or info & 0xFFFFFFFF == R_X86_64_NONE:
                continue
            kind = info & 0xFFFFFFFF
            if kind == R_X86_64_RELATIVE:
                relative[where] = addend & ((1 << 64) - 1)
            else:
                symbolic.add(where)
            if kind in POINTER_RELOCATIONS:
                pointers.add(where)
    if DT_PLTGOT in tags:  # GOT[1], GOT[2]: the loader's link map and resolver, no relocation
        symbolic.update(a for a in (tags[DT_PLTGOT] + 8, tags[DT_PLTGOT] + 16) if a in inside)
    rebased = []
    for i, (tag, _) in enumerate(_dynamic_entries(memory, dynamic)):
        slot = dynamic.address + i * 16 + 8
        if tag == DT_DEBUG:  # the loader's &_r_debug, no relocation
            symbolic.add(slot)
        else:
            rebased.append(slot)
    start = layout.file_offset(tags[DT_RELR]) if DT_RELR in tags else None
    if start is not None:
        rebased += _relr_slots(memory, start, tags.get(DT_RELRSZ, 0))
    slots = tuple(sorted(a for a in set(rebased) if a in inside))
    return Relro(
        relro.address,
        relro.memory_size,
        relative,
        frozenset(symbolic),
        slots,
        frozenset(pointers),
    )


def interpreter_of(path: Path) -> str | None:
    """The program interpreter an executable names (PT_INTERP), if any."""
    with opened(path) as (memory, sections):
        layout = _layout(memory, sections)
        segment = next((s for s in layout.segments if s.type == PT_INTERP), None)
        if segment is None or segment.offset + segment.file_size > len(memory):
            return None
        raw = memory[segment.offset : segment.offset + segment.file_size]
    return raw.split(b"\0", 1)[0].decode(errors="replace") or None


DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 1, 5, 15, 29


@dataclass(frozen=True)
class Linking:
    """What the dynamic loader reads from an image's PT_DYNAMIC to find its libraries: the
    names it needs (DT_NEEDED) and where to look first (DT_RPATH, DT_RUNPATH, `:`-split,
    `$ORIGIN` unexpanded)."""

    needed: tuple[str, ...] = ()
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()


def linking_of(path: Path) -> Linking:
    """The libraries a little-endian ELF64 image names (empty for others, and for an image
    without PT_DYNAMIC); ElfError names the path."""
    with opened(path) as (memory, sections):
        layout = _layout(memory, sections)
        dynamic = next((s for s in layout.segments if s.type == PT_DYNAMIC), None)
        if dynamic is None or not layout.elf64_little:
            return Linking()
        entries = _dynamic_entries(memory, dynamic)
        strtab = next((v for tag, v in entries if tag == DT_STRTAB), None)
        table = None if strtab is None else layout.file_offset(strtab)
        if table is None:
            return Linking()
        strings = {
            tag: [_name(memory, table + v) for t, v in entries if t == tag]
            for tag in (DT_NEEDED, DT_RPATH, DT_RUNPATH)
        }

    def split(tag: int) -> tuple[str, ...]:
        return tuple(d for value in strings[tag] for d in value.split(":") if d)

    return Linking(tuple(strings[DT_NEEDED]), split(DT_RPATH), split(DT_RUNPATH))


def _relr_slots(memory: bytes | mmap.mmap, start: int, size: int) -> list[int]:
    """Addresses a packed RELR table relocates: an even entry is an address, an odd one
    a bitmap of the 63 slots after the last."""
    slots: list[int] = []
    where = 0
    for at in range(start, min(start + size, len(memory)) - 7, _SLOT):
        (entry,) = struct.unpack_from("<Q", memory, at)
        if entry & 1 == 0:
            slots.append(entry)
            where = entry + _SLOT
        else:
            slots += [where + i * _SLOT for i in range(63) if entry >> (i + 1) & 1]
            where += 63 * _SLOT
    return slots


def _dynamic_entries(memory: bytes | mmap.mmap, dynamic: Segment) -> list[tuple[int, int]]:
    """(d_tag, d_val) of PT_DYNAMIC up to DT_NULL."""
    entries = []
    stop = min(dynamic.offset + dynamic.file_size, len(memory))
    for at in range(dynamic.offset, stop - 15, 16):
        tag, value = struct.unpack_from("<qQ", memory, at)
        if tag == DT_NULL:
            break
        entries.append((tag, value))
    return entries


def _dynamic_tags(memory: bytes | mmap.mmap, dynamic: Segment) -> dict[int, int]:
    tags: dict[int, int] = {}
    for tag, value in _dynamic_entries(memory, dynamic):
        tags.setdefault(tag, value)
    return tags


def _read_sections(memory: mmap.mmap) -> list[Section]:
    """Every section header, named from the section-name string table."""
    ehdr, shdr, _, _ = _formats(memory)
    *_, shoff, _, _, _, _, entsize, count, names_index = struct.unpack_from(
        ehdr, memory, _IDENT_SIZE
    )
    if shoff == 0:
        return []
    if entsize < struct.calcsize(shdr):
        raise ElfError(f"section headers of {entsize} bytes are too short")
    if shoff + max(count, 1) * entsize > len(memory):
        raise ElfError("section header table extends past the end of the file")
    first = struct.unpack_from(shdr, memory, shoff)
    # Extended numbering: section 0 holds the real count and name-table index.
    count = count or first[5]
    names_index = first[6] if names_index == SHN_XINDEX else names_index
    if shoff + count * entsize > len(memory):
        raise ElfError("section header table extends past the end of the file")
    rows = [struct.unpack_from(shdr, memory, shoff + i * entsize) for i in range(count)]
    if not rows:
        return []
    if names_index >= len(rows):
        raise ElfError(f"section-name table index {names_index} out of range")
    names_at = rows[names_index][4]
    sections = [
        Section(_name(memory, names_at + row[0]), row[1], row[2], row[3], row[4], row[5])
        for row in rows
    ]
    for section in sections:
        if section.type != SHT_NOBITS and section.offset + section.size > len(memory):
            raise ElfError(f"section {section.name or '?'} extends past the end of the file")
    return sections


def _name(memory: mmap.mmap, start: int) -> str:
    end = memory.find(b"\0", start) if start < len(memory) else -1
    if end < 0:
        raise ElfError(f"section name at offset {start} is outside the file")
    return memory[start:end].decode("utf-8", "backslashreplace")


def _keyed(sections: list[Section]) -> dict[str, Section]:
    """Sections by name; a name that repeats gets `@index`, its place in the table."""
    counts: dict[str, int] = {}
    for section in sections:
        counts[section.name] = counts.get(section.name, 0) + 1
    return {s.name if counts[s.name] == 1 else f"{s.name}@{i}": s for i, s in enumerate(sections)}


def measure_elf(path: Path) -> ElfMeasurement:
    """Hash every measured section, the headers, each loaded segment and the rest of an
    ELF file; ElfError if it is not a sound ELF."""
    with opened(path) as (memory, sections), memoryview(memory) as view:
        try:
            layout = _layout(memory, sections)
        except ElfError as exc:
            raise ElfError(f"{path}: {exc}") from exc
        measured = {key: s for key, s in sections.items() if s.measured}
        digests = {key: _digest(view, s.offset, s.size) for key, s in measured.items()}
        parts = _parts(view, layout)
    if not digests:
        raise ElfError(f"{path}: no loaded read-only sections to measure")
    reserved = digests.keys() & parts.keys()
    if reserved:
        raise ElfError(f"{path}: a section is named like a measured part ({min(reserved)})")
    spoofs = header_spoofs(layout)
    return ElfMeasurement(
        measured, digests, root_digest({**digests, **parts}.items()), parts, spoofs
    )


def _parts(view: memoryview, layout: ElfLayout) -> dict[str, str]:
    """Header, program headers, PT_LOAD segments, and every byte none of them covers."""
    covered = [(0, layout.header_size), (layout.phdrs[0], layout.phdrs[0] + layout.phdrs[1])]
    parts = {
        HEADER: _digest(view, 0, layout.header_size),
        PHDRS: _digest(view, *layout.phdrs),
    }
    for segment in layout.segments:
        if segment.type == PT_LOAD:
            parts[f"elf:load@{segment.index}"] = _digest(view, segment.offset, segment.file_size)
            covered.append((segment.offset, segment.offset + segment.file_size))
    rest = hashlib.sha256()
    at = 0
    for start, stop in sorted(covered):
        if start > at:
            with view[at:start] as gap:
                rest.update(len(gap).to_bytes(8, "big") + at.to_bytes(8, "big"))
                rest.update(gap)
        at = max(at, stop)
    if at < len(view):
        with view[at:] as tail:
            rest.update(len(tail).to_bytes(8, "big") + at.to_bytes(8, "big"))
            rest.update(tail)
    parts[REST] = rest.hexdigest()
    return parts


def _file_image(memory: bytes | mmap.mmap, layout: ElfLayout, relro: Relro) -> bytes:
    """The RELRO region as the loader starts it: the segment's file bytes, zeros past
    them (as for .bss or lld's .relro_padding)."""
    segment = next(
        (
            s
            for s in layout.segments
            if s.type == PT_LOAD and s.address <= relro.address < s.address + s.file_size
        ),
        None,
    )
    if segment is None:
        return bytes(relro.size)
    start = segment.offset + relro.address - segment.address
    stop = min(start + relro.size, segment.offset + segment.file_size, len(memory))
    data = bytes(memory[start:stop])
    return data + bytes(relro.size - len(data))


def measure_relro(path: Path) -> tuple[ElfLayout, Relro, str] | None:
    """An image's layout, its RELRO relocations and the load-base-independent digest of
    the RELRO region as the loader leaves it; None where there is none to check."""
    with opened(path) as (memory, sections):
        try:
            layout = _layout(memory, sections)
        except ElfError as exc:
            raise ElfError(f"{path}: {exc}") from exc
        relro = read_relro(memory, layout)
        if relro is None:
            return None
        return layout, relro, relro.digest(_file_image(memory, layout, relro))


def header_spoofs(layout: ElfLayout) -> tuple[str, ...]:
    """Loaded sections whose header disagrees with the program headers the loader uses:
    not inside a PT_LOAD segment's memory, at another file offset than the segment maps
    at its address, or with permissions the segment does not have."""
    loads = [s for s in layout.segments if s.type == PT_LOAD]
    if layout.type not in (ET_EXEC, ET_DYN) or not loads:
        return ()
    found = []
    for key, section in layout.sections.items():
        if not section.flags & SHF_ALLOC or section.size == 0:
            continue
        if section.flags & SHF_TLS and section.type == SHT_NOBITS:
            continue  # .tbss: a TLS template's size, no address space of its own
        segment = next((s for s in loads if s.maps(section)), None)
        if segment is None:
            found.append(f"{key} at {section.address:#x} is in no loaded segment")
            continue
        if section.type != SHT_NOBITS and (
            section.offset - segment.offset != section.address - segment.address
            or section.offset + section.size > segment.offset + segment.file_size
        ):
            found.append(
                f"{key} is read from offset {section.offset:#x}, but segment "
                f"{segment.index} maps {section.address:#x} from "
                f"{segment.offset + section.address - segment.address:#x}"
            )
        if section.executable and not segment.flags & PF_X:
            found.append(f"{key} is executable, segment {segment.index} is not")
        if section.flags & SHF_WRITE and not segment.flags & PF_W:
            found.append(f"{key} is writable, segment {segment.index} is not")
    return tuple(found)


def _digest(view: memoryview, offset: int, size: int) -> str:
    with view[offset : offset + size] as chunk:
        return hashlib.sha256(chunk).hexdigest()

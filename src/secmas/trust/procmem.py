"""Re-measure native code as it sits in a running process.

A patched binary on disk is caught by its reference manifest; code patched after loading
(an injected hook, a rewritten function prologue) is not. This module reads the bytes a
process has mapped from an ELF file's executable segments (`/proc/PID/maps` says where,
`/proc/PID/mem` gives them) and hashes each executable section, to compare with the file.
The loader relocates data, not the text of PIE executables and shared objects, so when
nothing was patched the mapped text equals the file's, byte for byte.

Reading another process's memory needs ptrace permission over it (same user, and
`kernel.yama.ptrace_scope` allowing it); one's own process is always readable.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from secmas.trust.elf import Section, measure_elf


class ProcessMemoryError(Exception):
    """A process whose maps or memory cannot be read."""


@dataclass(frozen=True)
class Region:
    """One line of /proc/PID/maps: a range of addresses mapped from a file offset."""

    start: int
    end: int
    perms: str
    offset: int
    device: int
    inode: int
    path: str

    @property
    def executable(self) -> bool:
        return self.perms[2:3] == "x"


@dataclass(frozen=True)
class SectionCheck:
    """A section's digest in the file and in memory (None when it is not mapped)."""

    name: str
    expected: str
    actual: str | None

    @property
    def status(self) -> str:
        if self.actual is None:
            return "unmapped"
        return "match" if self.actual == self.expected else "mismatch"


@dataclass(frozen=True)
class MemoryCheck:
    """Every executable section of `image` checked in process `pid`."""

    pid: int
    image: Path
    sections: tuple[SectionCheck, ...]

    @property
    def ok(self) -> bool:
        """Some code is mapped and all of it matches the file."""
        return bool(self.sections) and all(s.status == "match" for s in self.sections)

    def differing(self) -> list[str]:
        """`mismatch .text`-style lines for every section that does not match."""
        return [f"{s.status} {s.name}" for s in self.sections if s.status != "match"]


def read_maps(pid: int | None = None) -> list[Region]:
    """The memory map of a process (default: this one)."""
    where = f"/proc/{pid or os.getpid()}/maps"
    try:
        with open(where, encoding="utf-8", errors="surrogateescape") as maps:
            lines = maps.read().splitlines()
    except OSError as exc:
        raise ProcessMemoryError(f"cannot read {where}: {exc.strerror or exc}") from exc
    return [_region(line) for line in lines]


def _region(line: str) -> Region:
    span, perms, offset, device, inode, *path = line.split(maxsplit=5)
    start, end = span.split("-")
    major, minor = device.split(":")
    return Region(
        int(start, 16),
        int(end, 16),
        perms,
        int(offset, 16),
        os.makedev(int(major, 16), int(minor, 16)),
        int(inode),
        path[0] if path else "",
    )


def code_regions(image: Path, pid: int | None = None) -> list[Region]:
    """The executable mappings of `image` in a process, by file offset.

    A mapping is the image's when its device and inode are the file's (hard links and
    symlinks included) or, failing that, when it names the same path.
    """
    try:
        info = image.stat()
    except OSError as exc:
        raise ProcessMemoryError(f"{image}: cannot read: {exc.strerror or exc}") from exc
    path = str(image.resolve())
    regions = [
        r
        for r in read_maps(pid)
        if r.executable and ((r.device, r.inode) == (info.st_dev, info.st_ino) or r.path == path)
    ]
    return sorted(regions, key=lambda r: r.offset)


def check_process_image(
    image: Path, pid: int | None = None, mapped: Path | None = None
) -> MemoryCheck:
    """Compare `image`'s executable sections with the code a process has mapped.

    `mapped` names the file the process actually loaded when it differs from `image`: a
    reference copy kept elsewhere, say. Raises ElfError for a bad image and
    ProcessMemoryError when the process's memory cannot be read.
    """
    pid = pid or os.getpid()
    reference = measure_elf(image)
    code = {key: s for key, s in reference.sections.items() if s.executable}
    regions = code_regions(mapped or image, pid)
    checks = []
    try:
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    except OSError as exc:
        raise ProcessMemoryError(f"cannot open /proc/{pid}/mem: {exc.strerror or exc}") from exc
    try:
        for key, section in code.items():
            actual = _mapped_digest(fd, section, regions)
            checks.append(SectionCheck(key, reference.digests[key], actual))
    finally:
        os.close(fd)
    return MemoryCheck(pid, image, tuple(checks))


def _mapped_digest(fd: int, section: Section, regions: list[Region]) -> str | None:
    """SHA-256 of the section's bytes in memory; None unless every byte is mapped."""
    digest = hashlib.sha256()
    at, stop = section.offset, section.offset + section.size
    for region in regions:
        region_stop = region.offset + region.end - region.start
        if region.offset <= at < region_stop:
            size = min(stop, region_stop) - at
            digest.update(_read(fd, region.start + at - region.offset, size))
            at += size
        if at == stop:
            return digest.hexdigest()
    return None


def _read(fd: int, address: int, size: int) -> bytes:
    chunks = []
    while size:
        try:
            chunk = os.pread(fd, size, address)
        except OSError as exc:
            raise ProcessMemoryError(f"cannot read memory at {address:#x}: {exc.strerror}") from exc
        if not chunk:
            raise ProcessMemoryError(f"memory at {address:#x} ends early")
        chunks.append(chunk)
        address += len(chunk)
        size -= len(chunk)
    return b"".join(chunks)

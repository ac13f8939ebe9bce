"""The external measurer's reading of a process from `/proc` (the I/O half of
`secmas.trust.measurer`), and SECaaS's platform reference for a host.

`Measurer.measure(pid, nonce)` runs in the measurer's own process and records, in order:
- `exe`: the interpreter (`/proc/PID/exe`) and its SHA-256;
- `file`: every file the process maps (shared libraries, extension modules, a native
  agent; an executable mapping of a removed file or memfd as `deleted`), with its SHA-256
  (cached per device, inode, size, mtime and ctime, as IMA measures a file once until it
  changes);
- `text`: each executable file-backed mapping, its bytes read from `/proc/PID/mem` next to
  the same range of the file: the loader does not write code of position-independent
  objects, so any difference is a patch made in memory. The bytes are only read when the
  mapping holds a page that is not the file's: a private mapping's page that anything
  wrote (mprotect and a store, a ptrace or `/proc/PID/mem` poke) is copied on write into
  an anonymous page, which `/proc/PID/pagemap` shows (bit 61 clear on a present page, or
  a swapped one), so a check of untouched code costs 8 bytes a page, not its bytes;
- `relro`: for each x86-64 ELF file mapped, its RELRO region (what the loader relocates,
  then makes read-only: `.got`, `.data.rel.ro`, `.init_array`, `.dynamic`) read from
  memory with the load base taken out, next to the same region computed from the file
  and its relocations (`secmas.trust.elf.Relro`), and how many symbol slots (GOT
  entries) point outside every loaded image (file mappings, their .bss, the vDSO): a GOT
  hijack. The
  dynamic loader itself is left out (glibc writes its own RELRO data at start-up);
- `wx`, `anon-exec`: mappings both writable and executable, or executable without a file
  (shellcode, a hook's trampoline); a genuine agent has none;
- `cmdline`, `env`: the arguments, and every environment variable by name with the
  SHA-256 of its value (the appraisal allows names; a value, the bus credentials among
  them, never goes into evidence);
- `hook`: `sitecustomize`/`usercustomize` modules and `.pth` files in the directories the
  process searches (its PYTHONPATH entries, its working directory, the install's site
  directories and the user site directory its own `HOME` gives), with their digests;
- `module`, `shadow`: the agent package's module files as the install holds them, and any
  module of the same name ahead of it on the process's path (working directory or
  PYTHONPATH).

The measurer runs the same Python install as the agents it measures (the IML driver
starts it with the agents' interpreter), so the install's site directories are its own.
Reading another process's memory needs ptrace rights over it (same user with
`kernel.yama.ptrace_scope` 0, or CAP_SYS_PTRACE).
"""

from __future__ import annotations

import bisect
import hashlib
import importlib.util
import json
import mmap
import os
import site
import struct
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.allowlist import AGENT_VARIABLES
from secmas.trust.compiled import FileVersion, PackageError
from secmas.trust.elf import (
    PT_LOAD,
    ElfError,
    ElfLayout,
    Relro,
    interpreter_of,
    measure_relro,
)
from secmas.trust.libraries import INSTALL, site_dirs, stdlib_extensions
from secmas.trust.measurer import (
    LogEntry,
    MeasurerError,
    PlatformReference,
    SignedEvidence,
)
from secmas.trust.procmem import ProcessMemoryError, Region, read_maps
from secmas.trust.pycode import module_files
from secmas.trust.sitelist import held

if TYPE_CHECKING:
    from secmas.trust.tpm import PcrQuoter

_HOOK_MODULES = ("sitecustomize", "usercustomize")
_CHUNK = 1 << 20
_PSEUDO = ("[vdso]", "[vsyscall]")
_SYSTEM_LIBRARIES = ("/usr/lib/", "/lib/", "/lib64/", "/usr/lib64/")


def _file_key(path: Path) -> FileVersion | None:
    try:
        return FileVersion.of(path.stat())
    except OSError:
        return None


@dataclass
class FileDigests:
    """SHA-256 of whole files and of file ranges, re-read only when a file changes."""

    whole: dict[str, tuple[FileVersion, str]] = field(default_factory=dict)
    ranges: dict[tuple[str, int, int], tuple[FileVersion, str]] = field(default_factory=dict)

    def file(self, path: Path) -> str:
        """The file's digest; `unreadable` when it cannot be read."""
        key = _file_key(path)
        cached = self.whole.get(str(path))
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        digest = hashlib.sha256()
        try:
            with path.open("rb") as stream:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
        except OSError:
            return "unreadable"
        if key is not None:
            self.whole[str(path)] = (key, digest.hexdigest())
        return digest.hexdigest()

    def span(self, path: Path, offset: int, size: int) -> str:
        """Digest of `size` bytes from `offset`, zero-filled past the end (as mmap does)."""
        key = _file_key(path)
        cached = self.ranges.get((str(path), offset, size))
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        try:
            with path.open("rb") as stream:
                stream.seek(offset)
                data = stream.read(size)
        except OSError:
            return "unreadable"
        digest = hashlib.sha256(data + bytes(size - len(data))).hexdigest()
        if key is not None:
            self.ranges[(str(path), offset, size)] = (key, digest)
        return digest


@dataclass
class Measurer:
    """A host's measurer: its name, its signing key, the agent packages it measures."""

    name: str
    key: Ed25519PrivateKey
    packages: tuple[str, ...] = ("secmas",)
    digests: FileDigests = field(default_factory=FileDigests)
    relros: RelroCache = field(default_factory=lambda: RelroCache(skip=_loader()))
    relro_seen: dict[str, tuple[tuple[bytes, int, list[tuple[int, int]], str], LogEntry]] = field(
        default_factory=dict
    )
    """Per file, the RELRO bytes last read (with the load base, the images around and the
    file's digest) and the entry they gave: the same bytes give the same entry."""
    quoter: PcrQuoter | None = None
    """The host's TPM, where one is configured: each measurement is extended into its PCR
    and quoted (`secmas.trust.tpm`)."""

    def measure(self, pid: int, nonce: bytes) -> SignedEvidence:
        """Measure process `pid` from outside and sign the log with the nonce (and have the
        TPM quote it, with a quoter).

        Raises MeasurerError when the process is gone or cannot be read."""
        entries = self.entries(pid)
        evidence = SignedEvidence.sign(self.key, self.name, pid, nonce, entries)
        return evidence if self.quoter is None else self.quoter.attest(evidence)

    def entries(self, pid: int) -> list[LogEntry]:
        proc = Path(f"/proc/{pid}")
        try:
            exe = Path(os.readlink(proc / "exe"))
            argv = [
                a.decode(errors="replace")
                for a in (proc / "cmdline").read_bytes().split(b"\0")[:-1]
            ]
            environ = _environ((proc / "environ").read_bytes())
            cwd = Path(os.readlink(proc / "cwd"))
            regions = read_maps(pid)
        except (OSError, ProcessMemoryError) as exc:
            raise MeasurerError(f"cannot read process {pid}: {exc}") from None
        entries = [LogEntry.of("exe", str(exe), sha256=self.digests.file(exe))]
        entries += self._mapped(pid, regions)
        entries.append(LogEntry.of("cmdline", "argv", argv=json.dumps(argv)))
        entries += [
            LogEntry.of("env", name, sha256=hashlib.sha256(value.encode()).hexdigest())
            for name, value in sorted(environ.items())
        ]
        sites = _process_site_dirs(environ)
        search = _search_path(environ, cwd, sites)
        entries += self._hooks(search, sites)
        for package in self.packages:
            entries += self._package(package, search)
        return entries

    def _mapped(self, pid: int, regions: list[Region]) -> list[LogEntry]:
        entries: list[LogEntry] = []
        files = sorted(
            {r.path for r in regions if _image_file(r) or (r.executable and r.path[:1] == "/")}
        )
        entries += [LogEntry.of("file", p, sha256=self._mapped_file(p)) for p in files]
        fd = _open(f"/proc/{pid}/mem")
        try:
            pagemap = _open(f"/proc/{pid}/pagemap")
        except MeasurerError:
            os.close(fd)
            raise
        try:
            for region in regions:
                entries += self._region(fd, pagemap, region)
            entries += self._relros(fd, regions, files)
        finally:
            os.close(fd)
            os.close(pagemap)
        return entries

    def _relros(self, fd: int, regions: list[Region], files: list[str]) -> list[LogEntry]:
        bases: dict[str, tuple[int, ElfLayout, Relro, str]] = {}
        for path in files:
            found = self.relros.get(Path(path))
            if found is None:
                continue
            layout, relro, file_digest = found
            base = load_base(layout, [r for r in regions if r.path == path])
            if base is not None:
                bases[path] = (base, layout, relro, file_digest)
        images = _image_ranges(regions, {p: bss_end(b[1], b[0]) for p, b in bases.items()})
        starts = [start for start, _ in images]
        entries = []
        for path, (base, _layout, relro, file_digest) in bases.items():
            memory = _read(fd, base + relro.address, relro.size)
            kept = self.relro_seen.get(path)
            if kept is None or kept[0] != (memory, base, images, file_digest):
                stray = sum(
                    not _inside(images, starts, int.from_bytes(memory[a : a + 8], "little"))
                    for a in (f - relro.address for f in relro.pointers)
                )
                facts = {"memory": relro.digest(memory, base, loaded=True), "stray": str(stray)}
                kept = (
                    (memory, base, images, file_digest),
                    LogEntry.of("relro", path, file=file_digest, **facts),
                )
                self.relro_seen[path] = kept
            entries.append(kept[1])
        return entries

    def _mapped_file(self, path: str) -> str:
        return "deleted" if path.endswith(" (deleted)") else self.digests.file(Path(path))

    def _region(self, fd: int, pagemap: int, region: Region) -> list[LogEntry]:
        where = f"{region.start:x}-{region.end:x}"
        if "w" in region.perms and region.executable:
            return [LogEntry.of("wx", where, perms=region.perms, path=region.path)]
        if not region.executable or region.path in _PSEUDO:
            return []
        if not region.path.startswith("/") or region.path.endswith(" (deleted)"):
            return [LogEntry.of("anon-exec", where, perms=region.perms, path=region.path)]
        size = region.end - region.start
        path = Path(region.path)
        expected = self.digests.span(path, region.offset, size)
        same = _file_pages_only(pagemap, region) or _same_as_file(
            fd, region.start, size, path, region.offset
        )
        memory = expected if same else _memory_digest(fd, region.start, size)
        return [LogEntry.of("text", f"{path}@{region.offset:x}", memory=memory, file=expected)]

    def _hooks(self, search: list[Path], sites: tuple[str, ...]) -> list[LogEntry]:
        found: dict[str, str] = {}
        for directory in search:
            for name in _HOOK_MODULES:
                for candidate in (directory / f"{name}.py", directory / name / "__init__.py"):
                    if candidate.is_file():
                        found[str(candidate)] = self.digests.file(candidate)
            if str(directory) in sites:
                for pth in sorted(directory.glob("*.pth")):
                    found[str(pth)] = self.digests.file(pth)
        return [LogEntry.of("hook", path, sha256=d) for path, d in sorted(found.items())]

    def _package(self, package: str, search: list[Path]) -> list[LogEntry]:
        installed = _package_root(package)
        shadows = _shadows(package, search, installed)
        entries = [LogEntry.of("shadow", str(path)) for path in shadows]
        if installed is None:
            return entries
        try:
            files = module_files(installed, package)
        except PackageError as exc:
            raise MeasurerError(f"package {package}: {exc}") from None
        for module, path in sorted(files.items()):
            entries.append(LogEntry.of("module", module, sha256=self.digests.file(path)))
        return entries


@dataclass
class RelroCache:
    """Per ELF file (while it is unchanged): its layout, RELRO relocations and the digest
    of the RELRO region the loader starts from. The dynamic loader is left out."""

    found: dict[str, tuple[FileVersion, tuple[ElfLayout, Relro, str] | None]] = field(
        default_factory=dict
    )
    skip: frozenset[str] = frozenset()

    def get(self, path: Path) -> tuple[ElfLayout, Relro, str] | None:
        key = _file_key(path)
        if key is None or str(path) in self.skip:
            return None
        cached = self.found.get(str(path))
        if cached is None or cached[0] != key:
            cached = (key, _relro_of(path))
            self.found[str(path)] = cached
        return cached[1]


def _relro_of(path: Path) -> tuple[ElfLayout, Relro, str] | None:
    try:
        return measure_relro(path)
    except ElfError:  # not an ELF file (a mapped data file), or a broken one
        return None


def _loader() -> frozenset[str]:
    """The dynamic loader this interpreter names (glibc's ld.so writes its RELRO data)."""
    try:
        named = interpreter_of(Path(sys.executable).resolve())
    except ElfError:
        return frozenset()
    return frozenset() if named is None else frozenset({str(Path(named).resolve())})


def load_base(layout: ElfLayout, regions: list[Region]) -> int | None:
    """Where the file's first PT_LOAD segment was mapped, minus its address."""
    first = next((s for s in layout.segments if s.type == PT_LOAD), None)
    if first is None:
        return None
    page = mmap.PAGESIZE
    at = next((r for r in regions if r.offset == first.offset & ~(page - 1)), None)
    return None if at is None else at.start - (first.address & ~(page - 1))


def _image_ranges(
    regions: list[Region], bss_ends: dict[str, int] | None = None
) -> list[tuple[int, int]]:
    """Address ranges of loaded images: file-backed mappings, the anonymous mapping right
    after one (its .bss), and the vDSO. Where the file's ELF layout is known (`bss_ends`:
    where its last PT_LOAD segment ends in memory), the .bss stops there: an anonymous
    mapping the kernel happened to place right after an image (a GOT hijack's hook page)
    is not part of it."""
    bss_ends = bss_ends or {}
    ranges: list[tuple[int, int]] = []
    previous: Region | None = None
    for region in sorted(regions, key=lambda r: r.start):
        if _image_file(region) or region.path == "[vdso]":
            ranges.append((region.start, region.end))
        elif region.path == "" and previous is not None and _image_file(previous):
            end = min(region.end, bss_ends.get(previous.path, region.end))
            if ranges and ranges[-1][1] == region.start and end > region.start:
                ranges.append((region.start, end))
        previous = region
    return ranges


def bss_end(layout: ElfLayout, base: int) -> int:
    """The page after the image's last loaded byte (its .bss included), mapped at `base`."""
    page = mmap.PAGESIZE
    end = max((s.address + s.memory_size for s in layout.segments if s.type == PT_LOAD), default=0)
    return base + (end + page - 1) // page * page


def _image_file(region: Region) -> bool:
    """A private mapping of a file that still exists (not shared anonymous memory, `/dev/zero
    (deleted)`, nor a memfd, nor a file removed since), as the loader maps an image. A
    shared mapping that is not executable is data two processes exchange (a
    multiprocessing semaphore in /dev/shm, whose bytes change whenever it is taken): its
    content is no measurement."""
    if region.path.endswith(" (deleted)") or not region.path.startswith("/"):
        return False
    return region.executable or "s" not in region.perms


def _inside(ranges: list[tuple[int, int]], starts: list[int], address: int) -> bool:
    """Whether a symbol slot points into a loaded image (0: an unresolved weak symbol)."""
    if address == 0:
        return True
    i = bisect.bisect_right(starts, address) - 1
    return i >= 0 and ranges[i][0] <= address < ranges[i][1]


def _read(fd: int, address: int, size: int) -> bytes:
    try:
        data = os.pread(fd, size, address)
    except OSError as exc:
        raise MeasurerError(f"cannot read memory at {address:#x}: {exc.strerror}") from None
    return data + bytes(size - len(data))


def _environ(raw: bytes) -> dict[str, str]:
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def shadowing(package: str, environ: dict[str, str], cwd: Path) -> list[Path]:
    """Modules named `package` that a process with this environment and working directory
    finds ahead of the installed package: what a measurement of it logs as `shadow`, and
    its appraisal refuses. A run checks its own before any work."""
    search = _search_path(environ, cwd, _process_site_dirs(environ))
    return _shadows(package, search, _package_root(package))


def _shadows(package: str, search: list[Path], installed: Path | None) -> list[Path]:
    return [
        candidate
        for directory in search
        for candidate in (directory / package, directory / f"{package}.py")
        if candidate.exists() and candidate.resolve() != installed
    ]


def _search_path(environ: dict[str, str], cwd: Path, sites: tuple[str, ...]) -> list[Path]:
    """Where the process looks for modules before the install: its working directory
    (`-m` and `-c` put it first), PYTHONPATH, then the site directories."""
    entries = [cwd] + [
        Path(p) if Path(p).is_absolute() else cwd / p
        for p in environ.get("PYTHONPATH", "").split(os.pathsep)
        if p
    ]
    return entries + [Path(d) for d in sites]


def _process_site_dirs(environ: dict[str, str]) -> tuple[str, ...]:
    """The install's site directories, and the user site directory the process's own
    environment gives it (its `HOME`, or `PYTHONUSERBASE`) where this install reads one:
    `HOME` may hold any value, so its `.pth` files are the process's, not the measurer's."""
    sites = set(site_dirs())
    base = environ.get("PYTHONUSERBASE") or (
        f"{environ['HOME']}/.local" if "HOME" in environ else None
    )
    if site.ENABLE_USER_SITE and base:
        sites.add(sysconfig.get_path("purelib", f"{os.name}_user", {"userbase": base}))
    return tuple(sorted(sites))


def _package_root(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    origin = Path(spec.origin).resolve()
    return origin.parent if origin.name == "__init__.py" else origin


def _open(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise MeasurerError(f"cannot open {path}: {exc.strerror}") from None


_PRESENT = 1 << 63
_SWAPPED = 1 << 62
_FILE_PAGE = 1 << 61
_ENTRY = struct.Struct("<Q")


def _file_pages_only(pagemap: int, region: Region) -> bool:
    """Whether every page of a private file mapping is still the file's: present pages
    are page-cache pages (`/proc/PID/pagemap` bit 61), the others neither present nor
    swapped (they will be read from the file when touched). A page anything wrote is an
    anonymous copy, present without bit 61 or swapped out. False when pagemap cannot say
    (then the bytes are compared)."""
    first, last = region.start // mmap.PAGESIZE, region.end // mmap.PAGESIZE
    try:
        raw = os.pread(pagemap, (last - first) * _ENTRY.size, first * _ENTRY.size)
    except OSError:
        return False
    if len(raw) != (last - first) * _ENTRY.size:
        return False
    return all(
        entry & _FILE_PAGE if entry & _PRESENT else not entry & _SWAPPED
        for (entry,) in _ENTRY.iter_unpack(raw)
    )


def _same_as_file(fd: int, address: int, size: int, path: Path, offset: int) -> bool:
    """Whether the memory holds exactly the file's bytes there (zeros past its end),
    compared chunk by chunk without hashing: equal bytes have the file's digest."""
    try:
        stream = path.open("rb")
    except OSError:
        return False
    with stream:
        stream.seek(offset)
        done = 0
        while done < size:
            want = min(_CHUNK, size - done)
            try:
                memory = os.pread(fd, want, address + done)
            except OSError as exc:
                raise MeasurerError(f"cannot read memory at {address:#x}: {exc.strerror}") from None
            on_disk = stream.read(want)
            if memory != on_disk + bytes(want - len(on_disk)):
                return False
            done += want
    return True


def _memory_digest(fd: int, address: int, size: int) -> str:
    digest = hashlib.sha256()
    while size:
        try:
            chunk = os.pread(fd, min(size, _CHUNK), address)
        except OSError as exc:
            raise MeasurerError(f"cannot read memory at {address:#x}: {exc.strerror}") from None
        if not chunk:
            raise MeasurerError(f"memory at {address:#x} ends early")
        digest.update(chunk)
        address += len(chunk)
        size -= len(chunk)
    return digest.hexdigest()


SECAAS_FILES = FileDigests()
"""SECaaS's cache in this process: a file is hashed once per version (an image's linking
parsed, in `secmas.trust.libraries.INSTALL`), so a run's reference costs the files that
changed."""


def platform_reference(
    key: Ed25519PrivateKey,
    files: tuple[Path, ...] = (),
    variables: Iterable[str] = AGENT_VARIABLES,
) -> PlatformReference:
    """SECaaS's signed reference for this host, each part an allow-list:

    - files, each by digest: the shared objects of the platform allow-list (the RECORD
      digests of the install's distributions as they were when the release reference
      was made and signed, `secmas.trust.sitelist`); the interpreter, the standard
      library's extension modules and `files` (native agents); the system files this
      (genuine) process maps (locale data, libraries loaded by name); and every library
      the loader maps for all of these. Nothing is accepted for the directory it is in;
    - the `.pth` files of the platform allow-list, by its digest: not those present now,
      nor those a RECORD declares now, so one placed before the run, or a declared one
      rewritten (its RECORD with it), is not on the list;
    - `variables`: the names an agent's environment may hold (`secmas.trust.allowlist`)."""
    interpreter = Path(sys.executable).resolve()
    allowed = held()
    declared = allowed.libraries()
    system = {
        Path(r.path) for r in read_maps() if _image_file(r) and r.path.startswith(_SYSTEM_LIBRARIES)
    }
    own = {interpreter, *stdlib_extensions(), *(p.resolve() for p in files), *system}
    needed = INSTALL.needed([*map(Path, declared), *own])
    hashed = {str(p): SECAAS_FILES.file(p) for p in sorted(own | needed) if str(p) not in declared}
    reference = PlatformReference(
        interpreter=SECAAS_FILES.file(interpreter),
        files={**hashed, **declared},
        hooks=allowed.hooks(site_dirs()),
        variables=frozenset(variables),
    )
    return reference.sign(key)


def started_with() -> frozenset[str]:
    """The names in this process's environment as it started: what `/proc/PID/environ`
    shows a measurer (later changes to `os.environ` stay in the process's memory)."""
    return frozenset(_environ(Path("/proc/self/environ").read_bytes()))

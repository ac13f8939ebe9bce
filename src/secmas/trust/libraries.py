"""The files a Python install vouches for, each by its SHA-256: the shared objects an
agent may map (every file an agent maps must be on the platform reference by digest), and
the Python modules and `.pth` start-up hooks its distributions declare (site-packages
is known file by file, not as a directory).

A directory is no allow-list: anyone who can write one file into site-packages (an
OpenSSL provider named by `OPENSSL_CONF`, a library loaded with `ctypes`) would have it
accepted. So SECaaS lists files, from what declares them:

- `declared`: every shared object (or, asked for, Python module or `.pth` file) the
  installed distributions' RECORD files list, with the SHA-256 the wheel carries for it
  and pip wrote when it installed it (PEP 376/627): what the release declares, not what
  the directory holds now, so a file dropped beside them is in no RECORD and a file
  rewritten since differs from its digest. Reading them costs no hashing, which matters
  for wheels of a gigabyte (PyTorch);
- `stdlib_extensions`: the interpreter's own extension modules (`lib-dynload`), only those
  named for a module of the standard library (`sys.stdlib_module_names`);
- `needed`: the libraries the loader maps for those (DT_NEEDED, searched through
  DT_RPATH or DT_RUNPATH, then the system's library directories, as `ld.so` does), and
  for what they need in turn.

Each file's linking is read once per version (device, inode, size, mtime, ctime), as IMA
and the measurer hash a file once until it changes.
"""

from __future__ import annotations

import base64
import csv
import os
import site
import sys
import sysconfig
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from secmas.trust.compiled import FileVersion
from secmas.trust.elf import ElfError, Linking, linking_of

_MULTIARCH = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
SYSTEM_DIRS = (
    f"/lib/{_MULTIARCH}", f"/usr/lib/{_MULTIARCH}", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
)  # fmt: skip
"""Where the loader looks last (its cache holds these on Debian; `LD_LIBRARY_PATH` is
on no agent's allow-list)."""


def is_shared_object(name: str) -> bool:
    """`libz.so`, `libz.so.1.2.13`, `_ssl.cpython-311-x86_64-linux-gnu.so`."""
    stem, dot, version = name.partition(".so")
    numbers = version[1:].split(".") if version.startswith(".") else [version or "0"]
    return bool(stem and dot) and all(n.isdigit() for n in numbers)


def is_python_module(name: str) -> bool:
    """`json.py`: a module's source, what `KnownCode` compiles."""
    return name.endswith(".py")


def is_path_hook(name: str) -> bool:
    """`distutils-precedence.pth`: a file `site` reads, and runs its `import` lines, at
    every interpreter start."""
    return name.endswith(".pth")


def _version(path: Path) -> FileVersion | None:
    try:
        return FileVersion.of(path.stat())
    except OSError:
        return None


def _record_digest(hash_field: str) -> str | None:
    """Hex SHA-256 of a RECORD hash field (`sha256=<urlsafe base64, no padding>`)."""
    algorithm, _, value = hash_field.partition("=")
    if algorithm != "sha256":
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
    except ValueError:  # binascii.Error included
        return None


def _read_record(record: Path) -> dict[str, str]:
    """The files one RECORD lists with a SHA-256 (real path → digest); paths are relative
    to the directory holding the `.dist-info`. A wheel holds no links, so only the
    directories are resolved, each once (a RECORD of PyTorch lists thousands of files)."""
    base = record.parent.parent
    listed = {}
    real: dict[str, str] = {}
    try:
        with record.open(newline="", encoding="utf-8") as stream:
            for row in csv.reader(stream):
                if len(row) < 2 or not row[1]:
                    continue
                digest = _record_digest(row[1])
                if digest is not None:
                    folder, _, name = row[0].rpartition("/")
                    if folder not in real:
                        real[folder] = os.path.realpath(base / folder)
                    listed[f"{real[folder]}/{name}"] = digest
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return listed


@dataclass
class LibraryIndex:
    """RECORD contents and ELF linking, each re-read only when its file changes."""

    records: dict[str, tuple[FileVersion, dict[str, str]]] = field(default_factory=dict)
    linking: dict[str, tuple[FileVersion, Linking]] = field(default_factory=dict)

    def declared(
        self, site_dirs: Iterable[str], wanted: Callable[[str], bool] = is_shared_object
    ) -> dict[str, str]:
        """Every file the distributions installed in `site_dirs` declare whose name is
        `wanted` (default: the shared objects)."""
        listed: dict[str, str] = {}
        for directory in site_dirs:
            for record in sorted(Path(directory).glob("*.dist-info/RECORD")):
                version = _version(record)
                if version is None:
                    continue
                cached = self.records.get(str(record))
                if cached is None or cached[0] != version:
                    cached = self.records[str(record)] = (version, _read_record(record))
                listed.update((p, d) for p, d in cached[1].items() if wanted(p.rpartition("/")[2]))
        return listed

    def needed(self, roots: Iterable[Path]) -> set[Path]:
        """Every library the loader maps for `roots` (real paths), transitively, the
        roots left out."""
        todo = list(roots)
        seen = set(todo)
        found: set[Path] = set()
        located: dict[str, Path | None] = {}
        while todo:
            image = todo.pop()
            for library in self._resolved(image, located):
                if library not in seen:
                    seen.add(library)
                    found.add(library)
                    todo.append(library)
        return found

    def _resolved(self, image: Path, located: dict[str, Path | None]) -> Iterator[Path]:
        """The files `image`'s needed libraries are, as the loader searches them;
        `located`: candidate paths already looked at (most images need libc)."""
        linking = self._linking(image)
        origin = str(image.parent)
        first = linking.runpath or linking.rpath
        search = [d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin) for d in first]
        for name in linking.needed:
            candidates = [name] if "/" in name else [f"{d}/{name}" for d in (*search, *SYSTEM_DIRS)]
            for candidate in candidates:
                if candidate not in located:
                    exists = os.path.isfile(candidate)
                    located[candidate] = Path(os.path.realpath(candidate)) if exists else None
                library = located[candidate]
                if library is not None:
                    yield library
                    break

    def _linking(self, image: Path) -> Linking:
        version = _version(image)
        cached = self.linking.get(str(image))
        if version is not None and cached is not None and cached[0] == version:
            return cached[1]
        try:
            linking = linking_of(image)
        except ElfError:
            linking = Linking()
        if version is not None:
            self.linking[str(image)] = (version, linking)
        return linking


def site_dirs() -> tuple[str, ...]:
    """The install's site directories, and the user's where this install reads one."""
    paths = sysconfig.get_paths()
    dirs = {paths["purelib"], paths["platlib"], *site.getsitepackages()}
    user = site.getusersitepackages()
    if user:
        dirs.add(user)
    return tuple(sorted(dirs))


INSTALL = LibraryIndex()
"""This process's index of its install's linking (SECaaS's platform reference): each
image's linking is parsed once per version."""


def stdlib_extensions() -> list[Path]:
    """The interpreter's extension modules of the standard library (`lib-dynload`)."""
    default = Path(sysconfig.get_paths()["stdlib"]) / "lib-dynload"
    dynload = Path(sysconfig.get_config_var("DESTSHARED") or default)
    if not dynload.is_dir():
        return []
    return sorted(
        p.resolve()
        for p in dynload.iterdir()
        if is_shared_object(p.name) and p.name.split(".", 1)[0] in sys.stdlib_module_names
    )

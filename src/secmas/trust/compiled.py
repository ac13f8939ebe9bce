"""What Python source compiles to, as code digests: from bytes, and per file version.

SECaaS's reference (`secmas wrap`), an agent's measurement of the modules it has not
imported, and `KnownCode` (is this code object compiled from a trusted file?) all need
what a `.py` file compiles to. Compiling is the dear part of a first measurement (hundreds
of files, about a second on 2 cores), so `source_file` keeps the result per file version,
as Linux IMA measures a file once until it changes: the version is the file's device,
inode, size, mtime and ctime. Writing, replacing or renaming over a file gives it a new
ctime, which the writer cannot set back, so a changed file is read and compiled again; an
unchanged one costs a `stat`. The version is taken from the open file before it is read
and checked after, so a file written meanwhile is not kept; nor is one changed in the last
`RACY_NS` (as git treats "racily clean" files): on a file system with coarse timestamps a
second write within the same tick could keep size, mtime and ctime. Beyond the process,
the same records are kept on disk per file version (`secmas.trust.sourcestore`), so every
process of the machine compiles a file version once, not once each.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import inspect
import json
import os
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType

from secmas.trust import codehash, digests, funcstate
from secmas.trust.codehash import code_digest
from secmas.trust.digests import multiset_digest
from secmas.trust.funcstate import Shape, reference_record, source_shapes, state_digest
from secmas.trust.keys import secmas_home
from secmas.trust.sourcestore import SourceStore


class PackageError(Exception):
    """A package or module that cannot be measured: unreadable, not Python, bad syntax."""


def measure_source(source: bytes, filename: str) -> dict[str, str]:
    """Qualname → digest (code and state, `secmas.trust.funcstate`) for every reachable
    function compiled from `source`."""
    tree, module = _compile(source, filename)
    return _functions(module, tree, source_shapes(tree))


def _compile(source: bytes, filename: str) -> tuple[ast.Module, CodeType]:
    """The syntax tree (for what the code does not say: `@overload`, literal defaults)
    and the module's code compiled from it."""
    try:
        tree = ast.parse(source, filename)
        # As the import system compiles: no __future__ flags inherited from this module.
        return tree, compile(tree, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise PackageError(f"{filename}:{exc.lineno}: not valid Python: {exc.msg}") from exc
    except ValueError as exc:  # null bytes
        raise PackageError(f"{filename}: not valid Python: {exc}") from exc


def _functions(module: CodeType, tree: ast.Module, shapes: dict[str, Shape]) -> dict[str, str]:
    stubs = _overload_stubs(tree)
    found: dict[str, list[str]] = {}
    for code in _reachable_functions(module):
        if (code.co_qualname, code.co_firstlineno) not in stubs:
            digest = state_digest(code_digest(code), reference_record(code, shapes))
            found.setdefault(code.co_qualname, []).append(digest)
    return {qualname: multiset_digest(digests) for qualname, digests in found.items()}


def _reachable_functions(body: CodeType) -> Iterable[CodeType]:
    """Function code in a module or class body, descending into class bodies."""
    for const in body.co_consts:
        if not isinstance(const, CodeType) or "<" in const.co_qualname:
            continue  # <locals>, <lambda>, <listcomp>…: not reachable by attribute lookup
        if const.co_flags & inspect.CO_NEWLOCALS:
            yield const
        else:  # a class body
            yield from _reachable_functions(const)


def _overload_stubs(tree: ast.Module) -> set[tuple[str, int]]:
    """(qualname, first line) of every `@overload` stub; the first line of a decorated
    function's code object is that of its first decorator."""
    stubs: set[tuple[str, int]] = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                if any(_is_overload(d) for d in child.decorator_list):
                    first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                    stubs.add((prefix + child.name, first))
            else:  # if/try/with blocks do not open a scope
                visit(child, prefix)

    visit(tree, "")
    return stubs


def _is_overload(decorator: ast.expr) -> bool:
    return (isinstance(decorator, ast.Name) and decorator.id == "overload") or (
        isinstance(decorator, ast.Attribute) and decorator.attr == "overload"
    )


def all_code_digests(module: CodeType) -> frozenset[str]:
    """The digest of every code object under a module's, nested ones too."""
    digests: set[str] = set()
    queue = [module]
    while queue:
        code = queue.pop()
        queue.extend(c for c in code.co_consts if isinstance(c, CodeType))
        if code is not module:
            digests.add(code_digest(code))
    return frozenset(digests)


@dataclass(frozen=True)
class FileVersion:
    """Which version of a file: what changes whenever its content may have."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, status: os.stat_result) -> FileVersion:
        return cls(
            status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns
        )


@dataclass(frozen=True)
class SourceFile:
    """One version of a `.py` file, measured: its SHA-256, its reachable functions' digests
    (`measure_source`), every code object's (`all_code_digests`) and the defaults its
    functions write (`secmas.trust.funcstate.source_shapes`); `error` says why it is not
    valid Python (then all are empty)."""

    version: FileVersion
    sha256: bytes
    functions: dict[str, str]
    every: frozenset[str]
    error: str | None = None
    shapes: dict[str, Shape] = field(default_factory=dict)


_FILES: dict[str, SourceFile] = {}
_LOCK = threading.Lock()
RACY_NS = 2_000_000_000
"""A file changed this recently is measured again next time (timestamp granularity)."""
SHARED_STORE_ENV = "SECMAS_MEASURED_FILES"
"""The path of a read-only copy of another user's store (`share_store`) to read from."""


def source_file(path: Path) -> SourceFile:
    """The file as it is now, compiled once per version (see the module's docstring).

    Raises OSError when it cannot be read."""
    key = str(path)
    kept = _FILES.get(key)
    if kept is not None and kept.version == FileVersion.of(os.stat(path)):
        return kept  # unchanged since measured: a stat, not an open
    with open(path, "rb") as handle:
        version = FileVersion.of(os.fstat(handle.fileno()))
        kept = _FILES.get(key)
        if kept is not None and kept.version == version:
            return kept
        stored = _stored(key, version)
        if stored is not None:
            with _LOCK:
                _FILES[key] = stored
            return stored
        source = handle.read()
        unchanged = FileVersion.of(os.fstat(handle.fileno())) == version
    measured = _measure(version, source, key)
    settled = time.time_ns() - max(version.mtime_ns, version.ctime_ns) >= RACY_NS
    if unchanged and settled:
        with _LOCK:
            _FILES[key] = measured
        _store().put(key, _version_key(version), _record(measured))
    return measured


def _measure(version: FileVersion, source: bytes, filename: str) -> SourceFile:
    digest = hashlib.sha256(source).digest()
    try:
        tree, module = _compile(source, filename)
    except PackageError as exc:
        return SourceFile(version, digest, {}, frozenset(), str(exc))
    shapes = source_shapes(tree)
    functions = _functions(module, tree, shapes)
    return SourceFile(version, digest, functions, all_code_digests(module), None, shapes)


def _stored(key: str, version: FileVersion) -> SourceFile | None:
    record = _store().get(key, _version_key(version))
    shared = _shared_store()
    if record is None and shared is not None:
        record = shared.get(key, _version_key(version))
    if record is None:
        return None
    try:
        fields = json.loads(record)
        return SourceFile(
            version,
            bytes.fromhex(fields["sha256"]),
            dict(fields["functions"]),
            frozenset(fields["every"]),
            fields["error"],
            {key: tuple(shape) for key, shape in fields["shapes"].items()},
        )
    except (ValueError, KeyError, TypeError):
        return None  # a record this code cannot read: compiled again, then replaced


def _record(measured: SourceFile) -> bytes:
    fields = {
        "sha256": measured.sha256.hex(),
        "functions": measured.functions,
        "every": sorted(measured.every),
        "error": measured.error,
        "shapes": measured.shapes,
    }
    return json.dumps(fields, separators=(",", ":")).encode()


def _version_key(version: FileVersion) -> str:
    return f"{version.device}:{version.inode}:{version.size}:{version.mtime_ns}:{version.ctime_ns}"


_STORES: dict[Path, SourceStore] = {}


def _store() -> SourceStore:
    """This user's store for this interpreter and this digest algorithm (a change to
    either starts a new file)."""
    path = secmas_home() / "cache" / _store_name()
    with _LOCK:
        return _STORES.setdefault(path, SourceStore(path))


def _shared_store() -> SourceStore | None:
    """The read-only copy of another user's store this process was handed
    (`SHARED_STORE_ENV`), if any."""
    path = os.environ.get(SHARED_STORE_ENV)
    if not path:
        return None
    with _LOCK:
        return _STORES.setdefault(Path(path), SourceStore(Path(path), shared=True))


def share_store(folder: Path, files: Iterable[Path]) -> Path:
    """A read-only copy of this user's store in `folder` (made readable by all) for
    processes that run as another user (the agents a root driver starts), with `files`
    measured first so that the copy holds them: they compile none of them again. Its
    path goes in their `SHARED_STORE_ENV`. OSError or sqlite3.Error when it cannot be
    made."""
    for path in files:
        with contextlib.suppress(OSError):  # gone or unreadable: whoever needs it compiles
            source_file(path)
    folder.chmod(0o755)
    copy = folder / _store_name()
    _store().copy_to(copy)
    return copy


def _store_name() -> str:
    """A store's file name: one per interpreter and digest algorithm."""
    return f"measured-{sys.implementation.cache_tag}-{_algorithm()}.db"


@functools.cache
def _algorithm() -> str:
    """A digest of the code that computes the records: this module, codehash and digests."""
    h = hashlib.sha256(sys.version.encode())
    for module in (sys.modules[__name__], codehash, digests, funcstate):
        h.update(Path(module.__file__ or "").read_bytes())
    return h.hexdigest()[:16]

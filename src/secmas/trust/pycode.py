"""Measure a Python agent's code twice: from its source files and from its live modules.

SECaaS compiles the package to build the reference; a running agent hashes the code
objects its functions hold right now. When nothing was tampered with both give the same
digests, and an in-memory patch (`f.__code__ = …`, a replaced or deleted function) shows
up under the function's qualname.

What is measured: every function and method whose qualname is reachable by attribute
lookup from its module (top-level functions, methods, nested classes' methods; nothing
under `<locals>`, no lambdas or comprehensions at module or class level: those are part of
the code around them). Each is hashed by a canonical serialisation of its code object,
not `marshal.dumps`, whose reference flags depend on reference counts; file names and line
tables are left out so the digest does not depend on where the package is installed.
Both routes compile at the interpreter's optimisation level, so a reference made without
`-O` (which drops asserts) does not match an agent run with it. A function's digest also
covers what a call falls back on besides its code: its defaults, keyword defaults and
cells (`secmas.trust.funcstate`), which can be rewritten without touching the code.

A decorator's wrapper is not measured itself: the live digest is that of the function
found under it (through `__wrapped__` and the like), provided every wrapper on the way is
known code (`KnownCode`: compiled from a file of the agent's package or the standard
library as that file is now, or from a file of site-packages that the release declares
with its digest). A wrapper injected at runtime
that keeps `__wrapped__` pointing at the original (`functools.wraps`) is code from nowhere
the reference knows, so the digest covers the wrapper too and the function shows up as
changed.

Several code objects can share a qualname (a property's getter and setter); their digests
combine into one per qualname. `typing.overload` stubs are left out of the reference,
since only the implementation is ever bound. Other definitions that never go live, such
as both branches of `if …: def f` or the repeated `_` of `singledispatch` registrations,
show up as mismatches at runtime. Class bodies and module-level statements run once and
leave no code object behind, so only the file digest covers them.
"""

from __future__ import annotations

import _imp
import inspect
import operator
import sys
import sysconfig
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from types import CodeType, FunctionType, ModuleType

from secmas.trust.codehash import code_digest
from secmas.trust.compiled import PackageError, all_code_digests, source_file
from secmas.trust.digests import EntryDiff, diff_entries, multiset_digest, root_digest
from secmas.trust.funcstate import Pins, Shape, cell_contents, live_record, state_digest
from secmas.trust.sitelist import held
from secmas.trust.versiontags import Watch, watch

# Attributes through which decorators and descriptors reach the function they wrap:
# functools.wraps, staticmethod/classmethod/bound methods, property, partialmethod and
# cached_property, pydantic's decorator proxies.
_WRAPPED = ("__wrapped__", "__func__", "fget", "fset", "fdel", "func", "wrapped")
_UNWRAP_LIMIT = 64
_FROZEN = "<frozen "
_SITE_DIRS = frozenset({"site-packages", "dist-packages"})
# Frozen modules whose code carries another name than the one they are frozen under.
_FROZEN_AS = {
    "importlib._bootstrap": "_frozen_importlib",
    "importlib._bootstrap_external": "_frozen_importlib_external",
}


@dataclass(frozen=True)
class ModuleMeasurement:
    """One module: qualname → code digest, and the SHA-256 of its file (reference only)."""

    name: str
    code: dict[str, str]
    source: str | None = None

    @property
    def digest(self) -> str:
        """Root over the sorted (qualname, digest) pairs."""
        return root_digest(self.code.items())


@dataclass(frozen=True)
class PackageMeasurement:
    """Every module of a package (or one module), by dotted name."""

    name: str
    modules: dict[str, ModuleMeasurement]

    @property
    def root(self) -> str:
        """Root over the sorted (module name, module digest) pairs: code only, so the live
        measurement can reproduce it."""
        return root_digest((name, m.digest) for name, m in self.modules.items())

    @property
    def functions(self) -> int:
        return sum(len(m.code) for m in self.modules.values())

    def entries(self) -> dict[str, str]:
        """`module` → file digest (when known) and `module:qualname` → code digest."""
        flat: dict[str, str] = {}
        for name, module in self.modules.items():
            if module.source is not None:
                flat[name] = module.source
            flat.update({f"{name}:{q}": d for q, d in module.code.items()})
        return flat

    @classmethod
    def from_entries(cls, name: str, entries: Mapping[str, str]) -> PackageMeasurement:
        """Rebuild a measurement from `entries()` (as a manifest stores them)."""
        sources: dict[str, str] = {}
        code: dict[str, dict[str, str]] = {}
        for key, digest in entries.items():
            module, _, qualname = key.partition(":")
            if qualname:
                code.setdefault(module, {})[qualname] = digest
            else:
                sources[module] = digest
        modules = {
            m: ModuleMeasurement(m, code.get(m, {}), sources.get(m))
            for m in sorted(sources.keys() | code.keys())
        }
        return cls(name, modules)


def diff_packages(reference: PackageMeasurement, measured: PackageMeasurement) -> EntryDiff:
    """`module:qualname`s whose code differs, is missing or extra; and modules whose files
    differ, are missing or extra, when both sides were measured from files (a live
    measurement has no file digests)."""
    files = _from_files(reference) and _from_files(measured)
    return diff_entries(
        {k: v for k, v in reference.entries().items() if files or ":" in k},
        {k: v for k, v in measured.entries().items() if files or ":" in k},
    )


def _from_files(package: PackageMeasurement) -> bool:
    return any(module.source is not None for module in package.modules.values())


# Reference: from the files.


def module_files(path: Path, name: str) -> dict[str, Path]:
    """Dotted module name → file, for a package directory (recursively) or one `.py` file;
    `name` is the package's or module's own."""
    if path.is_file():
        return {name: path}
    if not (path / "__init__.py").is_file():
        raise PackageError(f"{path}: not a Python package (no __init__.py)")
    files = {name: path / "__init__.py"}
    for child in sorted(path.iterdir()):
        if child.is_dir() and (child / "__init__.py").is_file():
            files.update(module_files(child, f"{name}.{child.name}"))
        elif child.suffix == ".py" and child.name != "__init__.py" and child.is_file():
            files[f"{name}.{child.stem}"] = child
    return files


def measure_files(path: Path, name: str | None = None) -> PackageMeasurement:
    """The reference: compile every module of the package and hash its functions.

    `name` is the dotted name the package is imported as (default: the directory name, or
    the file's without `.py`), e.g. `secmas.trust` for `src/secmas/trust`.
    """
    name = name or (path.stem if path.is_file() else path.name)
    files = module_files(path, name)
    return PackageMeasurement(name, {m: _measure_file(m, file) for m, file in files.items()})


def _measure_file(module: str, path: Path) -> ModuleMeasurement:
    try:
        measured = source_file(path)
    except OSError as exc:
        raise PackageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if measured.error is not None:
        raise PackageError(measured.error)
    return ModuleMeasurement(module, measured.functions, measured.sha256.hex())


# Runtime: from the live modules.


def measure_live(
    reference: PackageMeasurement,
    modules: Mapping[str, ModuleType] | None = None,
    known: KnownCode | None = None,
) -> PackageMeasurement:
    """Hash the live code of every function the reference lists.

    `modules` defaults to `sys.modules`. A qualname that no longer resolves to a function
    is left out (the diff reports it missing); a module that is not loaded measures as one
    without functions, which matches a reference module that has none. `known` decides
    which decorator wrappers may stand in front of a function (default: code from the
    standard library, site-packages and the measured modules' directories).
    """
    loaded = sys.modules.copy() if modules is None else modules  # another thread may import
    if known is None:
        known = KnownCode.around(m for n, m in loaded.items() if n in reference.modules)
    measured = {}
    for name, module in reference.modules.items():
        live = loaded.get(name)
        code = {} if live is None else _measure_module(live, module.code, known, _shapes(live))
        measured[name] = ModuleMeasurement(name, code)
    return PackageMeasurement(reference.name, measured)


Shapes = Mapping[str, Shape]
"""A module's functions' defaults as its file writes them (`funcstate.source_shapes`)."""


def _shapes(module: ModuleType) -> Shapes:
    """The defaults the module's file writes now (none when it has no readable file)."""
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        return {}
    try:
        return source_file(Path(file)).shapes
    except OSError:
        return {}


def _measure_module(
    module: ModuleType,
    qualnames: Iterable[str],
    known: KnownCode,
    shapes: Shapes,
    pins: Pins | None = None,
) -> dict[str, str]:
    code = {}
    for qualname in qualnames:
        found = _live_functions(module, qualname, known, pins)
        if found:
            code[qualname] = multiset_digest(
                _function_digest(module, qualname, c, f, shapes, pins) for c, f in found
            )
    return code


def _function_digest(
    module: ModuleType,
    qualname: str,
    code: CodeType,
    function: object,
    shapes: Shapes,
    pins: Pins | None,
) -> str:
    """The code's digest with the state the function holds (`secmas.trust.funcstate`),
    marked when what the file cannot say has changed since first measured (`Pins`)."""
    owner = _owner(module, qualname) if code.co_freevars else None
    record = live_record(function, code, shapes, owner)
    if pins is not None and not pins.holds(function, code, shapes):
        record = (*record, _REPINNED)
    return state_digest(code_digest(code), record)


_REPINNED = "state=changed since first measured"


def _owner(module: ModuleType, qualname: str) -> object:
    """The class a method is found in (the module, for a module's function)."""
    path, dot, _ = qualname.rpartition(".")
    return _target(module, path) if dot else module


def live_code(module: ModuleType, qualname: str, known: KnownCode | None = None) -> list[CodeType]:
    """The code objects bound under `qualname` now (`_live_functions`)."""
    return [code for code, _ in _live_functions(module, qualname, known)]


def _live_functions(
    module: ModuleType, qualname: str, known: KnownCode | None = None, pins: Pins | None = None
) -> list[tuple[CodeType, object]]:
    """The code objects bound under `qualname` now, each with what holds it.

    Follows the attribute path through namespaces (`vars`, so descriptors are seen as
    they are, not invoked), then unwraps decorators and descriptors. Code whose co_qualname
    is `qualname` is the function itself; when every other code on the way (a decorator's
    wrapper) is `known`, only the function's own code is returned. Otherwise the wrappers
    come too, and when no code carries the qualname (the code was swapped or the function
    replaced) the code that is bound is returned: either way the digest differs from the
    reference. Without `known` no wrapper is trusted; with `pins`, nor is one whose
    state (a decorator's arguments in its cells) has changed since first measured.
    """
    target = _target(module, qualname)
    if target is _MISSING:
        return []
    found = _unwrapped_code(target)
    own = [(c, f) for c, f in found if c.co_qualname == qualname]
    if not own:
        return found[:1]
    wrappers = [(c, f) for c, f in found if c.co_qualname != qualname]
    if all(
        known is not None and c in known and (pins is None or pins.holds(f, c)) for c, f in wrappers
    ):
        return own
    return found


_MISSING = object()


def _target(
    module: ModuleType, qualname: str, visit: Callable[[object], None] | None = None
) -> object:
    """What `qualname` names in `module`: the attribute path followed through namespaces
    (`vars`, so descriptors are seen as they are, not invoked); `_MISSING` when a step has
    no namespace or no such name. `visit` sees each namespace before it is looked into."""
    target: object = module
    for part in qualname.split("."):
        try:
            namespace = vars(target)
            if visit is not None:
                visit(namespace)
            target = namespace[part]
        except (TypeError, KeyError):  # no namespace there, or no such name in it
            return _MISSING
    return target


class LiveCode:
    """`measure_live` for an agent that measures the same modules at every challenge,
    paying for what changed since the last time: per module, the digests of its plain
    functions (no decorator, nothing set on the function) are kept while the module's
    namespace, the classes' on the way to them and the functions' own dictionaries carry
    the version tags they had (`secmas.trust.versiontags`), the functions the same code,
    defaults and keyword defaults (whose dictionary is watched too) and their cells the
    same contents (none of these writes changes a tag), and the module's file the same
    version; anything else (wrapped functions, descriptors) is resolved again each time.
    What no file says a function holds is pinned when first seen (`Pins`)."""

    def __init__(self, known: KnownCode):
        self.known = known
        self.pins = Pins()
        self._kept: dict[str, _LiveModule] = {}

    def measure(
        self,
        reference: PackageMeasurement,
        modules: Mapping[str, ModuleType],
        shapes: Mapping[str, Shapes],
    ) -> PackageMeasurement:
        """`shapes`: per module, the defaults its file writes now (none when absent)."""
        measured = {}
        for name, module in reference.modules.items():
            live = modules.get(name)
            code = {} if live is None else self._module(live, module.code, shapes.get(name, {}))
            measured[name] = ModuleMeasurement(name, code)
        return PackageMeasurement(reference.name, measured)

    def _module(
        self, module: ModuleType, qualnames: Iterable[str], shapes: Shapes
    ) -> dict[str, str]:
        kept = self._kept.get(module.__name__)
        if kept is None or not kept.holds(module, shapes):
            kept = self._examine(module, qualnames, shapes)
            self._kept[module.__name__] = kept
        code = dict(kept.plain)
        code.update(_measure_module(module, kept.others, self.known, shapes, self.pins))
        return code

    def _examine(self, module: ModuleType, qualnames: Iterable[str], shapes: Shapes) -> _LiveModule:
        tags = _Tags()
        plain: dict[str, str] = {}
        functions: list[FunctionType] = []
        state: list[object] = []
        closed: list[tuple[FunctionType, tuple[object, ...]]] = []
        others: list[str] = []
        for qualname in qualnames:
            target = _target(module, qualname, tags.visit)
            if type(target) is FunctionType:
                own = target.__dict__
                tags.visit(own)  # before it is read, as every namespace
                if not own:
                    # What the digest rests on, read before it is computed.
                    keywords = target.__kwdefaults__
                    if keywords is not None:
                        tags.visit(keywords)
                    state.extend((target.__code__, target.__defaults__, keywords))
                    if target.__closure__ is not None:
                        closed.append((target, cell_contents(target.__closure__)))
                    plain[qualname] = _function_digest(
                        module, qualname, target.__code__, target, shapes, self.pins
                    )
                    functions.append(target)
                    continue
            others.append(qualname)
        return _LiveModule(
            module,
            shapes,
            tags.joined(),
            tuple(functions),
            tuple(state),
            tuple(closed),
            plain,
            others,
        )


class _Tags:
    """Version tags of the namespaces a walk looks into, each read before the walk reads
    from it (a change made meanwhile then shows as a newer tag)."""

    def __init__(self) -> None:
        self._watches: dict[int, Watch] = {}
        self._complete = True

    def visit(self, namespace: object) -> None:
        found = watch([namespace])
        if found is None:
            self._complete = False
        else:
            self._watches.setdefault(id(found.dicts[0]), found)

    def joined(self) -> Watch | None:
        """Every tag read, or None when a namespace had none."""
        return Watch.joined(self._watches.values()) if self._complete else None


@dataclass(frozen=True)
class _LiveModule:
    """A module's plain functions' digests and what they rest on; `others` are the
    qualnames resolved at every measurement."""

    module: ModuleType
    shapes: Shapes
    watched: Watch | None
    functions: tuple[FunctionType, ...]
    state: tuple[object, ...]
    """Each function's code, defaults and keyword defaults, one after the other
    (compared by identity)."""
    closed: tuple[tuple[FunctionType, tuple[object, ...]], ...]
    """The functions with cells, and what the cells held."""
    plain: dict[str, str]
    others: list[str]

    def holds(self, module: ModuleType, shapes: Shapes) -> bool:
        """Whether the digests kept still stand for `module`, its file's `shapes`."""
        return (
            self.module is module
            and self.shapes is shapes
            and self.watched is not None
            and self.watched.unchanged()
            and all(map(operator.is_, self.state, chain.from_iterable(map(_STATE, self.functions))))
            and all(
                all(map(operator.is_, held, cell_contents(f.__closure__ or ())))
                for f, held in self.closed
            )
        )


_STATE = operator.attrgetter("__code__", "__defaults__", "__kwdefaults__")


def _unwrapped_code(target: object) -> list[tuple[CodeType, object]]:
    """Code objects reachable from `target` through wrapping attributes, outermost first,
    each with the object it was found on."""
    if type(target) is FunctionType and not target.__dict__:
        # A plain function: none of the wrapping attributes exist on the function type,
        # and nothing is set on this one, so its own code is all there is.
        return [(target.__code__, target)]
    found: list[tuple[CodeType, object]] = []
    seen: set[int] = set()
    queue = [target]
    while queue and len(seen) < _UNWRAP_LIMIT:
        item = queue.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        # Only a function runs its `__code__`: any other object may carry a genuine
        # function's code as an attribute and run something else when called.
        code = item.__code__ if isinstance(item, FunctionType) else None
        if code is not None and all(code is not c for c, _ in found):
            found.append((code, item))
        queue.extend(x for x in (_attribute(item, a) for a in _WRAPPED) if x is not None)
    return found


def _attribute(item: object, name: str) -> object | None:
    try:
        return getattr(item, name, None)
    except Exception:  # a descriptor or __getattr__ that raises: nothing to follow
        return None


class KnownCode:
    """Which code objects are genuine: compiled from a `.py` file under a trusted root, or
    one the release declares with the digest the file has, with the same digest as a
    function (at any depth, `<locals>` included) that the file compiles to now.

    Site-packages is no root: anyone who can write one file there (an implant placed
    before the run) would have its code accepted wherever a genuine function is expected,
    `json.loads` or the channel's AEAD table rebound to it. So a file in a `site-packages`
    or `dist-packages` directory is known only file by file, through `site` (real path →
    SHA-256: by default the signed platform allow-list of the release, read from the
    RECORDs once when it was made, `secmas.trust.sitelist.held`), under a root or not;
    the agent's own package, when installed there, is a root of its own. Its digest is
    the one compiling it yields anyway (`source_file`, kept per file version), so this
    costs no hashing.

    A code object names its file (`co_filename`), which an attacker can forge; but a
    forged name only passes when the code is byte-for-byte what the named file compiles
    to, that is, genuine code. Code made by `exec` of a string (`<string>`), from a file
    outside the roots, or changed in any way is unknown. Frozen standard-library modules
    (`<frozen os>`) are checked against the code the interpreter carries for them. Each
    file is compiled once, when a code object first names it; a file changed later is the
    file measurement's to catch.
    """

    def __init__(self, roots: Iterable[Path], site: Mapping[str, str] | None = None):
        self.roots = tuple(sorted({str(r.resolve()) for r in roots}))
        self.site = {} if site is None else site
        self._files: dict[str, frozenset[str]] = {}
        self._verdicts: dict[int, tuple[CodeType, bool]] = {}

    @classmethod
    def around(
        cls, modules: Iterable[ModuleType], *roots: Path, site: Mapping[str, str] | None = None
    ) -> KnownCode:
        """The standard library, `roots` and the modules' directories; site-packages file
        by file (`site`, default: the modules of this process's signed platform
        allow-list)."""
        paths = sysconfig.get_paths()
        found = [Path(paths[k]) for k in ("stdlib", "platstdlib")]
        for module in modules:
            file = getattr(module, "__file__", None)
            if isinstance(file, str):
                found.append(Path(file).parent)
        return cls([*found, *roots], held().modules() if site is None else site)

    def __contains__(self, code: object) -> bool:
        """Whether `code` is genuine; the verdict is kept per code object (immutable)."""
        if not isinstance(code, CodeType):
            return False
        cached = self._verdicts.get(id(code))
        if cached is None or cached[0] is not code:
            compiled = self._compiled(code.co_filename)
            # types.coroutine marks a generator's code in place (CO_ITERABLE_COROUTINE).
            plain = code.replace(co_flags=code.co_flags & ~inspect.CO_ITERABLE_COROUTINE)
            cached = (code, code_digest(code) in compiled or code_digest(plain) in compiled)
            self._verdicts[id(code)] = cached
        return cached[1]

    def _compiled(self, filename: str) -> frozenset[str]:
        """Digests of the code a trusted file compiles to (empty for any other name)."""
        if filename not in self._files:
            self._files[filename] = self._compile(filename)
        return self._files[filename]

    def _compile(self, filename: str) -> frozenset[str]:
        if filename.startswith(_FROZEN) and filename.endswith(">"):
            # Frozen modules: the code the interpreter binary carries, not the source.
            name = filename[len(_FROZEN) : -1]
            try:
                return all_code_digests(_imp.get_frozen_object(_FROZEN_AS.get(name, name)))
            except ImportError:
                return frozenset()
        path = Path(filename).resolve()
        declared = self.site.get(str(path))
        if path.suffix != ".py" or (declared is None and not self._under_root(path)):
            return frozenset()
        try:
            measured = source_file(path)
        except OSError:
            return frozenset()
        if declared is not None and measured.sha256.hex() != declared:
            return frozenset()
        return measured.every

    def _under_root(self, path: Path) -> bool:
        """Under a root, and in no site directory from the root down (the standard
        library's directory holds the system's site-packages)."""
        return any(
            str(path).startswith(root + "/")
            and not _SITE_DIRS.intersection(path.parts[len(Path(root).parts) - 1 :])
            for root in self.roots
        )

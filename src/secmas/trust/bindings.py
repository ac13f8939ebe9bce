"""What a Python agent's names are bound to: module globals, agent instances, the standard
library — the in-process measurement beyond code objects.

An implant need not touch a single code object: it can bind a function on the agent
*instance* (shadowing the class's method), rebind a module global (a dispatch table such as
the channel's cipher table, swapped for a plaintext logger), or patch a standard-library
function the agent calls. Each such binding points at something that is not where the
reference says it should be:
- a function whose code is not `KnownCode` (compiled from a trusted file as it is now),
  or whose globals are not a loaded module's namespace;
- a class with such a method;
- an instance attribute that shadows a method of its class.

The result is a list of problems per scope (empty for a genuine agent), which
`secmas.trust.image` hashes into the measurement: the reference of an untampered binding
is the digest of no problem at all. Third-party modules' own globals are not examined (the
external measurer covers their files); a rebinding from one genuine function to another
(`hmac.compare_digest = operator.eq`) is not caught here, nor a forged dataclass method
made with `exec` under a generated method's name.
"""

from __future__ import annotations

import hashlib
import operator
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType

from secmas.trust.pycode import KnownCode
from secmas.trust.versiontags import AVAILABLE, Watch, watch

_DOMAIN = b"secmas/bindings/1\x00"
_TABLE_LIMIT = 256  # entries of one dispatch table examined
_UNWRAP_LIMIT = 16  # decorators followed to the defining module
_STDLIB_SKIP = frozenset({"__main__", "builtins", "sys"})
_LAYOUTS = 16  # layouts of one scope before they are laid out again as one
# Methods that dataclasses and namedtuple generate with exec (co_filename "<string>").
_GENERATED = frozenset(
    {
        "__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__",
        "__lt__", "__le__", "__gt__", "__ge__", "__new__", "__getstate__", "__setstate__",
        "_replace", "_make", "__getnewargs__", "__match_args__",
    }
)  # fmt: skip


def problems_digest(problems: Iterable[str]) -> bytes:
    """SHA-256 over the sorted problems: what a measurement part holds."""
    h = hashlib.sha256(_DOMAIN)
    for problem in sorted(problems):
        encoded = problem.encode("utf-8", "backslashreplace")
        h.update(len(encoded).to_bytes(4, "big") + encoded)
    return h.digest()


CLEAN = problems_digest(())
"""The part of a scope with nothing foreign bound in it."""


class Bindings:
    """The binding checks over one `KnownCode`, with verdicts kept per function while its
    code, globals and wrapped function stay the same objects, so a measurement
    re-examines only what changed."""

    def __init__(self, known: KnownCode):
        self.known = known
        self._functions: Verdicts = {}
        self._modules: dict[int, _KeptModule] = {}
        self._class_verdicts: dict[int, tuple[type, _Snapshot, str | None]] = {}
        self._classes: dict[int, tuple[type, str | None]] = {}
        """Classes examined in the current round (`round`), each once."""
        self._scopes: dict[str, _Scope] = {}

    def round(self) -> None:
        """Start a new measurement: classes are examined again (their methods may have
        been rebound since), each once however many modules import it."""
        self._classes = {}

    def module_problems(self, module: ModuleType) -> list[str]:
        """Globals of `module` holding functions, classes or tables of them that are
        foreign. A function bound under its own name in its own module is left to the
        code measurement, which already hashes it (`secmas.trust.pycode.live_code`).

        The functions' problems are kept while the module's snapshot holds (`_Snapshot`);
        its classes are looked at every round."""
        namespace = vars(module)
        kept = self._modules.get(id(module))
        if kept is not None and kept[0] is module and kept[1].holds(namespace):
            functions = kept[2]
            classes = kept[3]
        else:
            watched = watch([namespace])  # before the copy: a later change shows as a new tag
            settled = _settled(namespace)
            bound = [
                (f"{name}{where}", item)
                for name, value in settled.items()
                if not (name.startswith("__") and name.endswith("__"))
                and not _own_function(module, name, value)
                for where, item in _bound(value)
            ]
            classes = [(label, item) for label, item in bound if isinstance(item, type)]
            callables = [(label, item) for label, item in bound if not isinstance(item, type)]
            functions = [
                f"{module.__name__}.{label}: {problem}"
                for label, item in callables
                if (problem := self.foreign(item))
            ]
            snapshot = _Snapshot.of(settled, [item for _, item in callables], watched)
            self._modules[id(module)] = (module, snapshot, functions, classes)
        return functions + [
            f"{module.__name__}.{label}: {problem}"
            for label, cls in classes
            if (problem := self.foreign(cls))
        ]

    def group_problems(self, scope: str, modules: Sequence[ModuleType]) -> list[list[str]]:
        """`module_problems` of each module, kept per `scope` (`_Scope`): a module whose
        namespaces (its globals, its classes', its tables) all carry the version tag they
        were examined at, and whose functions the same code, keeps its answer without a
        Python call of its own. A module imported since the last measurement is examined
        and laid out with the others of its import; a module found changed is examined
        again, then and at every later measurement (caches such as `typing`'s change all
        the time)."""
        kept = self._scopes.setdefault(scope, _Scope())
        for layout in kept.layouts:
            kept.volatile.update(layout.changed())
        fresh = []
        found = []
        for module in modules:
            key = id(module)
            if key not in kept.modules:
                fresh.append(module)
                kept.modules[key] = module
                kept.problems[key] = self.module_problems(module)
            elif key in kept.volatile:
                kept.problems[key] = self.module_problems(module)
            found.append(kept.problems[key])
        if fresh:
            kept.add(fresh, [self._snapshots(m) for m in fresh])
        if len(kept.layouts) > _LAYOUTS:
            steady = [m for k, m in kept.modules.items() if k not in kept.volatile]
            kept.layouts = []
            kept.add(steady, [self._snapshots(m) for m in steady])
        return found

    def _snapshots(self, module: ModuleType) -> list[_Snapshot]:
        """The snapshots the module's last `module_problems` rests on: its own, and those
        of the classes bound in it."""
        _, snapshot, _, classes = self._modules[id(module)]
        return [snapshot, *(self._class_verdicts[id(cls)][1] for _, cls in classes)]

    def instance_problems(self, obj: object) -> list[str]:
        """Attributes of an agent object that shadow its class's methods or hold foreign
        code. A dataclass field whose default is a function (`offload = asyncio.to_thread`)
        is data: what it holds is examined, as any attribute's."""
        label = f"{type(obj).__module__}.{type(obj).__qualname__}"
        try:
            attributes = dict(vars(obj))
        except TypeError:  # __slots__ only: nothing can be bound on the instance
            return []
        fields = getattr(type(obj), "__dataclass_fields__", {})
        found = []
        for name, value in attributes.items():
            if name not in fields and isinstance(getattr(type(obj), name, None), FunctionType):
                found.append(f"{label}.{name}: instance attribute shadows the class's method")
                continue
            for where, item in _bound(value):
                problem = self.foreign(item)
                if problem:
                    found.append(f"{label}.{name}{where}: {problem}")
        return found

    def stdlib_problems(self, modules: Mapping[str, ModuleType] | None = None) -> list[str]:
        """Foreign bindings in every loaded standard-library module (pure-Python ones: the
        interpreter's own C modules are the external measurer's)."""
        loaded = sys.modules if modules is None else modules
        standard = [
            module
            for name, module in _settled(loaded).items()
            if name.partition(".")[0] in sys.stdlib_module_names
            and name not in _STDLIB_SKIP
            and isinstance(module, ModuleType)
        ]
        return [p for problems in self.group_problems("stdlib", standard) for p in problems]

    def foreign(self, value: object) -> str | None:
        """Why a bound function, method or class is not genuine; None when it is."""
        if isinstance(value, MethodType):
            return self.foreign(value.__func__)
        if isinstance(value, FunctionType):
            key = (value, value.__code__, value.__globals__, getattr(value, "__wrapped__", None))
            return _cached(self._functions, key, lambda: _foreign_function(value, self.known))
        if isinstance(value, type):
            seen = self._classes.get(id(value))
            if seen is None or seen[0] is not value:
                seen = (value, self._class_verdict(value))
                self._classes[id(value)] = seen
            return seen[1]
        return None  # builtins and C classes: native code, the external measurer's

    def _class_verdict(self, cls: type) -> str | None:
        """`_foreign_methods`, kept while the class's snapshot holds."""
        namespace = vars(cls)
        kept = self._class_verdicts.get(id(cls))
        if kept is None or kept[0] is not cls or not kept[1].holds(namespace):
            watched = watch([namespace])
            snapshot = _Snapshot.of(namespace, list(namespace.values()), watched)
            kept = (cls, snapshot, self._foreign_methods(cls))
            self._class_verdicts[id(cls)] = kept
        return kept[2]

    def _foreign_methods(self, cls: type) -> str | None:
        """A Python method of the class that is not genuine (dataclass and namedtuple
        methods, which are generated with `exec`, are accepted by name)."""
        generated = hasattr(cls, "__dataclass_fields__") or hasattr(cls, "_fields")
        for name, member in vars(cls).copy().items():
            function = member.__func__ if isinstance(member, staticmethod | classmethod) else member
            if not isinstance(function, FunctionType):
                continue
            exec_made = function.__code__.co_filename == "<string>"
            if generated and exec_made and name in _GENERATED:
                continue
            problem = self.foreign(function)
            if problem:
                return f"method {cls.__qualname__}.{name}: {problem}"
        return None


Verdicts = dict[int, tuple[tuple[object, ...], str | None]]
_KeptModule = tuple[ModuleType, "_Snapshot", list[str], list[tuple[str, type]]]
"""A module, its snapshot, its functions' problems and its classes (label, class)."""


@dataclass(frozen=True)
class _Snapshot:
    """A namespace as it was examined, for a verdict to be kept while it holds: the same
    names bound to the same objects, its tables (dicts and lists among the values) with
    the same entries, and each function examined with the same code and wrapped function
    (both can be changed in place without rebinding any name; a function's globals
    cannot). Everything is compared by identity, at C speed; where dictionaries carry a
    version tag (`secmas.trust.versiontags`), an unchanged tag stands for the comparison
    of a dictionary's items (a wrapped function is an item of its function's dictionary),
    so an untouched namespace costs a few reads."""

    names: tuple[object, ...]
    values: tuple[object, ...]
    tables: tuple[tuple[dict[object, object] | list[object], tuple[object, ...]], ...]
    functions: tuple[FunctionType, ...]
    code: tuple[object, ...]
    wrapped: tuple[object, ...]
    watched: Watch | None
    """The version tags of the namespace, its dictionary tables and the examined
    functions' dictionaries (None: not readable)."""

    @classmethod
    def of(
        cls, namespace: Mapping[str, object], examined: Iterable[object], watched: Watch | None
    ) -> _Snapshot:
        """`watched` holds the namespace's tag, read before `namespace` was copied or
        walked; its tables' and functions' dictionaries' tags are read here, before their
        entries."""
        values = tuple(namespace.values())
        functions = tuple(f for f in map(_function_of, examined) if isinstance(f, FunctionType))
        if watched is not None:
            dicts = [t for t in values if type(t) is dict]
            watched = watched.extended([*dicts, *map(_DICT, functions)])
        tables = tuple((t, _entries(t)) for t in values if isinstance(t, dict | list))
        wrapped = tuple(map(getattr, functions, repeat("__wrapped__"), repeat(None)))
        code = tuple(map(_CODE, functions))
        return cls(tuple(namespace), values, tables, functions, code, wrapped, watched)

    def holds(self, namespace: Mapping[str, object]) -> bool:
        """Whether `namespace` (the one examined: callers key snapshots by its owner) is
        as it was."""
        if self.watched is not None and self.watched.unchanged():
            # The same names hold the same objects, the dictionary tables the same items.
            return all(
                _same(entries, tuple(table))
                for table, entries in self.tables
                if type(table) is not dict
            ) and _same(self.code, tuple(map(_CODE, self.functions)))
        return (
            _same(self.values, tuple(namespace.values()))
            and _same(self.names, tuple(namespace))
            and all(_same(entries, _entries(table)) for table, entries in self.tables)
            and _same(self.code, tuple(map(_CODE, self.functions)))
            and _same(
                self.wrapped,
                tuple(map(getattr, self.functions, repeat("__wrapped__"), repeat(None))),
            )
        )


class _Scope:
    """What `Bindings.group_problems` keeps for one scope: every module it examined (held,
    so that no id is reused), its last answer, the modules found changed, and the others
    laid out in `_Layout`s, one per batch of imports."""

    def __init__(self) -> None:
        self.modules: dict[int, ModuleType] = {}
        self.problems: dict[int, list[str]] = {}
        self.volatile: set[int] = set()
        self.layouts: list[_Layout] = []

    def add(self, modules: list[ModuleType], snapshots: list[list[_Snapshot]]) -> None:
        layout = _Layout.of(tuple(modules), snapshots)
        if layout is None:  # no tags on this interpreter: examined every time
            self.volatile.update(map(id, modules))
        else:
            self.layouts.append(layout)


@dataclass(frozen=True)
class _Layout:
    """The snapshots behind some modules' answers, laid side by side: every watched
    dictionary's reader, every list table, every function's code, each with the index of
    the module it belongs to, so that which modules changed is a few C-speed passes
    (with tags, a function's wrapped one is watched through its dictionary)."""

    modules: tuple[ModuleType, ...]
    watched: Watch
    watch_owner: tuple[int, ...]
    unwatched: frozenset[int]
    lists: tuple[tuple[int, list[object], tuple[object, ...]], ...]
    functions: tuple[FunctionType, ...]
    code: tuple[object, ...]
    code_owner: tuple[int, ...]

    @classmethod
    def of(
        cls, modules: tuple[ModuleType, ...], snapshots: list[list[_Snapshot]]
    ) -> _Layout | None:
        """`snapshots[i]` are module i's; a module with a snapshot without readable tags
        counts as changed every time (None: no tags at all on this interpreter)."""
        if not AVAILABLE:
            return None
        owned = [(i, s) for i, group in enumerate(snapshots) for s in group]
        watched = [(i, s.watched) for i, s in owned if s.watched is not None]
        return cls(
            modules,
            Watch.joined(w for _, w in watched),
            tuple(i for i, w in watched for _ in w.dicts),
            frozenset(i for i, s in owned if s.watched is None),
            tuple((i, t, e) for i, s in owned for t, e in s.tables if type(t) is not dict),
            tuple(f for _, s in owned for f in s.functions),
            tuple(c for _, s in owned for c in s.code),
            tuple(i for i, s in owned for _ in s.functions),
        )

    def changed(self) -> set[int]:
        """The ids of the modules with a namespace, list table or function changed."""
        found = set(self.unwatched)
        found.update(compress(self.watch_owner, self.watched.moved()))
        now = map(_CODE, self.functions)
        found.update(compress(self.code_owner, map(operator.is_not, self.code, now)))
        found.update(i for i, table, entries in self.lists if not _same(entries, tuple(table)))
        return {id(self.modules[i]) for i in found}


def _entries(table: dict[object, object] | list[object]) -> tuple[object, ...]:
    return (*table, *table.values()) if isinstance(table, dict) else tuple(table)


_CODE = operator.attrgetter("__code__")
_DICT = operator.attrgetter("__dict__")


def _same(kept: tuple[object, ...], now: tuple[object, ...]) -> bool:
    return len(kept) == len(now) and all(map(operator.is_, kept, now))


def _function_of(value: object) -> object:
    """The Python function a bound method, static or class method stands for."""
    if isinstance(value, MethodType | staticmethod | classmethod):
        return value.__func__
    return value


def _cached(
    cache: Verdicts, key: tuple[object, ...], compute: Callable[[], str | None]
) -> str | None:
    """The verdict kept for `key[0]` while every object of `key` is still the same one
    (the key holds them, so no address is reused meanwhile); else computed anew."""
    kept = cache.get(id(key[0]))
    if kept is not None and len(kept[0]) == len(key) and all(map(operator.is_, kept[0], key)):
        return kept[1]
    verdict = compute()
    cache[id(key[0])] = (key, verdict)
    return verdict


def _foreign_function(function: FunctionType, known: KnownCode) -> str | None:
    if function.__code__ not in known:
        return f"code of {function.__qualname__} is not from a measured file"
    if not _module_made(function):
        return f"{function.__qualname__} was not made by a loaded module"
    return None


def _own_function(module: ModuleType, name: str, value: object) -> bool:
    return (
        isinstance(value, FunctionType)
        and value.__qualname__ == name
        and value.__module__ == module.__name__
        and value.__globals__ is vars(module)
    )


def _bound(value: object) -> Iterable[tuple[str, object]]:
    """The callables a binding holds: itself, or a dispatch table's values (one level)."""
    if _callable_kind(value):
        yield "", value
    elif isinstance(value, dict):
        for key, item in list(_settled(value).items())[:_TABLE_LIMIT]:
            if _callable_kind(item):
                yield f"[{key!r}]", item
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value[:_TABLE_LIMIT]):
            if _callable_kind(item):
                yield f"[{index}]", item


def _settled(table: Mapping[str, object] | dict[object, object]) -> dict[object, object]:
    """A copy of a dictionary something else may be changing while it is walked: another
    thread (the attester measures off the agent's loop, which fills `re`'s cache) or a
    garbage-collection callback (a weak-keyed memo such as `codehash`'s drops entries when
    collection runs, and building the items' tuples can start it). `dict.copy` copies in
    one C call that neither runs Python code nor starts a collection."""
    return table.copy() if isinstance(table, dict) else dict(table)


def _callable_kind(value: object) -> bool:
    return isinstance(value, FunctionType | MethodType | type | BuiltinFunctionType)


def _module_made(function: FunctionType) -> bool:
    """Whether the function's globals are a loaded module's namespace (as for every
    function a module defines), not a dictionary an implant made up. For a decorated one,
    the innermost wrapped function's."""
    inner = function
    for _ in range(_UNWRAP_LIMIT):
        wrapped = getattr(inner, "__wrapped__", None)
        if not isinstance(wrapped, FunctionType):
            break
        inner = wrapped
    scope = inner.__globals__
    spec = scope.get("__spec__")
    names = (getattr(spec, "name", None), scope.get("__name__"))
    return any(vars(m) is scope for m in (sys.modules.get(n or "") for n in names) if m)

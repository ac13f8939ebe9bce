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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import repeat
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType

from secmas.trust.pycode import KnownCode

_DOMAIN = b"secmas/bindings/1\x00"
_TABLE_LIMIT = 256  # entries of one dispatch table examined
_UNWRAP_LIMIT = 16  # decorators followed to the defining module
_STDLIB_SKIP = frozenset({"__main__", "builtins", "sys"})
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
            bound = [
                (f"{name}{where}", item)
                for name, value in _settled(namespace).items()
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
            snapshot = _Snapshot.of(namespace, [item for _, item in callables])
            self._modules[id(module)] = (module, snapshot, functions, classes)
        return functions + [
            f"{module.__name__}.{label}: {problem}"
            for label, cls in classes
            if (problem := self.foreign(cls))
        ]

    def instance_problems(self, obj: object) -> list[str]:
        """Attributes of an agent object that shadow its class's methods or hold foreign
        code."""
        label = f"{type(obj).__module__}.{type(obj).__qualname__}"
        try:
            attributes = dict(vars(obj))
        except TypeError:  # __slots__ only: nothing can be bound on the instance
            return []
        found = []
        for name, value in attributes.items():
            if isinstance(getattr(type(obj), name, None), FunctionType):
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
        found = []
        for name, module in _settled(loaded).items():
            standard = name.partition(".")[0] in sys.stdlib_module_names
            if standard and name not in _STDLIB_SKIP and isinstance(module, ModuleType):
                found.extend(self.module_problems(module))
        return found

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
            snapshot = _Snapshot.of(namespace, list(namespace.values()))
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
    cannot). Everything is compared by identity, at C speed."""

    names: tuple[object, ...]
    values: tuple[object, ...]
    tables: tuple[tuple[dict[object, object] | list[object], tuple[object, ...]], ...]
    functions: tuple[FunctionType, ...]
    code: tuple[object, ...]

    @classmethod
    def of(cls, namespace: Mapping[str, object], examined: Iterable[object]) -> _Snapshot:
        values = tuple(namespace.values())
        tables = tuple((t, _entries(t)) for t in values if isinstance(t, dict | list))
        functions = tuple(f for f in map(_function_of, examined) if isinstance(f, FunctionType))
        return cls(tuple(namespace), values, tables, functions, _code_of(functions))

    def holds(self, namespace: Mapping[str, object]) -> bool:
        return (
            _same(self.values, tuple(namespace.values()))
            and _same(self.names, tuple(namespace))
            and all(_same(entries, _entries(table)) for table, entries in self.tables)
            and _same(self.code, _code_of(self.functions))
        )


def _entries(table: dict[object, object] | list[object]) -> tuple[object, ...]:
    return (*table, *table.values()) if isinstance(table, dict) else tuple(table)


def _code_of(functions: tuple[FunctionType, ...]) -> tuple[object, ...]:
    return (
        *map(_CODE, functions),
        *map(getattr, functions, repeat("__wrapped__"), repeat(None)),
    )


_CODE = operator.attrgetter("__code__")


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

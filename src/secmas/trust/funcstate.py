"""A function's state beyond its code: its defaults, keyword defaults and closure cells.

A call falls back on `__defaults__` and `__kwdefaults__` and reads its cells, and each can
be rewritten in place without touching a code object, a name or a namespace: a verifier's
timeout default of 5 s set to 1e9 s passed a measurement of code alone. So a function's
measured digest covers a record of this state too (`state_digest`).

The reference comes from the source (`source_shapes`): a default written as a literal
(numbers, strings, bytes, None, tuples of them: `ast.literal_eval`) is recorded by value,
any other (a name, a call) as `OPAQUE`, its value being whatever the expression gave when
the module ran. A function reachable by attribute lookup has one possible cell,
`__class__` (a method that calls `super()`), which must hold the class the method is found
in. The live record (`live_record`) follows the pattern of the file as it is now (the file
measurement covers the file): a literal's position by the value held now, an opaque one
as `OPAQUE`, and whatever the file does not give (a default added, another cell's
content) by value, so it differs from the reference. What an opaque position or a
decorator's wrapper holds is pinned by the live measurement instead
(`secmas.trust.pycode.LiveCode`).

Values are rendered by type and value for constants, by type alone for anything else:
no `repr` of an object whose class an implant may have written.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Callable, Iterable, Mapping
from types import CodeType, EllipsisType, NoneType

Shape = tuple[str, ...]
"""`key=value` entries: `default -N` (the N-th positional default from the end),
`kwdefault NAME`, `cell NAME`."""

OPAQUE = "?"
OWNER = "owner"
"""What a `__class__` cell holds in a genuine method: the class it is found in."""
_DOMAIN = b"secmas/function-state/1\x00"
_SCALARS = (int, float, complex, str, bytes, bool, NoneType, EllipsisType)
_DEPTH = 8  # nested tuples rendered


def render(value: object, depth: int = 0) -> str:
    """A value as the record holds it: constants by type and value, others by type."""
    kind = type(value)
    if kind is int:
        return f"int:{value:x}"  # no decimal digit limit on huge numbers
    if kind in _SCALARS:
        return f"{kind.__name__}:{value!r}"
    if kind is tuple and depth < _DEPTH:
        return "tuple:(" + ",".join(render(v, depth + 1) for v in value) + ")"  # type: ignore[attr-defined]
    return f"object:{kind.__module__}.{kind.__qualname__}"


def state_digest(code: str, record: Shape) -> str:
    """The digest of a function: its code digest alone when it holds no state (most
    functions), else a hash over both."""
    if not record:
        return code
    h = hashlib.sha256(_DOMAIN + bytes.fromhex(code))
    for entry in record:
        encoded = entry.encode("utf-8", "backslashreplace")
        h.update(len(encoded).to_bytes(4, "big") + encoded)
    return h.hexdigest()


def shape_key(code: CodeType) -> str:
    """Where a function's shape is filed: qualname and first line (a decorated function's
    first line is its first decorator's, as its code object has it)."""
    return f"{code.co_qualname}:{code.co_firstlineno}"


def reference_record(code: CodeType, shapes: Mapping[str, Shape]) -> Shape:
    """What a genuine function compiled as `code` holds: its defaults as the source
    writes them, and the class it is found in in a `__class__` cell."""
    cells = [f"cell {n}={OWNER if n == '__class__' else OPAQUE}" for n in code.co_freevars]
    return (*shapes.get(shape_key(code), ()), *cells)


def live_record(
    function: object, code: CodeType, shapes: Mapping[str, Shape], owner: object
) -> Shape:
    """What `function` (running `code`) holds now, by the file's pattern; `owner`: the
    class it was found in (or anything else, for a module's function)."""
    opaque = _opaque_keys(shapes, code)
    return _record(
        function,
        code,
        lambda key, value: f"{key}={OPAQUE if key in opaque else render(value)}",
        lambda name, value: f"cell {name}={_cell(name, value, owner)}",
    )


def held_constants(
    function: object, code: CodeType, shapes: Mapping[str, Shape] | None = None
) -> Shape:
    """The constants `function` holds now (defaults, keyword defaults, cells), by value:
    all of them, or with `shapes` only the defaults its file gives by a name or a call."""
    opaque = None if shapes is None else _opaque_keys(shapes, code)
    if opaque is not None and not opaque:
        return ()
    entries = _record(
        function,
        code,
        lambda key, value: f"{key}={render(value)}",
        lambda name, value: f"cell {name}={render(value)}",
    )
    if opaque is not None:
        entries = tuple(e for e in entries if e.partition("=")[0] in opaque)
    return tuple(e for e in entries if not e.partition("=")[2].startswith("object:"))


class Pins:
    """What functions hold that no file says (a default given by a name, a decorator's
    arguments in its wrapper's cells), as first measured: the constants among it must
    stay the same. Kept per function object (held, so that no id is reused)."""

    def __init__(self) -> None:
        self._first: dict[int, tuple[object, Shape]] = {}

    def holds(
        self, function: object, code: CodeType, shapes: Mapping[str, Shape] | None = None
    ) -> bool:
        """Whether `function` holds the constants it held when first seen
        (`held_constants`: a wrapper's all, a measured function's where `shapes` say its
        file gives no literal)."""
        now = held_constants(function, code, shapes)
        kept = self._first.get(id(function))
        if kept is None or kept[0] is not function:
            self._first[id(function)] = (function, now)
            return True
        return kept[1] == now


Render = Callable[[str, object], str]


def _record(function: object, code: CodeType, default: Render, cell: Render) -> Shape:
    """Entries for the defaults (`default`: key and value), keyword defaults and cells
    (`cell`: name and content) `function` holds, in a fixed order."""
    defaults = _attribute(function, "__defaults__")
    keywords = _attribute(function, "__kwdefaults__")
    closure = _attribute(function, "__closure__")
    entries = []
    if defaults is not None:
        found = defaults if type(defaults) is tuple else (defaults,)
        entries.extend(default(f"default {i - len(found)}", v) for i, v in enumerate(found))
    if keywords is not None:
        items = keywords.items() if type(keywords) is dict else [("", keywords)]
        entries.extend(default(f"kwdefault {k}", v) for k, v in sorted(items, key=_name_of))
    if type(closure) is tuple:
        names = code.co_freevars
        entries.extend(cell(n, _contents(c)) for n, c in zip(names, closure, strict=False))
    return tuple(entries)


def cell_contents(cells: Iterable[object]) -> tuple[object, ...]:
    """What cells hold now (`_EMPTY` for an empty one), to be compared by identity."""
    return tuple(_contents(c) for c in cells)


_EMPTY = object()


def _contents(cell: object) -> object:
    try:
        return cell.cell_contents  # type: ignore[attr-defined]
    except (AttributeError, ValueError):  # not a cell, or an empty one
        return _EMPTY


def _cell(name: str, value: object, owner: object) -> str:
    if name != "__class__":
        return OPAQUE
    return OWNER if value is owner and isinstance(owner, type) else render(value)


def _name_of(item: tuple[object, object]) -> str:
    return str(item[0]) if type(item[0]) is str else render(item[0])


def _opaque_keys(shapes: Mapping[str, Shape], code: CodeType) -> set[str]:
    """The defaults of `code`'s function that its file gives by a name or a call."""
    shape = shapes.get(shape_key(code))
    if not shape:
        return set()
    ending = "=" + OPAQUE
    return {e[: -len(ending)] for e in shape if e.endswith(ending)}


def _attribute(item: object, name: str) -> object:
    try:
        return getattr(item, name, None)
    except Exception:  # a descriptor that raises: nothing held there
        return None


# The reference: from the source.


def source_shapes(tree: ast.Module) -> dict[str, Shape]:
    """`shape_key` → the defaults every reachable function of a module writes (those
    with none are left out)."""
    shapes: dict[str, Shape] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                shape = _shape(child.args)
                if shape:
                    first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                    shapes[f"{prefix}{child.name}:{first}"] = shape
            else:  # if/try/with blocks do not open a scope
                visit(child, prefix)

    visit(tree, "")
    return shapes


def _shape(args: ast.arguments) -> Shape:
    count = len(args.defaults)
    positional = [f"default {i - count}={_literal(d)}" for i, d in enumerate(args.defaults)]
    keywords = sorted(
        (a.arg, _literal(d)) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d
    )
    return (*positional, *(f"kwdefault {name}={value}" for name, value in keywords))


def _literal(node: ast.expr) -> str:
    """A default as the reference records it: a literal's value, else `OPAQUE`."""
    try:
        return render(ast.literal_eval(node))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return OPAQUE

"""The KPI formula language of Security SLAs: a small language for the service-level indicators
and breach conditions of `004_…` Figure 3, such as
``COUNT(packets WHERE source_ip NOT IN whitelist) == 0``.

Formulas are tokenised and parsed by hand into an immutable tree that is evaluated directly;
user text is never handed to ``eval``/``exec`` or compiled into Python code.

Grammar (keywords are case-insensitive; names are case-sensitive)::

    formula    := aggregate [comparison]
    aggregate  := (COUNT | RATE) '(' stream [WHERE cond] ')'
                | (SUM | AVG | MAX | MIN) '(' stream '.' field [WHERE cond] ')'
                | metric                       -- the latest value of a named metric
    comparison := op number
    cond       := conj {OR conj}
    conj       := neg {AND neg}
    neg        := NOT neg | '(' cond ')' | atom
    atom       := field op value
                | field [NOT] IN set           -- a named set supplied at evaluation
                | field [NOT] IN '[' [literal {',' literal}] ']'
    op         := '==' | '!=' | '<' | '<=' | '>' | '>='
    value      := literal | field              -- a name on the right is another field
    literal    := number | string | TRUE | FALSE
    stream, field, set, metric := name {name}  -- words are joined with '_'
    name       := [A-Za-z_][A-Za-z0-9_]*       -- ASCII; not starting with '__'
    number     := ['-'] digits ['.' digits] [('e'|'E') ['+'|'-'] digits]
    string     := '…' | "…"                    -- escapes: \\ \' \"

Precedence is NOT over AND over OR. Multi-word names let the text of Figure 3 be written as
printed: ``COUNT(ingress packets WHERE source ip NOT IN whitelist)`` has the stream
``ingress_packets`` and the field ``source_ip``. The words ``WHERE AND OR NOT IN TRUE FALSE``
are reserved and cannot appear in names; an aggregate keyword followed by ``(`` starts an
aggregate.

Evaluation semantics:

* ``COUNT`` is the number of records satisfying ``WHERE`` (all records without it); ``RATE`` is
  that count divided by the evaluation period in seconds; ``SUM``/``AVG``/``MAX``/``MIN``
  aggregate the numeric values of ``field`` over the matching records. Missing, boolean,
  non-numeric and NaN values are skipped; ``SUM`` of nothing is 0 and ``AVG``/``MAX``/``MIN``
  of nothing is NaN (so any comparison on it is false).
* A bare metric reads ``metrics[name]``; an unknown metric is a :class:`FormulaError`.
* An atom is true only when its field is present in the record, its operand is present and
  comparable, and the relation holds. A record missing a field makes the atom false (so both
  ``x == 1`` and ``x != 1`` are false for it, while ``NOT x == 1`` is true). Values compare
  by kind: numbers with numbers, strings with strings, booleans with booleans (``TRUE`` is not
  ``1``), other values only with values of the same type; comparing different kinds is false,
  never a ``TypeError``. Booleans are not ordered. Membership follows the same equality.
* A named set that is not supplied at evaluation is a :class:`FormulaError` naming it, raised
  before any record is read. A set may be a collection of values or :class:`Prefixes`, a set
  of IP networks: an address (text or `ipaddress` object) is in it when a prefix holds it.
* A flow-level stream stands for many packets per record: ``evaluate(weight="packets")``
  makes ``COUNT`` and ``RATE`` sum that field over the matching records instead of counting
  them (a record without a usable weight counts 0).

Limits: a formula is at most :data:`MAX_LENGTH` characters, nests at most :data:`MAX_DEPTH`
parentheses/``NOT``, and a list literal has at most :data:`MAX_LIST_ITEMS` items; numbers
are at most :data:`MAX_NUMBER_CHARS` characters and must be finite. Control and format
characters (NUL, bidirectional overrides, zero-width characters, …) are refused everywhere,
and non-ASCII characters outside string literals.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as _dc_field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from types import MappingProxyType
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_EXAMPLES",
    "MAX_LENGTH",
    "MAX_LIST_ITEMS",
    "MAX_NUMBER_CHARS",
    "And",
    "Compare",
    "Evaluation",
    "FieldRef",
    "Formula",
    "FormulaError",
    "Member",
    "Not",
    "Or",
    "Prefixes",
    "atoms",
    "parse",
]

MAX_LENGTH = 2000
MAX_DEPTH = 32
MAX_LIST_ITEMS = 10_000
MAX_NUMBER_CHARS = 40
MAX_EXAMPLES = 5

AGGREGATES = ("COUNT", "RATE", "SUM", "AVG", "MAX", "MIN")
_FIELD_AGGREGATES = ("SUM", "AVG", "MAX", "MIN")
_RESERVED = frozenset({"WHERE", "AND", "OR", "NOT", "IN", "TRUE", "FALSE"})
OPERATORS = ("==", "!=", "<", "<=", ">", ">=")

_EXCERPT_RADIUS = 30


class FormulaError(ValueError):
    """A formula that cannot be parsed or evaluated; ``column`` is 1-based (None if global)."""

    def __init__(self, message: str, column: int | None = None, text: str | None = None):
        self.message = message
        self.column = column
        self.text = text
        full = message if column is None else f"col {column}: {message}"
        if column is not None and text is not None:
            full += "\n" + _excerpt(text, column)
        super().__init__(full)


def _excerpt(text: str, column: int) -> str:
    """A one-line window of ``text`` around ``column`` with a caret under it."""
    index = column - 1
    start = max(0, index - _EXCERPT_RADIUS)
    end = min(len(text), index + _EXCERPT_RADIUS)
    shown = "".join(
        c if " " <= c <= "~" else "?" if c not in "\t\n\r" else " " for c in text[start:end]
    )
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(text) else ""
    return f"  {prefix}{shown}{suffix}\n  {' ' * (len(prefix) + index - start)}^"


# --- the tree ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field of the record used as the right-hand operand of a comparison."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Compare:
    """``field op value``; ``value`` is a literal or a :class:`FieldRef`."""

    field: str
    op: str
    value: Any

    def __str__(self) -> str:
        return f"{self.field} {self.op} {_render(self.value)}"


@dataclass(frozen=True, slots=True)
class Member:
    """``field [NOT] IN source``: ``source`` is a set name (str) or a tuple of literals."""

    field: str
    negated: bool
    source: str | tuple[Any, ...]
    column: int = _dc_field(default=0, compare=False)

    def __str__(self) -> str:
        keyword = "NOT IN" if self.negated else "IN"
        if isinstance(self.source, str):
            rendered = self.source
        else:
            rendered = "[" + ", ".join(_render(v) for v in self.source) + "]"
        return f"{self.field} {keyword} {rendered}"


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Condition, ...]

    def __str__(self) -> str:
        return " AND ".join(f"({c})" if isinstance(c, Or) else str(c) for c in self.items)


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Condition, ...]

    def __str__(self) -> str:
        return " OR ".join(str(c) for c in self.items)


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition

    def __str__(self) -> str:
        inner = self.item
        return f"NOT ({inner})" if isinstance(inner, And | Or) else f"NOT {inner}"


Condition = Compare | Member | And | Or | Not


def _render(value: Any) -> str:
    if isinstance(value, FieldRef):
        return value.name
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


class Prefixes(Collection[str]):
    """A named set of IP networks (CIDR prefixes): membership is prefix containment, so
    ``source_ip IN whitelist`` holds for every address of a whitelisted prefix."""

    __slots__ = ("networks",)

    def __init__(self, networks: Iterable[str | IPv4Network | IPv6Network]) -> None:
        parsed: list[IPv4Network | IPv6Network] = []
        for network in networks:
            try:
                parsed.append(ip_network(network))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"not an IP address or CIDR prefix: {network!r} ({exc})") from None
        self.networks = tuple(parsed)

    def __contains__(self, value: object) -> bool:
        if isinstance(value, str):
            try:
                address: IPv4Address | IPv6Address = ip_address(value.strip())
            except ValueError:
                return False
        elif isinstance(value, IPv4Address | IPv6Address):
            address = value
        else:
            return False
        return any(address in network for network in self.networks)

    def __iter__(self) -> Iterator[str]:
        return (str(network) for network in self.networks)

    def __len__(self) -> int:
        return len(self.networks)

    def __repr__(self) -> str:
        return f"Prefixes({[str(n) for n in self.networks]})"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The value of a formula on some records, and whether its comparison holds.

    ``holds`` is None for a formula without comparison; ``matched`` counts the records that
    satisfied ``WHERE``; ``examples`` keeps up to :data:`MAX_EXAMPLES` of them (read-only
    copies) as evidence for explanations.
    """

    value: float
    holds: bool | None
    matched: int
    examples: tuple[Mapping[str, Any], ...] = ()


_NO_SETS: Mapping[str, Collection[Any]] = MappingProxyType({})
_NO_METRICS: Mapping[str, float] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Formula:
    """A parsed KPI formula. ``aggregate`` is one of :data:`AGGREGATES` or ``"METRIC"`` for a
    bare metric name; ``stream`` is None for a metric; ``field`` is the aggregated field of
    ``SUM``/``AVG``/``MAX``/``MIN``, the metric name for ``METRIC``, None otherwise;
    ``comparison`` is ``(op, number)`` or None. ``str()`` gives a canonical spelling that
    parses back to an equal tree."""

    text: str = _dc_field(compare=False)
    aggregate: str
    stream: str | None
    field: str | None
    where: Condition | None
    comparison: tuple[str, int | float] | None
    column: int = _dc_field(default=1, compare=False, repr=False)

    def __str__(self) -> str:
        if self.aggregate == "METRIC":
            out = str(self.field)
        else:
            inner = str(self.stream)
            if self.field is not None:
                inner += f".{self.field}"
            if self.where is not None:
                inner += f" WHERE {self.where}"
            out = f"{self.aggregate}({inner})"
        if self.comparison is not None:
            out += f" {self.comparison[0]} {_render(self.comparison[1])}"
        return out

    def set_names(self) -> frozenset[str]:
        """The named sets the formula needs at evaluation."""
        return frozenset(
            m.source
            for m in atoms(self.where)
            if isinstance(m, Member) and isinstance(m.source, str)
        )

    def field_names(self) -> frozenset[str]:
        """The record fields (or, for ``METRIC``, the metric) the formula reads."""
        names: set[str] = set()
        if self.field is not None:
            names.add(self.field)
        for atom in atoms(self.where):
            names.add(atom.field)
            if isinstance(atom, Compare) and isinstance(atom.value, FieldRef):
                names.add(atom.value.name)
        return frozenset(names)

    def names(self) -> frozenset[str]:
        """Every named set, field and metric the formula refers to."""
        return self.set_names() | self.field_names()

    def evaluate(
        self,
        records: Iterable[Mapping[str, Any]],
        *,
        sets: Mapping[str, Collection[Any]] = _NO_SETS,
        period: float = 1.0,
        metrics: Mapping[str, float] = _NO_METRICS,
        weight: str | None = None,
    ) -> Evaluation:
        """Evaluate over ``records`` (ignored for a bare metric). ``period`` (seconds, > 0)
        divides ``RATE``; ``sets`` supplies the named sets; ``metrics`` the metric values;
        ``weight`` names the field that says how many events a record stands for."""
        if self.aggregate == "METRIC":
            return self._evaluate_metric(metrics)
        if self.aggregate == "RATE" and not (
            isinstance(period, int | float) and math.isfinite(period) and period > 0
        ):
            raise ValueError(f"period must be a finite number of seconds > 0, got {period!r}")
        check = _compile(self.where, _resolve_sets(self.where, sets, self.text))
        matched = 0
        counted = 0.0
        examples: list[Mapping[str, Any]] = []
        numbers: list[float] = []
        for record in records:
            if not check(record):
                continue
            matched += 1
            counted += 1.0 if weight is None else _weight(_get(record, weight))
            if len(examples) < MAX_EXAMPLES:
                examples.append(_snapshot(record))
            if self.field is not None:
                number = _number(_get(record, self.field))
                if number is not None:
                    numbers.append(number)
        value = _aggregate(self.aggregate, counted, numbers, period)
        return Evaluation(value, self._holds(value), matched, tuple(examples))

    def select(
        self,
        records: Iterable[Mapping[str, Any]],
        *,
        sets: Mapping[str, Collection[Any]] = _NO_SETS,
    ) -> list[Mapping[str, Any]]:
        """Every record satisfying ``WHERE`` (all of them without it): the evidence of a
        breach, e.g. the packets that came from outside the whitelist."""
        check = _compile(self.where, _resolve_sets(self.where, sets, self.text))
        return [record for record in records if check(record)]

    def _evaluate_metric(self, metrics: Mapping[str, float]) -> Evaluation:
        name = str(self.field)
        try:
            raw = metrics[name]
        except (KeyError, TypeError):
            raise FormulaError(f"unknown metric '{name}'", self.column, self.text) from None
        value = _number(raw)
        if value is None and not (isinstance(raw, float) and math.isnan(raw)):
            raise FormulaError(f"metric '{name}' is not a number: {raw!r}", self.column, self.text)
        value = math.nan if value is None else value
        return Evaluation(value, self._holds(value), 0, ())

    def _holds(self, value: float) -> bool | None:
        if self.comparison is None:
            return None
        op, target = self.comparison
        return _ORDER[op](value, target)


def _weight(value: Any) -> float:
    number = _number(value)
    return number if number is not None and math.isfinite(number) and number > 0 else 0.0


def _aggregate(kind: str, counted: float, numbers: list[float], period: float) -> float:
    if kind == "COUNT":
        return counted
    if kind == "RATE":
        return counted / period
    if kind == "SUM":
        try:
            return math.fsum(numbers)
        except (ValueError, OverflowError):  # inf + -inf, or an overflowing partial sum
            return sum(numbers)
    if not numbers:
        return math.nan
    if kind == "AVG":
        try:
            return math.fsum(numbers) / len(numbers)
        except (ValueError, OverflowError):
            return sum(numbers) / len(numbers)
    return max(numbers) if kind == "MAX" else min(numbers)


def atoms(cond: Condition | None) -> Iterable[Compare | Member]:
    """The comparisons and membership tests of a condition, in no particular order."""
    stack = [cond] if cond is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend(node.items)
        elif isinstance(node, Not):
            stack.append(node.item)
        else:
            yield node


def _snapshot(record: Mapping[str, Any]) -> Mapping[str, Any]:
    try:
        return MappingProxyType(dict(record))
    except (TypeError, ValueError):
        return MappingProxyType({})


# --- values ------------------------------------------------------------------------------------

_MISSING = object()


def _get(record: Any, name: str) -> Any:
    try:
        return record[name]
    except (KeyError, IndexError, TypeError):
        return _MISSING


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__qualname__


def _number(value: Any) -> float | None:
    """A finite-or-infinite float for a numeric value; None for anything else (and NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        number = math.inf if value > 0 else -math.inf
    return None if math.isnan(number) else number


def _truth(result: Any) -> bool:
    return result is True or (type(result).__name__ == "bool_" and bool(result))


def _equal(a: Any, b: Any) -> bool:
    if _kind(a) != _kind(b):
        return False
    try:
        return _truth(a == b)
    except Exception:  # foreign objects may raise anything from __eq__
        return False


def _ordered(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        kind = _kind(a)
        if kind != _kind(b) or kind == "bool":
            return False
        if kind not in ("number", "string") and type(a) is not type(b):
            return False
        try:
            return _truth(op(a, b))
        except Exception:
            return False

    return compare


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "==": _equal,
    "!=": lambda a, b: _kind(a) == _kind(b) and not _equal(a, b),
    "<": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b),
    ">": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b),
}


def _key(value: Any) -> tuple[str, Any]:
    return (_kind(value), value)


class _Members:
    """Membership with the language's equality: hashed where possible, scanned otherwise."""

    __slots__ = ("hashed", "scanned")

    def __init__(self, values: Iterable[Any]):
        hashed: set[tuple[str, Any]] = set()
        scanned: list[Any] = []
        for v in values:
            if isinstance(v, float) and math.isnan(v):
                continue  # NaN equals nothing
            try:
                hashed.add(_key(v))
            except TypeError:
                scanned.append(v)
        self.hashed = frozenset(hashed)
        self.scanned = tuple(scanned)

    def __contains__(self, value: Any) -> bool:
        if isinstance(value, float) and math.isnan(value):
            return False
        try:
            if _key(value) in self.hashed:
                return True
        except TypeError:
            pass
        except Exception:  # a foreign __hash__/__eq__ that misbehaves
            return False
        return any(_equal(value, v) for v in self.scanned)


def _resolve_sets(
    cond: Condition | None, sets: Mapping[str, Collection[Any]], text: str
) -> dict[str, _Members | Prefixes]:
    resolved: dict[str, _Members | Prefixes] = {}
    for atom in atoms(cond):
        if (
            isinstance(atom, Member)
            and isinstance(atom.source, str)
            and atom.source not in resolved
        ):
            try:
                values = sets[atom.source]
            except (KeyError, TypeError):
                raise FormulaError(
                    f"unknown named set '{atom.source}'", atom.column, text
                ) from None
            if isinstance(values, str | bytes) or not isinstance(values, Iterable):
                raise FormulaError(
                    f"named set '{atom.source}' is not a collection", atom.column, text
                )
            resolved[atom.source] = values if isinstance(values, Prefixes) else _Members(values)
    return resolved


Check = Callable[[Mapping[str, Any]], bool]


def _compile(cond: Condition | None, sets: dict[str, _Members | Prefixes]) -> Check:
    """A predicate for ``cond`` (depth is bounded by the parser, so recursion is too)."""
    if cond is None:
        return lambda record: True
    if isinstance(cond, And):
        parts = tuple(_compile(c, sets) for c in cond.items)
        return lambda record: all(p(record) for p in parts)
    if isinstance(cond, Or):
        parts = tuple(_compile(c, sets) for c in cond.items)
        return lambda record: any(p(record) for p in parts)
    if isinstance(cond, Not):
        inner = _compile(cond.item, sets)
        return lambda record: not inner(record)
    if isinstance(cond, Member):
        members = sets[cond.source] if isinstance(cond.source, str) else _Members(cond.source)
        name, negated = cond.field, cond.negated

        def member(record: Mapping[str, Any]) -> bool:
            value = _get(record, name)
            return value is not _MISSING and (value in members) != negated

        return member
    left, relation, right = cond.field, _ORDER[cond.op], cond.value

    def compare(record: Mapping[str, Any]) -> bool:
        a = _get(record, left)
        b = _get(record, right.name) if isinstance(right, FieldRef) else right
        return a is not _MISSING and b is not _MISSING and relation(a, b)

    return compare


# --- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # name number string op ( ) [ ] , . end
    value: Any
    pos: int  # 0-based
    source: str  # the text as written

    @property
    def upper(self) -> str:
        return self.value.upper() if self.kind == "name" else ""


_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_ESCAPES = {"\\": "\\", "'": "'", '"': '"'}


def _describe(char: str) -> str:
    if " " < char <= "~":
        return f"'{char}'"
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)

    def fail(message: str, pos: int) -> FormulaError:
        return FormulaError(message, pos + 1, text)

    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c in "()[],.":
            if c == "." and i + 1 < n and text[i + 1].isascii() and text[i + 1].isdigit():
                raise fail("a number must start with a digit", i)
            tokens.append(_Token(c, c, i, c))
            i += 1
        elif c in "=!<>":
            two = text[i : i + 2]
            if two in OPERATORS:
                tokens.append(_Token("op", two, i, two))
                i += 2
            elif c in "<>":
                tokens.append(_Token("op", c, i, c))
                i += 1
            elif c == "=":
                raise fail("use '==' to compare for equality", i)
            else:
                raise fail("'!' must be followed by '=' (use NOT to negate)", i)
        elif c.isascii() and (
            c.isdigit()
            or (c == "-" and i + 1 < n and text[i + 1].isascii() and text[i + 1].isdigit())
        ):
            match = _NUMBER.match(text, i)
            assert match is not None  # a digit, possibly after '-', always matches
            end = match.end()
            if end < n and (text[end] in _NAME_CHARS or text[end] == "."):
                raise fail(f"malformed number {text[i : end + 1]!r}", i)
            raw = match.group()
            if len(raw) > MAX_NUMBER_CHARS:
                raise fail(f"number longer than {MAX_NUMBER_CHARS} characters", i)
            value: int | float
            if any(ch in raw for ch in ".eE"):
                value = float(raw)
                if not math.isfinite(value):
                    raise fail(f"number {raw} is out of range", i)
            else:
                value = int(raw)
            tokens.append(_Token("number", value, i, raw))
            i = end
        elif c in "'\"":
            i = _string(text, i, tokens, fail)
        elif c.isascii() and (c.isalpha() or c == "_"):
            match = _NAME.match(text, i)
            assert match is not None
            name = match.group()
            if name.startswith("__"):
                raise fail(f"names starting with '__' are reserved: {name!r}", i)
            tokens.append(_Token("name", name, i, name))
            i = match.end()
        else:
            raise fail(f"unexpected character {_describe(c)}", i)
    tokens.append(_Token("end", None, n, "the end"))
    return tokens


def _string(
    text: str, start: int, tokens: list[_Token], fail: Callable[[str, int], FormulaError]
) -> int:
    quote = text[start]
    out: list[str] = []
    i, n = start + 1, len(text)
    while i < n:
        c = text[i]
        if c == quote:
            tokens.append(_Token("string", "".join(out), start, text[start : i + 1]))
            return i + 1
        if c == "\\":
            if i + 1 < n and text[i + 1] in _ESCAPES:
                out.append(_ESCAPES[text[i + 1]])
                i += 2
                continue
            raise fail("unknown escape in string (only \\\\, \\' and \\\" are allowed)", i)
        if unicodedata.category(c) in _BAD_CATEGORIES:
            raise fail(f"character {_describe(c)} is not allowed in a string", i)
        out.append(c)
        i += 1
    raise fail("string is not closed", start)


# --- parser ------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    # helpers
    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def error(self, message: str, token: _Token | None = None) -> FormulaError:
        token = token or self.token
        return FormulaError(message, token.pos + 1, self.text)

    def expect(self, kind: str, context: str) -> _Token:
        if self.token.kind != kind:
            raise self.error(f"expected '{kind}' {context}, found {self.found()}")
        return self.advance()

    def found(self) -> str:
        token = self.token
        return "the end" if token.kind == "end" else repr(token.source)

    def is_word(self, *words: str) -> bool:
        return self.token.upper in words

    def name(self, what: str, stop: str = "") -> str:
        """One or more plain words joined with '_'."""
        words: list[str] = []
        while self.token.kind == "name" and self.token.upper not in _RESERVED:
            words.append(self.advance().value)
        if not words:
            raise self.error(f"expected {what}{stop}, found {self.found()}")
        return "_".join(words)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"formula nests deeper than {MAX_DEPTH} levels")

    # grammar
    def formula(self) -> Formula:
        start = self.token
        if start.upper in AGGREGATES:
            self.advance()
            if self.token.kind != "(":
                raise self.error(f"expected '(' after {start.upper}, found {self.found()}")
            aggregate, stream, fld, where = self.aggregate(start.upper)
        else:
            aggregate, stream, where = "METRIC", None, None
            fld = self.name("an aggregate (COUNT, RATE, SUM, AVG, MAX, MIN) or a metric name")
        comparison = None
        if self.token.kind == "op":
            op = self.advance().value
            if self.token.kind != "number":
                raise self.error(f"expected a number after '{op}', found {self.found()}")
            comparison = (op, self.advance().value)
        if self.token.kind != "end":
            raise self.error(
                f"expected a comparison or the end of the formula, found {self.found()}"
            )
        return Formula(self.text, aggregate, stream, fld, where, comparison, start.pos + 1)

    def aggregate(self, kind: str) -> tuple[str, str, str | None, Condition | None]:
        self.advance()  # (
        stream = self.name("a stream name", " after '('")
        fld: str | None = None
        if self.token.kind == ".":
            if kind not in _FIELD_AGGREGATES:
                raise self.error(f"{kind} counts records and takes no '.field'")
            self.advance()
            fld = self.name("a field name", " after '.'")
        elif kind in _FIELD_AGGREGATES:
            raise self.error(
                f"{kind} needs a field: {kind}({stream}.field …), found {self.found()}"
            )
        where = None
        if self.is_word("WHERE"):
            self.advance()
            where = self.condition()
        if self.token.kind != ")":
            after = "the condition" if where is not None else "the field" if fld else "the stream"
            raise self.error(f"expected ')' after {after}, found {self.found()}")
        self.advance()
        return kind, stream, fld, where

    def condition(self) -> Condition:
        items = [self.conjunction()]
        while self.is_word("OR"):
            self.advance()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> Condition:
        items = [self.negation()]
        while self.is_word("AND"):
            self.advance()
            items.append(self.negation())
        return items[0] if len(items) == 1 else And(tuple(items))

    def negation(self) -> Condition:
        nots = 0
        saved = self.depth
        while self.is_word("NOT"):
            self.enter()
            self.advance()
            nots += 1
        if self.token.kind == "(":
            self.enter()
            self.advance()
            cond = self.condition()
            if self.token.kind != ")":
                raise self.error(f"expected ')' to close the condition, found {self.found()}")
            self.advance()
        else:
            cond = self.atom()
        self.depth = saved
        for _ in range(nots):
            cond = Not(cond)
        return cond

    def atom(self) -> Condition:
        fld = self.name("a field name or '('", "")
        if self.token.kind == "op":
            op = self.advance().value
            return Compare(fld, op, self.value(f"after '{op}'"))
        negated = False
        if self.is_word("NOT"):
            self.advance()
            negated = True
            if not self.is_word("IN"):
                raise self.error(f"expected IN after '{fld} NOT', found {self.found()}")
        if not self.is_word("IN"):
            raise self.error(
                f"expected a comparison, IN or NOT IN after '{fld}', found {self.found()}"
            )
        self.advance()
        if self.token.kind == "[":
            return Member(fld, negated, self.literal_list())
        column = self.token.pos + 1
        source = self.name("a set name or '['", " after IN")
        return Member(fld, negated, source, column)

    def literal(self) -> Any | None:
        token = self.token
        if token.kind in ("number", "string"):
            self.advance()
            return token.value
        if token.upper in ("TRUE", "FALSE"):
            self.advance()
            return token.upper == "TRUE"
        return None

    def value(self, context: str) -> Any:
        literal = self.literal()
        if literal is not None:
            return literal
        if self.token.kind == "name" and self.token.upper not in _RESERVED:
            return FieldRef(self.name("a value"))
        raise self.error(
            f"expected a number, string, TRUE, FALSE or field {context}, found {self.found()}"
        )

    def literal_list(self) -> tuple[Any, ...]:
        self.advance()  # [
        items: list[Any] = []
        if self.token.kind == "]":
            self.advance()
            return ()
        while True:
            literal = self.literal()
            if literal is None:
                raise self.error(
                    f"expected a number, string, TRUE or FALSE in the list, found {self.found()}"
                )
            items.append(literal)
            if len(items) > MAX_LIST_ITEMS:
                raise self.error(f"list has more than {MAX_LIST_ITEMS} items")
            if self.token.kind == "]":
                self.advance()
                return tuple(items)
            if self.token.kind != ",":
                raise self.error(f"expected ',' or ']' in the list, found {self.found()}")
            self.advance()


def parse(text: str) -> Formula:
    """Parse a KPI formula; raises :class:`FormulaError` (with the column) if it is malformed."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if not text.strip(" \t\r\n"):
        raise FormulaError("formula is empty")
    return _Parser(text).formula()

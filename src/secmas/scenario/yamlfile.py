"""Bounded YAML reading, for every YAML input of `secmas` (scenarios, network-service
descriptors, intent files, CTI maps) and the line numbers of JSON inputs.

YAML is read as PyYAML's safe loader reads it (plain data only, no Python objects; libyaml
parses where PyYAML has it, PyYAML's composer and safe constructor do the rest) under bounds
that hostile input cannot get past:

* **size**: a document holds at most :data:`MAX_CHARS` characters; files are read no further;
* **nesting**: at most :data:`MAX_DEPTH` levels, counted through aliases;
* **aliases**: an alias repeats the node its anchor names, and all aliases of a document
  together may repeat at most :data:`MAX_ALIAS_NODES` nodes. The YAML "billion laughs" (a few
  anchors, each a list of aliases to the one before, a few hundred bytes that expand to
  billions of nodes) is refused while it is composed, before anything is expanded, at the
  line of the alias that goes over. A node that contains itself (a recursive alias) is
  refused;
* **duplicate keys**: a mapping may not hold a key twice (YAML requires unique keys; PyYAML
  would silently keep the last), named with both lines. Keys brought in by a merge (`<<:`)
  may be overridden, as YAML says;
* **messages**: input is quoted only through :func:`brief`, which never shows more than a
  few dozen characters of a value, however large it is.

Every refusal is a :class:`YAMLInputError` with the 1-based line where it is known; each
reader turns it into its own error naming the file (`secmas.scenario.loader.ScenarioError`,
`secmas.cti.errors.CTIInputError`).
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any, NoReturn

import yaml

MAX_CHARS = 8_000_000
"""Largest YAML document read, in characters (a generated 404-PoP scenario is 164 kB)."""
MAX_DEPTH = 64
"""Deepest nesting of collections, aliases expanded (scenarios nest 6 levels)."""
MAX_ALIAS_NODES = 100_000
"""Most nodes all aliases of a document may repeat together."""
MESSAGE_CHARS = 2000
"""Longest message about one problem of an input file; longer ones are clipped."""

_BRIEF = reprlib.Repr()
_BRIEF.maxstring = 60
_BRIEF.maxother = 60
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxset = _BRIEF.maxdict = 4
_BRIEF.maxlevel = 2
_MERGE = "tag:yaml.org,2002:merge"


FieldPath = tuple[str | int, ...]


class YAMLInputError(Exception):
    """YAML text that is refused: `reason`, the 1-based `line` where it is known, and the
    `path` of keys and indices to the place (empty at the top level or when unknown)."""

    def __init__(self, reason: str, line: int | None = None, path: FieldPath = ()) -> None:
        self.reason = reason
        self.line = line
        self.path = path
        super().__init__(reason if line is None else f"line {line}: {reason}")


def brief(value: Any) -> str:
    """A short, escaped rendering of a value from the input for an error message: text and
    collections are cut (`'aaaa...aaaa'`, `[1, 2, 3, 4, ...]`), never expanded in full."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of {value.bit_length()} bits>"
    return _BRIEF.repr(value)


def _key_text(node: yaml.Node, key: Any) -> str:
    """A key as the file writes it, and as YAML reads it when that is no text: `on` is
    true, `null` nothing and `0x1` the number 1, so the message quotes what the user
    typed."""
    if isinstance(node, yaml.ScalarNode) and not isinstance(key, str):
        return f"{brief(node.value)}, read as {brief(key)},"
    return brief(key)


def clip(text: str, limit: int = 200) -> str:
    """`text` cut to at most `limit` characters (an ellipsis marks the cut), for messages that
    quote something built from the input."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_text(path: str | Path) -> str:
    """The text of a YAML (or JSON) file, at most :data:`MAX_CHARS` characters;
    YAMLInputError when it cannot be read or is larger."""
    try:
        with Path(path).open(encoding="utf-8") as file:
            text = file.read(MAX_CHARS + 1)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise YAMLInputError(f"cannot read file: {exc}") from None
    if len(text) > MAX_CHARS:
        raise YAMLInputError(f"file larger than {MAX_CHARS} characters: refused")
    return text


def load(text: str) -> tuple[Any, yaml.Node | None]:
    """The plain data of one YAML document and its node tree (for line numbers); None and
    None for an empty document. YAMLInputError for bad syntax or anything over the bounds."""
    loader = _loader(text)
    try:
        node = loader.get_single_node()
        return (None if node is None else loader.construct_document(node)), node
    except yaml.YAMLError as exc:
        raise _refusal(exc, text) from None
    finally:
        loader.dispose()


def compose(text: str) -> yaml.Node | None:
    """The node tree of one YAML document (None if empty), bounded as :func:`load`."""
    loader = _loader(text)
    try:
        return loader.get_single_node()
    except yaml.YAMLError as exc:
        raise _refusal(exc, text) from None
    finally:
        loader.dispose()


def _loader(text: str) -> _BoundedLoader:
    if len(text) > MAX_CHARS:
        raise YAMLInputError(f"document larger than {MAX_CHARS} characters: refused")
    try:
        return _BoundedLoader(text)
    except yaml.YAMLError as exc:  # the reader checks every character first
        raise _refusal(exc, text) from None


def _refusal(exc: yaml.YAMLError, text: str = "") -> YAMLInputError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        line = None if mark is None else mark.line + 1
        return YAMLInputError(f"YAML syntax: {clip(reason)}", line)
    if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
        line = text.count("\n", 0, exc.position) + 1
        return YAMLInputError(f"YAML syntax: character #x{exc.character:04x} is not allowed", line)
    return YAMLInputError(f"YAML error: {clip(str(exc))}")


def _line(node: yaml.Node | yaml.Event) -> int:
    return int(node.start_mark.line) + 1


def _part(parent: yaml.Node | None, index: Any) -> str | int | None:
    """The path part of the node PyYAML composes under `parent` at `index`: the key's text
    for a mapping value, the position in a sequence; None for the root and for keys."""
    if parent is None or index is None:
        return None
    if isinstance(index, int):
        return index
    return str(index.value) if isinstance(index, yaml.ScalarNode) else "?"


class _PythonParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's own scanner and parser, where PyYAML was built without libyaml."""

    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


_Parser: type = yaml.cyaml.CParser if yaml.__with_libyaml__ else _PythonParser
"""What turns text into events: libyaml's parser (C, fast) where PyYAML has it."""


class _BoundedLoader(
    yaml.composer.Composer, _Parser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
):
    """PyYAML's safe loader with the bounds of this module: events from `_Parser`, composed
    into nodes by PyYAML's (Python) composer, which measures every node (nodes and height,
    aliases expanded) as it is built, so an alias is refused before its repetition exists
    anywhere; the safe constructor refuses duplicate keys."""

    def __init__(self, text: str) -> None:
        _Parser.__init__(self, text)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        yaml.composer.Composer.__init__(self)
        self.text = text
        self.depth = 0
        self.repeated = 0
        self.measures: dict[int, tuple[int, int]] = {}
        """id(node) → (nodes, height) of every node composed so far."""
        self.path: list[str | int] = []
        """The keys and indices from the root to the node being composed."""
        self.paths: dict[int, FieldPath] = {}
        """id(mapping node) → its path, to name where a duplicate key is."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        part = _part(parent, index)
        if part is not None:
            self.path.append(part)
        try:
            if self.check_event(yaml.AliasEvent):
                return self._alias(parent, index)
            node = self._compose(parent, index)
        finally:
            if part is not None:
                self.path.pop()
        return node

    def _compose(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                self.refuse(f"nested deeper than {MAX_DEPTH} levels: refused", self.peek_event())
            node: yaml.Node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        self.measures[id(node)] = self._measure(node)
        if isinstance(node, yaml.MappingNode):
            self.paths[id(node)] = tuple(self.path)
        return node

    def _alias(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        node: yaml.Node = super().compose_node(parent, index)
        alias = f"alias *{brief(event.anchor)[1:-1]}"
        measure = self.measures.get(id(node))
        if measure is None:
            self.refuse(f"recursive {alias}: the node it names contains it", event)
        nodes, height = measure
        if self.depth + height > MAX_DEPTH:
            self.refuse(
                f"{alias} nests the document deeper than {MAX_DEPTH} levels: refused", event
            )
        self.repeated += nodes
        if self.repeated > MAX_ALIAS_NODES:
            self.refuse(
                f"aliases repeat more than {MAX_ALIAS_NODES} nodes (at {alias}): refused as an "
                "alias bomb",
                event,
            )
        return node

    def refuse(self, reason: str, event: yaml.Event) -> NoReturn:
        """Stop composing: YAMLInputError at the event's line and the current path."""
        raise YAMLInputError(reason, _line(event), tuple(self.path))

    def _measure(self, node: yaml.Node) -> tuple[int, int]:
        if isinstance(node, yaml.ScalarNode):
            return 1, 1
        children = node.value
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        nodes, height = 1, 0
        for child in children:
            child_nodes, child_height = self.measures[id(child)]
            nodes = min(nodes + child_nodes, MAX_ALIAS_NODES + 1)
            height = max(height, child_height)
        return nodes, height + 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            raise YAMLInputError(f"bad value: {clip(str(exc))}", _line(node)) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first.get(key)
            except TypeError:
                continue  # an unhashable key: the safe constructor refuses it, located
            if seen is not None:
                path = (*self.paths.get(id(node), ()), _part(node, key_node) or "?")
                raise YAMLInputError(
                    f"duplicate key {_key_text(key_node, key)} (first at line {seen})",
                    _line(key_node),
                    path,
                )
            first[key] = _line(key_node)
        if any(key_node.tag == _MERGE for key_node, _ in node.value):
            # PyYAML flattens merges in place: flatten a copy, so the node tree (which gives
            # the line numbers of errors) stays as written
            node = yaml.MappingNode(node.tag, list(node.value), node.start_mark, node.end_mark)
        return super().construct_mapping(node, deep=deep)

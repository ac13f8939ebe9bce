"""Errors for bad CTI input: every problem names the file, the line or row, the field and why.

Scanner reports, sensitivity and necessity maps come from other teams' tools (deliverable
004, Section 4.1: "vulnerability scanners in each cluster send raw reports to the CTI
Agent"), so they are checked in full and refused with every reason found, like
`secmas.scenario.loader.ScenarioError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from secmas.scenario import yamlfile
from secmas.scenario.yamlfile import MESSAGE_CHARS, clip

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a CTI input file.

    `line` is the 1-based line in the file; `row` the 1-based data row of a CSV file (the
    header is not counted). `field` is a dotted path (`hosts[0].findings[1].cvss`) or a
    CSV column name.
    """

    source: str
    field: str
    message: str
    line: int | None = None
    row: int | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        if self.row is not None:
            where += f" (row {self.row})"
        field = clip(self.field) or "(top level)"
        return f"{where}: {field}: {clip(self.message, MESSAGE_CHARS)}"


class CTIInputError(Exception):
    """CTI input that cannot be used; `problems` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def dotted(path: FieldPath) -> str:
    """`hosts[2].ip` style rendering of a field path."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def compose(text: str) -> yaml.Node | None:
    """The YAML node tree of JSON `text` (JSON is YAML), only to find line numbers; None
    when PyYAML cannot compose it within the bounds of `secmas.scenario.yamlfile` (the
    caller has already checked the syntax its own way).
    Tabs, which valid JSON has only as whitespace but YAML refuses as indentation, are
    read as spaces."""
    try:
        return yamlfile.compose(text.replace("\t", " "))
    except yamlfile.YAMLInputError:
        return None


def line_of(node: yaml.Node | None, path: FieldPath) -> int | None:
    """1-based line of the deepest node that `path` reaches (a mapping's key line)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    current: yaml.Node = node
    for part in path:
        found: yaml.Node | None = None
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if key.value == str(part):
                    found, line = value, key.start_mark.line + 1
                    break
        elif (
            isinstance(current, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(current.value)
        ):
            found = current.value[part]
            line = found.start_mark.line + 1
        if found is None:
            break
        current = found
    return line

"""Read a scenario from YAML, with errors that name the file, the line, the field and why."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from secmas.scenario import yamlfile
from secmas.scenario.model import ReferenceProblems, Scenario
from secmas.scenario.yamlfile import MESSAGE_CHARS, clip

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file."""

    source: str
    path: FieldPath
    message: str
    line: int | None = None

    def to_json(self) -> dict[str, str | int | None]:
        """The problem for scripts (`--json`): file, line, dotted field, message."""
        return {
            "file": self.source,
            "line": self.line,
            "field": dotted(self.path) or None,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        field = clip(dotted(self.path)) or "(top level)"
        return f"{where}: {field}: {clip(self.message, MESSAGE_CHARS)}"


class ScenarioError(Exception):
    """A scenario that cannot be loaded; `problems` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def dotted(path: FieldPath) -> str:
    """`links[2].a` style rendering of a field path."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def read_file(path: str | Path) -> str:
    """The text of a YAML file; ScenarioError naming the file when it cannot be read."""
    try:
        return yamlfile.read_text(path)
    except yamlfile.YAMLInputError as exc:
        raise ScenarioError([Problem(str(path), (), exc.reason)]) from None


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario file; raise ScenarioError naming every problem."""
    return parse_scenario(read_file(path), source=str(path))


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Validate scenario YAML text; `source` names it in error messages."""
    data, node = parse_mapping(text, source, "scenario fields")
    return validate_scenario(data, source, node)


def load_service(path: str | Path, scenario: Scenario) -> Scenario:
    """`scenario` with the network-service descriptor of an NSD file (the descriptor's
    fields, at the top or under `service:`); errors name the file, line and field."""
    file = str(path)
    data, node = parse_mapping(read_file(path), file, "network-service fields")
    if set(data) != {"service"}:
        data = {"service": data}
        key = yaml.ScalarNode("tag:yaml.org,2002:str", "service")
        node = yaml.MappingNode("tag:yaml.org,2002:map", [(key, node)])
    merged = scenario.model_dump() | {"service": data["service"]}
    return validate_scenario(merged, file, node)


def parse_mapping(text: str, source: str, what: str) -> tuple[dict[str, Any], yaml.Node]:
    """Safe-load YAML text that must be a mapping, with its node tree (for line numbers),
    within the bounds of `secmas.scenario.yamlfile` (size, nesting, aliases, no duplicate
    keys); ScenarioError naming the source, the line and the reason otherwise."""
    try:
        data, node = yamlfile.load(text)
    except yamlfile.YAMLInputError as exc:
        raise ScenarioError([Problem(source, exc.path, exc.reason, exc.line)]) from None
    if not isinstance(data, dict) or node is None:
        raise ScenarioError([Problem(source, (), f"expected a mapping of {what}")])
    return data, node


def validate_scenario(data: dict[str, Any], source: str, node: yaml.Node | None = None) -> Scenario:
    """Build a Scenario from plain data; errors carry the YAML line when `node` is given."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(model_problems(exc, source, node, ReferenceProblems)) from None


def model_problems(
    exc: ValidationError, source: str, node: yaml.Node | None, nested: type[Exception]
) -> list[Problem]:
    """A model's validation errors as problems with their YAML lines; a `nested` error
    (one with `problems`: (field path, message) pairs, raised by a model's cross-field
    check) gives one problem per pair."""
    problems: list[Problem] = []
    errors = exc.errors()
    inner = {tuple(e["loc"][:i]) for e in errors for i in range(1, len(e["loc"]))}
    for error in errors:
        if error["type"] == "too_short" and tuple(error["loc"]) in inner:
            continue  # a list whose bad item is already named is not also "too short"
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, nested):
            pairs = getattr(cause, "problems", [])
            problems.extend(Problem(source, at, msg, line_of(node, at)) for at, msg in pairs)
            continue
        path = tuple(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        problems.append(Problem(source, path, message, line_of(node, path)))
    return problems


def line_of(node: yaml.Node | None, path: FieldPath) -> int | None:
    """1-based line of the deepest YAML node that `path` reaches."""
    if node is None:
        return None
    current = node
    for part in path:
        child = _child(current, part)
        if child is None:
            break
        current = child
    return current.start_mark.line + 1


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None

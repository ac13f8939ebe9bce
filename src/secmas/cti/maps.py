"""Sensitivity and necessity maps (deliverable 004, Section 4.1).

"Each field is evaluated against the sensitivity map (defined by the CTI publisher) and
the necessity map (defined by the CTI subscriber). The sensitivity map shows which fields
are too confidential to share, while the necessity map highlights the fields the
subscriber needs to see."

Both are YAML files of the same shape, with values in [0, 1]::

    kind: sensitivity      # or necessity; checked against what the caller expects
    default: 1.0           # for fields not listed (sensitivity 1.0, necessity 0.0 if absent)
    fields:
      host_ip: 0.9
      cve: 0.2

Field names are those of `secmas.cti.reports.MAP_FIELDS`: a finding's fields, its free
`title`, and the report's free-text `scanner` and `task`; unknown names are refused. Free
text is a field like the others: left out of a map, it takes the map's default (a
publisher's 1.0: confidential), so it is dropped; let through, the identifiers inside it
are still scrubbed (`secmas.cti.freetext`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from secmas.cti.errors import CTIInputError, FieldPath, Problem, dotted, line_of
from secmas.cti.reports import MAP_FIELDS
from secmas.scenario import yamlfile
from secmas.scenario.yamlfile import brief

MapKind = Literal["sensitivity", "necessity"]
DEFAULTS: dict[str, float] = {"sensitivity": 1.0, "necessity": 0.0}
"""An unlisted field is confidential for a publisher and not needed by a subscriber."""


@dataclass(frozen=True)
class FieldMap:
    """Per-field weights in [0, 1]: how sensitive (publisher) or how needed (subscriber)."""

    kind: MapKind
    fields: Mapping[str, float] = field(default_factory=dict)
    default: float | None = None

    def __post_init__(self) -> None:
        values = [*self.fields.values(), self.value_default]
        for name in self.fields:
            if name not in MAP_FIELDS:
                expected = ", ".join(MAP_FIELDS)
                raise ValueError(f"unknown field {name!r}: expected one of {expected}")
        if any(not 0.0 <= v <= 1.0 for v in values):
            raise ValueError(f"{self.kind} values must be in [0, 1]")

    @property
    def value_default(self) -> float:
        """The value of an unlisted field."""
        return DEFAULTS[self.kind] if self.default is None else self.default

    def of(self, name: str) -> float:
        """The weight of field `name`."""
        return float(self.fields.get(name, self.value_default))


def load_field_map(path: str | Path, kind: MapKind) -> FieldMap:
    """Read a sensitivity or necessity map; CTIInputError naming file, line, field, reason."""
    try:
        text = yamlfile.read_text(path)
    except yamlfile.YAMLInputError as exc:
        raise CTIInputError([Problem(str(path), "", exc.reason)]) from None
    return parse_field_map(text, kind, str(path))


def parse_field_map(text: str, kind: MapKind, source: str = "<string>") -> FieldMap:
    """Validate map YAML text (see the module docstring)."""
    try:
        data, node = yamlfile.load(text)
    except yamlfile.YAMLInputError as exc:
        raise CTIInputError([Problem(source, dotted(exc.path), exc.reason, exc.line)]) from None
    problems: list[Problem] = []

    def add(path: FieldPath, message: str) -> None:
        problems.append(Problem(source, dotted(path), message, line_of(node, path)))

    if not isinstance(data, dict):
        add((), f"expected a mapping with 'fields' (a {kind} map)")
        raise CTIInputError(problems)
    for key in data:
        if key not in ("kind", "default", "fields"):
            add((key,), "unknown key (expected kind, default, fields)")
    if "kind" in data and data["kind"] != kind:
        add(("kind",), f"this is a {brief(data['kind'])} map, expected a {kind!r} map")
    default = data.get("default")
    if default is not None and _weight(default) is None:
        add(("default",), f"expected a number in [0, 1], got {brief(default)}")
    fields = data.get("fields", {})
    weights: dict[str, float] = {}
    if not isinstance(fields, dict):
        add(("fields",), f"expected a mapping of field: weight, got {_text(fields)}")
        fields = {}
    for name, value in fields.items():
        if name not in MAP_FIELDS:
            add(("fields", name), f"unknown field (expected one of {', '.join(MAP_FIELDS)})")
        elif (weight := _weight(value)) is None:
            add(("fields", name), f"expected a number in [0, 1], got {brief(value)}")
        else:
            weights[name] = weight
    if problems:
        raise CTIInputError(problems)
    return FieldMap(kind, weights, None if default is None else float(default))


def _weight(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0.0 <= value <= 1.0 else None


def _text(value: Any) -> str:
    return "a list" if isinstance(value, list) else brief(value)

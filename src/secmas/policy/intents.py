"""Security intents: what an operator wants of a network slice, in a small YAML form.

An intent file is a mapping with one key, `intents`, a list of intents. Each intent has an
`id` (unique in the file), the `slice` it is about, a `kind` and the parameters of that kind:

```yaml
intents:
  - {id: web-isolated, slice: web, kind: isolation, whitelist: [10.1.0.0/16]}
  - {id: web-in-eu, slice: web, kind: residency, region: eu-west}
  - {id: web-patched, slice: web, kind: patching, within_hours: 24}
  - {id: web-available, slice: web, kind: availability, percent: 99.95}
  - {id: web-encrypted, slice: web, kind: encryption}
  - {id: partner-in, slice: web, kind: access, sources: [192.0.2.0/24], priority: 10}
```

`priority` (0 by default) settles conflicts: when two intents want opposite things for the
same traffic (an `access` intent allows a source an `isolation` intent blocks), only the one
with the higher priority is enforced for it, and on a tie the blocking one (deny overrides).

`secmas.policy.translate` turns each intent into a Security SLA. Problems are reported as
`file:line: field: reason`, like scenario files (`secmas.scenario.loader`, whose helpers are
reused here).
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from secmas.scenario.loader import (
    FieldPath,
    Problem,
    ScenarioError,
    line_of,
    parse_mapping,
    read_file,
)
from secmas.scenario.model import Id, ReferenceProblems
from secmas.scenario.yamlfile import brief, clip


def _network(value: Any) -> IPv4Network | IPv6Network:
    if not isinstance(value, str):
        raise ValueError(f"expected an IP address or CIDR prefix as text, got {brief(value)}")
    try:
        return ip_network(value.strip())
    except ValueError as exc:
        raise ValueError(f"not an IP address or CIDR prefix: {clip(str(exc))}") from None


Network = Annotated[IPv4Network | IPv6Network, BeforeValidator(_network)]
"""An address (a /32 or /128 network) or a CIDR prefix without host bits."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Intent(_Strict):
    """What every intent has: its id, the slice it constrains and an optional note."""

    id: Id
    slice: Id
    description: str | None = None
    priority: int = Field(default=0, ge=0, le=1000)


class IsolationIntent(_Intent):
    """Only packets from whitelisted sources (addresses or CIDR prefixes) reach the slice."""

    kind: Literal["isolation"]
    whitelist: tuple[Network, ...] = Field(min_length=1)


class AccessIntent(_Intent):
    """Packets from these sources (addresses or CIDR prefixes) are let into the slice: no
    rule may drop them on their way (an allow policy, e.g. a partner's prefix)."""

    kind: Literal["access"]
    sources: tuple[Network, ...] = Field(min_length=1)


class ResidencyIntent(_Intent):
    """The slice's data is processed and stored in one region only."""

    kind: Literal["residency"]
    region: Id


class PatchingIntent(_Intent):
    """Critical patches are applied to the slice's functions within `within_hours`."""

    kind: Literal["patching"]
    within_hours: float = Field(gt=0, le=24 * 365)


class AvailabilityIntent(_Intent):
    """The slice's service is available at least `percent` of the time."""

    kind: Literal["availability"]
    percent: float = Field(gt=0, le=100)


class EncryptionIntent(_Intent):
    """Every message between the agents serving the slice is encrypted."""

    kind: Literal["encryption"]


Intent = Annotated[
    IsolationIntent
    | AccessIntent
    | ResidencyIntent
    | PatchingIntent
    | AvailabilityIntent
    | EncryptionIntent,
    Field(discriminator="kind"),
]

KINDS: tuple[str, ...] = (
    "isolation",
    "access",
    "residency",
    "patching",
    "availability",
    "encryption",
)
"""The intent kinds, in the order of the documentation."""


class IntentFile(_Strict):
    """The contents of an intent file: at least one intent, ids unique."""

    intents: tuple[Intent, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> IntentFile:
        seen: set[str] = set()
        problems: list[tuple[FieldPath, str]] = []
        for index, intent in enumerate(self.intents):
            if intent.id in seen:
                problems.append((("intents", index, "id"), f"duplicate intent id {intent.id!r}"))
            seen.add(intent.id)
        if problems:
            raise ReferenceProblems(problems)
        return self


class IntentError(ScenarioError):
    """An intent file that cannot be loaded; `problems` lists every reason found."""


def load_intents(path: str | Path) -> IntentFile:
    """Load and validate an intent file; raise IntentError naming every problem."""
    try:
        text = read_file(path)
    except ScenarioError as exc:
        raise IntentError(exc.problems) from None
    return parse_intents(text, source=str(path))


def parse_intents(text: str, source: str = "<string>") -> IntentFile:
    """Validate intent YAML text; `source` names it in error messages."""
    try:
        data, node = parse_mapping(text, source, "intent fields (intents: [...])")
    except ScenarioError as exc:
        raise IntentError(exc.problems) from None
    return validate_intents(data, source, node)


def validate_intents(data: Any, source: str, node: yaml.Node | None = None) -> IntentFile:
    """Build an IntentFile from plain data; errors carry the YAML line when `node` is given."""
    try:
        return IntentFile.model_validate(data)
    except ValidationError as exc:
        problems: list[Problem] = []
        errors = exc.errors()
        for error in errors:
            if error["type"] == "too_short" and _inside(error["loc"], errors):
                continue  # the list is short only because some of its items were refused
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, ReferenceProblems):
                problems.extend(
                    Problem(source, path, msg, line_of(node, path)) for path, msg in cause.problems
                )
                continue
            path = _without_tags(tuple(error["loc"]))
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "union_tag_invalid":
                path = (*path, "kind")
                kind = brief(error["input"].get("kind"))
                message = f"unknown intent kind {kind}; expected one of "
                message += ", ".join(KINDS)
            elif error["type"] == "union_tag_not_found":
                path = (*path, "kind")
                message = f"missing; expected one of {', '.join(KINDS)}"
            problems.append(Problem(source, path, message, line_of(node, path)))
        raise IntentError(problems) from None


def _inside(loc: tuple[str | int, ...], errors: list[Any]) -> bool:
    """Whether some error is about a part of the value at `loc`."""
    return any(len(e["loc"]) > len(loc) and e["loc"][: len(loc)] == loc for e in errors)


def _without_tags(path: FieldPath) -> FieldPath:
    """The field path without the discriminator tags pydantic inserts after list indices
    (`intents.0.isolation.whitelist` → `intents[0].whitelist`)."""
    kept: list[str | int] = []
    for index, part in enumerate(path):
        if part in KINDS and index > 0 and isinstance(path[index - 1], int):
            continue
        kept.append(part)
    return tuple(kept)

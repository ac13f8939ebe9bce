"""Dotted parameter paths into the scenario model: `load.synthetic_goals`, `attack.rate`,
`pops[2].cpu`, `security.enabled`.

A sweep varies a scenario by setting such paths. Each path is checked against the model's
fields before anything runs (`check_path`: a typo is named with the fields that exist
there), and each value by the model itself: the scenario is dumped to plain data, the
values are set, and the whole is validated again (`with_parameters`), so a sweep can never
run a scenario that `secmas scenario validate` would refuse.
"""

from __future__ import annotations

import difflib
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from secmas.scenario.loader import dotted
from secmas.scenario.model import ReferenceProblems, Scenario
from secmas.scenario.validation import run_problems

Part = str | int
_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")
_INDEX = re.compile(r"\[(\d+)\]")


class ParameterError(ValueError):
    """A parameter path or value the scenario refuses; the message says which and why."""


def parse_path(path: str) -> tuple[Part, ...]:
    """`a.b[2].c` → ("a", "b", 2, "c"); ParameterError for anything else."""
    parts: list[Part] = []
    for segment in path.split("."):
        match = _SEGMENT.match(segment)
        if match is None:
            raise ParameterError(
                f"{path!r} is not a dotted path (field names joined by '.', list items as [i])"
            )
        parts.append(match.group(1))
        parts += [int(index) for index in _INDEX.findall(match.group(2))]
    return tuple(parts)


def check_path(path: str) -> tuple[Part, ...]:
    """The parts of `path` after checking every field name against the scenario model;
    ParameterError naming the first unknown field and the likely one."""
    parts = parse_path(path)
    current: Any = Scenario
    for place, part in enumerate(parts):
        where = dotted(parts[:place]) or "the scenario"
        item = _item_type(current)
        if isinstance(part, int):
            if item is None:
                raise ParameterError(f"{path}: {where} is not a list")
            current = item
            continue
        model = _model(current)
        if model is None and item is not None:
            raise ParameterError(f"{path}: {where} is a list: name an item, as {where}[0]")
        if model is None:
            raise ParameterError(f"{path}: {where} has no fields (it is a value)")
        if part not in model.model_fields:
            known = sorted(model.model_fields)
            near = difflib.get_close_matches(part, known, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; fields: {', '.join(known)}"
            raise ParameterError(f"{path}: {where} has no field {part!r}{hint}")
        current = model.model_fields[part].annotation
    return parts


def with_parameters(scenario: Scenario, values: dict[str, Any]) -> Scenario:
    """`scenario` with each dotted path set to its value, validated again as a whole and
    checked runnable; ParameterError naming the field and the reason otherwise."""
    data = scenario.model_dump()
    for path, value in values.items():
        _assign(data, check_path(path), value, path)
    try:
        changed = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ParameterError(_first_problem(exc)) from None
    problems = run_problems(changed)
    if problems:
        at, message = problems[0]
        raise ParameterError(f"{dotted(at) or 'the scenario'}: {message}")
    return changed


def _assign(data: dict[str, Any], parts: tuple[Part, ...], value: Any, path: str) -> None:
    """Set `value` at `parts` in plain data, making a missing section (None) a mapping."""
    node: Any = data
    for place, part in enumerate(parts[:-1]):
        following = node[part] if _has(node, part) else None
        if following is None and isinstance(part, str):
            following = node[part] = {}
        if following is None:
            where = dotted(parts[: place + 1])
            raise ParameterError(f"{path}: the scenario has no {where}")
        node = following
    last = parts[-1]
    if isinstance(last, int) and not _has(node, last):
        raise ParameterError(f"{path}: the scenario has no {dotted(parts)}")
    node[last] = value


def _has(node: Any, part: Part) -> bool:
    if isinstance(part, int):
        return isinstance(node, list | tuple) and part < len(node)
    return isinstance(node, dict) and part in node


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ReferenceProblems):
        at, message = cause.problems[0]
        return f"{dotted(at) or 'the scenario'}: {message}"
    where = dotted(tuple(error["loc"])) or "the scenario"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


def _unwrapped(annotation: Any) -> list[Any]:
    """The types an annotation allows: Annotated and Optional/Union taken apart."""
    if get_origin(annotation) is Annotated:
        return _unwrapped(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _unwrapped(arg)]
    return [annotation]


def _model(annotation: Any) -> type[BaseModel] | None:
    for option in _unwrapped(annotation):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


def _item_type(annotation: Any) -> Any | None:
    """The item type of a tuple[X, ...] or list[X] annotation, else None."""
    for option in _unwrapped(annotation):
        if get_origin(option) in (tuple, list):
            args = [a for a in get_args(option) if a is not Ellipsis]
            return args[0] if args else Any
    return None

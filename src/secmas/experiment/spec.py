"""The sweep spec: which scenarios, seeds and parameter values to run, how often, what to
record and what to plot. Read from YAML with the project's bounded loader; every problem
is named with the file, the line, the field and the reason (`SpecError`).

    name: fig5_5
    scenarios: [../../scenarios/ddos-6pop.yaml]   # files (relative to the spec) or {ring: N}
    seeds: {from: 0, to: 19}                       # a list, or a range (to included)
    repetitions: 1                                  # runs of each point and seed
    fixed: {security.enabled: false, load: {pop: pop6}}      # set in every run
    parameters: {load.synthetic_goals: {from: 0, to: 100, step: 5}}   # the grid
    metrics: [throttle_s]
    plots: [{x: load.synthetic_goals, y: [throttle_s]}]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from secmas.experiment.generators import GENERATORS, MAX_RING, MIN_RING
from secmas.experiment.metrics import BASE, EXTRA
from secmas.experiment.params import ParameterError, check_path
from secmas.scenario.base import Id, Strict
from secmas.scenario.loader import Problem, line_of, model_problems, parse_mapping, read_file
from secmas.scenario.loader import ScenarioError as _Refused
from secmas.scenario.model import MAX_SEED

MAX_VALUES = 10_000
"""Most values one parameter (or the seeds, or ring sizes) may take."""
MAX_RUNS = 100_000
"""Most runs a sweep may hold (scenarios × points × seeds × repetitions)."""
MAX_REPETITIONS = 1000
KEY_COLUMNS = ("scenario", "seed", "repetition")
"""Columns of every run's key besides the grid's parameters."""
PLOT_AXES = ("agents", "seed", "repetition")
"""Columns besides the grid's parameters a plot's x may be."""

FieldPath = tuple[str | int, ...]


class SpecError(Exception):
    """A sweep spec that cannot be run; `problems` lists every reason, located."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SpecProblems(ValueError):
    """Cross-field problems of a spec, each with the field path it was found at."""

    def __init__(self, problems: list[tuple[FieldPath, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(message for _, message in problems))


class Range(Strict):
    """Values from `from` to `to` (included) by `step`."""

    start: float = Field(alias="from", allow_inf_nan=False)
    to: float = Field(allow_inf_nan=False)
    step: float = Field(default=1, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _bounded(self) -> Range:
        if self.to < self.start:
            raise ValueError(f"to {self.to:g} is below from {self.start:g}: an empty range")
        if (self.to - self.start) / self.step + 1 > MAX_VALUES:
            raise ValueError(f"more than {MAX_VALUES} values: refused")
        return self

    def values(self) -> tuple[float | int, ...]:
        """The values, as integers when from, to and step are whole numbers."""
        count = math.floor((self.to - self.start) / self.step + 1e-9) + 1
        whole = all(float(x).is_integer() for x in (self.start, self.to, self.step))
        values = [self.start + i * self.step for i in range(count)]
        return tuple(int(v) for v in values) if whole else tuple(round(v, 12) for v in values)


def _values(value: Any) -> Any:
    """A list stays a list; a mapping is a Range; anything else is refused by the type."""
    if not isinstance(value, dict):
        return value
    try:
        return Range.model_validate(value).values()
    except ValidationError as exc:  # one clean line, not pydantic's whole report
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        raise ValueError(f"range {where}: {reason}" if where else f"range: {reason}") from None


_Listed = Field(min_length=1, max_length=MAX_VALUES)
"""How many values a list (or a range) gives."""
Values = Annotated[
    tuple[Any, ...],
    _Listed,
    BeforeValidator(_values, json_schema_input_type=Annotated[list[Any], _Listed] | Range),
]
"""A non-empty list of values, or a {from, to, step} range."""
_Size = Annotated[int, Field(ge=MIN_RING, le=MAX_RING)]
Sizes = Annotated[
    tuple[_Size, ...],
    _Listed,
    BeforeValidator(
        lambda v: _values([v] if isinstance(v, int) else v),
        json_schema_input_type=_Size | Annotated[list[_Size], _Listed] | Range,
    ),
]
_Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class Source(Strict):
    """Where scenarios come from: a `file` (relative to the spec), or a generator given
    one size or many (`ring: 6`, `ring: [6, 12]`, `ring: {from: 6, to: 96, step: 6}`)."""

    file: str | None = Field(default=None, min_length=1)
    ring: Sizes | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"file": value} if isinstance(value, str) else value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """As written in a spec: a file name, or an object giving exactly one source."""
        json_schema = handler(schema)
        if handler.mode != "validation":
            return json_schema
        one = [
            {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
            for name in ("file", *GENERATORS)
        ]
        shorthand = {"type": "string", "minLength": 1, "description": "short for {file: …}"}
        named = {k: json_schema.pop(k) for k in ("title", "description") if k in json_schema}
        return {**named, "anyOf": [shorthand, {**json_schema, "oneOf": one}]}

    @model_validator(mode="after")
    def _one(self) -> Source:
        given = [name for name in ("file", *GENERATORS) if getattr(self, name) is not None]
        if len(given) != 1:
            choices = ", ".join(("file", *GENERATORS))
            raise ValueError(f"give exactly one of {choices}")
        return self


class Plot(Strict):
    """One figure: the mean of each `y` against `x` with 95 % confidence intervals, one
    line per value of `series`."""

    x: str
    y: tuple[str, ...] = Field(min_length=1)
    series: str | None = None
    name: Id | None = Field(default=None, description="file suffix (several plots)")
    title: str = ""


class SweepSpec(Strict):
    """A whole sweep (see the module docstring)."""

    name: Id
    description: str = ""
    scenarios: tuple[Source, ...] = Field(min_length=1)
    seeds: Annotated[
        tuple[_Seed, ...],
        _Listed,
        BeforeValidator(_values, json_schema_input_type=Annotated[list[_Seed], _Listed] | Range),
    ] = (0,)
    repetitions: int = Field(default=1, ge=1, le=MAX_REPETITIONS)
    fixed: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Values] = Field(default_factory=dict)
    metrics: tuple[str, ...] = Field(
        default=(), json_schema_extra={"items": {"enum": list(EXTRA), "type": "string"}}
    )
    plots: tuple[Plot, ...] = ()

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [m for m in metrics if m not in EXTRA]
        if unknown:
            raise ValueError(f"unknown metric {unknown[0]!r}; known: {', '.join(EXTRA)}")
        return metrics

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        problems = spec_problems(self)
        if problems:
            raise SpecProblems(problems)
        return self

    @property
    def columns(self) -> tuple[str, ...]:
        """The CSV header: the run key, the grid's parameters, measures, error."""
        return (
            "run",
            "scenario",
            *self.parameters,
            "seed",
            "repetition",
            *BASE,
            *self.metrics,
            "error",
        )

    def labels(self) -> list[str]:
        """Every scenario's label, in order: a file by its name without the suffix, a
        generated one by its id."""
        labels: list[str] = []
        for source in self.scenarios:
            if source.file is not None:
                labels.append(Path(source.file).stem)
            for generator in GENERATORS:
                labels += [f"{generator}-{n}" for n in getattr(source, generator) or ()]
        return labels

    @property
    def runs(self) -> int:
        """How many runs the sweep holds."""
        points = math.prod(len(values) for values in self.parameters.values())
        return len(self.labels()) * points * len(self.seeds) * self.repetitions


def spec_problems(spec: SweepSpec) -> list[tuple[FieldPath, str]]:
    """Paths, plots and size of a spec whose fields are each valid."""
    problems: list[tuple[FieldPath, str]] = []
    for section in ("fixed", "parameters"):
        for path in getattr(spec, section):
            if path == "seed":
                problems.append(((section, path), "the seed is set by `seeds`"))
                continue
            try:
                check_path(path)
            except ParameterError as exc:
                problems.append(((section, path), str(exc)))
            if section == "parameters" and path in spec.fixed:
                problems.append(((section, path), f"{path} is also fixed"))
    labels = spec.labels()
    for index, label in enumerate(labels):
        if label in labels[:index]:
            problems.append((("scenarios",), f"two scenarios are named {label!r}"))
    axes = (*spec.parameters, *PLOT_AXES)
    measures = (*BASE, *spec.metrics)
    names: set[str | None] = set()
    for index, plot in enumerate(spec.plots):
        where = ("plots", index)
        if plot.x not in axes:
            problems.append(((*where, "x"), f"x {plot.x!r} is none of {', '.join(axes)}"))
        for y_index, y in enumerate(plot.y):
            if y not in measures:
                problems.append(
                    ((*where, "y", y_index), f"y {y!r} is none of {', '.join(measures)}")
                )
        if plot.series is not None and plot.series not in (*spec.parameters, "scenario"):
            problems.append(((*where, "series"), f"series {plot.series!r} is not a parameter"))
        if plot.name in names:
            problems.append(((*where, "name"), "two plots with the same file: give each a name"))
        names.add(plot.name)
    if spec.runs > MAX_RUNS:
        problems.append(((), f"{spec.runs} runs: more than {MAX_RUNS}, refused"))
    return problems


@dataclass(frozen=True)
class LoadedSpec:
    """A spec with the file it came from (scenario files are read beside it) and its YAML
    node tree (to name the line of a value a scenario refuses later)."""

    spec: SweepSpec
    path: Path
    node: yaml.Node | None = None

    def problem(self, at: FieldPath, message: str) -> Problem:
        """A problem at a field of this spec, with its line."""
        return Problem(str(self.path), at, message, line_of(self.node, at))

    def scenario_file(self, file: str) -> Path:
        """A scenario file named in the spec, relative to the spec's folder."""
        return self.path.parent / file


def load_spec(path: Path) -> LoadedSpec:
    """Read and check a spec file; SpecError naming the file, line, field and reason."""
    source = str(path)
    try:
        data, node = parse_mapping(read_file(path), source, "sweep fields")
    except _Refused as exc:
        raise SpecError(exc.problems) from None
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(model_problems(exc, source, node, SpecProblems)) from None
    return LoadedSpec(spec, path, node)

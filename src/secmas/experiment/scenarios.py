"""The scenario of every grid point, built and checked before the first run starts.

A file is loaded as `secmas run` loads it; a generator builds its scenario; then the spec's
`fixed` values and the point's parameter values are set and the whole validated again
(`secmas.experiment.params`). A value the scenario refuses stops the sweep before any run,
named with the spec's line and the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from secmas.experiment.generators import GENERATORS
from secmas.experiment.grid import Point, encode, points
from secmas.experiment.params import ParameterError, parse_path, with_parameters
from secmas.experiment.spec import LoadedSpec, SpecError
from secmas.scenario.loader import Problem, ScenarioError, dotted, line_of
from secmas.scenario.model import Scenario
from secmas.scenario.validation import load_runnable

LISTED = 10
"""Refused points named before the check stops."""


def base_scenarios(loaded: LoadedSpec) -> dict[str, Scenario]:
    """Every scenario of the spec by label, before parameters; SpecError with the
    scenario file's own problems (file, line, field) when one cannot run."""
    found: dict[str, Scenario] = {}
    problems: list[Problem] = []
    for index, source in enumerate(loaded.spec.scenarios):
        if source.file is not None:
            path = loaded.scenario_file(source.file)
            if not path.is_file():
                problems.append(loaded.problem(("scenarios", index), f"no file {path}"))
                continue
            try:
                found[Path(source.file).stem] = load_runnable(path)
            except ScenarioError as exc:
                problems += exc.problems
        for name, build in GENERATORS.items():
            for size in getattr(source, name) or ():
                found[f"{name}-{size}"] = build(size, 0)
    if problems:
        raise SpecError(problems)
    return found


def point_scenarios(loaded: LoadedSpec) -> dict[Point, Scenario]:
    """The scenario each grid point runs (its seed is set per run); SpecError naming the
    parameter value (spec line) and the reason for every point a scenario refuses."""
    spec = loaded.spec
    bases = base_scenarios(loaded)
    problems: list[Problem] = []
    fixed: dict[str, Scenario] = {}
    for label, scenario in bases.items():
        try:
            fixed[label] = with_parameters(scenario, spec.fixed)
        except ParameterError as exc:
            problems.append(loaded.problem(("fixed",), f"scenario {label}: {exc}"))
    built: dict[Point, Scenario] = {}
    seen: set[tuple[object, str]] = set()
    for point in points(spec):
        if point.scenario not in fixed:
            continue
        try:
            built[point] = with_parameters(fixed[point.scenario], point.settings)
        except ParameterError as exc:
            problem = _located(loaded, point, exc)
            if (problem.path, str(exc)) not in seen:  # each refused value once
                seen.add((problem.path, str(exc)))
                problems.append(problem)
        if len(problems) >= LISTED:
            break
    if problems:
        raise SpecError(problems)
    return built


def _located(loaded: LoadedSpec, point: Point, exc: ParameterError) -> Problem:
    """A refused point, at the value of the parameter the reason names (or the first)."""
    reason = str(exc)
    paths = list(point.settings)
    culprit = next((p for p in paths if reason.startswith(_field(p))), paths[0] if paths else None)
    shown = ", ".join(f"{p}={encode(v)}" for p, v in point.values)
    message = f"scenario {point.scenario} with {shown}: {reason}"
    if culprit is None:
        return loaded.problem(("parameters",), message)
    values: Any = loaded.spec.parameters[culprit]
    index = values.index(point.settings[culprit])
    at = ("parameters", culprit, index) if _listed(loaded, culprit) else ("parameters", culprit)
    return loaded.problem(at, message)


def _field(path: str) -> str:
    """How a refusal names the field a path sets (`pops[2].cpu`)."""
    return dotted(parse_path(path))


def _listed(loaded: LoadedSpec, path: str) -> bool:
    """Whether the parameter's values are written as a list (so an item has its line)."""
    return line_of(loaded.node, ("parameters", path, 0)) != line_of(
        loaded.node, ("parameters", path)
    )

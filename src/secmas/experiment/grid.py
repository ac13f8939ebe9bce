"""A spec expanded into its runs, each named by a key: pure, no file is read.

The order is repetition, seed, scenario, parameter values (the last varying fastest): a
sweep stopped halfway has covered the whole grid a number of times rather than part of
it, and its partial means already span the x axis.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from secmas.experiment.spec import SweepSpec


@dataclass(frozen=True)
class Point:
    """A scenario with one value for each grid parameter (spec order)."""

    scenario: str
    values: tuple[tuple[str, Any], ...]

    @property
    def settings(self) -> dict[str, Any]:
        """The parameter values as a mapping, path → value."""
        return dict(self.values)

    def __hash__(self) -> int:
        """By the values as the CSV writes them: a value may be a list or a mapping (an
        attack's ports, a section), which Python cannot hash as it is."""
        return hash((self.scenario, tuple((path, encode(v)) for path, v in self.values)))


@dataclass(frozen=True)
class RunKey:
    """One run: a point, a seed, a repetition."""

    point: Point
    seed: int
    repetition: int

    @property
    def id(self) -> str:
        """The run's name in the CSV: unique in the sweep, the same in every expansion."""
        values = "|".join(f"{path}={encode(value)}" for path, value in self.point.values)
        parts = [self.point.scenario, values] if values else [self.point.scenario]
        return "|".join([*parts, f"seed={self.seed}", f"rep={self.repetition}"])

    def columns(self) -> dict[str, Any]:
        """The key's CSV columns: scenario, each parameter (encoded), seed, repetition."""
        values = {path: encode(value) for path, value in self.point.values}
        return {
            "run": self.id,
            "scenario": self.point.scenario,
            **values,
            "seed": self.seed,
            "repetition": self.repetition,
        }


def encode(value: Any) -> str:
    """A parameter value as CSV text: scalars as YAML writes them, others as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def points(spec: SweepSpec) -> list[Point]:
    """Every scenario × combination of the grid's values."""
    paths = tuple(spec.parameters)
    combos = itertools.product(*(spec.parameters[path] for path in paths))
    grid = [tuple(zip(paths, combo, strict=True)) for combo in combos]
    return [Point(label, values) for label in spec.labels() for values in grid]


def expand(spec: SweepSpec) -> list[RunKey]:
    """Every run of the sweep, in the order they are started."""
    grid = points(spec)
    return [
        RunKey(point, seed, repetition)
        for repetition in range(spec.repetitions)
        for seed in spec.seeds
        for point in grid
    ]

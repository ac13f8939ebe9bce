"""Dotted parameter paths, checked against the model and applied by validating again."""

from __future__ import annotations

import pytest

from secmas.experiment.generators import ring_scenario
from secmas.experiment.params import ParameterError, check_path, parse_path, with_parameters


def test_paths_parse_into_fields_and_indices() -> None:
    assert parse_path("pops[2].cpu") == ("pops", 2, "cpu")
    assert parse_path("attack.attach[0]") == ("attack", "attach", 0)
    assert check_path("load.synthetic_goals") == ("load", "synthetic_goals")


def test_values_are_set_and_validated_again() -> None:
    ring = ring_scenario(6)
    changed = with_parameters(
        ring, {"load": {"pop": "pop0"}, "load.synthetic_goals": 5, "pops[2].cpu": 3}
    )
    assert changed.load is not None and changed.load.synthetic_goals == 5
    assert changed.pops[2].cpu == 3
    assert ring.load is None  # the original is untouched


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"load.synthetic_goals": 5}, "load.pop: Field required"),
        ({"load": {"pop": "pop9"}}, "load.pop: unknown PoP 'pop9'"),
        ({"attack.rate": -1}, "attack.rate: Input should be greater than 0"),
        ({"pops[9].cpu": 1}, "the scenario has no pops[9]"),
        ({"traffic.duration": 10}, "attack.start: the attack starts at 20 s"),
        ({"security.enabled": "maybe"}, "security.enabled: Input should be a valid boolean"),
    ],
)
def test_values_the_scenario_refuses_are_named(values: dict[str, object], expected: str) -> None:
    with pytest.raises(ParameterError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        with_parameters(ring_scenario(6), values)

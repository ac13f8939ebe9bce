"""The incident kinds of a scenario: the built-ins are installed plug-ins, and a kind no
installed incident knows is refused naming the file, line, field and the installed ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from secmas.scenario.incidents import installed_incident, installed_incidents
from secmas.scenario.loader import ScenarioError, parse_scenario

SCENARIOS = Path(__file__).parents[2] / "scenarios"
BUILT_IN = ("high_cpu", "high_memory", "traffic_spike", "load_step", "network_latency")


def test_the_built_in_kinds_are_installed_plug_ins() -> None:
    assert {*BUILT_IN, "disk_storm"} <= set(installed_incidents())
    assert all(installed_incident(kind) == kind for kind in BUILT_IN)


def test_the_loader_names_the_file_line_and_field_of_an_unknown_kind() -> None:
    text = (SCENARIOS / "cnf-attack.yaml").read_text()
    text = text.replace("{kind: high_cpu, cnf: web", "{kind: fork_bomb, cnf: web", 1)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "fork_bomb" in row)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    [problem] = map(str, info.value.problems)
    assert problem.startswith(f"s.yaml:{line}: incidents[1].kind: ")
    assert "no incident 'fork_bomb' is installed (installed: " in problem
    assert "'disk_storm'" in problem and "'high_cpu'" in problem

"""The starter scenario of `secmas scenario init`: every size is a runnable DDoS scenario with
no caveat, and its commented YAML reads back to the same scenario, every section explained
with the scenario's own figures."""

from __future__ import annotations

import re

import pytest

from secmas.scenario import parse_scenario
from secmas.scenario.caveats import monitored_load, run_warnings
from secmas.scenario.model import CNF
from secmas.scenario.starter import (
    MAX_POPS,
    MIN_POPS,
    ORDER,
    starter_scenario,
    starter_yaml,
    with_duration,
)
from secmas.scenario.topology import scenario_from_topology
from secmas.scenario.validation import run_problems, runnable_text


@pytest.mark.parametrize("pops", [MIN_POPS, 3, 7, MAX_POPS])
def test_every_size_is_runnable_and_reads_back(pops: int) -> None:
    scenario = starter_scenario(pops, seed=5)
    assert len(scenario.pops) == pops
    assert run_problems(scenario) == []
    assert run_warnings(scenario) == []  # the attack is perceived, every constraint met
    text = starter_yaml(scenario, "A test network.", "my.yaml")
    assert parse_scenario(text) == scenario
    assert runnable_text(text) == scenario


def test_the_attack_crosses_the_threshold_with_room() -> None:
    scenario = starter_scenario()
    load = monitored_load(scenario)
    assert load is not None and scenario.defence is not None
    threshold = scenario.defence.monitor.threshold
    assert load.legit < threshold < load.total  # clients alone stay below, the attack not


def test_every_section_is_explained_with_its_figures() -> None:
    text = starter_yaml(starter_scenario(), "A hand-written network.", "my.yaml")
    lines = text.splitlines()
    sections = [i for i, line in enumerate(lines) if re.match(r"[a-z_]+:", line)]
    written = [lines[i].split(":")[0] for i in sections]
    assert [s for s in written if s in ORDER] == [s for s in ORDER if s in written]
    assert {"pops", "links", "vnfs", "goals", "traffic", "attack", "defence"} <= set(written)
    for index in sections:  # a comment block, or the header's, right above each section
        key = lines[index].split(":")[0]
        if key not in ("description", "seed"):
            assert lines[index - 1].startswith("#"), key
    assert "#   .venv/bin/secmas scenario validate my.yaml" in lines
    assert "#   .venv/bin/secmas run my.yaml" in lines
    assert "# 4 attackers × 1 MB/s = 4 MB/s, from t = 10 s." in lines
    assert "# above the Link Monitor's 4 MB/s threshold. Fewer" in text
    for goal in ("linkRateLimited", "anomalousUsage", "flowRecord", "splitTrafficTowardsIp"):
        assert any(line.startswith(f"#   {goal}") for line in lines), goal
    assert re.search(r"threshold: 4 +# MB/s above which the link is over-used", text)
    assert re.search(r"duration: 90 +# simulated seconds the run lasts", text)
    assert 'op: "<="' in text and "cpu: 8," in text  # as people write them


def test_a_weak_attack_is_said_below_the_threshold() -> None:
    scenario = starter_scenario()
    assert scenario.attack is not None
    weak = scenario.model_copy(update={"attack": scenario.attack.model_copy(update={"rate": 0.3})})
    text = starter_yaml(weak, "A weak attack.")
    assert "# BELOW the Link Monitor's 4 MB/s threshold." in text
    assert "above the Link Monitor" not in text


def test_a_generated_topology_reads_back_commented() -> None:
    scenario = scenario_from_topology("sndlib/abilene", seed=2)
    text = starter_yaml(scenario, "Generated from sndlib/abilene.", "abilene.yaml")
    assert parse_scenario(text) == scenario
    assert "# Generated from sndlib/abilene." in text
    assert text.count("\n  - {id: pop") == len(scenario.pops)


def test_out_of_range_sizes_and_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="2 to 20 PoPs, got 1"):
        starter_scenario(1)
    with pytest.raises(ValueError, match="2 to 20 PoPs, got 21"):
        starter_scenario(MAX_POPS + 1)
    with pytest.raises(ValueError, match="attack starts at 10 s"):
        starter_scenario(duration=5)
    longer = with_duration(starter_scenario(), 300)
    assert longer.traffic is not None and longer.traffic.duration == 300
    with pytest.raises(ValueError, match="attack starts at 20 s"):
        with_duration(scenario_from_topology("sndlib/abilene"), 10)


def test_a_section_the_file_would_leave_out_is_refused() -> None:
    scenario = starter_scenario()
    with_cnf = scenario.model_copy(update={"cnfs": (CNF(id="web", host="server", pop="pop3"),)})
    with pytest.raises(ValueError, match="writes no cnfs section"):
        starter_yaml(with_cnf, "A CNF.")

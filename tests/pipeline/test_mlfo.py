"""Step 1: the MAS pipeline the MLFO computes for a network service."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from secmas.pipeline.mlfo import (
    PipelineRefused,
    compute_pipeline,
    default_service,
    latencies_from,
)
from secmas.scenario.loader import ScenarioError, load_scenario
from secmas.scenario.model import NetworkService, ServiceVNF
from secmas.scenario.topology import scenario_from_topology

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")


def test_one_agent_per_pop_and_the_worst_reach() -> None:
    assert SCENARIO.service is not None
    descriptor = compute_pipeline(SCENARIO, SCENARIO.service, "p", "img:1", 7)
    assert [a.pop for a in descriptor.agents] == [p.id for p in SCENARIO.pops]
    assert {a.name: a.colocated for a in descriptor.agents}["pop6"] == ("monitor",)
    assert descriptor.vni == 7 and descriptor.to_json()["image"] == "img:1"
    assert descriptor.worst_reach_ms > 0


def test_a_service_out_of_reach_is_refused_naming_agent_and_vnf() -> None:
    assert SCENARIO.service is not None
    tight = NetworkService.model_validate(SCENARIO.service.model_dump() | {"max_latency": 1.0})
    with pytest.raises(PipelineRefused, match=r"agent pop\d reaches VNF monitor at pop6 in"):
        compute_pipeline(SCENARIO, tight, "p", "img", 1)


def test_default_service_from_the_initial_placements() -> None:
    service = default_service(SCENARIO.model_copy(update={"service": None}))
    assert [(v.vnfd, v.pop) for v in service.vnfs] == [("link_monitor", "pop6")]


def test_a_descriptor_naming_unknown_vnfds_or_pops_is_refused(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "ddos-6pop.yaml").read_text()
    bad = text.replace("{id: monitor, vnfd: link_monitor, pop: pop6}", "{id: m, vnfd: x, pop: p9}")
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text_problems = " ".join(str(p) for p in caught.value.problems)
    assert "service.vnfs[0].vnfd" in text_problems and "unknown VNF 'x'" in text_problems
    assert "service.vnfs[0].pop" in text_problems and "unknown PoP 'p9'" in text_problems


def test_the_worst_reach_is_the_largest_agent_to_vnf_latency_on_a_generated_topology() -> None:
    """One Dijkstra per VNF site gives what one per agent gives (the links are undirected)."""
    scenario = scenario_from_topology("sndlib/germany50", seed=1)
    service = NetworkService(
        id="s",
        vnfs=tuple(
            ServiceVNF(id=f"v{i}", vnfd=scenario.vnfs[0].id, pop=p.id)
            for i, p in enumerate(scenario.pops[:3])
        ),
        max_latency=math.inf,
    )
    by_agent = max(
        latencies_from(scenario, agent.id)[vnf.pop]
        for agent in scenario.pops
        for vnf in service.vnfs
    )
    assert compute_pipeline(scenario, service, "p", "img", 1).worst_reach_ms == by_agent

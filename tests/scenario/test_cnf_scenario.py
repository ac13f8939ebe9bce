"""CNFs, incidents and application-layer attacks in scenario files: the reference files,
and errors that name the file, line, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from secmas.cli.main import default_scenario_path
from secmas.scenario.ddos import cnf_catalogue, cnf_goals, ddos_catalogue, ddos_goals
from secmas.scenario.loader import ScenarioError, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = default_scenario_path().read_text()
CNF_LINE = "  - {id: web, host: server, pop: pop6}\n"
INCIDENT = "incidents:\n  - {kind: high_cpu, cnf: web, start: 10, stop: 20}\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    return [str(p) for p in info.value.problems]


def line_of(text: str, fragment: str) -> int:
    return next(i for i, t in enumerate(text.splitlines(), 1) if fragment in t)


def test_the_reference_scenarios_have_the_web_cnf() -> None:
    assert (ROOT / "scenarios" / "ddos-6pop.yaml").read_text() == REFERENCE
    for scenario in (parse_scenario(REFERENCE), load_scenario(ROOT / "scenarios/cnf-attack.yaml")):
        [web] = scenario.cnfs
        assert (web.id, web.host, web.pop, web.cores, web.replicas) == (
            "web",
            "server",
            "pop6",
            2.0,
            1,
        )
        # The files spell out the catalogue helpers, DDoS entries first.
        assert scenario.vnfs == ddos_catalogue() + cnf_catalogue()
        assert scenario.goals == ddos_goals() + cnf_goals()
        assert scenario.goal("cnfGuarded").vnfs == ("conn_guard",)
        assert scenario.vnf("web_replica").image_size == 200.0


def test_the_cnf_attack_scenario() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "cnf-attack.yaml")
    reference = parse_scenario(REFERENCE)
    assert scenario.attack is not None and scenario.attack.kind == "http_flood"
    assert (scenario.attack.start, scenario.attack.stop) == (60, 120)
    assert [(i.kind, i.start, i.stop) for i in scenario.incidents] == [
        ("high_memory", 130, 180),
        ("high_cpu", 190, 230),
        ("network_latency", 250, 280),
    ]
    assert scenario.traffic is not None and scenario.traffic.duration == 300
    assert (scenario.pops, scenario.links, scenario.vnfs, scenario.goals) == (
        reference.pops,
        reference.links,
        reference.vnfs,
        reference.goals,
    )


def test_a_cnf_on_an_unknown_host_or_pop() -> None:
    text = REFERENCE.replace(CNF_LINE, "  - {id: web, host: nowhere, pop: pop9}\n")
    msgs = problems(text)
    line = line_of(text, "host: nowhere")
    assert f"s.yaml:{line}: cnfs[0].host: unknown host 'nowhere'" in msgs
    assert f"s.yaml:{line}: cnfs[0].pop: unknown PoP 'pop9'" in msgs


def test_duplicate_cnf_ids() -> None:
    [msg] = problems(REFERENCE.replace(CNF_LINE, CNF_LINE * 2))
    assert "cnfs[1].id: duplicate id 'web'" in msg


def test_an_incident_on_an_unknown_cnf() -> None:
    text = REFERENCE + INCIDENT.replace("cnf: web", "cnf: db")
    [msg] = problems(text)
    assert msg == f"s.yaml:{line_of(text, 'cnf: db')}: incidents[0].cnf: unknown CNF 'db'"


def test_an_incident_must_stop_after_it_starts() -> None:
    [msg] = problems(REFERENCE + INCIDENT.replace("stop: 20", "stop: 5"))
    assert "incidents[0]" in msg and "incident stop 5 s is not after start 10 s" in msg


def test_unknown_incident_and_attack_kinds() -> None:
    [msg] = problems(REFERENCE + INCIDENT.replace("high_cpu", "meltdown"))
    assert "incidents[0].kind" in msg
    [msg] = problems(REFERENCE.replace("kind: syn_flood", "kind: ping_flood"))
    assert "attack.kind" in msg and "http_flood" in msg and "slowloris" in msg


def test_cnf_sizes_must_be_positive() -> None:
    text = REFERENCE.replace(CNF_LINE, "  - {id: web, host: server, pop: pop6, replicas: 0}\n")
    [msg] = problems(text)
    assert "cnfs[0].replicas" in msg and "greater than or equal to 1" in msg
    text = REFERENCE.replace(CNF_LINE, "  - {id: web, host: server, pop: pop6, cores: 0}\n")
    assert any("cnfs[0].cores" in m for m in problems(text))


@pytest.mark.parametrize("kind", ["syn_flood", "http_flood", "slowloris"])
def test_every_attack_kind_loads(kind: str) -> None:
    scenario = parse_scenario(REFERENCE.replace("kind: syn_flood", f"kind: {kind}"))
    assert scenario.attack is not None and scenario.attack.kind == kind

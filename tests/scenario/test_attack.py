"""The attack kinds of a scenario: every installed kind parses, a mixed attack's attackers
take turns through the three network attacks of the real-CNF demo on both engines, a kind
that completes handshakes cannot forge its sources, and a kind or a parameter no
installed attack knows is refused naming the field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from secmas.cli.main import default_scenario_path
from secmas.network.attack import attack_kind
from secmas.network.attacks.mixed import MIXED
from secmas.network.dataplane.traffic import attack_flows
from secmas.scenario.attacks import installed_kinds, traits
from secmas.scenario.loader import ScenarioError, parse_scenario
from secmas.scenario.model import Attack

KINDS = ("syn_flood", "http_flood", "slowloris", "injection", "mixed")


def test_the_built_in_kinds_are_installed_plug_ins() -> None:
    assert set(KINDS) <= set(installed_kinds())


@given(st.sampled_from(KINDS), st.integers(1, 40), st.integers(0, 200))
def test_each_attacker_sends_one_kind_in_turn(kind: str, attackers: int, index: int) -> None:
    attack = Attack.model_validate({"kind": kind, "attackers": attackers, "attach": ["a"]})
    sent = attack_kind(kind).sends(attack, index)
    assert sent in KINDS and sent != "mixed"
    assert sent == (MIXED[index % 3] if kind == "mixed" else kind)


@given(st.integers(1, 30))
def test_a_mixed_attack_runs_every_network_attack_on_the_simulator(attackers: int) -> None:
    attack = Attack.model_validate(
        {"kind": "mixed", "attackers": attackers, "ports": [8000, 8080], "attach": ["a", "b"]}
    )
    flows = attack_flows(attack, "10.0.0.100", 60.0)
    kinds = [flow.kind for flow in flows[::2]]  # one flow per port: every other is a new one
    assert kinds == [MIXED[i % 3] for i in range(attackers)]
    assert len({flow.id.src_ip for flow in flows}) == attackers


def test_an_unknown_kind_is_refused_naming_the_installed_ones() -> None:
    with pytest.raises(ValidationError, match=r"no attack 'smurf' is installed.*'http_flood'"):
        Attack.model_validate({"kind": "smurf", "attach": ["a"]})


def test_the_loader_names_the_file_line_and_field_of_an_unknown_kind() -> None:
    reference = default_scenario_path().read_text()
    text = reference.replace("  kind: syn_flood\n", "  kind: smurf\n", 1)
    line = text.splitlines().index("  kind: smurf") + 1
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    [problem] = map(str, info.value.problems)
    assert problem.startswith(f"s.yaml:{line}: attack.kind: ")
    assert "no attack 'smurf' is installed (installed: " in problem and "'mixed'" in problem


def test_a_kind_without_parameters_refuses_any_given() -> None:
    with pytest.raises(ValidationError, match=r"parameters\n.*syn_flood parameters: period"):
        Attack.model_validate({"kind": "syn_flood", "attach": ["a"], "parameters": {"period": 2}})


@pytest.mark.parametrize("kind", [k for k in KINDS if traits(k).handshakes])
def test_an_attack_that_completes_handshakes_cannot_spoof(kind: str) -> None:
    with pytest.raises(ValidationError, match="cannot be spoofed"):
        Attack.model_validate({"kind": kind, "attach": ["a"], "spoof": "192.0.2.0/24"})


@pytest.mark.parametrize("kind", [k for k in KINDS if not traits(k).handshakes])
def test_an_attack_without_handshakes_may_spoof(kind: str) -> None:
    attack = Attack.model_validate({"kind": kind, "attach": ["a"], "spoof": "192.0.2.0/24"})
    assert {flow.id.src_ip for flow in attack_flows(attack, "10.0.0.100", 60.0)} <= {
        f"192.0.2.{n}" for n in range(1, 255)
    }

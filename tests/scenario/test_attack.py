"""The attack kinds of a scenario: every kind parses, a mixed attack's attackers take
turns through the three network attacks of the real-CNF demo on both engines, and a kind
that completes handshakes cannot forge its sources."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from secmas.network.dataplane.traffic import FlowKind, attack_flows
from secmas.scenario.model import HANDSHAKING, MIXED, Attack

KINDS = ("syn_flood", "http_flood", "slowloris", "injection", "mixed")


@given(st.sampled_from(KINDS), st.integers(1, 40), st.integers(0, 200))
def test_each_attacker_sends_one_kind_in_turn(kind: str, attackers: int, index: int) -> None:
    attack = Attack.model_validate({"kind": kind, "attackers": attackers, "attach": ["a"]})
    sent = attack.kind_of(index)
    assert sent in KINDS and sent != "mixed"
    assert sent == (MIXED[index % 3] if kind == "mixed" else kind)


@given(st.integers(1, 30))
def test_a_mixed_attack_runs_every_network_attack_on_the_simulator(attackers: int) -> None:
    attack = Attack.model_validate(
        {"kind": "mixed", "attackers": attackers, "ports": [8000, 8080], "attach": ["a", "b"]}
    )
    flows = attack_flows(attack, "10.0.0.100")
    kinds = [flow.kind for flow in flows[::2]]  # one flow per port: every other is a new one
    assert kinds == [FlowKind(MIXED[i % 3]) for i in range(attackers)]
    assert len({flow.id.src_ip for flow in flows}) == attackers


def test_an_unknown_kind_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"'syn_flood', 'http_flood'.*'mixed'"):
        Attack.model_validate({"kind": "smurf", "attach": ["a"]})


@pytest.mark.parametrize("kind", sorted(HANDSHAKING))
def test_an_attack_that_completes_handshakes_cannot_spoof(kind: str) -> None:
    with pytest.raises(ValidationError, match="cannot be spoofed"):
        Attack.model_validate({"kind": kind, "attach": ["a"], "spoof": "192.0.2.0/24"})
    for kind_without in ("syn_flood", "injection"):
        Attack.model_validate({"kind": kind_without, "attach": ["a"], "spoof": "192.0.2.0/24"})

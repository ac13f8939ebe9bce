"""What the emulated engine's attackers run, from the plan alone (no network): each kind
its own process at its scenario rate, a mixed attack's attackers in turn, and the CNF a
run's server becomes when a closed loop watches it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.network.emulation.conftest import SERVER, line_scenario

from secmas.network.attacks.slowloris import MAX_SLOW_HELD
from secmas.network.dataplane.stats import BYTES_PER_MB
from secmas.network.dataplane.traffic import packet_bytes
from secmas.network.emulation.plan import emulation_plan
from secmas.network.emulation.workload import (
    MAX_ATTACK_PPS,
    attack_command,
    attack_rate,
    served_cnf,
)

MIXED = {"kind": "mixed", "attackers": 3, "rate": 0.1, "start": 5, "ports": [8000], "attach": ["A"]}


def test_a_mixed_attack_runs_each_kind_from_its_own_attacker() -> None:
    plan = emulation_plan(line_scenario(attack=MIXED, network={"engine": "emulated", "scale": 0.1}))
    [group] = [g for g in plan.groups if g.attackers]
    commands = [
        attack_command(plan.server_ip, a, attack_rate(0.1, group, a), 5.0) for a in group.attackers
    ]
    modules = [command[2].rsplit(".", 1)[1] for command in commands]
    assert modules == ["httpflood", "slowloris", "synflood"]
    http, slow, syn = commands
    requests = 0.1 * 0.1 * BYTES_PER_MB / packet_bytes("http_flood")
    assert http[3:7] == [SERVER, "8000", f"{requests:.1f}", "2048"]
    assert slow[3:5] == [SERVER, "8000"] and int(slow[5]) == min(MAX_SLOW_HELD, round(35.0 * 30))
    assert syn[3] == SERVER and syn[-1] == group.attackers[2].ip


@given(st.floats(0.001, 50.0), st.integers(1, 6))
def test_the_attackers_of_one_kind_behind_a_node_stay_under_the_bound(
    rate: float, attackers: int
) -> None:
    attack = {"kind": "syn_flood", "attackers": attackers, "rate": rate, "attach": ["A"]}
    plan = emulation_plan(
        line_scenario(attack=attack, network={"engine": "emulated", "scale": 0.5})
    )
    [group] = [g for g in plan.groups if g.attackers]
    rates = [attack_rate(0.5, group, a) for a in group.attackers]
    assert sum(rates) <= MAX_ATTACK_PPS * (1 + 1e-9)
    assert rates == pytest.approx([rates[0]] * attackers)


def test_the_server_is_the_cnf_only_when_a_closed_loop_watches_it() -> None:
    web = {"id": "web", "host": "server", "pop": "C"}
    assert served_cnf(line_scenario(cnfs=[web])) is None
    watched = line_scenario(cnfs=[web], analytics={"detect": True})
    assert served_cnf(watched) is not None and served_cnf(watched).id == "web"
    elsewhere = line_scenario(
        hosts=[{"id": "server", "attach": "C", "ip": SERVER}, {"id": "h2", "attach": "B"}],
        cnfs=[{"id": "api", "host": "h2", "pop": "B"}],
        analytics={"detect": True},
    )
    assert served_cnf(elsewhere) is None

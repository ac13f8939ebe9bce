"""A seed fixes a run; rules change what is delivered, never what is offered."""

from __future__ import annotations

from secmas.network.dataplane import DataPlane, IpRateLimit
from secmas.scenario.model import Scenario


def run(scenario: Scenario, seed: int | None, steps: int = 40) -> DataPlane:
    plane = DataPlane(scenario, seed)
    plane.run_until(steps)
    return plane


def test_same_seed_same_run(ddos_scenario: Scenario) -> None:
    first, second = run(ddos_scenario, 3), run(ddos_scenario, 3)
    assert first.server_series() == second.server_series()
    assert first.flows_via("pop6") == second.flows_via("pop6")
    assert first.destination_rates("pop1") == second.destination_rates("pop1")


def test_other_seed_other_run(ddos_scenario: Scenario) -> None:
    assert run(ddos_scenario, 3).server_series() != run(ddos_scenario, 4).server_series()


def test_seed_defaults_to_the_scenarios(ddos_scenario: Scenario) -> None:
    assert run(ddos_scenario, None).server_series() == run(ddos_scenario, 7).server_series()


def test_rules_leave_offered_traffic_unchanged(ddos_scenario: Scenario) -> None:
    free = run(ddos_scenario, 5)
    limited = DataPlane(ddos_scenario, 5)
    limited.add_rule(IpRateLimit("pop6", limited.server_ip, 1.0))
    limited.run_until(40)
    for a, b in zip(free.server_series(), limited.server_series(), strict=True):
        assert (a.offered_legit, a.offered_attack) == (b.offered_legit, b.offered_attack)
        assert b.legit + b.attack <= 1.0 + 1e-9

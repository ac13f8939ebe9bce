"""The emulation plan: names, addresses and routes (pure, no root needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.network.emulation.conftest import SERVER, line_scenario

from secmas.network.dataplane.routing import Network, shortest_path_tree
from secmas.network.emulation.plan import PlanError, emulation_plan
from secmas.scenario.loader import load_scenario

REFERENCE = Path(__file__).parents[3] / "scenarios" / "ddos-emulated.yaml"


def test_every_name_fits_linux_and_carries_the_run_prefix() -> None:
    plan = emulation_plan(load_scenario(REFERENCE), prefix="sab12")
    names = plan.namespaces + plan.bridges
    interfaces = [p.intf for link in plan.links for p in (link.a, link.b)]
    interfaces += [g.port.intf for g in plan.groups] + [g.router_port.intf for g in plan.groups]
    assert len(set(names)) == len(names)
    assert all(n.startswith("sab12") and len(n) <= 15 for n in names + interfaces)


def test_each_source_lives_in_one_group_behind_its_attach_node() -> None:
    scenario = load_scenario(REFERENCE)
    plan = emulation_plan(scenario)
    addresses = [a for g in plan.groups for a in g.addresses]
    assert len(addresses) == len(set(addresses))
    assert len(plan.attack_sources) == scenario.attack.attackers
    for group in plan.groups:
        for address in group.addresses:
            assert plan.ingress[address] == group.attach


def test_routes_towards_the_server_follow_the_simulators_tree() -> None:
    scenario = line_scenario()
    plan = emulation_plan(scenario)
    tree = shortest_path_tree(Network.from_scenario(scenario), "server")
    for node in plan.routers:
        [route] = [r for r in plan.routes[node] if r.dst == SERVER]
        hop = tree.next_hop[node]
        assert route.intf == plan.port(node, hop).intf
        assert route.via == plan.port(hop, node).ip


def test_links_are_shaped_to_the_scaled_bandwidth() -> None:
    plan = emulation_plan(line_scenario())
    assert {round(link.mbit, 6) for link in plan.links} == {round(10 * 0.02 * 8, 6)}


def test_an_attack_the_engine_cannot_send_is_refused_by_name() -> None:
    scenario = line_scenario()
    attack = scenario.attack.model_copy(update={"kind": "slowloris"})
    with pytest.raises(PlanError, match="slowloris"):
        emulation_plan(scenario.model_copy(update={"attack": attack}))


def test_a_malformed_prefix_is_refused() -> None:
    with pytest.raises(PlanError, match="prefix"):
        emulation_plan(line_scenario(), prefix="bad/prefix")

"""The emulation plan: names, addresses and routes (pure, no root needed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.network.emulation.conftest import SERVER, line_scenario

from secmas.network.dataplane.routing import Network, shortest_path_tree
from secmas.network.emulation.plan import PlanError, emulation_plan
from secmas.plugins import rescan
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
    attack = scenario.attack.model_copy(update={"kind": "injection"})
    with pytest.raises(PlanError, match="emulated engine does not launch it"):
        emulation_plan(scenario.model_copy(update={"attack": attack}))


def test_each_attacker_of_a_mixed_attack_is_planned_with_its_kind() -> None:
    scenario = line_scenario()
    attack = scenario.attack.model_copy(update={"kind": "mixed"})
    plan = emulation_plan(scenario.model_copy(update={"attack": attack}))
    kinds = [a.kind for g in plan.groups for a in g.attackers]
    assert kinds == ["http_flood", "slowloris", "syn_flood", "http_flood"]


def test_a_malformed_prefix_is_refused() -> None:
    with pytest.raises(PlanError, match="prefix"):
        emulation_plan(line_scenario(), prefix="bad/prefix")


def test_a_control_host_hangs_off_the_servers_node_with_names_that_fit() -> None:
    scenario = load_scenario(REFERENCE)
    plan = emulation_plan(scenario, prefix="sab12", control=True)
    control = plan.control
    assert control is not None and control.attach == "pop6"  # where the server hangs off
    assert control.name in plan.namespaces
    ports = [control.link.a, control.link.b, control.root_port, control.management_port]
    assert all(p.intf.startswith("sab12") and len(p.intf) <= 15 for p in ports)
    addresses = [p.ip for link in plan.links for p in (link.a, link.b)]
    assert control.link.a.ip not in addresses and control.link.b.ip not in addresses
    assert control.root_port.ip.startswith("10.254.")
    assert sorted(control.agents) == [p.id for p in scenario.pops]
    assert len(set(control.agents.values())) == len(scenario.pops)
    assert emulation_plan(scenario).control is None


def test_agents_reach_the_control_host_from_their_own_address_along_the_tree() -> None:
    scenario = line_scenario()
    plan = emulation_plan(scenario, control=True)
    control = plan.control
    assert control is not None and control.attach == "C"
    tree = shortest_path_tree(Network.from_scenario(scenario), "C")
    for node in plan.routers:
        [route] = [r for r in plan.routes[node] if r.dst == control.ip]
        assert route.src == control.agents[node]
        if node == "C":
            assert (route.via, route.intf) == (control.link.b.ip, control.link.a.intf)
        else:
            hop = tree.next_hop[node]
            assert (route.via, route.intf) == (plan.port(hop, node).ip, plan.port(node, hop).intf)
    assert plan.defaults[control.name] == control.link.a.ip


def test_every_agent_address_is_routed_back_towards_its_pop() -> None:
    scenario = line_scenario()
    plan = emulation_plan(scenario, control=True)
    control = plan.control
    assert control is not None
    for pop, address in control.agents.items():
        tree = shortest_path_tree(Network.from_scenario(scenario), pop)
        for node in plan.routers:
            found = [r for r in plan.routes[node] if r.dst == address]
            if node == pop:
                assert not found  # its own: on its loopback
            else:
                hop = tree.next_hop[node]
                assert [(r.via, r.intf) for r in found] == [
                    (plan.port(hop, node).ip, plan.port(node, hop).intf)
                ]


REPEATING = '''
from secmas.network.attack import source
from secmas.network.attacks.syn_flood import SynFlood
from secmas.network.dataplane.flows import FlowSpec
from secmas.network.dataplane.stats import FlowId


class Repeating(SynFlood):
    """Every attacker floods in two windows, [start, start + 2) and [start + 4, start + 6)."""

    def flows(self, attack, dst_ip, first, until):
        return [
            FlowSpec(FlowId(source(attack, first, bot), dst_ip, port), attack.kind,
                     attack.attach[0], attack.rate, attack.start + at, attack.start + at + 2)
            for at in (0, 4)
            for bot in range(attack.attackers)
            for port in attack.ports
        ]
'''


@pytest.fixture
def repeating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed attack whose attackers keep their addresses from window to window."""
    info = tmp_path / "secmas_repeating-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: secmas-repeating\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[secmas.attacks]\nrepeating = repeating_mod:Repeating\n"
    )
    (tmp_path / "repeating_mod.py").write_text(REPEATING)
    monkeypatch.syspath_prepend(str(tmp_path))
    rescan()
    yield
    rescan()


def test_a_source_sending_in_several_windows_is_an_attacker_in_each(repeating: None) -> None:
    scenario = line_scenario()
    attack = scenario.attack.model_copy(update={"kind": "repeating"})
    plan = emulation_plan(scenario.model_copy(update={"attack": attack}))
    attackers = [a for g in plan.groups for a in g.attackers]
    windows = sorted({(a.start, a.stop) for a in attackers})
    assert windows == [(5, 7), (9, 11)]  # neither window lost to the other
    assert all(a.ports == (8000, 8080) for a in attackers)  # one window's ports merge
    assert len(attackers) == 2 * attack.attackers
    addresses = [address for g in plan.groups for address in g.addresses]
    assert len(addresses) == len(set(addresses))  # each address is set up once
    assert len(plan.attack_sources) == attack.attackers

"""Where moving CNFs live and what they carry (pure, no root needed)."""

from __future__ import annotations

import pytest
from tests.network.emulation.conftest import line_scenario

from secmas.network.dataplane.routing import Network
from secmas.network.emulation.errors import PlanError
from secmas.network.emulation.mobility import (
    NodeRoute,
    check_free,
    cnf_address,
    path_bytes_per_s,
    pop_addresses,
    route_commands,
    routes_towards,
    state_shape,
)
from secmas.network.emulation.plan import emulation_plan


def test_the_state_is_the_models_memory_at_the_plans_scale() -> None:
    # 64 MB resident at scale 0.025 = 1.6 MB = 390.6 pages of 4096 B → 391 sessions;
    # 1.536 MB/s dirtied (0.08 · 0.3 · 64) → 38 400 B/s; 0.2 MB/s of disk → 5 000 B/s
    shape = state_shape(64, 1.536, 0.2, 0.025)
    assert shape.sessions == 391
    assert shape.state_bytes == 391 * 4096
    assert shape.dirty_bytes_per_s == pytest.approx(38_400)
    assert shape.log_bytes_per_s == pytest.approx(5_000)
    with pytest.raises(ValueError, match="scale"):
        state_shape(64, 1, 0, 2.0)


def test_addresses_stay_out_of_the_plans_ranges() -> None:
    scenario = line_scenario()
    plan = emulation_plan(scenario)
    check_free(plan)
    assert cnf_address(0) == "10.251.0.1"
    assert pop_addresses(plan) == {
        "A": "10.251.1.1",
        "B": "10.251.1.2",
        "C": "10.251.1.3",
        "D": "10.251.1.4",
    }
    clashing = line_scenario(hosts=[{"id": "server", "attach": "C", "ip": "10.251.0.9"}])
    with pytest.raises(PlanError, match=r"10\.251\.0\.9"):
        check_free(emulation_plan(clashing))


def test_every_node_routes_a_cnfs_address_towards_its_pop() -> None:
    scenario = line_scenario()
    plan = emulation_plan(scenario)
    routes = {r.node: r for r in routes_towards(plan, Network.from_scenario(scenario), "D")}
    assert routes["D"] == NodeRoute("D", None, None)
    # A and C are D's neighbours; B reaches D over A or C (25 ms either way: A comes first)
    assert routes["A"].via == plan.port("D", "A").ip
    assert routes["A"].intf == plan.port("A", "D").intf
    assert routes["C"].via == plan.port("D", "C").ip
    assert routes["B"].via in (plan.port("A", "B").ip, plan.port("C", "B").ip)


def test_route_commands_add_the_address_where_it_lives_and_route_it_elsewhere() -> None:
    here = route_commands(NodeRoute("D", None, None), "10.251.0.1")
    there = route_commands(NodeRoute("A", "172.16.0.2", "sxxxxr0-eth1"), "10.251.0.1")
    assert here == ["addr replace 10.251.0.1/32 dev lo", "route flush 10.251.0.1/32 table main"]
    assert there == [
        "addr flush to 10.251.0.1/32 dev lo",
        "route replace 10.251.0.1/32 via 172.16.0.2 dev sxxxxr0-eth1",
    ]


def test_a_transfer_runs_at_its_paths_narrowest_link() -> None:
    # every line_scenario link is 10 MB/s at scale 0.02: 0.2 MB/s = 200 000 B/s
    scenario = line_scenario()
    plan = emulation_plan(scenario)
    network = Network.from_scenario(scenario)
    assert path_bytes_per_s(plan, network, "C", "A") == pytest.approx(200_000)

"""What a run needs of a scenario (connectivity, the strategies' goals) and the bounds every
scenario keeps: problems name the field, and the line through `load_runnable`."""

from __future__ import annotations

import re
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.cli.main import default_scenario_path
from secmas.network.dataplane.flows import ATTACK_PREFIX, LEGIT_PREFIX, client_ip
from secmas.network.dataplane.routing import Network, shortest_path_tree
from secmas.network.emulation.errors import PlanError
from secmas.network.emulation.plan import emulation_plan
from secmas.scenario.loader import ScenarioError
from secmas.scenario.model import ADDRESS_PLAN, CLIENT_PLANS, DataPlaneSettings, Scenario
from secmas.scenario.topology import scenario_from_topology
from secmas.scenario.validation import LISTED, load_runnable, run_problems

REFERENCE = default_scenario_path().read_text()


def reference(**changes: Any) -> dict[str, Any]:
    """The reference scenario as plain data, top-level fields replaced."""
    return yaml.safe_load(REFERENCE) | changes


def problems(data: dict[str, Any]) -> list[str]:
    return [
        f"{'.'.join(map(str, at))}: {msg}"
        for at, msg in run_problems(Scenario.model_validate(data))
    ]


def test_the_embedded_scenarios_can_run() -> None:
    for name in ("ddos-6pop", "cnf-attack", "adaptive-defence", "ddos-emulated"):
        assert (
            run_problems(
                Scenario.model_validate(yaml.safe_load(default_scenario_path(name).read_text()))
            )
            == []
        )


@pytest.mark.parametrize("key", ["sndlib/abilene", "topozoo/Abilene", "gabriel/25/3"])
def test_generated_scenarios_can_run(key: str) -> None:
    assert run_problems(scenario_from_topology(key, seed=5)) == []


def test_the_address_plan_is_the_data_planes() -> None:
    assert client_ip(ATTACK_PREFIX, ADDRESS_PLAN - 1) == f"{ATTACK_PREFIX}.255.254"
    with pytest.raises(ValueError, match="does not fit"):
        client_ip(ATTACK_PREFIX, ADDRESS_PLAN)


def test_a_client_behind_a_cut_off_pop_is_named() -> None:
    data = reference()
    data["links"] = [link for link in data["links"] if {link["a"], link["b"]} != {"pop4", "pop6"}]
    data["links"] = [link for link in data["links"] if {link["a"], link["b"]} != {"pop2", "pop3"}]
    found = problems(data)
    route = "'pop3' has no path of links to the server 'server': its traffic would have no route"
    assert f"traffic.background.attach.2: {route}" in found
    assert any(p.startswith("attack.attach.2: 'pop3'") for p in found)
    assert any(
        p.startswith("pops.3: PoP 'pop4' has no path of links to the VNF repository") for p in found
    )


def test_hosts_carry_no_transit() -> None:
    """A PoP reached only through another host has no route, as in the data plane."""
    data = reference()
    data["hosts"] = [*data["hosts"], {"id": "relay", "attach": "pop6"}]
    data["links"] = [
        *[link for link in data["links"] if {link["a"], link["b"]} != {"pop4", "pop6"}],
        {"a": "pop6", "b": "relay", "bandwidth": 10},
        {"a": "relay", "b": "pop4", "bandwidth": 10},
    ]
    data["links"] = [link for link in data["links"] if {link["a"], link["b"]} != {"pop2", "pop3"}]
    found = problems(data)
    assert any("'pop4' has no path of links to the server" in p for p in found)


def test_many_unreachable_nodes_are_counted_after_the_first_ones() -> None:
    data = reference()
    data["pops"] = [
        *data["pops"],
        *({"id": f"lone{i}", "cpu": 1, "memory": 1, "disk": 1} for i in range(25)),
    ]
    found = [p for p in problems(data) if "repository" in p or "more cut off" in p]
    assert len(found) == LISTED + 1 and found[-1].endswith(
        "… and 15 more cut off from the repository"
    )


def test_a_host_must_be_linked_to_its_attach_node() -> None:
    data = reference(hosts=[{"id": "server", "attach": "pop5", "ip": "10.0.0.100"}])
    assert problems(data) == [
        "hosts.0.attach: host 'server' is attached to 'pop5' but no link joins them"
    ]


def test_a_renamed_goal_of_the_ddos_strategy_is_named_with_its_likely_new_name() -> None:
    data = reference()
    data["goals"][2]["name"] = "flowRecorded"
    assert problems(data) == [
        "defence: the DDoS strategy (defence) auctions goal 'flowRecord': add it to goals "
        "(goals[2] is 'flowRecorded': renamed?)"
    ]


def test_the_closed_loop_needs_its_goals_and_a_scenario_without_strategies_needs_none() -> None:
    data = reference(analytics={"detect": True})
    data["goals"] = [g for g in data["goals"] if g["name"] != "cnfIsolated"]
    assert problems(data) == [
        "analytics.detect: the closed loop auctions goal 'cnfIsolated': add it to goals"
    ]
    bare = reference(goals=[])
    del bare["defence"]
    assert problems(bare) == ["defence: a run needs a defence section: the Link Monitor's link"]


def test_the_link_monitors_pop_must_start_with_one() -> None:
    """Its agent watches the link only where a Link Monitor runs: elsewhere no auction ever
    starts, and the run failed after its whole length."""
    data = reference()
    data["defence"]["monitor"]["pop"] = "pop5"
    assert problems(data) == [
        "defence.monitor.pop: pop5 runs the Link Monitor, but placements put it on pop6: add "
        "{vnf: link_monitor, pop: pop5} to placements, or name that PoP here; else no agent "
        "watches the link and no auction ever starts"
    ]
    data["placements"] = []
    assert "but no placement starts one" in problems(data)[0]


def test_a_vnf_a_goal_places_must_fit_some_pop() -> None:
    data = reference()
    classifier = next(i for i, v in enumerate(data["vnfs"]) if v["id"] == "classifier")
    data["vnfs"][classifier]["requirements"]["cpu"] = 10_000
    assert problems(data) == [
        f"vnfs.{classifier}.requirements: classifier needs cpu 10000, memory 4 GB, disk 10 GB, "
        "more than any PoP has: goal 'flowRecord' could never be placed"
    ]
    # a catalogue entry no goal places may be as large as its author likes
    data["goals"] = [g for g in data["goals"] if "classifier" not in g.get("vnfs", [])]
    assert not [p for p in problems(data) if p.startswith(f"vnfs.{classifier}")]


def test_an_id_is_at_most_a_hundred_characters() -> None:
    with pytest.raises(ValueError, match="at most 100 characters"):
        Scenario.model_validate(reference(id="a" * 4000))
    assert Scenario.model_validate(reference(id="a" * 100)).id == "a" * 100


def test_a_pop_id_holds_no_dot(tmp_path: Path) -> None:
    """A PoP's id names its agent, whose conversation ids begin `<id>.`: `pop` would pass
    for the opener of `pop.1`'s conversations."""
    path = tmp_path / "s.yaml"
    path.write_text(re.sub(r"\bpop1\b", "pop.1", REFERENCE))
    with pytest.raises(ScenarioError, match=r"pops\[0\]\.id: String should match pattern"):
        load_runnable(path)


def test_load_runnable_gives_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(REFERENCE.replace("name: flowRecord\n", "name: flowRecorded\n"))
    with pytest.raises(ScenarioError) as caught:
        load_runnable(path)
    line = next(
        i for i, text in enumerate(REFERENCE.splitlines(), 1) if text.startswith("defence:")
    )
    # a section is found at its first entry, the line after its key
    assert str(caught.value).startswith(f"{path}:{line + 1}: defence: the DDoS strategy")


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("cpu", float("inf"), "finite number"),
        ("cpu", float("nan"), "finite number"),
        ("cpu", 1e308, r"1e\+308 is above 1000000000: the largest amount"),
        ("memory", 10**400, "Input should be a valid number"),
    ],
)
def test_amounts_are_finite_and_bounded(field: str, value: float, says: str) -> None:
    data = reference()
    data["pops"][0][field] = value
    with pytest.raises(ValueError, match=says):
        Scenario.model_validate(data)


def test_counts_are_bounded_with_their_reason() -> None:
    data = reference()
    data["attack"]["attackers"] = 10**400
    with pytest.raises(ValueError, match="a 401-digit number is above 65024: a /16 address plan"):
        Scenario.model_validate(data)


@pytest.mark.parametrize(
    ("ip", "kept"), [("10.0.0.100", "10.0.0.100"), (" 192.168.1.1", "192.168.1.1")]
)
def test_host_addresses_are_ipv4(ip: str, kept: str) -> None:
    data = reference(hosts=[{"id": "server", "attach": "pop6", "ip": ip}])
    assert Scenario.model_validate(data).hosts[0].ip == kept


@pytest.mark.parametrize("ip", ["999.1.1.1", "::1", "10.0.0", "server"])
def test_other_host_addresses_are_refused(ip: str) -> None:
    data = reference(hosts=[{"id": "server", "attach": "pop6", "ip": ip}])
    with pytest.raises(ValueError, match="not an IPv4 address"):
        Scenario.model_validate(data)


def test_the_attack_starts_within_the_run() -> None:
    data = reference()
    data["attack"]["start"] = 239.5
    Scenario.model_validate(data)
    data["attack"]["start"] = 240
    with pytest.raises(ValueError, match=r"when the run \(traffic.duration 240 s\) is over"):
        Scenario.model_validate(data)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 7),
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=12),
    st.integers(0, 6),
)
def test_reachability_agrees_with_the_data_planes_routes(
    count: int, pairs: list[tuple[int, int]], server_at: int
) -> None:
    """Every client attach node is named unreachable exactly when the routing tree the
    simulator builds has no route from it."""
    pops = [f"p{i}" for i in range(count)]
    links = {
        frozenset((pops[a % count], pops[b % count])) for a, b in pairs if a % count != b % count
    }
    server = pops[server_at % count]
    data = reference(
        pops=[{"id": p, "cpu": 4, "memory": 8, "disk": 50} for p in pops],
        hosts=[{"id": "server", "attach": server}],
        links=[
            *({"a": a, "b": b, "bandwidth": 5} for a, b in map(sorted, links)),
            {"a": server, "b": "server", "bandwidth": 5},
        ],
        repository={"attach": pops[0]},
        placements=[],
        cnfs=[],
        slices=[],
        service=None,
        defence={"monitor": {"pop": server, "link": [server, "server"], "threshold": 4}},
        security={"enabled": False},
    )
    data["traffic"]["background"]["attach"] = pops
    data["attack"]["attach"] = pops
    scenario = Scenario.model_validate(data)
    tree = shortest_path_tree(Network.from_scenario(scenario), "server")
    named = {msg.split("'")[1] for at, msg in run_problems(scenario) if at[0] == "traffic"}
    assert named == {p for p in pops if p not in tree.depth}


@settings(max_examples=50, deadline=None)
@given(st.integers(0, len(REFERENCE) - 1), st.integers(1, 20), st.text(max_size=8))
def test_mutated_reference_never_crashes_the_run_checks(at: int, cut: int, insert: str) -> None:
    text = REFERENCE[:at] + insert + REFERENCE[at + cut :]
    try:
        data = yaml.safe_load(text)
        scenario = Scenario.model_validate(data)
    except (yaml.YAMLError, ValueError, TypeError):
        return
    for where, message in run_problems(scenario):
        assert where and message


def test_trust_work_is_paced_by_the_simulator_step_when_security_is_on() -> None:
    data = reference()
    data["security"]["heartbeat"] = 0.5
    too_often = r"security.heartbeat: 0.5 s is shorter than traffic.step \(1 s\)"
    with pytest.raises(ValueError, match=too_often):
        Scenario.model_validate(data)
    data["security"]["enabled"] = False
    Scenario.model_validate(data)


def test_initial_placements_fit_their_pops_in_order() -> None:
    data = reference()
    data["placements"] = [
        {"vnf": "classifier", "pop": "pop3"},
        {"vnf": "link_monitor", "pop": "pop3"},
        {"vnf": "link_monitor", "pop": "pop6"},
    ]
    assert problems(data) == [
        "placements.1: link_monitor needs cpu 1, memory 1 GB, disk 2 GB; pop3 has cpu 0, "
        "memory 0 GB, disk 40 GB free"
    ]


def _emulated(**changes: Any) -> dict[str, Any]:
    data = yaml.safe_load(default_scenario_path("ddos-emulated").read_text())
    return data | changes


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (
            _emulated(attack=_emulated()["attack"] | {"kind": "injection"}),
            "attack.kind: the emulated engine does not launch attack 'injection' (the "
            "simulator does)",
        ),
        (
            _emulated(switches=[{"id": f"s{i}"} for i in range(195)]),
            "network.engine: the emulated engine builds at most 200 PoPs and switches",
        ),
        (
            _emulated(
                hosts=[*_emulated()["hosts"], {"id": "h2", "attach": "pop1"}],
                links=[
                    *_emulated()["links"],
                    {"a": "pop1", "b": "h2", "bandwidth": 5},
                    {"a": "server", "b": "h2", "bandwidth": 5},
                ],
            ),
            "links.9: the emulated engine attaches hosts to a PoP or switch",
        ),
    ],
)
def test_what_the_emulated_engine_cannot_build_is_named_as_its_plan_refuses_it(
    data: dict[str, Any], says: str
) -> None:
    scenario = Scenario.model_validate(data)
    assert any(found.startswith(says) for found in problems(data))
    with pytest.raises(PlanError):
        emulation_plan(scenario)
    simulated = scenario.model_copy(update={"network": DataPlaneSettings()})
    assert not any("emulated engine" in msg for _, msg in run_problems(simulated))


def test_the_clients_address_plans_are_the_data_planes() -> None:
    assert CLIENT_PLANS["background clients"] == ip_network(
        f"{client_ip(LEGIT_PREFIX, 0)}/16", False
    )
    assert CLIENT_PLANS["attackers"] == ip_network(f"{client_ip(ATTACK_PREFIX, 0)}/16", False)


def refused(data: dict[str, Any]) -> str:
    """What the model says of a scenario it refuses."""
    with pytest.raises(ValueError) as caught:
        Scenario.model_validate(data)
    return str(caught.value)


@pytest.mark.parametrize(
    ("ip", "plan"),
    [
        ("10.1.0.7", "the background clients' /16 address plan 10.1.0.0/16"),
        ("10.1.255.254", "the background clients' /16 address plan 10.1.0.0/16"),
        ("10.66.0.1", "the attackers' /16 address plan 10.66.0.0/16"),
    ],
)
def test_a_host_inside_a_clients_address_plan_is_refused(ip: str, plan: str) -> None:
    data = reference(hosts=[{"id": "server", "attach": "pop6", "ip": ip}])
    assert (
        f"hosts[0].ip: host 'server' at {ip} is inside {plan}: its address would be a "
        "client's" in refused(data)
    )


def test_a_clients_address_plan_is_free_when_nobody_uses_it() -> None:
    data = reference(hosts=[{"id": "server", "attach": "pop6", "ip": "10.66.0.1"}])
    del data["attack"]
    Scenario.model_validate(data)
    spoofed = reference(hosts=[{"id": "server", "attach": "pop6", "ip": "10.66.0.1"}])
    spoofed["attack"]["spoof"] = "203.0.113.0/24"
    Scenario.model_validate(spoofed)


def test_a_host_at_an_address_the_attackers_forge_is_refused() -> None:
    data = reference(hosts=[{"id": "server", "attach": "pop6", "ip": "203.0.113.8"}])
    data["attack"]["spoof"] = "203.0.113.0/24"
    assert (
        "hosts[0].ip: host 'server' at 203.0.113.8 is an address the 8 attackers forge "
        "(attack.spoof 203.0.113.0/24: its first 8 host addresses)" in refused(data)
    )
    data["hosts"][0]["ip"] = "203.0.113.9"
    Scenario.model_validate(data)


def test_a_host_inside_a_clients_address_plan_is_named_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(REFERENCE.replace("ip: 10.0.0.100", "ip: 10.1.0.7"))
    with pytest.raises(ScenarioError) as caught:
        load_runnable(path)
    line = next(i for i, t in enumerate(REFERENCE.splitlines(), 1) if "ip: 10.0.0.100" in t)
    assert str(caught.value) == (
        f"{path}:{line}: hosts[0].ip: host 'server' at 10.1.0.7 is inside the background "
        "clients' /16 address plan 10.1.0.0/16: its address would be a client's"
    )


@pytest.mark.parametrize("kind", ["syn_flood", "http_flood", "slowloris", "mixed"])
def test_the_emulated_engine_takes_every_attack_of_the_real_cnf_demo(kind: str) -> None:
    assert problems(_emulated(attack=_emulated()["attack"] | {"kind": kind})) == []

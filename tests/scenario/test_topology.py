"""Scenarios generated from topohub topologies: determinism, YAML round trip, shape, story."""

from __future__ import annotations

from collections import deque

import pytest
import topohub
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.network.resources import Amount, req
from secmas.scenario.ddos import (
    ANOMALY_DETECTOR,
    CLASSIFIER,
    LINK_MONITOR,
    ddos_catalogue,
    ddos_goals,
)
from secmas.scenario.loader import parse_scenario
from secmas.scenario.model import MAX_SEED, Scenario
from secmas.scenario.topology import (
    FLAVOURS,
    LARGE,
    MEDIUM,
    SMALL,
    AttackShape,
    PoPShape,
    UnknownTopology,
    dump_scenario,
    scenario_from_graph,
    scenario_from_topology,
    topology_keys,
)

# Small graphs of every group (planar and geographic), so property tests stay fast.
SMALL_KEYS = (
    "sndlib/abilene",
    "sndlib/polska",
    "sndlib/atlanta",
    "topozoo/Renam",
    "topozoo/Aarnet",
    "gabriel/10/3",
    "caida/2024-08/1835",
    "backbone/north_america_nosc",
)
CAIDA_LARGEST = "caida/2024-08/7018"
GABRIEL_200 = "gabriel/200/0"

keys = st.sampled_from(SMALL_KEYS)
seeds = st.integers(min_value=0, max_value=MAX_SEED)


@pytest.fixture(scope="module")
def caida() -> Scenario:
    """The largest CAIDA graph (594 nodes), generated once for the whole module."""
    return scenario_from_topology(CAIDA_LARGEST, seed=7)


def adjacency(scenario: Scenario) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {p.id: [] for p in scenario.pops}
    graph |= {h.id: [] for h in scenario.hosts}
    for link in scenario.links:
        graph[link.a].append(link.b)
        graph[link.b].append(link.a)
    return graph


def bfs_parents(graph: dict[str, list[str]], source: str) -> dict[str, str]:
    parents = {source: source}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for other in graph[node]:
            if other not in parents:
                parents[other] = node
                queue.append(other)
    return parents


def shortest_path(graph: dict[str, list[str]], source: str, target: str) -> list[str]:
    parents = bfs_parents(graph, source)
    path = [target]
    while path[-1] != source:
        path.append(parents[path[-1]])
    return path[::-1]


def pop_links(scenario: Scenario) -> list[tuple[str, str]]:
    return [(link.a, link.b) for link in scenario.links if "server" not in (link.a, link.b)]


def check_story(scenario: Scenario) -> None:
    """Everything the DDoS story needs holds in a generated scenario."""
    assert Scenario.model_validate(scenario.model_dump()) == scenario
    graph = adjacency(scenario)
    assert bfs_parents(graph, "server").keys() == graph.keys(), "graph is disconnected"

    (server,) = scenario.hosts
    server_pop = server.attach
    pop_degrees = {p.id: sum(o != "server" for o in graph[p.id]) for p in scenario.pops}
    assert pop_degrees[server_pop] == min(pop_degrees.values())
    assert scenario.placements[0].vnf == LINK_MONITOR
    assert scenario.placements[0].pop == server_pop
    assert scenario.defence is not None
    assert scenario.defence.monitor.pop == server_pop
    assert scenario.defence.monitor.link == (server_pop, "server")
    assert scenario.repository.attach != server_pop
    assert scenario.vnfs == ddos_catalogue()
    assert scenario.goals == ddos_goals()

    assert scenario.traffic is not None
    assert scenario.attack is not None
    others = len(scenario.pops) - 1
    clients = scenario.traffic.background.attach
    attackers = scenario.attack.attach
    assert min(3, others) <= len(clients) <= 4
    assert min(2, others) <= len(attackers) <= 4
    assert server_pop not in clients + attackers
    assert len(set(clients)) == len(clients)
    assert len(set(attackers)) == len(attackers)

    pops = {p.id: p for p in scenario.pops}
    assert all((p.cpu, p.memory, p.disk) in FLAVOURS for p in pops.values())
    repo_path = shortest_path(graph, scenario.repository.attach, server_pop)
    assert any((pops[p].cpu, pops[p].memory, pops[p].disk) != SMALL for p in repo_path[:-1])
    two_detectors = req(scenario.vnf(ANOMALY_DETECTOR), 2)
    assert any(two_detectors.fits_in(Amount.of(pops[p].total)) for p in pops if p != server_pop)
    classifier = req(scenario.vnf(CLASSIFIER))
    fitting = sum(classifier.fits_in(Amount.of(p.total)) for p in pops.values())
    assert fitting >= 0.9 * len(pops)


@settings(max_examples=25, deadline=None)
@given(key=keys, seed=seeds)
def test_generated_scenarios_tell_the_ddos_story(key: str, seed: int) -> None:
    check_story(scenario_from_topology(key, seed))


@settings(max_examples=25, deadline=None)
@given(key=keys, seed=seeds)
def test_same_key_and_seed_give_identical_yaml(key: str, seed: int) -> None:
    assert dump_scenario(scenario_from_topology(key, seed)) == dump_scenario(
        scenario_from_topology(key, seed)
    )


@settings(max_examples=25, deadline=None)
@given(pair=st.lists(seeds, min_size=2, max_size=2, unique=True))
def test_different_seeds_give_different_networks(pair: list[int]) -> None:
    first, second = (scenario_from_topology("sndlib/abilene", seed) for seed in pair)
    assert dump_scenario(first) != dump_scenario(second)
    assert first.links != second.links


@settings(max_examples=25, deadline=None)
@given(key=keys, seed=seeds)
def test_dump_parses_back_to_an_equal_scenario(key: str, seed: int) -> None:
    scenario = scenario_from_topology(key, seed)
    assert parse_scenario(dump_scenario(scenario)) == scenario


def test_dump_writes_enums_as_values_and_tuples_as_lists() -> None:
    text = dump_scenario(scenario_from_topology("sndlib/abilene"))
    assert "measure: P" in text
    assert "op: <=" in text
    assert "!!python" not in text
    assert "- server\n" in text  # the monitored link, a list of its two ends


def test_abilene_has_12_pops_and_15_links() -> None:
    scenario = scenario_from_topology("sndlib/abilene")
    assert len(scenario.pops) == 12
    assert len(pop_links(scenario)) == 15
    assert [p.id for p in scenario.pops] == [f"pop{n}" for n in range(12)]


def test_germany50_has_50_pops() -> None:
    scenario = scenario_from_topology("sndlib/germany50")
    assert len(scenario.pops) == 50
    assert len(pop_links(scenario)) == 88


def test_gabriel_200_has_200_pops_and_drawn_latencies() -> None:
    scenario = scenario_from_topology(GABRIEL_200, seed=3)
    assert len(scenario.pops) == 200
    check_story(scenario)
    # Gabriel coordinates are planar, not (longitude, latitude): latencies are drawn.
    assert all(1.0 <= link.latency <= 10.0 for link in scenario.links if link.b != "server")


def test_largest_caida_graph(caida: Scenario) -> None:
    assert len(caida.pops) == 594
    check_story(caida)
    assert parse_scenario(dump_scenario(caida)) == caida


def test_latency_follows_great_circle_distance() -> None:
    """topohub's own link length in km is an independent check of the haversine."""
    topology = topohub.get("sndlib/germany50")
    pop = {node["id"]: f"pop{n}" for n, node in enumerate(topology["nodes"])}
    expected = {
        frozenset((pop[e["source"]], pop[e["target"]])): max(0.5, e["dist"] / 200)
        for e in topology["edges"]
    }
    scenario = scenario_from_topology("sndlib/germany50")
    for link in scenario.links:
        if link.b != "server":
            assert link.latency == pytest.approx(
                expected[frozenset((link.a, link.b))], rel=0.01, abs=0.01
            )
        assert 5 <= link.bandwidth <= 20
        assert 0 <= link.loss <= 1


def test_planar_sndlib_coordinates_are_not_taken_for_geography() -> None:
    scenario = scenario_from_topology("sndlib/atlanta")
    assert all(1.0 <= link.latency <= 10.0 for link in scenario.links if link.b != "server")


def test_unknown_key_suggests_close_matches() -> None:
    with pytest.raises(UnknownTopology) as raised:
        scenario_from_topology("abilene")
    assert isinstance(raised.value, KeyError)
    assert raised.value.suggestions[:2] == ["sndlib/abilene", "topozoo/Abilene"]
    assert str(raised.value).startswith("unknown topology 'abilene'; did you mean sndlib/abilene")


def test_unknown_key_without_close_match_names_the_groups() -> None:
    with pytest.raises(UnknownTopology, match="caida, gabriel, sndlib, topozoo") as raised:
        scenario_from_topology("zzzz")
    assert raised.value.suggestions == []


@pytest.mark.parametrize("key", ["gabriel/200", "../__init__", "sndlib/abilene.json", ""])
def test_keys_outside_the_list_are_unknown(key: str) -> None:
    with pytest.raises(UnknownTopology) as raised:
        scenario_from_topology(key)
    assert len(raised.value.suggestions) <= 5


def test_topology_keys_in_natural_order() -> None:
    keys = topology_keys()
    assert len(keys) == len(set(keys)) > 700
    for key in ("sndlib/abilene", "topozoo/Abilene", GABRIEL_200, CAIDA_LARGEST, "backbone/world"):
        assert key in keys
    assert keys.index("gabriel/25/0") < keys.index("gabriel/100/0")
    assert keys.index("gabriel/5/9") < keys.index("gabriel/10/0")


def test_graph_is_reduced_to_its_simple_largest_component() -> None:
    graph = {
        "nodes": [{"id": n, "name": f"n{n}"} for n in (10, 11, 12, 13, 20, 21)],
        "edges": [
            {"source": 10, "target": 11},
            {"source": 11, "target": 10},  # parallel, reversed
            {"source": 11, "target": 11},  # self-loop
            {"source": 11, "target": 12},
            {"source": 12, "target": 13},
            {"source": 13, "target": 10},
            {"source": 20, "target": 21},  # a smaller component, dropped
        ],
    }
    scenario = scenario_from_graph(graph, "handmade", seed=1)
    assert [p.id for p in scenario.pops] == ["pop0", "pop1", "pop2", "pop3"]
    ring = [("pop0", "pop1"), ("pop1", "pop2"), ("pop2", "pop3"), ("pop3", "pop0")]
    assert pop_links(scenario) == ring
    assert all(1.0 <= link.latency <= 10.0 for link in scenario.links if link.b != "server")
    check_story(scenario)


def test_graph_without_two_connected_nodes_is_refused() -> None:
    with pytest.raises(ValueError, match="no two connected nodes"):
        scenario_from_graph({"nodes": [{"id": 0}, {"id": 1}], "edges": []}, "lonely")


# -- attack and PoP shapes -----------------------------------------------------------------------

attack_shapes = st.builds(
    AttackShape,
    kind=st.sampled_from(["syn_flood", "http_flood", "slowloris", "injection"]),
    attackers=st.integers(min_value=1, max_value=40),
    rate=st.floats(min_value=0.01, max_value=5.0),
    ports=st.lists(st.integers(1, 65535), min_size=1, max_size=3, unique=True).map(tuple),
    start=st.floats(min_value=0.0, max_value=100.0),
    pops=st.none() | st.integers(min_value=1, max_value=6),
    spread=st.sampled_from(["random", "near", "far"]),
)


def test_default_shapes_give_the_scenario_of_before() -> None:
    """The shapes' defaults draw exactly as the generator did without them."""
    plain = scenario_from_topology("sndlib/abilene", 5)
    shaped = scenario_from_topology("sndlib/abilene", 5, AttackShape(), PoPShape())
    assert dump_scenario(plain) == dump_scenario(shaped)
    assert plain.attack is not None and plain.attack.attackers == 8
    assert plain.attack.rate == 0.5 and plain.attack.start == 20


@settings(max_examples=25, deadline=None)
@given(key=keys, seed=seeds, shape=attack_shapes)
def test_the_attack_has_the_shape_asked_for(key: str, seed: int, shape: AttackShape) -> None:
    scenario = scenario_from_topology(key, seed, shape)
    attack = scenario.attack
    assert attack is not None
    assert (attack.kind, attack.attackers, attack.rate, attack.ports, attack.start) == (
        shape.kind,
        shape.attackers,
        shape.rate,
        shape.ports,
        shape.start,
    )
    server_pop = scenario.hosts[0].attach
    assert server_pop not in attack.attach and len(set(attack.attach)) == len(attack.attach)
    if shape.pops is not None:
        assert len(attack.attach) == min(shape.pops, len(scenario.pops) - 1)
    assert parse_scenario(dump_scenario(scenario)) == scenario


@pytest.mark.parametrize("spread", ["near", "far"])
def test_near_and_far_attackers_sit_by_hops_from_the_server(spread: str) -> None:
    scenario = scenario_from_topology("sndlib/germany50", 2, AttackShape(pops=3, spread=spread))
    assert scenario.attack is not None
    graph = adjacency(scenario)
    server_pop = scenario.hosts[0].attach
    hops = {p.id: len(shortest_path(graph, server_pop, p.id)) - 1 for p in scenario.pops}
    chosen = sorted(hops[p] for p in scenario.attack.attach)
    rest = sorted(hops[p.id] for p in scenario.pops if p.id not in scenario.attack.attach)
    rest.remove(0)  # the server's PoP holds no attacker
    if spread == "near":
        assert chosen[-1] <= rest[0]
    else:
        assert chosen[0] >= rest[-1]


def test_an_attack_window_and_the_server_link_are_taken_as_given() -> None:
    scenario = scenario_from_topology(
        "sndlib/abilene", 1, AttackShape(start=30, stop=90), PoPShape(server_bandwidth=25)
    )
    assert scenario.attack is not None and (scenario.attack.start, scenario.attack.stop) == (30, 90)
    [server_link] = [link for link in scenario.links if "server" in (link.a, link.b)]
    assert server_link.bandwidth == 25


@pytest.mark.parametrize("flavour", ["small", "medium", "large"])
def test_one_flavour_for_every_pop(flavour: str) -> None:
    scenario = scenario_from_topology("sndlib/polska", 4, pops=PoPShape(flavour=flavour))
    size = {"small": SMALL, "medium": MEDIUM, "large": LARGE}[flavour]
    assert {(p.cpu, p.memory, p.disk) for p in scenario.pops} == {size}


def test_shapes_that_make_no_scenario_are_refused() -> None:
    with pytest.raises(ValueError, match="stop"):
        scenario_from_topology("sndlib/abilene", 0, AttackShape(start=50, stop=40))
    with pytest.raises(ValueError, match="at least 1 PoP"):
        AttackShape(pops=0)
    with pytest.raises(ValueError, match="server bandwidth"):
        PoPShape(server_bandwidth=0)
    with pytest.raises(ValueError, match="repository hops"):
        PoPShape(repository_hops=0)


@pytest.mark.parametrize("within", [1, 2, 3])
def test_the_repository_is_a_hub_within_the_hops_asked_for(within: int) -> None:
    """With `repository_hops`, the repository is a best-connected PoP among those that
    many hops of the server or fewer."""
    scenario = scenario_from_topology("sndlib/germany50", 2, pops=PoPShape(repository_hops=within))
    graph = adjacency(scenario)
    server_pop = scenario.hosts[0].attach
    hops = {p.id: len(shortest_path(graph, server_pop, p.id)) - 1 for p in scenario.pops}
    degree = {p.id: len(graph[p.id]) for p in scenario.pops}
    near = [p for p, h in hops.items() if 0 < h <= within]
    repository = scenario.repository.attach
    assert repository in near and degree[repository] == max(degree[p] for p in near)

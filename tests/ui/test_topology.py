"""The topology as the page draws it: deterministic positions, decorations."""

from __future__ import annotations

import itertools

from secmas.cli.main import default_scenario_path
from secmas.scenario.loader import load_scenario
from secmas.scenario.topology import scenario_from_topology
from secmas.ui.topology import layout, topology


def test_layout_is_deterministic_inside_the_frame_and_spreads_nodes() -> None:
    ids = [f"n{i}" for i in range(8)]
    edges = [(a, b) for a, b in itertools.pairwise(ids)]
    first, second = layout(ids, edges), layout(ids, edges)
    assert first == second
    assert all(0.05 - 1e-9 <= c <= 0.95 + 1e-9 for p in first.values() for c in p)
    for a, b in itertools.combinations(first.values(), 2):
        assert abs(a[0] - b[0]) + abs(a[1] - b[1]) > 0.02
    assert layout([], []) == {} and layout(["x"], []) == {"x": (0.5, 0.5)}


def test_reference_topology_has_clients_attackers_and_the_watched_link() -> None:
    drawn = topology(load_scenario(default_scenario_path()))
    kinds = {}
    for node in drawn.nodes:
        kinds.setdefault(node.kind, []).append(node.id)
    assert len(kinds["pop"]) == 6 and kinds["host"] == ["server"]
    assert sorted(kinds["attackers"]) == ["attackers:pop1", "attackers:pop2", "attackers:pop3"]
    attach = {(e.a, e.b) for e in drawn.edges if e.kind == "attach"}
    assert ("attackers:pop1", "pop1") in attach
    assert [(e.a, e.b) for e in drawn.edges if e.monitored] == [("pop6", "server")]


def test_a_real_topology_is_drawn_too() -> None:
    drawn = topology(scenario_from_topology("sndlib/abilene", seed=1))
    pops = [n for n in drawn.nodes if n.kind == "pop"]
    assert len(pops) == 12
    assert len({(n.x, n.y) for n in drawn.nodes}) == len(drawn.nodes)

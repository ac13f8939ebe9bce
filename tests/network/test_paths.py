"""Algorithm 1 and the widest path, by hand and as properties."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import make_scenario

from secmas.network.infrastructure import Infrastructure
from secmas.network.paths import Graph, Window, lowest_cost_path, sat_cst, widest_path
from secmas.scenario.model import Constraint, Measure, Operator, Scenario


def c(measure: str, op: str, value: float) -> Constraint:
    return Constraint(measure=Measure(measure), op=Operator(op), value=value)


def unit_hops(_node: str) -> float:
    return 1.0


def test_sat_cst() -> None:
    # Eq. 4.2: only constraints on the named measure are checked.
    cons = [c("L", "<=", 100), c("P", "<", 8)]
    assert sat_cst(Measure.LATENCY, 100, cons)
    assert not sat_cst(Measure.LATENCY, 100.5, cons)
    assert sat_cst(Measure.HOPS, 99, cons)


def test_lowest_cost_path_by_hand(triangle: Scenario) -> None:
    infra = Infrastructure.from_scenario(triangle)
    # Source eval 0.2, every hop 1.
    # A–C direct: 20 × (0.2 + 1) = 24.
    # A–B–C: 10 × (0.2 + 1) + 5 × (1 + 1) = 12 + 10 = 22  → cheaper.
    path = lowest_cost_path(infra, "A", "C", [], 0.2, unit_hops)
    assert path is not None
    assert path.nodes == ("A", "B", "C")
    assert path.cost == pytest.approx(22.0)
    assert path.latency == pytest.approx(30.0)
    # Loss compounds: 0.01 + (1 − 0.01) × 0.02 = 0.0298.
    assert path.loss == pytest.approx(0.0298)
    assert path.hops == 2


def test_constraints_prune_edges(triangle: Scenario) -> None:
    infra = Infrastructure.from_scenario(triangle)
    # One hop only: the direct link, cost 24, latency 50.
    direct = lowest_cost_path(infra, "A", "C", [c("H", "<=", 1)], 0.2, unit_hops)
    assert direct is not None and direct.nodes == ("A", "C") and direct.cost == pytest.approx(24)
    # Latency ≤ 25 ms: A–B–C has 30, A–C has 50 → no path.
    assert lowest_cost_path(infra, "A", "C", [c("L", "<=", 25)], 0.2, unit_hops) is None
    # Loss below 2 %: A–B–C compounds to 2.98 % → only the lossless direct link.
    lossless = lowest_cost_path(infra, "A", "C", [c("P", "<", 2)], 0.2, unit_hops)
    assert lossless is not None and lossless.nodes == ("A", "C")
    # Bandwidth ≥ 6 MB/s excludes B–C (5 MB/s).
    wide = lowest_cost_path(infra, "A", "C", [c("B", ">=", 6)], 0.2, unit_hops)
    assert wide is not None and wide.nodes == ("A", "C")


def test_bidder_is_auctioneer(triangle: Scenario) -> None:
    infra = Infrastructure.from_scenario(triangle)
    path = lowest_cost_path(infra, "B", "B", [], 0.5, unit_hops)
    assert path is not None and path.cost == 0 and path.latency == 0 and path.nodes == ("B",)


def test_widest_path(triangle: Scenario) -> None:
    infra = Infrastructure.from_scenario(triangle)
    # A→B: direct 10 vs via C min(20, 5) = 5 → 10.
    assert widest_path(infra, "A", "B") == (10.0, ("A", "B"))
    # A→C: direct 20.
    assert widest_path(infra, "A", "C")[0] == 20.0
    # Reserving 15 MB/s on A–C leaves 5; via B min(10, 5) = 5 as well.
    infra.reserve_path(["A", "C"], 15)
    assert widest_path(infra, "A", "C")[0] == 5.0


@st.composite
def graphs(draw: st.DrawFn) -> tuple[Scenario, list[Constraint]]:
    n = draw(st.integers(2, 7))
    names = [f"p{i}" for i in range(n)]
    pairs = list(itertools.combinations(names, 2))
    chosen = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=len(pairs), unique=True))
    links = [
        (
            a,
            b,
            draw(st.floats(1, 50)),
            draw(st.floats(0, 40)),
            draw(st.floats(0, 10)),
        )
        for a, b in chosen
    ]
    pops = [(p, draw(st.integers(1, 16)), draw(st.integers(1, 32)), 100) for p in names]
    measures = st.sampled_from(["L", "P", "H", "B"])
    ops = st.sampled_from(["<", "<=", ">", ">="])
    cons = draw(
        st.lists(
            st.builds(c, measures, ops, st.floats(0, 100)),
            max_size=3,
        )
    )
    return make_scenario(pops, links, names[0]), cons


@settings(max_examples=150, deadline=None)
@given(graphs(), st.floats(0, 1))
def test_returned_path_satisfies_every_constraint(
    case: tuple[Scenario, list[Constraint]], source_eval: float
) -> None:
    scenario, cons = case
    infra = Infrastructure.from_scenario(scenario)
    source, target = scenario.pops[0].id, scenario.pops[-1].id
    path = lowest_cost_path(infra, source, target, cons, source_eval, lambda _: 0.5)
    if path is None:
        return
    latency, loss, hops = 0.0, 0.0, 0
    for a, b in itertools.pairwise(path.nodes):
        link = infra.link(a, b)
        latency += link.latency
        loss += (1 - loss) * link.loss
        hops += 1
        # Every accumulated prefix and every link's bandwidth satisfies the constraints.
        assert sat_cst(Measure.LATENCY, latency, cons)
        assert sat_cst(Measure.LOSS, loss * 100, cons)
        assert sat_cst(Measure.HOPS, hops, cons)
        assert sat_cst(Measure.BANDWIDTH, link.available, cons)
    assert path.latency == pytest.approx(latency)
    assert path.loss == pytest.approx(loss)
    assert path.hops == hops


def test_a_loss_bound_too_small_for_a_fraction_still_refuses_a_lossless_path() -> None:
    """5e-324 % is 0 as a fraction: the scaled bound once admitted a path of loss 0, which
    the bound in percent refuses (hypothesis found it)."""
    scenario = make_scenario([("p0", 1, 1, 100), ("p1", 1, 1, 100)], [("p0", "p1", 1, 0, 0)], "p0")
    infra = Infrastructure.from_scenario(scenario)
    floor = [c("P", ">=", 5e-324)]
    assert not sat_cst(Measure.LOSS, 0.0, floor)
    assert lowest_cost_path(infra, "p0", "p1", floor, 0.0, lambda _: 0.5) is None
    ceiling = [c("P", "<=", 5e-324)]
    assert lowest_cost_path(infra, "p0", "p1", ceiling, 0.0, lambda _: 0.5) is not None


def reference_algorithm_1(
    infra: Infrastructure,
    source: str,
    target: str,
    cons: list[Constraint],
    source_eval: float,
    hop_eval: Callable[[str], float],
) -> tuple[tuple[str, ...], float, float] | None:
    """Algorithm 1 of 003 written out plainly on the node names (Dijkstra from the bidder,
    lines 21–30; an edge whose accumulated L, P, H or whose B breaks a constraint is
    dropped; weight B × (rscEval of its two ends)), as the fast version must reproduce:
    (nodes, cost, latency), or None."""
    if source == target:
        return (source,), 0.0, 0.0
    dist, meas, prev, done = {source: 0.0}, {source: (0.0, 0.0, 0)}, {}, set()
    queue = [(0.0, source)]
    while queue:
        d_u, u = heapq.heappop(queue)
        if u in done:
            continue
        done.add(u)
        if u == target:
            nodes = [u]
            while nodes[-1] in prev:
                nodes.append(prev[nodes[-1]])
            return tuple(reversed(nodes)), d_u, meas[u][0]
        for v, link in infra.adjacency[u]:
            if v in done:
                continue
            lat_u, loss_u, hops_u = meas[u]
            lat_v = lat_u + link.latency
            loss_v = loss_u + (1 - loss_u) * link.loss
            bandwidth = link.bandwidth - link.reserved
            if not (  # Eq. 4.2; loss compared as a fraction, as Algorithm 1 carries it
                Window.of(cons, Measure.LATENCY).admits(lat_v)
                and Window.of(cons, Measure.LOSS, 0.01).admits(loss_v)
                and Window.of(cons, Measure.HOPS).admits(hops_u + 1)
                and Window.of(cons, Measure.BANDWIDTH).admits(bandwidth)
            ):
                continue
            here = source_eval if u == source else hop_eval(u)
            candidate = d_u + bandwidth * (here + hop_eval(v))
            if candidate < dist.get(v, math.inf):
                dist[v], meas[v], prev[v] = candidate, (lat_v, loss_v, hops_u + 1), u
                heapq.heappush(queue, (candidate, v))
    return None


@settings(max_examples=200, deadline=None)
@given(
    graphs(),
    st.floats(0, 1),
    st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=7, max_size=7),
    st.data(),
)
def test_the_graph_walk_is_algorithm_1_on_every_pair(
    case: tuple[Scenario, list[Constraint]],
    source_eval: float,
    evals: list[float],
    data: st.DataObject,
) -> None:
    """The fast walk (one `Graph` per state, shared by every bid) gives the same path,
    cost and latency as the plain Algorithm 1 for every bidder and auctioneer; hop values
    from a small set (0 for full PoPs) make equal-cost ties common."""
    scenario, cons = case
    infra = Infrastructure.from_scenario(scenario)
    for link in infra.links:  # some reserved bandwidth, as after earlier goals
        link.reserved = data.draw(st.sampled_from([0.0, 0.0, 1.0, link.bandwidth / 2]))
    hop = {p.id: evals[i] for i, p in enumerate(scenario.pops)}
    graph = Graph.of(infra, hop.__getitem__)
    for source, target in itertools.product(hop, repeat=2):
        fast = lowest_cost_path(infra, source, target, cons, source_eval, hop.__getitem__, graph)
        plain = reference_algorithm_1(infra, source, target, cons, source_eval, hop.__getitem__)
        if plain is None:
            assert fast is None
            continue
        assert fast is not None and (fast.nodes, fast.cost, fast.latency) == plain


@st.composite
def meshes(draw: st.DrawFn) -> tuple[Scenario, list[Constraint]]:
    """Connected graphs of up to 30 PoPs (a random tree plus chords) with whole MB/s and
    latencies, so that equal-cost paths abound, and constraints that sometimes bind."""
    n = draw(st.integers(3, 30))
    names = [f"p{i:02}" for i in range(n)]
    pairs = {(names[draw(st.integers(0, i - 1))], names[i]) for i in range(1, n)}
    chords = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n))
    pairs |= {(names[min(a, b)], names[max(a, b)]) for a, b in chords if a != b}
    links = [
        (a, b, draw(st.integers(1, 4)), draw(st.integers(1, 9)), draw(st.sampled_from([0, 0.5])))
        for a, b in sorted(pairs)
    ]
    pops = [(p, 8, 16, 100) for p in names]
    bounds = st.sampled_from(
        [
            *(c("L", "<=", 20), c("L", "<", 35), c("L", ">=", 3), c("P", "<=", 1.5)),
            *(c("H", "<=", 4), c("H", ">=", 2), c("B", ">=", 2), c("B", ">", 1)),
        ]
    )
    return make_scenario(pops, links, names[0]), draw(st.lists(bounds, max_size=3))


@settings(max_examples=120, deadline=None)
@given(meshes(), st.sampled_from([0.0, 0.1, 0.5, 1.0]), st.data())
def test_bounded_search_answers_as_the_full_one(
    case: tuple[Scenario, list[Constraint]], source_eval: float, data: st.DataObject
) -> None:
    """A bid on a shared graph (its search narrowed by the lower bounds to the auctioneer)
    finds the very path, cost, latency, loss and hops of the full search (no graph given),
    and of the plain Algorithm 1, for every bidder towards a few auctioneers; hop values
    from a small set (0 for full PoPs) and whole bandwidths make ties common."""
    scenario, cons = case
    infra = Infrastructure.from_scenario(scenario)
    names = [p.id for p in scenario.pops]
    hop = {p: data.draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])) for p in names}
    graph = Graph.of(infra, hop.__getitem__)
    for target in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3)):
        for source in names:
            bounded = lowest_cost_path(infra, source, target, cons, source_eval, hop.get, graph)
            full = lowest_cost_path(infra, source, target, cons, source_eval, hop.__getitem__)
            assert bounded == full
            plain = reference_algorithm_1(infra, source, target, cons, source_eval, hop.get)
            assert (None if full is None else (full.nodes, full.cost, full.latency)) == plain

"""SecAgg+ neighbourhoods: k and t from the threat model, and the graph itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from secmas.secagg.neighbours import (
    ThreatModel,
    choose,
    complete_graph,
    harary_graph,
    hypergeometric_tail,
    neighbourhoods,
)


def test_complete_graph_threshold_is_a_majority_plus_the_corrupt() -> None:
    p = choose(100, ThreatModel(corrupt=0.0, dropout=0.1), sparse=False)
    assert (p.degree, p.threshold, p.complete) == (99, 51, True)
    assert p.tolerated_dropouts == 49
    p = choose(100, ThreatModel(corrupt=0.2, dropout=0.1), sparse=False)
    assert p.threshold == math.ceil((100 + 1 + 20) / 2)


def test_sparse_parameters_meet_their_bounds_and_shrink_the_graph() -> None:
    model = ThreatModel(corrupt=0.05, dropout=0.1)
    p = choose(1000, model)
    assert p.degree < 999 and p.degree % 2 == 0
    assert p.privacy_log2 <= -model.security
    assert p.correctness_log2 <= -model.correctness
    assert 2 * p.threshold >= p.degree + 2  # more than half of the k + 1 holders
    # more corruption or more dropout needs a denser graph
    assert choose(1000, ThreatModel(corrupt=0.2, dropout=0.1)).degree > p.degree
    assert choose(1000, ThreatModel(corrupt=0.05, dropout=0.3)).degree > p.degree


def test_infeasible_threat_model_is_refused() -> None:
    with pytest.raises(ValueError, match="no threshold fits"):
        choose(10, ThreatModel(corrupt=0.3, dropout=0.1))
    with pytest.raises(ValueError, match="below 1"):
        ThreatModel(corrupt=0.5, dropout=0.5)
    with pytest.raises(ValueError, match="at least 3"):
        choose(2, ThreatModel())


def test_harary_graph_is_symmetric_regular_and_seeded() -> None:
    clients = list(range(0, 200, 2))
    graph = harary_graph(clients, 10, b"seed")
    assert all(len(v) == 10 for v in graph.values())
    assert all(u in graph[v] for u, vs in graph.items() for v in vs)
    assert graph == harary_graph(clients, 10, b"seed")
    assert graph != harary_graph(clients, 10, b"other")
    assert neighbourhoods(clients, 99, b"x") == complete_graph(clients)
    with pytest.raises(ValueError, match="even"):
        harary_graph(clients, 9, b"seed")


def test_hypergeometric_tail_matches_a_direct_count() -> None:
    # 3 marked of 10, draw 4: P[X ≥ 2] = (C(3,2)C(7,2) + C(3,3)C(7,1)) / C(10,4)
    exact = (3 * 21 + 7) / 210
    assert hypergeometric_tail(10, 3, 4, 2) == pytest.approx(exact)
    assert hypergeometric_tail(10, 3, 4, 0) == pytest.approx(1.0)
    assert hypergeometric_tail(10, 3, 4, 4) == 0.0


def test_sparse_parameters_survive_simulated_dropouts() -> None:
    """Monte Carlo: with δn random dropouts every client keeps ≥ t live share holders."""
    n, model = 100, ThreatModel(corrupt=0.0, dropout=0.3)
    p = choose(n, model)
    rng = np.random.default_rng(1)
    for trial in range(200):
        graph = harary_graph(list(range(n)), p.degree, trial.to_bytes(4, "little"))
        dropped = set(rng.choice(n, size=int(model.dropout * n), replace=False).tolist())
        for u, neighbours in graph.items():
            alive = sum(1 for v in neighbours if v not in dropped) + (u not in dropped)
            assert alive >= p.threshold

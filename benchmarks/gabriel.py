"""Gabriel graphs of any size, as topohub makes them (its own stop at 500 nodes).

topohub's generator (`topohub.providers.gabriel`, after Çetinkaya et al., ICUMT 2013)
draws points uniformly in a square of side √(10 000·n) with `random.seed(seed)`, refusing
any closer than 25 to one already drawn, and joins two points when no third lies inside
the circle on them as diameter. Its pairwise test is cubic in n; here the same points are
joined by the same rule checked on the Delaunay triangulation's edges only (every Gabriel
edge is one) with a k-d tree, so 3 000 nodes take a second. With topohub's seeds
(instance · 4096 + n) it gives topohub's graphs: `gabriel(100, 100)` is `gabriel/100/0`.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from scipy.spatial import Delaunay, cKDTree

EXCLUSION = 25.0
"""topohub's least distance between two points."""


def points(nodes: int, seed: int) -> np.ndarray:
    """topohub's points: uniform in the square, each at least `EXCLUSION` from the others."""
    rng = random.Random(seed)
    side = (nodes * 10000) ** 0.5
    drawn = np.empty((nodes, 2))
    count = 0
    while count < nodes:
        point = (rng.random() * side, rng.random() * side)
        if count and ((drawn[:count] - point) ** 2).sum(axis=1).min() < EXCLUSION**2:
            continue
        drawn[count] = point
        count += 1
    return drawn


def gabriel_edges(xy: np.ndarray) -> list[tuple[int, int]]:
    """The Delaunay edges whose diametral circle holds no other point (strictly inside)."""
    candidates = {
        (min(u, v), max(u, v))
        for a, b, c in Delaunay(xy).simplices.tolist()
        for u, v in ((a, b), (b, c), (a, c))
    }
    tree = cKDTree(xy)
    edges = []
    for u, v in sorted(candidates):
        middle = (xy[u] + xy[v]) / 2
        radius2 = float(((xy[u] - middle) ** 2).sum())
        # a point inside is nearer the middle than u or v: it is among the three nearest
        near = zip(*tree.query(middle, k=3), strict=True)
        if all(j in (u, v) or d * d >= radius2 for d, j in near):
            edges.append((u, v))
    return edges


def gabriel(nodes: int, seed: int) -> dict[str, Any]:
    """A Gabriel graph of `nodes` nodes as a networkx node-link dict (planar `pos`)."""
    xy = points(nodes, seed)
    return {
        "nodes": [{"id": i, "pos": [float(x), float(y)]} for i, (x, y) in enumerate(xy)],
        "edges": [{"source": u, "target": v} for u, v in gabriel_edges(xy)],
    }

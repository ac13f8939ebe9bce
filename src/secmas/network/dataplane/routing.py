"""The directed-link view of a scenario's network and the shortest-path tree flows follow.

Every client sends to the same server, so one Dijkstra run from the server gives every
client's route at once. The routes form an in-tree, which is what lets the simulator
process the network level by level (see `simulator.py`).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from secmas.scenario.model import Scenario


@dataclass(slots=True)
class Network:
    """Nodes and directed links; each direction of a link has the link's full bandwidth."""

    nodes: tuple[str, ...]
    hosts: frozenset[str]
    adjacency: dict[str, list[tuple[str, float]]]
    links: dict[tuple[str, str], int]
    capacity: np.ndarray
    keep: np.ndarray

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> Network:
        """Index the scenario's links in both directions; `keep` is 1 − loss."""
        nodes = (
            *(p.id for p in scenario.pops),
            *(s.id for s in scenario.switches),
            *(h.id for h in scenario.hosts),
        )
        adjacency: dict[str, list[tuple[str, float]]] = {node: [] for node in nodes}
        links: dict[tuple[str, str], int] = {}
        capacity: list[float] = []
        keep: list[float] = []
        for link in scenario.links:
            for a, b in ((link.a, link.b), (link.b, link.a)):
                adjacency[a].append((b, link.latency))
                links[a, b] = len(capacity)
                capacity.append(link.bandwidth)
                keep.append(1.0 - link.loss / 100.0)
        return cls(
            nodes=nodes,
            hosts=frozenset(h.id for h in scenario.hosts),
            adjacency=adjacency,
            links=links,
            capacity=np.array(capacity, dtype=float),
            keep=np.array(keep, dtype=float),
        )


@dataclass(frozen=True, slots=True)
class RouteTree:
    """Lowest-latency routes of every reachable node towards `root` (ties: fewer hops)."""

    root: str
    next_hop: dict[str, str]
    depth: dict[str, int]

    def path(self, node: str) -> tuple[str, ...]:
        """Nodes from `node` to the root, both included."""
        if node not in self.depth:
            raise ValueError(f"no route from {node!r} to {self.root!r}")
        path = [node]
        while path[-1] != self.root:
            path.append(self.next_hop[path[-1]])
        return tuple(path)


def shortest_path_tree(network: Network, root: str) -> RouteTree:
    """Dijkstra from `root` by (latency, hops); hosts other than the root carry no transit.

    Hops break latency ties so that distances strictly decrease along every route even
    over zero-latency links; scenario order breaks the remaining ties, for determinism.
    """
    order = {node: index for index, node in enumerate(network.nodes)}
    best: dict[str, tuple[float, int]] = {root: (0.0, 0)}
    next_hop: dict[str, str] = {}
    depth: dict[str, int] = {}
    heap = [(0.0, 0, order[root], root)]
    while heap:
        latency, hops, _, node = heapq.heappop(heap)
        if node in depth:
            continue
        depth[node] = hops
        if node != root and node in network.hosts:
            continue
        for neighbour, link_latency in network.adjacency[node]:
            key = (latency + link_latency, hops + 1)
            if neighbour not in depth and key < best.get(neighbour, (np.inf, 0)):
                best[neighbour] = key
                next_hop[neighbour] = node
                heapq.heappush(heap, (*key, order[neighbour], neighbour))
    return RouteTree(root=root, next_hop=next_hop, depth=depth)

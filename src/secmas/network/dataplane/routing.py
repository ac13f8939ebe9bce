"""The directed-link view of a scenario's network, the shortest-path tree flows follow,
and the paths flows take once steering rules send them through other nodes.

Every client sends to the same server, so one Dijkstra run from the server gives every
client's default route at once. Steering (the chaining of `003_…` §3: traffic sent over a
VNF's virtual path to the PoP hosting it) bends some routes away from that tree;
`steered_path` follows a packet through the steerings that match it.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from secmas.network.dataplane.rules import Steer
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
    latency: np.ndarray

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> Network:
        """Index the scenario's links in both directions; `keep` is 1 − loss, latency in ms."""
        nodes = (
            *(p.id for p in scenario.pops),
            *(s.id for s in scenario.switches),
            *(h.id for h in scenario.hosts),
        )
        adjacency: dict[str, list[tuple[str, float]]] = {node: [] for node in nodes}
        links: dict[tuple[str, str], int] = {}
        capacity: list[float] = []
        keep: list[float] = []
        latency: list[float] = []
        for link in scenario.links:
            for a, b in ((link.a, link.b), (link.b, link.a)):
                adjacency[a].append((b, link.latency))
                links[a, b] = len(capacity)
                capacity.append(link.bandwidth)
                keep.append(1.0 - link.loss / 100.0)
                latency.append(link.latency)
        return cls(
            nodes=nodes,
            hosts=frozenset(h.id for h in scenario.hosts),
            adjacency=adjacency,
            links=links,
            capacity=np.array(capacity, dtype=float),
            keep=np.array(keep, dtype=float),
            latency=np.array(latency, dtype=float),
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


def steered_path(tree: RouteTree, start: str, steers: Sequence[Steer]) -> tuple[str, ...]:
    """The nodes a packet from `start` crosses to the root, given the steerings that match
    it (its destination and split part), in the order they were installed.

    At each node the first steering there that has not been applied yet and whose via's
    last node (the VNF's PoP) the packet has not crossed yet sends it along its via; the
    packet is tunnelled to via's last node and follows the tree from there. Each steering
    applies at most once, and between steerings the packet gets strictly closer to the
    root, so the path is finite even when it comes back through a steering node.
    """
    at: dict[str, list[int]] = {}
    for index, steer in enumerate(steers):
        at.setdefault(steer.node, []).append(index)
    if not at:
        return tree.path(start)
    path = [start]
    applied: set[int] = set()
    while path[-1] != tree.root:
        node = path[-1]
        chosen = next(
            (i for i in at.get(node, ()) if i not in applied and steers[i].via[-1] not in path),
            None,
        )
        if chosen is not None:
            applied.add(chosen)
            path.extend(steers[chosen].via[1:])
        elif node in tree.next_hop:
            path.append(tree.next_hop[node])
        else:
            raise ValueError(f"no route from {node!r} to {tree.root!r}")
    return tuple(path)

"""The scenario as the page draws it: PoPs, switches, hosts, links, and where the clients,
the attackers and the VNF repository sit, with positions from a seeded force layout.

Scenarios carry no coordinates (topohub's are not kept), so nodes are placed by
Fruchterman–Reingold on the link graph, started on a circle: the same scenario is always
drawn the same way.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from secmas.scenario.model import Scenario
from secmas.ui.models import Edge, Node, ScenarioView, Topology

ITERATIONS = 120
"""Layout rounds for small graphs; large ones get fewer (each round is O(n²))."""


def layout(
    ids: list[str], edges: list[tuple[str, str]], iterations: int | None = None
) -> dict[str, tuple[float, float]]:
    """Positions in [0.05, 0.95]² for `ids`, linked by `edges` (deterministic)."""
    n = len(ids)
    if iterations is None:
        iterations = max(30, min(ITERATIONS, 25_000 // max(n, 1)))
    if n == 0:
        return {}
    if n == 1:
        return {ids[0]: (0.5, 0.5)}
    index = {node: i for i, node in enumerate(ids)}
    angles = np.arange(n) * 2 * math.pi / n
    pos = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    pairs = np.array(
        [(index[a], index[b]) for a, b in edges if a in index and b in index and a != b],
        dtype=int,
    ).reshape(-1, 2)
    k = math.sqrt(4.0 / n)
    temperature = 0.2
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        distance = np.maximum(np.linalg.norm(delta, axis=2), 1e-3)
        force = (k * k / distance**2)[:, :, None] * delta  # repulsion, along delta / distance
        shift = force.sum(axis=1)
        if len(pairs):
            d = pos[pairs[:, 0]] - pos[pairs[:, 1]]
            length = np.maximum(np.linalg.norm(d, axis=1), 1e-3)
            pull = (length / k)[:, None] * d  # attraction, |d|² / k along d / |d|
            np.add.at(shift, pairs[:, 0], -pull)
            np.add.at(shift, pairs[:, 1], pull)
        length = np.maximum(np.linalg.norm(shift, axis=1), 1e-9)
        pos += shift / length[:, None] * np.minimum(length, temperature)[:, None]
        temperature *= 0.97
    low, high = pos.min(axis=0), pos.max(axis=0)
    span = np.where(high - low > 1e-9, high - low, 1.0)
    scaled = 0.05 + 0.9 * (pos - low) / span
    return {
        node: (round(float(x), 4), round(float(y), 4))
        for node, (x, y) in zip(ids, scaled, strict=True)
    }


def topology(scenario: Scenario) -> Topology:
    """The scenario's graph with decorations: clients and attackers behind their attach
    points, the repository, the watched link."""
    edges: list[Edge] = []
    monitor = scenario.defence.monitor.link if scenario.defence else None
    for link in scenario.links:
        watched = monitor is not None and {link.a, link.b} == set(monitor)
        edges.append(
            Edge(
                a=link.a,
                b=link.b,
                bandwidth=link.bandwidth,
                latency=link.latency,
                loss=link.loss,
                monitored=watched,
            )
        )
    linked = {e.a for e in edges} | {e.b for e in edges}
    for host in scenario.hosts:
        if host.id not in linked:
            edges.append(Edge(a=host.id, b=host.attach, kind="attach"))
    groups: list[Node] = []
    traffic = scenario.traffic
    if traffic is not None and traffic.background.hosts:
        attach = traffic.background.attach
        share = math.ceil(traffic.background.hosts / len(attach))
        for point in attach:
            groups.append(_group("clients", point, share, f"{share} clients"))
    if scenario.attack is not None:
        attack = scenario.attack
        share = math.ceil(attack.attackers / len(attack.attach))
        for point in attack.attach:
            groups.append(_group("attackers", point, share, f"{share} attackers"))
    edges += [Edge(a=g.id, b=g.id.split(":", 1)[1], kind="attach") for g in groups]
    nodes: list[Node] = [
        Node(
            id=p.id,
            kind="pop",
            label=p.id,
            x=0,
            y=0,
            cpu=p.cpu,
            memory=p.memory,
            disk=p.disk,
            region=p.region,
        )
        for p in scenario.pops
    ]
    nodes += [Node(id=s.id, kind="switch", label=s.id, x=0, y=0) for s in scenario.switches]
    nodes += [Node(id=h.id, kind="host", label=h.id, x=0, y=0, ip=h.ip) for h in scenario.hosts]
    nodes += groups
    positions = layout([n.id for n in nodes], [(e.a, e.b) for e in edges])
    for node in nodes:
        node.x, node.y = positions[node.id]
    return Topology(nodes=nodes, edges=edges, repository=scenario.repository.attach)


def _group(kind: Literal["clients", "attackers"], attach: str, count: int, label: str) -> Node:
    return Node(id=f"{kind}:{attach}", kind=kind, label=label, x=0, y=0, count=count)


def scenario_view(scenario: Scenario, source: str) -> ScenarioView:
    """The scenario's id, topology, traffic, attack and incidents."""
    attack = scenario.attack
    traffic = scenario.traffic
    monitor = scenario.defence.monitor if scenario.defence else None
    return ScenarioView(
        id=scenario.id,
        description=scenario.description,
        seed=scenario.seed,
        source=source,
        duration=traffic.duration if traffic else None,
        step=traffic.step if traffic else None,
        attack=None
        if attack is None
        else {
            "kind": attack.kind,
            "attackers": attack.attackers,
            "start": attack.start,
            "stop": attack.stop,
            "spoof": attack.spoof,
        },
        incidents=[i.model_dump(mode="json") for i in scenario.incidents],
        monitor=None
        if monitor is None
        else {"pop": monitor.pop, "link": list(monitor.link), "threshold": monitor.threshold},
        topology=topology(scenario),
        vnfs=[v.id for v in scenario.vnfs],
    )

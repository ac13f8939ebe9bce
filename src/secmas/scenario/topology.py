"""Generate DDoS scenarios from real network topologies shipped by the `topohub` package.

A topohub key is the path of a JSON file under `topohub/data/`, without `.json`
(topohub 1.5.1, 707 keys; `topology_keys()` lists them):

- SNDlib: `sndlib/<name>`, e.g. `sndlib/abilene` (12 nodes), `sndlib/germany50` (50).
- Topology Zoo: `topozoo/<Name>`, capitalised as in the Zoo, e.g. `topozoo/Abilene`.
- Gabriel graphs (synthetic, planar): `gabriel/<nodes>/<instance>` with <nodes> in
  5, 10, …, 100 (step 5), then 125, 150, …, 500 (step 25), and <instance> in 0…9;
  e.g. `gabriel/200/0` is a 200-node graph.
- CAIDA Ark router-level graphs of one AS (August 2024): `caida/2024-08/<ASN>`, e.g.
  `caida/2024-08/7018` (AT&T, 594 nodes, the largest; none reaches 1000 nodes).
- Continental backbones: `backbone/<region>` and `backbone/<region>_nosc` (without
  sea-cable waypoints), e.g. `backbone/eurasia_nosc` (968 nodes), `backbone/americas`
  (1138), `backbone/world` (3815).

Every node becomes a PoP `pop<N>`, numbered in topohub's node order over the largest
connected component; node names are not kept (the model has no field for them). Node
`pos` is (longitude, latitude) except in Gabriel graphs and a few SNDlib networks
(`sndlib/atlanta`, `sndlib/france`, …) whose coordinates are planar: those get drawn
latencies instead of distance-based ones.

All random choices come from `random.Random(seed)`, so a (key, seed) pair always gives
the same scenario, and `dump_scenario` writes it as YAML that `parse_scenario` reads back.

`AttackShape` and `PoPShape` change what is generated, so that every branch of the DDoS
strategy can be exercised: the attack's kind, size, ports and window and where its
attackers sit; one PoP size for all (uniformly small PoPs fit no classifier for a big
attack, so the load balancer splits the traffic) and the server link's bandwidth. Their
defaults give exactly the scenario a (key, seed) pair gave before they existed.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import math
import random
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import topohub
import yaml

from secmas.scenario.ddos import LINK_MONITOR, ddos_catalogue, ddos_goals
from secmas.scenario.model import (
    Attack,
    AttackKind,
    BackgroundTraffic,
    Defence,
    Host,
    Link,
    Monitor,
    Placement,
    PoP,
    Repository,
    Scenario,
    Traffic,
)

# NFVI flavours (cpu cores, memory GB, disk GB): real PoPs come in a few standard server
# sizes rather than independent random amounts, so the three resources move together.
SMALL = (4, 8, 100)
MEDIUM = (8, 16, 250)
LARGE = (16, 32, 500)
FLAVOURS = (SMALL, MEDIUM, LARGE)
FLAVOUR_WEIGHTS = (0.5, 0.35, 0.15)

BANDWIDTH_MBPS = (5, 20)  # drawn per link, whole MB/s
DRAWN_LATENCY_MS = (1.0, 10.0)  # when the topology has no geographic positions
LOSS_PERCENT = (0.0, 1.0)
FIBRE_KM_PER_MS = 200.0  # light in fibre covers about 200 km per millisecond
MIN_LATENCY_MS = 0.5
EARTH_RADIUS_KM = 6371.0

SERVER = "server"
SERVER_IP = "10.0.0.100"
SERVER_BANDWIDTH_MBPS = 10.0
SERVER_LATENCY_MS = 1.0
MONITOR_THRESHOLD = 4.0
CLIENT_POPS = (3, 4)
ATTACKER_POPS = (2, 4)

Edge = tuple[int, int]
Spread = Literal["random", "near", "far"]
Flavour = Literal["mixed", "small", "medium", "large"]
UNIFORM = {"small": SMALL, "medium": MEDIUM, "large": LARGE}


@dataclass(frozen=True, slots=True)
class AttackShape:
    """The generated attack (fields as in `Attack`), and where its attackers sit.

    `pops` is how many PoPs they sit behind (None: 2 to 4, drawn); `spread` picks those
    PoPs at random, or the ones nearest to or farthest from the server's PoP in hops
    (ties by PoP number). Attackers are dealt round-robin over them.
    """

    kind: AttackKind = "syn_flood"
    attackers: int = 8
    rate: float = 0.5
    ports: tuple[int, ...] = (8000, 8080)
    start: float = 20.0
    stop: float | None = None
    pops: int | None = None
    spread: Spread = "random"

    def __post_init__(self) -> None:
        if self.pops is not None and self.pops < 1:
            raise ValueError(f"attackers must sit behind at least 1 PoP, got {self.pops}")


@dataclass(frozen=True, slots=True)
class PoPShape:
    """The generated PoPs' size (`mixed`: drawn from FLAVOURS; otherwise every PoP that
    size, with no upgrade of the repository path) and the server link's MB/s."""

    flavour: Flavour = "mixed"
    server_bandwidth: float = SERVER_BANDWIDTH_MBPS
    repository_hops: int | None = None
    """The VNF repository is a best-connected node among those within this many hops of
    the server's PoP; None: of the whole network. On a geometric graph the whole
    network's hubs drift out of the goals' reach (L ≤ 100 ms, P ≤ 8 %) of the server as it
    grows (21 hops at 3 000 Gabriel PoPs), and every VNF then downloads for tens of
    seconds: a bound keeps runs of every size telling the same story."""

    def __post_init__(self) -> None:
        if not self.server_bandwidth > 0:
            raise ValueError(f"server bandwidth must be positive, got {self.server_bandwidth}")
        if self.repository_hops is not None and self.repository_hops < 1:
            raise ValueError(f"repository hops must be at least 1, got {self.repository_hops}")


LonLat = tuple[float, float]


class UnknownTopology(KeyError):
    """A key that names no topohub topology; `suggestions` holds up to 5 close keys."""

    def __init__(self, key: str, suggestions: list[str]) -> None:
        self.key = key
        self.suggestions = suggestions
        if suggestions:
            hint = "did you mean " + ", ".join(suggestions) + "?"
        else:
            groups = sorted({k.split("/", 1)[0] for k in _keys()})
            hint = f"keys look like <group>/<name>, with group one of {', '.join(groups)}"
        super().__init__(f"unknown topology {key!r}; {hint}")

    def __str__(self) -> str:
        # KeyError would repr() the message, wrapping it in quotes.
        return str(self.args[0])


def topology_keys() -> list[str]:
    """Every key `topohub.get` accepts, in natural order (gabriel/25/0 before gabriel/100/0)."""
    return list(_keys())


@functools.cache
def _keys() -> tuple[str, ...]:
    """Keys are the JSON files' paths under topohub/data; the package is read-only."""
    data = importlib.resources.files(topohub) / "data"
    found: list[str] = []
    pending = [(data, "")]
    while pending:
        folder, prefix = pending.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                pending.append((entry, f"{prefix}{entry.name}/"))
            elif entry.name.endswith(".json"):
                found.append(prefix + entry.name.removesuffix(".json"))
    return tuple(sorted(found, key=_natural))


def _natural(key: str) -> tuple[str | int, ...]:
    """Sort key comparing digit runs as numbers, so sizes order as people expect."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key))


def _suggestions(key: str) -> list[str]:
    """Up to 5 close keys, case-insensitively (Topology Zoo keys are capitalised)."""
    by_lower = {k.lower(): k for k in _keys()}
    matches = difflib.get_close_matches(key.lower(), list(by_lower), n=5)
    return [by_lower[m] for m in matches]


def scenario_from_topology(
    key: str,
    seed: int = 0,
    attack: AttackShape = AttackShape(),
    pops: PoPShape = PoPShape(),
) -> Scenario:
    """The DDoS scenario on topohub topology `key`, with every random choice drawn from `seed`.

    Raises UnknownTopology when `key` is not one of `topology_keys()`; the key is checked
    first so it can never escape topohub's data folder. Raises ValueError (pydantic's
    ValidationError) when the shapes make no valid scenario.
    """
    if key not in _keys():
        raise UnknownTopology(key, _suggestions(key))
    return scenario_from_graph(topohub.get(key), key, seed, attack, pops)


def scenario_from_graph(
    graph: Mapping[str, Any],
    name: str,
    seed: int = 0,
    attack: AttackShape = AttackShape(),
    pops: PoPShape = PoPShape(),
) -> Scenario:
    """The DDoS scenario on a networkx node-link dict (`nodes`, `edges`) called `name`.

    Random draws happen in a fixed order (PoP flavours, links, then the story's
    placements), so the same graph, seed and shapes always give the same scenario.
    """
    rng = random.Random(seed)
    count, edges, positions = _connected_core(graph, name)
    flavours = [rng.choices(FLAVOURS, weights=FLAVOUR_WEIGHTS)[0] for _ in range(count)]
    links = [_draw_link(rng, a, b, positions) for a, b in edges]
    adjacency = _adjacency(count, edges)
    server_pop = rng.choice(_with_degree(adjacency, min, exclude=None))
    repository = rng.choice(_with_degree(adjacency, max, server_pop, pops.repository_hops))
    if pops.flavour == "mixed":
        _make_mitigable(flavours, _path(adjacency, repository, server_pop))
    else:
        flavours = [UNIFORM[pops.flavour]] * count
    others = [p for p in range(count) if p != server_pop]
    clients = _sample(rng, others, CLIENT_POPS)
    attackers = _attack_pops(rng, adjacency, server_pop, others, attack)

    server = _pop_id(server_pop)
    return Scenario(
        id=re.sub(r"[^A-Za-z0-9_.:\-]", "-", name),
        description=(
            f"DDoS scenario on topohub topology {name}, seed {seed}: {count} PoPs, "
            f"{len(edges)} links. pop<N> is node N of the largest connected component, "
            "in topohub order."
        ),
        seed=seed,
        pops=tuple(
            PoP(id=_pop_id(p), cpu=cpu, memory=memory, disk=disk)
            for p, (cpu, memory, disk) in enumerate(flavours)
        ),
        hosts=(Host(id=SERVER, attach=server, ip=SERVER_IP),),
        links=(
            *links,
            Link(a=server, b=SERVER, bandwidth=pops.server_bandwidth, latency=SERVER_LATENCY_MS),
        ),
        repository=Repository(attach=_pop_id(repository)),
        vnfs=ddos_catalogue(),
        goals=ddos_goals(),
        placements=(Placement(vnf=LINK_MONITOR, pop=server),),
        traffic=_traffic(clients),
        attack=Attack(
            kind=attack.kind,
            attackers=attack.attackers,
            rate=attack.rate,
            start=attack.start,
            stop=attack.stop,
            ports=attack.ports,
            attach=attackers,
        ),
        defence=Defence(
            monitor=Monitor(pop=server, link=(server, SERVER), threshold=MONITOR_THRESHOLD)
        ),
    )


def _traffic(clients: tuple[str, ...]) -> Traffic:
    """Section 5.3's legitimate load, about 2 MB/s: 8 video viewers and 42 HTTP clients."""
    return Traffic(
        server=SERVER,
        duration=240,
        step=1,
        background=BackgroundTraffic(
            hosts=50, http_per_video=5, video_rate=0.15, http_rate=0.02, attach=clients
        ),
    )


def dump_scenario(scenario: Scenario) -> str:
    """YAML that `parse_scenario` reads back to an equal Scenario; defaults are left out."""
    data = scenario.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _pop_id(index: int) -> str:
    return f"pop{index}"


def _connected_core(
    graph: Mapping[str, Any], name: str
) -> tuple[int, list[Edge], list[LonLat] | None]:
    """Node count, edges and positions of the largest component, nodes renumbered from 0.

    Self-loops and parallel edges are dropped and only the largest connected component
    is kept, since agents can only cooperate across a connected network.
    """
    nodes: Sequence[Mapping[str, Any]] = graph["nodes"]
    edges = _simple_edges(nodes, graph["edges"])
    keep = _largest_component(len(nodes), edges)
    if len(keep) < 2:
        raise ValueError(f"topology {name!r} has no two connected nodes to build a scenario on")
    index = {old: new for new, old in enumerate(keep)}
    kept = [(index[a], index[b]) for a, b in edges if a in index and b in index]
    return len(keep), kept, _geographic_positions(name, [nodes[old] for old in keep])


def _simple_edges(
    nodes: Sequence[Mapping[str, Any]], raw: Sequence[Mapping[str, Any]]
) -> list[Edge]:
    """Edges as node-index pairs in file order, without self-loops or repeats."""
    index = {node["id"]: i for i, node in enumerate(nodes)}
    seen: set[frozenset[int]] = set()
    edges: list[Edge] = []
    for edge in raw:
        a, b = index[edge["source"]], index[edge["target"]]
        pair = frozenset((a, b))
        if a != b and pair not in seen:
            seen.add(pair)
            edges.append((a, b))
    return edges


def _adjacency(count: int, edges: Sequence[Edge]) -> list[list[int]]:
    adjacency: list[list[int]] = [[] for _ in range(count)]
    for a, b in edges:
        adjacency[a].append(b)
        adjacency[b].append(a)
    return adjacency


def _parents(adjacency: Sequence[Sequence[int]], start: int) -> dict[int, int]:
    """Breadth-first search tree from `start`: each reached node mapped to its parent."""
    parents = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for other in adjacency[node]:
            if other not in parents:
                parents[other] = node
                queue.append(other)
    return parents


def _largest_component(count: int, edges: Sequence[Edge]) -> list[int]:
    """Node indices of the largest component, ascending; ties go to the earliest node."""
    adjacency = _adjacency(count, edges)
    unseen = set(range(count))
    best: list[int] = []
    for start in range(count):
        if start in unseen:
            component = sorted(_parents(adjacency, start))
            unseen.difference_update(component)
            if len(component) > len(best):
                best = component
    return best


def _path(adjacency: Sequence[Sequence[int]], source: int, target: int) -> list[int]:
    """A shortest path in hops from `source` to `target` (the graph is connected)."""
    parents = _parents(adjacency, source)
    path = [target]
    while path[-1] != source:
        path.append(parents[path[-1]])
    return path[::-1]


def _geographic_positions(name: str, nodes: Sequence[Mapping[str, Any]]) -> list[LonLat] | None:
    """Node (longitude, latitude) pairs, or None when some are missing or planar.

    Gabriel graphs are planar by construction; planar SNDlib networks give themselves
    away by coordinates outside the longitude and latitude ranges.
    """
    if name.startswith("gabriel/") or any("pos" not in node for node in nodes):
        return None
    positions = [(float(node["pos"][0]), float(node["pos"][1])) for node in nodes]
    if all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in positions):
        return positions
    return None


def _great_circle_km(a: LonLat, b: LonLat) -> float:
    """Haversine distance between two (longitude, latitude) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def _draw_link(rng: random.Random, a: int, b: int, positions: Sequence[LonLat] | None) -> Link:
    """B, L and P of one link; L follows fibre length when positions are geographic."""
    bandwidth = rng.randint(*BANDWIDTH_MBPS)
    if positions is None:
        latency = rng.uniform(*DRAWN_LATENCY_MS)
    else:
        km = _great_circle_km(positions[a], positions[b])
        latency = max(MIN_LATENCY_MS, km / FIBRE_KM_PER_MS)
    loss = rng.uniform(*LOSS_PERCENT)
    return Link(
        a=_pop_id(a),
        b=_pop_id(b),
        bandwidth=bandwidth,
        latency=round(latency, 2),
        loss=round(loss, 2),
    )


def _with_degree(
    adjacency: Sequence[Sequence[int]],
    pick: Callable[[Iterable[int]], int],
    exclude: int | None,
    within: int | None = None,
) -> list[int]:
    """Nodes (but `exclude`) whose degree is `pick` (min: the edge; max: the core), among
    those `within` hops of `exclude` when given."""
    if within is not None and exclude is not None:
        candidates = sorted(n for n, h in _hops(adjacency, exclude).items() if 0 < h <= within)
    else:
        candidates = [n for n in range(len(adjacency)) if n != exclude]
    degree = pick(len(adjacency[n]) for n in candidates)
    return [n for n in candidates if len(adjacency[n]) == degree]


def _make_mitigable(flavours: list[tuple[int, int, int]], path: Sequence[int]) -> None:
    """Upgrade the PoP before the server's on the repository path if all of it is SMALL.

    `path` runs from the repository's PoP to the server's, which already runs the Link
    Monitor; defending VNFs are deployed along it. A SMALL PoP is full once it holds two
    anomaly detector units and a classifier, a MEDIUM one still has room for rate limiters
    and load balancers, so with one on the path every draw stays mitigable.
    """
    before_server = path[:-1]
    if all(flavours[p] == SMALL for p in before_server):
        flavours[before_server[-1]] = MEDIUM


def _attack_pops(
    rng: random.Random,
    adjacency: Sequence[Sequence[int]],
    server_pop: int,
    others: Sequence[int],
    attack: AttackShape,
) -> tuple[str, ...]:
    """The PoPs the attackers sit behind, as `attack` shapes them."""
    if attack.spread == "random":
        sizes = ATTACKER_POPS if attack.pops is None else (attack.pops, attack.pops)
        return _sample(rng, others, sizes)
    count = rng.randint(*ATTACKER_POPS) if attack.pops is None else attack.pops
    hops = _hops(adjacency, server_pop)
    sign = 1 if attack.spread == "near" else -1
    ranked = sorted(others, key=lambda p: (sign * hops[p], p))
    return tuple(_pop_id(p) for p in sorted(ranked[:count]))


def _hops(adjacency: Sequence[Sequence[int]], start: int) -> dict[int, int]:
    """Hops from `start` to every node it reaches (breadth first)."""
    hops = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for neighbour in adjacency[node]:
            if neighbour not in hops:
                hops[neighbour] = hops[node] + 1
                queue.append(neighbour)
    return hops


def _sample(rng: random.Random, pops: Sequence[int], sizes: tuple[int, int]) -> tuple[str, ...]:
    """Between sizes[0] and sizes[1] distinct PoPs (fewer if there are not that many)."""
    count = min(rng.randint(*sizes), len(pops))
    return tuple(_pop_id(p) for p in sorted(rng.sample(list(pops), count)))

"""What a valid scenario will likely do other than its author meant: warnings, not errors.

Two things a scenario may intend but most often does not: an attack the Link Monitor
never perceives (a no-attack control run does it on purpose), and a goal constraint that
no path between two PoPs meets, so that only the auctioneer's own PoP, whose bid takes
no link (Algorithm 1's empty path), can win the goal. Both follow from the scenario
alone, as the data plane and the bidding heuristic will see it: `secmas scenario
validate` prints them, and a run that misses its acceptance figures uses the same
figures to say why (`secmas.report.acceptance`).
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass

from secmas.network.dataplane.routing import Network, shortest_path_tree
from secmas.network.dataplane.traffic import scenario_flows
from secmas.scenario.model import Constraint, Link, Measure, Operator, Path, Scenario

PATH_MEASURES = frozenset({Measure.LATENCY, Measure.LOSS, Measure.HOPS})
"""Measures a path accumulates link by link and that never change during a run (the
bandwidth a bid may use shrinks as VNFs reserve it)."""
ROUNDING = 1e-9
"""Relative slack for sums taken in another order than Algorithm 1's: a bound this close
to the least value may still hold."""


@dataclass(frozen=True)
class LinkLoad:
    """The mean MB/s a link carries towards the server while the attack is on."""

    link: tuple[str, str]
    attack: float
    legit: float

    @property
    def total(self) -> float:
        """What the Link Monitor compares with its threshold."""
        return self.attack + self.legit


def monitored_load(scenario: Scenario) -> LinkLoad | None:
    """The mean load of the Link Monitor's link while the attack is on and nothing
    defends; None without traffic, attack or defence.

    Every client and attacker sends its mean rate (each step's jitter and the HTTP
    clients' pauses average out) from its attach node along the data plane's routes
    towards the server. As in the simulator's step, a link takes what reaches it up to
    its capacity, shared in proportion, and passes on all but its loss; the Link Monitor
    reads what enters the link in its busier direction.
    """
    if scenario.traffic is None or scenario.attack is None or scenario.defence is None:
        return None
    network = Network.from_scenario(scenario)
    tree = shortest_path_tree(network, scenario.traffic.server)
    arriving: defaultdict[str, tuple[float, float]] = defaultdict(lambda: (0.0, 0.0))
    for flow in scenario_flows(scenario):
        attack, legit = arriving[flow.attach]
        arriving[flow.attach] = (
            (attack + flow.rate, legit) if flow.is_attack else (attack, legit + flow.rate)
        )
    entering: dict[tuple[str, str], tuple[float, float]] = {}
    for node in sorted(tree.next_hop, key=tree.depth.__getitem__, reverse=True):
        attack, legit = arriving[node]
        parent = tree.next_hop[node]
        link = network.links[node, parent]
        load = attack + legit
        share = min(1.0, network.capacity[link] / load) if load > 0 else 1.0
        entering[node, parent] = (attack * share, legit * share)
        keep = float(network.keep[link])
        above = arriving[parent]
        arriving[parent] = (above[0] + attack * share * keep, above[1] + legit * share * keep)
    a, b = scenario.defence.monitor.link
    attack, legit = max(entering.get((a, b), (0.0, 0.0)), entering.get((b, a), (0.0, 0.0)), key=sum)
    return LinkLoad((a, b), float(attack), float(legit))


def least_values(scenario: Scenario, measure: Measure, source: str) -> dict[str, float]:
    """The least latency (ms), loss (%, compounded) or hop count of any path of links
    from `source` to each node it reaches. Hosts may be crossed, as Algorithm 1 may."""
    reached, _ = _nearest(scenario, measure, (source,))
    return {node: _value(measure, total) for node, total in reached.items()}


def _nearest(
    scenario: Scenario, measure: Measure, sources: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, str]]:
    """Dijkstra from all `sources` at once on the links' additive weights: each reached
    node's least total from the nearest source, and that source."""
    reached = dict.fromkeys(sources, 0.0)
    nearest = {source: source for source in sources}
    neighbours = _neighbours(scenario, measure)
    queue = [(0.0, source) for source in sources]
    done: set[str] = set()
    while queue:
        total, node = heapq.heappop(queue)
        if node in done:
            continue
        done.add(node)
        for neighbour, weight in neighbours.get(node, ()):
            if total + weight < reached.get(neighbour, math.inf):
                reached[neighbour], nearest[neighbour] = total + weight, nearest[node]
                heapq.heappush(queue, (total + weight, neighbour))
    return reached, nearest


def _neighbours(scenario: Scenario, measure: Measure) -> dict[str, list[tuple[str, float]]]:
    """Each node's neighbours with the weight of the link to them."""
    neighbours: defaultdict[str, list[tuple[str, float]]] = defaultdict(list)
    for link in scenario.links:
        neighbours[link.a].append((link.b, _weight(measure, link)))
        neighbours[link.b].append((link.a, _weight(measure, link)))
    return neighbours


def _weight(measure: Measure, link: Link) -> float:
    """A link's share of a path's `measure`, made additive: a path keeps the product of
    its links' 1 − loss (Algorithm 1 line 22), so loss adds up as −ln(1 − loss)."""
    match measure:
        case Measure.LATENCY:
            return link.latency
        case Measure.LOSS:
            return -math.log1p(-link.loss / 100.0)
        case _:
            return 1.0


def _value(measure: Measure, total: float) -> float:
    """A path's `measure` from the sum of its links' weights (loss in percent); inf for
    no path."""
    if measure is Measure.LOSS and math.isfinite(total):
        return -100.0 * math.expm1(-total)
    return total


def never_met(constraint: Constraint, least: float) -> bool:
    """Whether `constraint` fails on every path whose measure is at least `least`: an
    upper bound (<, <=, ==) below it, beyond rounding."""
    slack = 0.0 if constraint.measure is Measure.HOPS else ROUNDING * max(1.0, abs(least))
    match constraint.op:
        case Operator.LE | Operator.EQ:
            return constraint.value < least - slack
        case Operator.LT:
            return constraint.value <= least - slack
        case _:
            return False


def constraint_text(constraint: Constraint) -> str:
    """`P <= 8`: a constraint as the scenario writes it."""
    return f"{constraint.measure.value} {constraint.op.value} {constraint.value:g}"


def best_path_text(measure: Measure, least: float) -> str:
    """What the best path achieves, in words: `the least lossy loses 0.5 %`."""
    match measure:
        case Measure.LATENCY:
            return f"the quickest takes {least:g} ms"
        case Measure.LOSS:
            return f"the least lossy loses {least:g} %"
        case _:
            return f"the shortest has {least:g} hop{'' if least == 1 else 's'}"


def run_warnings(scenario: Scenario) -> list[tuple[Path, str]]:
    """What the scenario will likely do other than meant, each with its field path, in
    the order of the file's sections."""
    return _constraints_between_pops(scenario) + _unperceived_attack(scenario)


def _constraints_between_pops(scenario: Scenario) -> list[tuple[Path, str]]:
    """Goal constraints no path between two PoPs meets: the goal can be won only by the
    auctioneer's own PoP, and fails whenever that PoP has no room for the VNF."""
    least: dict[Measure, float] = {}
    warnings: list[tuple[Path, str]] = []
    for g, goal in enumerate(scenario.goals):
        for c, constraint in enumerate(goal.constraints):
            measure = constraint.measure
            if measure not in PATH_MEASURES:
                continue
            if measure not in least:
                least[measure] = least_between_pops(scenario, measure)
            if math.isfinite(least[measure]) and never_met(constraint, least[measure]):
                warnings.append(
                    (
                        ("goals", g, "constraints", c),
                        f"{constraint_text(constraint)} holds on no path between two PoPs "
                        f"({best_path_text(measure, least[measure])}): only the auctioneer's "
                        f"own PoP can bid for {goal.name}",
                    )
                )
    return warnings


def least_between_pops(scenario: Scenario, measure: Measure) -> float:
    """The least `measure` of any path between two distinct PoPs (inf: no such path).

    One Dijkstra from every PoP at once: the best such path crosses a link whose ends
    are nearest to different PoPs, so the least is found over those links."""
    reached, nearest = _nearest(scenario, measure, tuple(pop.id for pop in scenario.pops))
    totals = (
        reached[link.a] + _weight(measure, link) + reached[link.b]
        for link in scenario.links
        if link.a in reached and link.b in reached and nearest[link.a] != nearest[link.b]
    )
    return _value(measure, min(totals, default=math.inf))


def _unperceived_attack(scenario: Scenario) -> list[tuple[Path, str]]:
    """An attack that leaves the monitored link below the Link Monitor's threshold: the
    DDoS strategy never starts. Said only when no other defence of the scenario (the
    closed loop, security intents) is there to act on an attack meant to stay unseen."""
    if scenario.analytics.detect or scenario.policy is not None:
        return []
    load = monitored_load(scenario)
    if load is None or scenario.defence is None:
        return []
    threshold = scenario.defence.monitor.threshold
    if load.total > threshold:
        return []
    a, b = load.link
    return [
        (
            ("attack",),
            f"the monitored link {a}–{b} carries about {load.total:.2f} MB/s with the attack "
            f"on ({load.attack:.2f} MB/s of it the attack's), below the Link Monitor's "
            f"{threshold:g} MB/s threshold (defence.monitor.threshold): no auction will start",
        )
    ]

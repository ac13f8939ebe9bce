"""What a run needs of a scenario beyond a well-formed file: a connected network and the
goals of its strategies.

`Scenario` itself refuses what is wrong in any use (bad values, undefined references, an
attack after the run). A scenario may still be incomplete for a run — a data-plane study
without goals, a bid study with a PoP cut off from the repository — so these checks are
separate, and `load_runnable` applies both: `secmas scenario validate` and every command
that runs a scenario load through it, so validate refuses whatever a run would.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path as FilePath

import yaml

from secmas.plugins import PluginError, plugin
from secmas.scenario.attacks import traits
from secmas.scenario.caveats import run_warnings
from secmas.scenario.ddos import LINK_MONITOR, cnf_goals, ddos_goals
from secmas.scenario.loader import (
    Problem,
    ScenarioError,
    line_of,
    parse_mapping,
    read_file,
    validate_scenario,
)
from secmas.scenario.model import MOVE_GOAL, Path, Scenario

DDOS_GOALS = tuple(goal.name for goal in ddos_goals())
"""Goals the DDoS strategy auctions (Table 5.7 of `003_…`): needed with a `defence`."""
CLOSED_LOOP_GOALS = tuple(goal.name for goal in cnf_goals() if goal.name != MOVE_GOAL)
"""Goals the closed loop's decisions hand to the agents (`secmas.analytics.decision`)."""
LISTED = 10
"""Unreachable nodes named one by one; the rest are counted."""
VNF_PLUGINS = "secmas.vnfs"
"""The entry-point group of the VNFs agents run (`secmas.agents.vnfplugin`)."""
EMULATED_NODES = 200
"""PoPs and switches the emulated engine builds at most (one namespace each;
`secmas.network.emulation.plan`)."""


def load_runnable(path: str | FilePath, strategy: bool = True) -> Scenario:
    """Load a scenario file and check that it can run (with `strategy`, as `secmas run`
    does: agents and closed loop; without, only its data plane, as a data set does);
    ScenarioError naming the file, the line and the field of every problem."""
    return runnable_text(read_file(path), str(path), strategy)


def runnable_text(text: str, source: str = "<string>", strategy: bool = True) -> Scenario:
    """`load_runnable` for a scenario given as YAML text; `source` names it in problems."""
    return _runnable(text, source, strategy)[0]


def load_with_warnings(path: str | FilePath) -> tuple[Scenario, list[Problem]]:
    """`load_runnable` (as `secmas run` loads), and what the scenario will likely do other
    than its author meant (`secmas.scenario.caveats`) as problems naming the file, the
    line and the field: warnings to print, since a control run may mean them."""
    source = str(path)
    scenario, node = _runnable(read_file(path), source, strategy=True)
    return scenario, [
        Problem(source, at, msg, line_of(node, at)) for at, msg in run_warnings(scenario)
    ]


def _runnable(text: str, source: str, strategy: bool) -> tuple[Scenario, yaml.Node]:
    """The checked scenario of YAML text, with its node tree for the lines of warnings."""
    data, node = parse_mapping(text, source, "scenario fields")
    scenario = validate_scenario(data, source, node)
    problems = run_problems(scenario, strategy)
    if problems:
        raise ScenarioError([Problem(source, at, msg, line_of(node, at)) for at, msg in problems])
    return scenario, node


def run_problems(scenario: Scenario, strategy: bool = True) -> list[tuple[Path, str]]:
    """What keeps a valid scenario from running, each with the field path it is found at;
    without `strategy`, what keeps its data plane from running."""
    problems = _server_reach(scenario) + _repository_reach(scenario) + _placement_room(scenario)
    problems += _emulation_problems(scenario)
    if strategy:
        problems = _sections(scenario) + problems + _strategy_goals(scenario)
        problems += _monitor_placed(scenario) + _goal_vnfs_fit(scenario)
        problems += _vnfs_provided(scenario)
    return problems


def _vnfs_provided(scenario: Scenario) -> list[tuple[Path, str]]:
    """Each VNF of the catalogue is provided by an installed plug-in: an agent runs a VNF
    through its plug-in's capability and plans, and has none for one without."""
    problems: list[tuple[Path, str]] = []
    for index, vnf in enumerate(scenario.vnfs):
        try:
            plugin(VNF_PLUGINS, vnf.id)
        except PluginError as exc:
            problems.append((("vnfs", index, "id"), f"{exc}: the agents run a VNF by its plug-in"))
    return problems


def _monitor_placed(scenario: Scenario) -> list[tuple[Path, str]]:
    """The Link Monitor's PoP starts with one: its agent watches the link only once a Link
    Monitor runs there, and every auction of the DDoS strategy follows what it sees."""
    if scenario.defence is None:
        return []
    pop = scenario.defence.monitor.pop
    placed = [p.pop for p in scenario.placements if p.vnf == LINK_MONITOR]
    if pop in placed:
        return []
    where = f"placements put it on {', '.join(placed)}" if placed else "no placement starts one"
    return [
        (
            ("defence", "monitor", "pop"),
            f"{pop} runs the Link Monitor, but {where}: add {{vnf: {LINK_MONITOR}, pop: {pop}}} "
            "to placements, or name that PoP here; else no agent watches the link and no "
            "auction ever starts",
        )
    ]


def _goal_vnfs_fit(scenario: Scenario) -> list[tuple[Path, str]]:
    """Each VNF a goal places fits an empty PoP: one that fits none makes every auction
    of its goals end without a bid."""
    needed: dict[str, str] = {}
    for goal in scenario.goals:
        for vnf in goal.vnfs:
            needed.setdefault(vnf, goal.name)
    problems: list[tuple[Path, str]] = []
    for index, vnf in enumerate(scenario.vnfs):
        if vnf.id not in needed:
            continue
        need = vnf.requirements
        wanted = [need.cpu, need.memory, need.disk]
        if any(_fits(wanted, [pop.cpu, pop.memory, pop.disk]) for pop in scenario.pops):
            continue
        problems.append(
            (
                ("vnfs", index, "requirements"),
                f"{vnf.id} needs {_amounts(wanted)}, more than any PoP has: goal "
                f"{needed[vnf.id]!r} could never be placed",
            )
        )
    return problems


def _fits(wanted: Sequence[float], room: Sequence[float]) -> bool:
    """Each of cpu, memory and disk wanted fits the room there is."""
    return all(n <= r for n, r in zip(wanted, room, strict=True))


def _amounts(values: Sequence[float]) -> str:
    cpu, memory, disk = values
    return f"cpu {cpu:g}, memory {memory:g} GB, disk {disk:g} GB"


def _placement_room(scenario: Scenario) -> list[tuple[Path, str]]:
    """The initial placements fit their PoPs, in order (`Infrastructure.from_scenario`
    deploys each, and refuses one that needs more than the PoP has free)."""
    free = {pop.id: [pop.cpu, pop.memory, pop.disk] for pop in scenario.pops}
    problems: list[tuple[Path, str]] = []
    for index, placement in enumerate(scenario.placements):
        need = scenario.vnf(placement.vnf).requirements
        left = free[placement.pop]
        wanted = [need.cpu, need.memory, need.disk]
        if _fits(wanted, left):
            free[placement.pop] = [f - n for n, f in zip(wanted, left, strict=True)]
            continue
        problems.append(
            (
                ("placements", index),
                f"{placement.vnf} needs {_amounts(wanted)}; {placement.pop} has "
                f"{_amounts(left)} free",
            )
        )
    return problems


def _sections(scenario: Scenario) -> list[tuple[Path, str]]:
    """A run operates the DDoS strategy (`secmas.pipeline.errors.check_runnable`)."""
    problems: list[tuple[Path, str]] = []
    if scenario.traffic is None:
        problems.append((("traffic",), "a run needs a traffic section: server, duration, clients"))
    if scenario.defence is None:
        problems.append((("defence",), "a run needs a defence section: the Link Monitor's link"))
    elif scenario.defence.split_parts > max(2, len(scenario.pops)):
        problems.append(
            (
                ("defence", "split_parts"),
                f"{scenario.defence.split_parts} parts for {len(scenario.pops)} PoPs: each part "
                "is a goal of its own, auctioned among the PoPs' agents (at most one part per PoP)",
            )
        )
    return problems


def _reached(scenario: Scenario, root: str) -> set[str]:
    """Nodes with a path of links to `root`. Hosts other than `root` carry no transit, as
    in the data plane's routing (`secmas.network.dataplane.routing`)."""
    hosts = {host.id for host in scenario.hosts}
    neighbours: dict[str, list[str]] = {}
    for link in scenario.links:
        neighbours.setdefault(link.a, []).append(link.b)
        neighbours.setdefault(link.b, []).append(link.a)
    seen = {root}
    queue = deque([root])
    while queue:
        node = queue.popleft()
        if node != root and node in hosts:
            continue
        for other in neighbours.get(node, ()):
            if other not in seen:
                seen.add(other)
                queue.append(other)
    return seen


def _server_reach(scenario: Scenario) -> list[tuple[Path, str]]:
    """Every host, and every node clients and attackers sit behind, reaches the server."""
    if scenario.traffic is None:
        return []
    server = scenario.traffic.server
    reached = _reached(scenario, server)
    why = f"no path of links to the server {server!r}: its traffic would have no route"
    places: list[tuple[Path, str]] = [
        (("traffic", "background", "attach", i), node)
        for i, node in enumerate(scenario.traffic.background.attach)
    ]
    if scenario.attack is not None:
        places += [(("attack", "attach", i), node) for i, node in enumerate(scenario.attack.attach)]
    places += [(("hosts", i), host.id) for i, host in enumerate(scenario.hosts)]
    problems = [(at, f"{node!r} has {why}") for at, node in places if node not in reached]
    problems += _host_links(scenario)
    return _capped(problems, "unreachable from the server")


def _host_links(scenario: Scenario) -> list[tuple[Path, str]]:
    """A host is wired to the node it says it is attached to."""
    linked = {frozenset((link.a, link.b)) for link in scenario.links}
    return [
        (
            ("hosts", i, "attach"),
            f"host {host.id!r} is attached to {host.attach!r} but no link joins them",
        )
        for i, host in enumerate(scenario.hosts)
        if frozenset((host.id, host.attach)) not in linked
    ]


def _repository_reach(scenario: Scenario) -> list[tuple[Path, str]]:
    """Every PoP can download VNF images from the repository."""
    repository = scenario.repository.attach
    reached = _reached(scenario, repository)
    problems: list[tuple[Path, str]] = [
        (
            ("pops", i),
            f"PoP {pop.id!r} has no path of links to the VNF repository at {repository!r}: "
            "it could never download a VNF image",
        )
        for i, pop in enumerate(scenario.pops)
        if pop.id not in reached
    ]
    return _capped(problems, "cut off from the repository")


def _emulation_problems(scenario: Scenario) -> list[tuple[Path, str]]:
    """What the emulated engine cannot build (`network.engine: emulated`)."""
    if scenario.network.engine != "emulated":
        return []
    why = "the emulated engine"
    problems: list[tuple[Path, str]] = []
    if scenario.attack is not None and not traits(scenario.attack.kind).emulated:
        problems.append(
            (
                ("attack", "kind"),
                f"{why} does not launch attack {scenario.attack.kind!r} (the simulator does)",
            )
        )
    if len(scenario.pops) + len(scenario.switches) > EMULATED_NODES:
        problems.append(
            (
                ("network", "engine"),
                f"{why} builds at most {EMULATED_NODES} PoPs and switches: use the simulator",
            )
        )
    hosts = {host.id for host in scenario.hosts}
    problems += [
        (("links", i), f"{why} attaches hosts to a PoP or switch, not to each other")
        for i, link in enumerate(scenario.links)
        if link.a in hosts and link.b in hosts
    ]
    return problems


def _capped(problems: list[tuple[Path, str]], what: str) -> list[tuple[Path, str]]:
    """The first LISTED problems, and one more counting the rest."""
    if len(problems) <= LISTED:
        return problems
    rest = len(problems) - LISTED
    return [*problems[:LISTED], (problems[LISTED][0], f"… and {rest} more {what}")]


def _strategy_goals(scenario: Scenario) -> list[tuple[Path, str]]:
    """The goals each strategy of the scenario auctions are defined (by name)."""
    problems: list[tuple[Path, str]] = []
    if scenario.defence is not None:
        problems += _missing(scenario, ("defence",), "the DDoS strategy (defence)", DDOS_GOALS)
    if scenario.analytics.detect:
        problems += _missing(
            scenario, ("analytics", "detect"), "the closed loop", CLOSED_LOOP_GOALS
        )
    return problems


def _missing(
    scenario: Scenario, at: Path, strategy: str, needed: Sequence[str]
) -> list[tuple[Path, str]]:
    defined = [goal.name for goal in scenario.goals]
    unused = [name for name in defined if name not in _used_goals(scenario)]
    problems: list[tuple[Path, str]] = []
    for name in needed:
        if name in defined:
            goal = scenario.goals[defined.index(name)]
            if not goal.vnfs:
                index = defined.index(name)
                problems.append(
                    (("goals", index, "vnfs"), f"{strategy} places a VNF for {name!r}: name one")
                )
            continue
        hint = difflib.get_close_matches(name, unused, n=1)
        renamed = f" (goals[{defined.index(hint[0])}] is {hint[0]!r}: renamed?)" if hint else ""
        problems.append((at, f"{strategy} auctions goal {name!r}: add it to goals{renamed}"))
    return problems


def _used_goals(scenario: Scenario) -> set[str]:
    """Goal names some part of the scenario uses."""
    used: Iterable[str] = (*DDOS_GOALS, *CLOSED_LOOP_GOALS, MOVE_GOAL)
    if scenario.cti is not None:
        used = (*used, *scenario.cti.sensitive_goals)
    return set(used)

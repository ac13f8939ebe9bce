"""A user's first scenario: a small hand-written network, written as commented YAML.

`secmas scenario init` writes what `starter_yaml` returns: the scenario of `starter_scenario`
(PoPs in a ring, the server behind the last, the VNF repository at the first) or one
generated from a topohub topology (`secmas.scenario.topology`), every section preceded by
comments that say what it means, how the DDoS strategy uses it and what to change. The
comments quote the scenario's own figures (the monitored link's load with the attack on,
against the Link Monitor's threshold), so they hold for whatever network is written.
`parse_scenario` reads the text back to an equal `Scenario`.
"""

from __future__ import annotations

import itertools
import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from secmas.network.dataplane.traffic import scenario_flows
from secmas.scenario.caveats import monitored_load
from secmas.scenario.ddos import LINK_MONITOR, ddos_catalogue, ddos_goals
from secmas.scenario.model import (
    Attack,
    BackgroundTraffic,
    DataPlaneSettings,
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

MIN_POPS, MAX_POPS = 2, 20
"""PoPs of a hand-written network; a larger one comes from a topohub topology."""
DURATION_S = 90.0
"""Simulated seconds of the starter: the attack from 10 s, mitigated well before the last
20 s that the acceptance figures average (about a minute and a half in real time on the
emulated network)."""
IMAGE_MB = 50.0
"""Every VNF image of the starter: a tenth of Section 5.3's 500 MB, as the emulated
reference scenario (`ddos-emulated.yaml`), so downloads take seconds, not minutes."""
CORE = (8, 16, 250)
EDGE = (4, 8, 100)
"""(cpu cores, memory GB, disk GB) of the repository's PoP and of the others: the
medium and small flavours of generated scenarios."""
SERVER_IP = "10.0.0.100"
EMULATED_SCALE = 0.04
"""Share of the byte and packet rates that really flows on the emulated network: that of
`ddos-emulated.yaml`, which a 2-core machine carries."""


def starter_scenario(pops: int = 3, seed: int = 0, duration: float = DURATION_S) -> Scenario:
    """A small DDoS scenario on `pops` PoPs in a ring (two PoPs: one link): the server
    behind the last PoP, whose Link Monitor watches the server's link; the repository at
    the first; clients and attackers behind every other PoP. ValueError for a size outside
    MIN_POPS..MAX_POPS or a run too short for the attack."""
    if not MIN_POPS <= pops <= MAX_POPS:
        raise ValueError(f"a hand-written network has {MIN_POPS} to {MAX_POPS} PoPs, got {pops}")
    ids = [f"pop{n}" for n in range(1, pops + 1)]
    server_pop = ids[-1]
    ring = list(itertools.pairwise(ids))
    if pops > 2:
        ring.append((ids[-1], ids[0]))
    edge = tuple(ids[:-1])
    return Scenario(
        id=f"my-{pops}pop",
        description=f"My network: {pops} PoPs, a web server behind {server_pop}, a SYN flood",
        seed=seed,
        pops=tuple(
            PoP(id=pop, cpu=size[0], memory=size[1], disk=size[2])
            for pop, size in zip(ids, [CORE] + [EDGE] * (pops - 1), strict=True)
        ),
        hosts=(Host(id="server", attach=server_pop, ip=SERVER_IP),),
        links=(
            *(Link(a=a, b=b, bandwidth=10, latency=5, loss=0.5) for a, b in ring),
            Link(a=server_pop, b="server", bandwidth=10, latency=1, loss=0),
        ),
        repository=Repository(attach=ids[0]),
        vnfs=tuple(vnf.model_copy(update={"image_size": IMAGE_MB}) for vnf in ddos_catalogue()),
        goals=ddos_goals(),
        placements=(Placement(vnf=LINK_MONITOR, pop=server_pop),),
        traffic=Traffic(
            server="server",
            ports=(8000, 8080),
            duration=duration,
            step=1,
            background=BackgroundTraffic(
                hosts=50, http_per_video=5, video_rate=0.15, http_rate=0.02, attach=edge
            ),
        ),
        attack=Attack(
            kind="syn_flood", attackers=4, rate=1.0, start=10, ports=(8080,), attach=edge
        ),
        defence=Defence(
            monitor=Monitor(pop=server_pop, link=(server_pop, "server"), threshold=4.0)
        ),
        network=DataPlaneSettings(engine="simulator", scale=EMULATED_SCALE),
    )


def with_duration(scenario: Scenario, duration: float) -> Scenario:
    """`scenario` run for `duration` simulated seconds, checked again (ValueError: an
    attack that would start after the run)."""
    if scenario.traffic is None:
        raise ValueError("the scenario has no traffic section to set the duration of")
    data = scenario.model_dump(mode="json")
    data["traffic"]["duration"] = duration
    return Scenario.model_validate(data)


# -- the commented YAML ---------------------------------------------------------------------

HEADER = """\
# {title}
#
{origin}
#
# Edit it, then check it and run it (a secure run on the simulator, then the report):
#
#   .venv/bin/secmas scenario validate {file}
#   .venv/bin/secmas run {file}
#
# Units (Table 4.1 of the dissertation): cpu cores, memory and disk in GB, bandwidth in
# MB/s, latency in ms, loss in percent, times in simulated seconds. `scenario validate`
# names the line and field of every mistake, and warns when the scenario will likely not
# do what it seems to (an attack the Link Monitor never notices). The full format:
# docs/reference/scenario-format.md; scenarios/ddos-6pop.yaml is the dissertation's.
"""

SECTIONS: dict[str, str] = {
    "id": """\
# The scenario's name: the run's folder is runs/<id>-<time>. `seed` seeds every random
# draw (traffic jitter, auction back-offs): the same file and seed give the same run.""",
    "pops": """\
# The network. Each NFVI point of presence (PoP) has one agent, which bids in the auctions
# with the PoP's free resources: cpu cores (U), memory GB (M), disk GB (D). A PoP too small
# for a VNF refuses to bid for it ("sat_req fails"). To add a PoP: add it here, link it
# below, and put clients or attackers behind it (traffic, attack) if you like.""",
    "switches": """\
# Switches: nodes that forward traffic but run no agent and host no VNF.""",
    "hosts": """\
# Hosts: the server the clients use and the attack targets, attached to a PoP (a link
# below joins them). Its address is the one the flood is aimed at.""",
    "links": """\
# Links between PoPs (and to the server): bandwidth B in MB/s, latency L in ms, loss P in
# percent. Traffic takes the shortest paths towards the server; a bidder's VNF reaches the
# auctioneer over its lowest-cost path that meets the goal's constraints, and downloads
# its image from the repository over the widest path (T = image size / bandwidth).""",
    "repository": """\
# Where the VNF images are downloaded from: the PoP (or switch) it is attached to. PoPs
# near it, over wide links, win time-sensitive goals (bid component T).""",
    "vnfs": """\
# The VNF catalogue: what one unit of each VNF needs (cpu, memory GB, disk GB), the MB/s
# one unit processes (`throughput`: a VNF that analyses traffic is deployed in as many
# units as its traffic needs) and its image's size in MB (the download time T). The DDoS
# strategy uses these five; add your own VNF here and name it in a goal's `vnfs`
# (docs/guides/own-strategy.md).""",
    "goals": """\
# The DDoS strategy's goals (Table 5.7), auctioned among the agents (NFV-A) in this order:
#   linkRateLimited        the Link Monitor saw over-usage: a Rate Limiter caps the link
#                          to `defence.rate` of its traffic (protect first);
#   anomalousUsage         an Anomaly Detector, sized by the link's traffic, finds the
#                          address under attack;
#   ipRateLimited          a Rate Limiter caps the traffic towards that address;
#   flowRecord             a Classifier, sized by that traffic, finds the malicious flows;
#   flowRateLimited        a Rate Limiter blocks each malicious flow; then the link and
#                          address limits are lifted and legitimate traffic is back;
#   splitTrafficLink,      when no PoP fits the Anomaly Detector or the Classifier, a Load
#   splitTrafficTowardsIp  Balancer splits the traffic into `defence.split_parts` parts,
#                          each analysed on its own PoP.
# The names are the strategy's (its plans pursue them); for each you may change:
#   preferences  weights of the bid components, summing to 1: T (time to deploy: image
#                download), C (cost: resources and path), D (decentralisation: latency of
#                the path, preferred larger); the lowest weighted sum wins (Eq. 3.1);
#   constraints  what the path from a bidder to the auctioneer must meet: measure B, L, P
#                or H (hops), op <, <=, >, >=, ==, !=, and a value;
#   vnfs         the VNFs that achieve the goal; a bidder offers the best of them.""",
    "placements": """\
# What runs before the attack: the Link Monitor on the PoP whose link it watches.""",
    "traffic": """\
# Legitimate traffic towards the server, and the run's length.""",
    "attack": """\
# The attack: a SYN flood on the server.""",
    "defence": """\
# The DDoS strategy's settings.""",
    "security": """\
# The trust layer: every agent is wrapped, measured, registered on a ledger, attested and
# keyed before it takes part; its messages are sealed. `secmas run FILE --insecure` turns
# it off for a measurement (or set enabled: false).""",
    "network": """\
# The data-plane engine: `simulator` (flow-level, virtual clock, deterministic) or
# `emulated` (a real Linux network on this machine, real packets, real time; needs root:
# `sudo .venv/bin/secmas run FILE --dataplane emulated` does the same for one run).""",
}

FIELDS: dict[str, str] = {
    "traffic.server": "the host the clients use (and the attack targets)",
    "traffic.ports": "its service ports",
    "traffic.duration": "simulated seconds the run lasts; acceptance averages the last 20",
    "traffic.step": "simulated seconds per data-plane step",
    "traffic.background": "the clients: one video viewer per http_per_video HTTP clients",
    "traffic.background.hosts": "client hosts",
    "traffic.background.http_per_video": "HTTP clients per video viewer",
    "traffic.background.video_rate": "MB/s of one video stream",
    "traffic.background.http_rate": "MB/s of one HTTP client",
    "traffic.background.attach": "PoPs the clients sit behind",
    "attack.kind": "syn_flood: what the strategy classifies",
    "attack.attackers": "attacking hosts",
    "attack.rate": "MB/s each attacker sends",
    "attack.start": "simulated seconds; before it, legitimate traffic is measured",
    "attack.stop": "simulated seconds (none: to the end)",
    "attack.ports": "ports flooded",
    "attack.attach": "PoPs the attackers sit behind",
    "defence.monitor": "the Link Monitor",
    "defence.monitor.pop": "the PoP whose agent runs it",
    "defence.monitor.link": "the link it watches, by its two ends",
    "defence.monitor.threshold": "MB/s above which the link is over-used: the strategy starts",
    "defence.monitor.hysteresis": "normal again below threshold × this",
    "defence.rate": "share of the traffic a rate limit keeps",
    "defence.split_parts": "parts of a Load Balancer split",
    "defence.serialised": "true: one auction at a time (the dissertation's way)",
    "security.enabled": "false: no wrapping, attestation or keys",
    "security.ledger": "memory (an in-process EVM) or an Ethereum JSON-RPC URL",
    "security.attestation": "mutual attestation during the run",
    "security.attestation.period": "simulated seconds between attestation steps",
    "security.attestation.plan": "PoPs in attestation order ([]: PoP order)",
    "security.attestation.challenge_timeout": "seconds to wait for evidence",
    "security.heartbeat": "simulated seconds between an agent's heartbeats",
    "security.encrypt": "seal every message between agents",
    "security.cipher": "aes-256-gcm or chacha20-poly1305",
    "security.grace": "wall seconds an old key epoch is still accepted",
    "network.engine": "simulator or emulated",
    "network.scale": "emulated: share of the rates that really flows",
}

ORDER = (
    "pops",
    "switches",
    "hosts",
    "links",
    "repository",
    "vnfs",
    "goals",
    "placements",
    "traffic",
    "attack",
    "defence",
    "security",
    "network",
)
"""Sections written, in this order, after id, description and seed; the others are
left out (the starter has none of them)."""
COMMENT_COLUMN = 36
"""Where a field's comment starts."""
WIDTH = 90
"""Width of the header's wrapped text."""


def starter_yaml(scenario: Scenario, origin: str, file: str = "FILE") -> str:
    """`scenario` as commented YAML: a header (`origin` says where the network came from,
    `file` is the name the commands in it use), then each section with what it means and
    what to change. ValueError for a scenario with a section other than those of ORDER
    (`cnfs`, `mtd`, …), which the file would leave out."""
    unwritten = set(type(scenario).model_fields) - {*ORDER, "id", "description", "seed"}
    changed = scenario.model_dump(include=unwritten, exclude_defaults=True)
    if changed:
        raise ValueError(f"starter_yaml writes no {', '.join(sorted(changed))} section")
    data = _tidy(scenario.model_dump(mode="json", exclude_none=True))
    about = textwrap.fill(origin, WIDTH, initial_indent="# ", subsequent_indent="# ")
    lines = HEADER.format(title=_title(scenario), origin=about, file=file).splitlines()
    lines += ["", SECTIONS["id"]]
    lines += [f"{key}: {_flow(data[key])}" for key in ("id", "description", "seed")]
    for section in ORDER:
        value = data.get(section)
        if value in (None, [], {}):
            continue
        lines += ["", SECTIONS[section], *_figures(scenario, section)]
        if isinstance(value, list):
            lines.append(f"{section}:")
            lines += _items(section, value)
        elif section == "repository":
            lines.append(f"{section}: {_flow(value)}")
        else:
            lines.append(f"{section}:")
            lines += _mapping(section, value, "  ")
    return "\n".join(lines) + "\n"


def _tidy(value: Any) -> Any:
    """`value` with whole floats as integers (`cpu: 8`, not `cpu: 8.0`), as people write."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _tidy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_tidy(item) for item in value]
    return value


def _title(scenario: Scenario) -> str:
    pops = len(scenario.pops)
    return f"Scenario {scenario.id}: {pops} PoPs, a DDoS attack and the agents' defence."


def _items(section: str, items: Sequence[Any]) -> list[str]:
    """A list section: one flow mapping per item, goals spread over a few lines."""
    if section != "goals":
        return [f"  - {_flow(item)}" for item in items]
    lines: list[str] = []
    for goal in items:
        lines.append(f"  - name: {goal['name']}")
        for key, value in goal.items():
            if key == "constraints":
                lines.append(f"    {key}: [{', '.join(map(_constraint, value))}]")
            elif key != "name":
                lines.append(f"    {key}: {_flow(value)}")
    return lines


def _constraint(constraint: Mapping[str, Any]) -> str:
    """`{measure: P, op: "<=", value: 8}`: the operator quoted, as people write it."""
    op = constraint["op"]
    return f'{{measure: {constraint["measure"]}, op: "{op}", value: {_flow(constraint["value"])}}}'


def _mapping(path: str, data: Mapping[str, Any], indent: str) -> list[str]:
    """A mapping section, one key a line with its comment; nested mappings indented, an
    empty one (`attack.parameters` of a kind that takes none) left out: it is the default."""
    lines: list[str] = []
    for key, value in data.items():
        where = f"{path}.{key}"
        if value == {}:
            continue
        if isinstance(value, dict):
            lines.append(_commented(f"{indent}{key}:", FIELDS.get(where)))
            lines += _mapping(where, value, indent + "  ")
        else:
            lines.append(_commented(f"{indent}{key}: {_flow(value)}", FIELDS.get(where)))
    return lines


def _commented(text: str, comment: str | None) -> str:
    if not comment:
        return text
    return f"{text.ljust(COMMENT_COLUMN - 1)} # {comment}"


def _flow(value: Any) -> str:
    """One value as flow-style YAML on one line (`{id: pop1, cpu: 8}`, `[8000, 8080]`)."""
    text = yaml.safe_dump(
        value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=math.inf
    )
    return text.strip().removesuffix("...").strip()


def _figures(scenario: Scenario, section: str) -> list[str]:
    """Comment lines with the scenario's own figures for `section`."""
    match section:
        case "attack":
            return _attack_figures(scenario)
        case "traffic" if scenario.traffic is not None:
            legit = _legit_rate(scenario)
            return [f"# The clients send about {legit:.2f} MB/s in all."]
        case "defence" if scenario.defence is not None:
            monitor = scenario.defence.monitor
            return [
                f"# The Link Monitor on {monitor.pop} watches {'–'.join(monitor.link)}: once it"
                f" carries more than {monitor.threshold:g} MB/s",
                "# (threshold), the agents auction linkRateLimited, then the goals that follow.",
                "# Set the threshold above the legitimate load and below the load with the attack.",
            ]
        case _:
            return []


def _attack_figures(scenario: Scenario) -> list[str]:
    attack, defence = scenario.attack, scenario.defence
    if attack is None:
        return []
    total = attack.attackers * attack.rate
    lines = [
        f"# {attack.attackers} attackers × {attack.rate:g} MB/s = {total:g} MB/s, from "
        f"t = {attack.start:g} s."
    ]
    load = monitored_load(scenario)
    if load is None or defence is None:
        return lines
    threshold = defence.monitor.threshold
    side = "above" if load.total > threshold else "BELOW"
    lines += [
        f"# With it on, the monitored link carries about {load.total:.2f} MB/s "
        f"({load.attack:.2f} of it the attack's),",
        f"# {side} the Link Monitor's {threshold:g} MB/s threshold. Fewer attackers or a lower "
        "rate that keep",
        "# it below the threshold go unnoticed: no auction starts (validate warns of it).",
    ]
    return lines


def _legit_rate(scenario: Scenario) -> float:
    """MB/s all clients send (their mean rates)."""
    return sum(flow.rate for flow in scenario_flows(scenario) if not flow.is_attack)

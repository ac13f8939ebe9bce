"""The DDoS resilience strategy of Section 5.4.1 played by hand on the data plane.

No agents or auctions here: each VNF's algorithm runs as soon as its goal appears, which
checks that the simulator and the detectors together tell the story of Figure 5.4.
"""

from __future__ import annotations

from statistics import fmean

import numpy as np
import pytest

from secmas.network.dataplane import (
    DataPlane,
    FlowBlock,
    IpRateLimit,
    LinkOverUsage,
    LinkRateLimit,
    TrafficSplit,
    UsageEvent,
    classify_flows,
    detect_intrusion,
)
from secmas.scenario.ddos import ddos_catalogue
from secmas.scenario.model import Scenario

RECENT = 3


def advance_until_over(plane: DataPlane, monitor: LinkOverUsage, link: tuple[str, str]) -> None:
    while monitor.update(plane.load(*link)) is not UsageEvent.OVER:
        plane.step()


def test_strategy_restores_legit_traffic(ddos_scenario: Scenario) -> None:
    plane = DataPlane(ddos_scenario)
    assert ddos_scenario.defence is not None
    defence = ddos_scenario.defence
    link = defence.monitor.link
    monitor = LinkOverUsage.for_monitor(defence.monitor)
    ip = plane.server_ip

    advance_until_over(plane, monitor, link)
    began = int(plane.now) - monitor.consecutive
    # linkRateLimited(link): keep RATE of the current load.
    link_limit = plane.add_rule(LinkRateLimit(*link, defence.rate * plane.load(*link)))
    plane.run_until(plane.now + 5)
    assert plane.server_series()[-1].legit + plane.server_series()[-1].attack < 3.2

    # ?anomalousUsage(link): the server is the outlier; ipRateLimited(ip), then unlimit link.
    series = plane.destination_rates(link[0])
    outliers = detect_intrusion(
        {dst: fmean(rates[-RECENT:]) for dst, rates in series.items()},
        {dst: rates[:began] for dst, rates in series.items()},
    )
    assert outliers == [ip]
    current = fmean(series[ip][-RECENT:])
    ip_limit = plane.add_rule(IpRateLimit(link[0], ip, defence.rate * current))
    plane.remove_rule(link_limit)

    # flowRecord(ip) is too big for one Classifier: split, classify each part, block.
    plane.add_rule(TrafficSplit(link[0], ip, defence.split_parts))
    plane.run_until(plane.now + 10)
    for part in range(defence.split_parts):
        for stats in classify_flows(plane.flows_via(link[0], ip, part=part)):
            plane.add_rule(FlowBlock(link[0], stats.flow.src_ip, ip))
    plane.remove_rule(ip_limit)
    plane.run_until(plane.now + 5)

    last = plane.server_series()[-1]
    assert last.attack == 0.0
    assert last.legit == pytest.approx(last.offered_legit)
    events = []
    for _ in range(monitor.consecutive):
        plane.step()
        events.append(monitor.update(plane.load(*link)))
    assert events == [None, None, UsageEvent.NORMAL]
    blocked = {rule.src_ip for rule in plane.rules.values() if isinstance(rule, FlowBlock)}
    attackers = {flow.src_ip for flow, attack in plane.ground_truth().items() if attack}
    assert blocked == attackers


def generated(pops: int = 200, hosts: int = 500, attackers: int = 50) -> Scenario:
    """A ring of `pops` PoPs with random chords, the way generated topologies look."""
    rng = np.random.default_rng(1)
    names = [f"p{i}" for i in range(pops)]
    edges = {(i, (i + 1) % pops) for i in range(pops)}
    while len(edges) < pops * 3 // 2:
        a, b = sorted(int(x) for x in rng.choice(pops, 2, replace=False))
        edges.add((a, b))
    links = [
        {
            "a": names[min(a, b)],
            "b": names[max(a, b)],
            "bandwidth": float(rng.uniform(5, 20)),
            "latency": float(rng.uniform(1, 10)),
        }
        for a, b in sorted(edges)
    ]
    links.append({"a": "p0", "b": "server", "bandwidth": 50})
    return Scenario.model_validate(
        {
            "id": "generated",
            "pops": [{"id": p, "cpu": 8, "memory": 16, "disk": 100} for p in names],
            "hosts": [{"id": "server", "attach": "p0"}],
            "links": links,
            "repository": {"attach": "p1"},
            "vnfs": [vnf.model_dump() for vnf in ddos_catalogue()],
            "traffic": {
                "server": "server",
                "background": {"hosts": hosts, "attach": names[100::2]},
            },
            "attack": {"attackers": attackers, "attach": names[50:150:5]},
            "defence": {"monitor": {"pop": "p0", "link": ["p0", "server"], "threshold": 20}},
        }
    )


def test_generated_200_pop_network() -> None:
    scenario = generated()
    plane = DataPlane(scenario)
    plane.run_until(240)
    for link in scenario.links:
        assert plane.rate(link.a, link.b) <= link.bandwidth * (1 + 1e-9)
        assert plane.rate(link.b, link.a) <= link.bandwidth * (1 + 1e-9)
    # Congested on the way, the flood still looks like one: all attackers, nothing else.
    found = {s.flow for s in classify_flows(plane.flows_via("p0", plane.server_ip))}
    assert found == {flow for flow, attack in plane.ground_truth().items() if attack}

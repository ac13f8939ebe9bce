"""Capacity sharing on random small networks: no directed link ever carries more than B."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.network.dataplane import DataPlane, IpRateLimit, LinkRateLimit
from secmas.scenario.ddos import ddos_catalogue
from secmas.scenario.model import Scenario

SLACK = 1e-9


@st.composite
def networks(draw: st.DrawFn) -> dict[str, Any]:
    """A connected network of 2–6 PoPs with random bandwidths, latencies and traffic."""
    n = draw(st.integers(2, 6))
    pops = [f"p{i}" for i in range(n)]
    pairs = {(draw(st.integers(0, i - 1)), i) for i in range(1, n)}  # a random spanning tree
    pairs |= set(draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)))))
    bandwidth = st.floats(0.1, 10.0)
    links = [
        {
            "a": pops[a],
            "b": pops[b],
            "bandwidth": draw(bandwidth),
            "latency": draw(st.sampled_from([0.0, 1.0, 2.5])),
        }
        for a, b in sorted({tuple(sorted(p)) for p in pairs if p[0] != p[1]})
    ]
    server_pop = draw(st.sampled_from(pops))
    links.append({"a": server_pop, "b": "server", "bandwidth": draw(bandwidth)})
    attach = st.lists(st.sampled_from(pops), min_size=1, max_size=3)
    return {
        "id": "random",
        "seed": draw(st.integers(0, 2**16)),
        "pops": [{"id": p, "cpu": 4, "memory": 8, "disk": 40} for p in pops],
        "hosts": [{"id": "server", "attach": server_pop}],
        "links": links,
        "repository": {"attach": pops[0]},
        "vnfs": [vnf.model_dump() for vnf in ddos_catalogue()],
        "traffic": {
            "server": "server",
            "background": {
                "hosts": draw(st.integers(0, 30)),
                "http_per_video": draw(st.integers(0, 5)),
                "video_rate": draw(st.floats(0.0, 3.0)),
                "http_rate": draw(st.floats(0.0, 1.0)),
                "attach": draw(attach),
            },
        },
        "attack": {
            "attackers": draw(st.integers(1, 8)),
            "rate": draw(st.floats(0.1, 5.0)),
            "start": draw(st.sampled_from([0.0, 2.0])),
            "attach": draw(attach),
        },
    }


@settings(max_examples=60, deadline=None)
@given(data=networks(), limits=st.lists(st.tuples(st.integers(0, 20), st.floats(0.0, 5.0))))
def test_no_directed_link_exceeds_its_capacity(
    data: dict[str, Any], limits: list[tuple[int, float]]
) -> None:
    scenario = Scenario.model_validate(data)
    plane = DataPlane(scenario)
    for index, cap in limits:
        link = scenario.links[index % len(scenario.links)]
        plane.add_rule(LinkRateLimit(link.a, link.b, cap))
        plane.add_rule(IpRateLimit(link.b, plane.server_ip, cap * 2))
    for _ in range(4):
        plane.step()
        for link in scenario.links:
            for a, b in ((link.a, link.b), (link.b, link.a)):
                assert plane.rate(a, b) <= link.bandwidth * (1 + SLACK)
        for rule in plane.rules.values():
            if isinstance(rule, LinkRateLimit):
                assert plane.rate(rule.a, rule.b) <= rule.rate * (1 + SLACK) + SLACK
        last = plane.server_series()[-1]
        assert 0 <= last.legit <= last.offered_legit * (1 + SLACK) + SLACK
        assert 0 <= last.attack <= last.offered_attack * (1 + SLACK) + SLACK


@settings(max_examples=30, deadline=None)
@given(data=networks())
def test_uncongested_networks_deliver_everything(data: dict[str, Any]) -> None:
    for link in data["links"]:
        link["bandwidth"] = 1e6
    plane = DataPlane(Scenario.model_validate(data))
    for _ in range(3):
        plane.step()
        last = plane.server_series()[-1]
        assert last.legit + last.attack == pytest.approx(last.offered_legit + last.offered_attack)

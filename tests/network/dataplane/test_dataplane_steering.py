"""Steering (chaining, `003_…` §3): a VNF's PoP sees, and its rules touch, only the traffic
whose path crosses it; a Steer rule brings traffic there, loads the links of its path and
lengthens the flows' latency. Numbers are worked by hand on a network with a spur PoP `d`:

    a ──10── c ──5── server        a–c, b–c: 2 ms; c–server: 1 ms; c–d: 3 ms
    b ──10──┘│
             d  (c–d: 10 MB/s)

Without jitter the two attackers behind `a` offer 2 × 4 = 8 MB/s, the four video clients
behind `b` 4 × 0.5 = 2 MB/s; no flow's route crosses `d`.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secmas.network.dataplane import (
    DataPlane,
    FlowBlock,
    FlowId,
    IpRateLimit,
    Steer,
    TrafficSplit,
    split_part,
)
from secmas.network.dataplane.detectors import classify_flows
from secmas.scenario.ddos import ddos_catalogue
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario

pytestmark = pytest.mark.usefixtures("steady")

ROOT = Path(__file__).resolve().parents[3]
SERVER = "10.0.0.100"
ATTACKER_1 = "10.66.0.1"
LEGIT_1 = "10.1.0.1"


def spur(*, attackers: int = 2, attack_rate: float = 4.0, spur_bandwidth: float = 10) -> Scenario:
    links = [
        ("a", "c", 10, 2.0),
        ("b", "c", 10, 2.0),
        ("c", "server", 5, 1.0),
        ("c", "d", spur_bandwidth, 3.0),
    ]
    return Scenario.model_validate(
        {
            "id": "spur",
            "pops": [{"id": p, "cpu": 4, "memory": 8, "disk": 40} for p in "abcd"],
            "hosts": [{"id": "server", "attach": "c", "ip": SERVER}],
            "links": [{"a": x, "b": y, "bandwidth": bw, "latency": ms} for x, y, bw, ms in links],
            "repository": {"attach": "c"},
            "vnfs": [vnf.model_dump() for vnf in ddos_catalogue()],
            "traffic": {
                "server": "server",
                "background": {
                    "hosts": 4,
                    "http_per_video": 0,
                    "video_rate": 0.5,
                    "attach": ["b"],
                },
            },
            "attack": {
                "attackers": attackers,
                "rate": attack_rate,
                "start": 0,
                "ports": [8000],
                "attach": ["a"],
            },
        }
    )


def delivered(plane: DataPlane) -> tuple[float, float]:
    last = plane.server_series()[-1]
    return last.legit, last.attack


def attacker(index: int) -> FlowId:
    return FlowId(f"10.66.0.{index}", SERVER, 8000)


def legit(index: int) -> FlowId:
    return FlowId(f"10.1.0.{index}", SERVER, 8080)


def test_an_off_path_pop_sees_no_flow_and_its_rule_has_no_effect() -> None:
    plane = DataPlane(spur())
    plane.add_rule(FlowBlock("d", ATTACKER_1, SERVER))
    plane.add_rule(IpRateLimit("d", SERVER, 0.0))
    plane.step()
    assert plane.flows_via("d") == [] and plane.destination_rates("d") == {}
    assert plane.drops == []
    # 10 MB/s into the 5 MB/s server link: every flow keeps half.
    assert delivered(plane) == pytest.approx((1.0, 4.0))


def test_steered_traffic_reaches_the_pop_and_its_rule_acts_there() -> None:
    plane = DataPlane(spur())
    block = plane.add_rule(FlowBlock("d", ATTACKER_1, SERVER))
    plane.add_rule(Steer("c", SERVER, ("c", "d")))
    plane.step()
    assert plane.path(attacker(1)) == ("a", "c", "d", "c", "server")
    assert {s.flow for s in plane.flows_via("d")} == set(plane.ground_truth())
    # attacker 1 dies at d: 4 + 2 MB/s come back over d→c and share the 5 MB/s link.
    assert plane.rate("c", "d") == pytest.approx(10.0)
    assert plane.rate("d", "c") == pytest.approx(6.0)
    assert delivered(plane) == pytest.approx((5 / 3, 10 / 3))
    [drop] = plane.drops
    assert (drop.rule_id, drop.flow, drop.node) == (block, attacker(1), "d")


def test_the_steering_path_carries_the_load_and_its_capacity_binds() -> None:
    plane = DataPlane(spur(spur_bandwidth=4))
    plane.add_rule(Steer("c", SERVER, ("c", "d")))
    plane.step()
    # 10 MB/s offered into the 4 MB/s spur: each flow keeps 40 %, then fits the server link.
    assert plane.rate("c", "d") == pytest.approx(4.0)
    assert plane.rate("d", "c") == pytest.approx(4.0)
    assert delivered(plane) == pytest.approx((0.8, 3.2))


def test_steering_lengthens_the_latency_and_removing_it_restores_the_route() -> None:
    plane = DataPlane(spur())
    plane.step()
    assert plane.latency(legit(1)) == pytest.approx(3.0)  # b–c 2 ms + c–server 1 ms
    assert plane.server_series()[-1].latency == pytest.approx(3.0)
    rule = plane.add_rule(Steer("c", SERVER, ("c", "d")))
    plane.step()
    assert plane.latency(legit(1)) == pytest.approx(9.0)  # and c–d–c: 2 × 3 ms
    assert plane.server_series()[-1].latency == pytest.approx(9.0)
    plane.remove_rule(rule)
    plane.step()
    assert plane.path(legit(1)) == plane.route("b") == ("b", "c", "server")
    assert plane.rate("c", "d") == 0.0
    assert plane.server_series()[-1].latency == pytest.approx(3.0)


def test_traffic_that_crossed_the_pop_already_is_not_steered() -> None:
    """Steering towards `a` sends b's clients round, not a's attackers: they come from a."""
    plane = DataPlane(spur())
    plane.add_rule(Steer("c", SERVER, ("c", "a")))
    plane.step()
    assert plane.path(attacker(1)) == ("a", "c", "server")
    assert plane.path(legit(1)) == ("b", "c", "a", "c", "server")
    assert plane.rate("c", "a") == pytest.approx(2.0)
    assert plane.rate("a", "c") == pytest.approx(10.0)


def test_a_part_steering_moves_only_its_part_of_the_split() -> None:
    plane = DataPlane(spur())
    plane.add_rule(TrafficSplit("c", SERVER, 2))
    plane.add_rule(Steer("c", SERVER, ("c", "d"), part=0))
    plane.step()
    at_d = {s.flow for s in plane.flows_via("d")}
    assert at_d == {flow for flow in plane.ground_truth() if split_part(flow.src_ip, 2) == 0}


def test_a_source_steering_moves_that_source_alone() -> None:
    plane = DataPlane(spur())
    plane.add_rule(Steer("a", SERVER, ("a", "c", "d"), src_ip=ATTACKER_1))
    plane.add_rule(FlowBlock("d", ATTACKER_1, SERVER))
    plane.step()
    assert {s.flow for s in plane.flows_via("d")} == {attacker(1)}
    # the blocked flow loads a→c and c→d only, then dies; 4 + 2 MB/s share the server link
    assert plane.rate("d", "c") == 0.0
    assert delivered(plane) == pytest.approx((5 / 3, 10 / 3))


def test_a_link_met_at_two_distances_is_shared_in_proportion() -> None:
    """Attackers 1–3 (split part 0) are steered over d at c, attacker 4 (part 1) is not,
    so a→c carries flows with 4 and with 2 hops left: 16 MB/s offered into 10."""
    plane = DataPlane(spur(attackers=4, attack_rate=4.0))
    plane.add_rule(TrafficSplit("c", SERVER, 2))
    plane.add_rule(Steer("c", SERVER, ("c", "d"), part=0))
    for _ in range(3):
        plane.step()
        assert plane.rate("a", "c") == pytest.approx(10.0)
    # from the second step on, every attacker gets its 10/16 share: 2.5 MB/s each
    at_c = {s.flow: s.last.rate for s in plane.flows_via("c") if s.flow.src_ip.startswith("10.66")}
    assert at_c == pytest.approx({attacker(i): 2.5 for i in range(1, 5)})


def test_a_limit_met_at_two_distances_shares_its_cap_in_proportion() -> None:
    """Split part 0 (attackers 1–3, client 4) is steered over d at c, so it reaches c's IP
    limit 3 hops from the server, part 1 (attacker 4, clients 1–3) 1 hop away: 4 × 1 +
    4 × 0.5 = 6 MB/s meet the 3 MB/s cap, and every flow keeps half whichever round it
    arrives in (not the first round all of the cap)."""
    plane = DataPlane(spur(attackers=4, attack_rate=1.0))
    plane.add_rule(TrafficSplit("c", SERVER, 2))
    plane.add_rule(Steer("c", SERVER, ("c", "d"), part=0))
    plane.add_rule(IpRateLimit("c", SERVER, 3.0))
    for _ in range(2):
        plane.step()
        assert delivered(plane) == pytest.approx((1.0, 2.0))
    at_server = {s.flow: s.last.rate for s in plane.flows_via("server")}
    offered = {flow: 1.0 if flow.src_ip.startswith("10.66") else 0.5 for flow in at_server}
    assert at_server == pytest.approx({flow: rate / 2 for flow, rate in offered.items()})
    assert plane.rate("c", "d") == pytest.approx(1.75)  # part 0 after the limit


def test_parts_steered_past_the_servers_pop_reach_their_classifiers() -> None:
    """The reference scenario once pop2 is lost: pop5 holds the IP limit and the
    split; part 0 is steered to pop3 over pop5→pop2→pop3, part 1 to pop4 over
    pop5→pop6→pop4, through pop6 where the server attaches. Part 1 reaches pop5 nearer the
    server than part 0 does, yet must get its share of the limit and arrive at pop4 whole:
    pop4's Classifier must see, and flag, every attacker of its part."""
    scenario = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")
    plane = DataPlane(scenario)
    plane.run_until(25)
    plane.add_rule(Steer("pop6", SERVER, ("pop6", "pop5")))
    plane.add_rule(IpRateLimit("pop5", SERVER, 1.53))
    plane.add_rule(TrafficSplit("pop5", SERVER, 2))
    plane.add_rule(Steer("pop5", SERVER, ("pop5", "pop6", "pop4"), part=1))
    plane.add_rule(Steer("pop5", SERVER, ("pop5", "pop2", "pop3"), part=0))
    plane.run_until(35)
    truth = plane.ground_truth()
    part_1 = {s.flow: s for s in plane.flows_via("pop5", SERVER, part=1) if s.last.rate > 0}
    assert all("pop4" in plane.path(flow) for flow in part_1)
    at_pop4 = {s.flow: s for s in plane.flows_via("pop4", SERVER) if s.last.rate > 0}
    assert {flow for flow in at_pop4 if split_part(flow.src_ip, 2) == 1} == set(part_1)
    flagged = {s.flow for s in classify_flows(at_pop4[flow] for flow in part_1)}
    assert flagged == {flow for flow in part_1 if truth[flow]}
    assert len(flagged) == 8  # 4 attackers, 2 ports each


@pytest.mark.parametrize(
    ("steer", "message"),
    [
        (Steer("c", SERVER, ("c", "a", "b")), "no link 'a'→'b'"),
        (Steer("c", SERVER, ("c", "server")), "crosses host 'server'"),
        (Steer("c", SERVER, ("c", "d"), part=0), "0 traffic splits"),
        (Steer("nowhere", SERVER, ("nowhere", "c")), "unknown node"),
    ],
)
def test_a_steering_that_cannot_be_followed_is_refused(steer: Steer, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DataPlane(spur()).add_rule(steer)


def test_a_steering_path_must_start_at_its_node_and_not_loop() -> None:
    with pytest.raises(ValueError, match="must start at"):
        Steer("c", SERVER, ("d", "c"))
    with pytest.raises(ValueError, match="revisit"):
        Steer("c", SERVER, ("c", "d", "c"))


# -- properties on the 6-PoP scenario ---------------------------------------------------------


@st.composite
def steerings(draw: st.DrawFn, scenario: Scenario) -> list[Steer]:
    """Up to four steerings from random PoPs along random simple paths between PoPs."""
    pops = [p.id for p in scenario.pops]
    graph: dict[str, list[str]] = {p: [] for p in pops}
    for link in scenario.links:
        if link.a in graph and link.b in graph:
            graph[link.a].append(link.b)
            graph[link.b].append(link.a)
    found = []
    for _ in range(draw(st.integers(0, 4))):
        path = [draw(st.sampled_from(pops))]
        for _ in range(draw(st.integers(1, 4))):
            options = [n for n in graph[path[-1]] if n not in path]
            if not options:
                break
            path.append(draw(st.sampled_from(options)))
        if len(path) > 1:
            found.append(Steer(path[0], SERVER, tuple(path)))
    return found


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_steering_keeps_paths_whole_and_links_within_capacity(
    ddos_scenario: Scenario, data: st.DataObject
) -> None:
    plane = DataPlane(ddos_scenario)
    for steer in data.draw(steerings(ddos_scenario)):
        plane.add_rule(steer)
    plane.run_until(25)
    links = {(link.a, link.b): link.bandwidth for link in ddos_scenario.links}
    links |= {(b, a): bandwidth for (a, b), bandwidth in links.items()}
    for flow in plane.ground_truth():
        path = plane.path(flow)
        assert path[0] == plane.ingress(flow.src_ip) and path[-1] == "server"
        assert all(hop in links for hop in itertools.pairwise(path))
    for (a, b), bandwidth in links.items():
        assert plane.rate(a, b) <= bandwidth + 1e-9
    last = plane.server_series()[-1]
    assert last.legit <= last.offered_legit + 1e-9 and last.attack <= last.offered_attack + 1e-9

"""The simulator on the 6-PoP DDoS scenario: routes, clients, stats, telemetry and speed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from secmas.network.dataplane import DataPlane, FlowKind, packet_bytes
from secmas.scenario.model import Scenario

SERVER = "10.0.0.100"


def test_a_scenario_without_traffic_is_refused(make_scenario: Callable[..., Scenario]) -> None:
    with pytest.raises(ValueError, match="no traffic section"):
        DataPlane(make_scenario(traffic=None, attack=None, defence=None))


def test_a_network_without_clients_is_quiet(make_scenario: Callable[..., Scenario]) -> None:
    background = {"hosts": 0, "attach": ["pop1"]}
    plane = DataPlane(
        make_scenario(attack=None, traffic={"server": "server", "background": background})
    )
    plane.run_until(3)
    assert plane.server_series()[-1].monitored == 0.0
    assert plane.flows_via("pop6") == []
    assert plane.destination_rates("pop6") == {}


def test_the_window_is_at_least_one_step(ddos_scenario: Scenario) -> None:
    with pytest.raises(ValueError, match="window"):
        DataPlane(ddos_scenario, window=0)


def test_a_client_without_route_is_refused(make_scenario: Callable[..., Scenario]) -> None:
    scenario = make_scenario(
        switches=[{"id": "island"}],
        attack={"attackers": 1, "start": 0, "attach": ["island"]},
    )
    with pytest.raises(ValueError, match="no route from 'island'"):
        DataPlane(scenario)


def test_routes_follow_lowest_latency(make_scenario: Callable[..., Scenario]) -> None:
    plane = DataPlane(make_scenario())
    # pop3 reaches pop6 over pop5 (2 hops, 4 ms); pop2 has two 4 ms routes and takes
    # the one through the PoP listed first.
    assert plane.route("pop3") == ("pop3", "pop5", "pop6", "server")
    assert plane.route("pop2") == ("pop2", "pop1", "pop6", "server")
    assert plane.route("server") == ("server",)


def test_slow_direct_links_are_avoided(make_scenario: Callable[..., Scenario]) -> None:
    scenario = make_scenario()
    links = [link.model_dump() for link in scenario.links]
    for link in links:
        if {link["a"], link["b"]} == {"pop6", "pop1"}:
            link["latency"] = 50.0
    plane = DataPlane(make_scenario(links=links))
    # 51 ms direct; 7 ms over pop2 or pop4 and pop5, pop2 listed first.
    assert plane.route("pop1") == ("pop1", "pop2", "pop5", "pop6", "server")


def test_hosts_carry_no_transit_traffic(make_scenario: Callable[..., Scenario]) -> None:
    scenario = make_scenario()
    hosts = [host.model_dump() for host in scenario.hosts]
    hosts.append({"id": "shortcut", "attach": "pop1"})
    links = [link.model_dump() for link in scenario.links]
    links += [
        {"a": "pop1", "b": "shortcut", "bandwidth": 100, "latency": 0},
        {"a": "shortcut", "b": "pop6", "bandwidth": 100, "latency": 0},
    ]
    plane = DataPlane(make_scenario(hosts=hosts, links=links))
    assert "shortcut" not in plane.route("pop2")


def test_clients_are_spread_with_deterministic_addresses(ddos_scenario: Scenario) -> None:
    truth = DataPlane(ddos_scenario).ground_truth()
    legit = sorted(flow for flow, attack in truth.items() if not attack)
    attack = sorted(flow for flow, attack in truth.items() if attack)
    # 50 clients, one in six video (port 8080): indices 0, 6, …, 48 → 9 video, 41 HTTP.
    assert len(legit) == 50
    assert sum(flow.port == 8080 for flow in legit) == 9
    assert {flow.src_ip for flow in legit} == {f"10.1.0.{i}" for i in range(1, 51)}
    # 8 attackers × 2 ports.
    assert len(attack) == 16
    assert {flow.src_ip for flow in attack} == {f"10.66.0.{i}" for i in range(1, 9)}
    assert {flow.dst_ip for flow in truth} == {SERVER}


def test_round_robin_attachment(ddos_scenario: Scenario) -> None:
    plane = DataPlane(ddos_scenario)
    plane.run_until(21)
    # Attackers 1, 4, 7 sit behind pop1, 2, 5, 8 behind pop2 and 3, 6 behind pop3.
    at_pop3 = {s.flow.src_ip for s in plane.flows_via("pop3") if s.flow.src_ip.startswith("10.66")}
    assert at_pop3 == {"10.66.0.3", "10.66.0.6"}


def test_server_ip_defaults(make_scenario: Callable[..., Scenario]) -> None:
    plane = DataPlane(make_scenario(hosts=[{"id": "server", "attach": "pop6"}]))
    assert plane.server_ip == SERVER


def test_telemetry_tells_the_story_of_figure_5_4(ddos_scenario: Scenario) -> None:
    plane = DataPlane(ddos_scenario)
    plane.run_until(240)
    series = plane.server_series()
    assert [r.t for r in series] == [float(t) for t in range(240)]
    before, during = series[:20], series[20:]
    # Background: 9 × 0.15 + 41 × 0.02 = 2.17 MB/s; attack: 8 × 0.5 = 4 MB/s.
    assert all(r.attack == 0 and 1.8 < r.legit < 2.6 for r in before)
    assert all(3.6 < r.attack < 4.4 for r in during)
    assert sum(r.legit for r in series) / 240 == pytest.approx(2.17, rel=0.03)
    assert all(r.monitored == pytest.approx(r.legit + r.attack) for r in series)


def test_stats_count_what_each_kind_sends(ddos_scenario: Scenario) -> None:
    plane = DataPlane(ddos_scenario, window=5)
    plane.run_until(30)
    stats = {s.flow: s for s in plane.flows_via("pop6", SERVER)}
    assert len(stats) == 66
    for flow, attack in plane.ground_truth().items():
        s = stats[flow]
        assert (s.window.seconds, s.last.seconds, s.total.seconds) == (5.0, 1.0, 30.0)
        if attack:
            assert s.window.packet_size == pytest.approx(packet_bytes("syn_flood"))
            assert s.window.half_open_ratio == 1.0
            assert s.total.rate == pytest.approx(0.25 * 10 / 30, rel=0.05)  # 10 of 30 s
        else:
            assert s.window.half_open == pytest.approx(0.0)
            assert s.total.syn == pytest.approx(s.total.ack)
            video = flow.port == 8080
            size = packet_bytes(FlowKind.VIDEO if video else FlowKind.HTTP)
            assert s.window.packet_size == pytest.approx(size)


def test_link_rates_match_the_flows_on_them(ddos_scenario: Scenario) -> None:
    plane = DataPlane(ddos_scenario)
    plane.run_until(25)
    arriving = sum(s.last.rate for s in plane.flows_via("server"))
    assert plane.rate("pop6", "server") == pytest.approx(arriving)
    assert plane.destination_rates("server")[SERVER][-1] == pytest.approx(arriving)
    assert len(plane.destination_rates("pop6")[SERVER]) == 25


def test_telemetry_records_the_load_of_every_loaded_link(ddos_scenario: Scenario) -> None:
    plane = DataPlane(ddos_scenario)
    plane.run_until(25)
    series = plane.server_series()
    keys = {f"{link.a}~{link.b}" for link in ddos_scenario.links}
    assert all(point.links is not None and set(point.links) <= keys for point in series)
    last = series[-1].links
    assert last is not None
    for link in ddos_scenario.links:
        # the busier direction, to 1 kB/s, as the monitored link's load; an idle link
        # (off every route) is left out
        load = round(plane.load(link.a, link.b), 3)
        assert last.get(f"{link.a}~{link.b}", 0.0) == load
        assert (f"{link.a}~{link.b}" in last) == (load > 0)
    assert all(p.links and p.links["pop6~server"] == round(p.monitored or 0, 3) for p in series)
    assert 0 < len(last) < len(keys) and min(last.values()) > 0


def test_observation_of_quiet_and_unknown_places(
    make_scenario: Callable[..., Scenario],
) -> None:
    links = [link.model_dump() for link in make_scenario().links]
    links.append({"a": "spare", "b": "pop6", "bandwidth": 1})
    plane = DataPlane(make_scenario(switches=[{"id": "spare"}], links=links))
    assert plane.flows_via("pop6") == []  # nothing has been sent yet
    plane.step()
    assert plane.flows_via("pop6", "10.9.9.9") == []
    assert plane.flows_via("spare") == []
    assert plane.destination_rates("spare") == {}
    assert plane.rate("spare", "pop6") == 0.0
    with pytest.raises(KeyError):
        plane.flows_via("nowhere")
    with pytest.raises(KeyError):
        plane.rate("pop1", "pop3")


def test_run_until_stops_at_the_first_step_boundary(
    make_scenario: Callable[..., Scenario],
) -> None:
    scenario = make_scenario()
    traffic = scenario.traffic.model_dump() | {"step": 0.1}  # type: ignore[union-attr]
    plane = DataPlane(make_scenario(traffic=traffic))
    plane.run_until(1.0)
    assert len(plane.server_series()) == 10
    plane.run_until(1.05)
    assert plane.now == pytest.approx(1.1)


def test_six_pops_240_steps(ddos_scenario: Scenario) -> None:
    plane = DataPlane(ddos_scenario)
    plane.run_until(240)
    assert len(plane.server_series()) == 240

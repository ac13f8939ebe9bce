"""CNFs on the data plane: what reaches their host, labels, placements, remedies, and the
application-layer attack flows (HTTP flood, slowloris)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from secmas.network.dataplane import DataPlane, FlowBlock, packet_bytes
from secmas.network.dataplane.cnf import METRICS
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Attack, Scenario

ROOT = Path(__file__).resolve().parents[3]
CNF_ATTACK = load_scenario(ROOT / "scenarios" / "cnf-attack.yaml")
WEB = {"id": "web", "host": "server", "pop": "pop6"}
SERVER = "10.0.0.100"


def column(plane: DataPlane, name: str) -> np.ndarray:
    return plane.cnf_series("web")[:, METRICS.index(name)]


def test_the_reference_run_is_labelled_step_by_step() -> None:
    plane = DataPlane(CNF_ATTACK)
    plane.run_until(300)
    truth = plane.cnf_truth("web")
    expected = ["normal"] * 300
    expected[60:120] = ["http_flood"] * 60
    expected[130:180] = ["high_memory"] * 50
    expected[190:230] = ["high_cpu"] * 40
    expected[250:280] = ["network_latency"] * 30
    assert truth == expected
    cpu, p50 = column(plane, "cpu"), column(plane, "latency_p50")
    rss = column(plane, "memory_rss")
    assert cpu[10:60].max() < 0.6 and cpu[65:120].min() > 1.8
    assert rss[175] > rss[135] + 100  # the leak: about 3 MB a second
    assert cpu[195:230].min() > 1.5
    assert p50[255:280].min() > p50[10:60].max()


def test_samples_follow_the_metric_names(make_scenario: Callable[..., Scenario]) -> None:
    plane = DataPlane(make_scenario(cnfs=[WEB]))
    assert plane.cnf_ids == ("web",)
    with pytest.raises(ValueError, match="no sample"):
        plane.cnf_metrics("web")
    plane.run_until(5)
    series = plane.cnf_series("web")
    assert series.shape == (5, len(METRICS))
    last = plane.cnf_metrics("web")
    assert list(last) == list(METRICS)
    assert list(last.values()) == pytest.approx(series[-1].tolist())
    series[:] = 0.0  # a copy: the plane's history is untouched
    assert plane.cnf_series("web").any()


def test_the_cnf_sees_what_reaches_its_host(make_scenario: Callable[..., Scenario]) -> None:
    # 50 clients: 9 viewers and 41 HTTP clients, three quarters of them requesting.
    plane = DataPlane(make_scenario(attack=None, cnfs=[WEB]))
    plane.run_until(60)
    rx = column(plane, "net_rx")
    legit = [r.legit for r in plane.server_series()]
    assert rx.mean() == pytest.approx(np.mean(legit), rel=0.05)
    assert column(plane, "throughput").mean() == pytest.approx(41 * 0.75, rel=0.1)


def test_a_cnf_changes_nothing_else(make_scenario: Callable[..., Scenario]) -> None:
    planes = [DataPlane(make_scenario()), DataPlane(make_scenario(cnfs=[WEB]))]
    for plane in planes:
        plane.run_until(40)
    assert planes[0].server_series() == planes[1].server_series()
    assert planes[0].flows_via("pop6") == planes[1].flows_via("pop6")
    assert planes[0].cnf_ids == ()


def test_cnf_runs_are_deterministic_for_a_seed(make_scenario: Callable[..., Scenario]) -> None:
    scenario = make_scenario(cnfs=[WEB])
    runs = [DataPlane(scenario, seed) for seed in (3, 3, 4)]
    for plane in runs:
        plane.run_until(30)
    series = [plane.cnf_series("web") for plane in runs]
    assert np.array_equal(series[0], series[1]) and not np.array_equal(series[0], series[2])


def test_the_syn_flood_label_follows_delivery(make_scenario: Callable[..., Scenario]) -> None:
    incidents = [{"kind": "high_memory", "cnf": "web", "start": 10, "stop": 30}]
    plane = DataPlane(make_scenario(cnfs=[WEB], incidents=incidents))
    plane.run_until(25)
    for spec_ip in {flow.src_ip for flow, attack in plane.ground_truth().items() if attack}:
        plane.add_rule(FlowBlock(plane.ingress(spec_ip), spec_ip, SERVER))
    plane.run_until(35)
    truth = plane.cnf_truth("web")
    # The flood (from t = 20) outranks the incident; blocked, the incident shows again.
    assert truth[:10] == ["normal"] * 10
    assert truth[10:20] == ["high_memory"] * 10
    assert truth[20:25] == ["syn_flood"] * 5
    assert truth[25:30] == ["high_memory"] * 5 and truth[30:] == ["normal"] * 5
    connections = column(plane, "connections")
    assert connections[21:25].min() > 1000 > connections[:20].max()


def test_a_cnf_off_every_route_gets_no_traffic(make_scenario: Callable[..., Scenario]) -> None:
    hosts = [{"id": "server", "attach": "pop6", "ip": SERVER}, {"id": "other", "attach": "pop1"}]
    plane = DataPlane(
        make_scenario(hosts=hosts, cnfs=[{"id": "idle", "host": "other", "pop": "pop1"}])
    )
    plane.run_until(5)
    sample = plane.cnf_metrics("idle")
    assert sample["net_rx"] == 0.0 and sample["throughput"] == 0.0
    assert plane.cnf_truth("idle") == ["normal"] * 5


def test_remedies_change_the_placement(make_scenario: Callable[..., Scenario]) -> None:
    plane = DataPlane(make_scenario(cnfs=[{**WEB, "replicas": 2}]))
    plane.run_until(3)
    placement = plane.cnf_placement("web")
    assert (placement.pop, placement.replicas) == ("pop6", ("pop6", "pop6"))
    assert not placement.guarded and placement.isolated == ()
    plane.remedy("web", "scale_out", "pop5")
    plane.remedy("web", "isolate", "pop4")
    plane.remedy("web", "guard", "pop6")
    placement = plane.cnf_placement("web")
    assert placement.replicas == ("pop4", "pop6", "pop5") and placement.pop == "pop4"
    assert placement.guarded and placement.isolated == ("pop6",)
    plane.run_until(5)
    assert column(plane, "memory_rss")[-1] > column(plane, "memory_rss")[2]  # 3 replicas


def test_bad_remedies_name_what_is_wrong(make_scenario: Callable[..., Scenario]) -> None:
    plane = DataPlane(make_scenario(cnfs=[WEB]))
    with pytest.raises(KeyError, match="unknown CNF 'db'"):
        plane.remedy("db", "migrate", "pop1")
    with pytest.raises(KeyError, match="unknown CNF 'db'"):
        plane.cnf_series("db")
    with pytest.raises(ValueError, match="unknown remedy 'restart'"):
        plane.remedy("web", "restart", "pop1")
    with pytest.raises(ValueError, match="unknown PoP 'pop9'"):
        plane.remedy("web", "migrate", "pop9")


# -- application-layer attack flows ---------------------------------------------------------


def attack(kind: str, rate: float, attackers: int = 2) -> dict[str, object]:
    return {
        "kind": kind,
        "attackers": attackers,
        "rate": rate,
        "start": 0,
        "ports": [8000],
        "attach": ["pop1"],
    }


def test_http_flood_flows_complete_every_handshake(
    make_scenario: Callable[..., Scenario],
) -> None:
    plane = DataPlane(make_scenario(attack=attack("http_flood", 0.1), cnfs=[WEB]), window=5)
    plane.run_until(10)
    flood = [s for s in plane.flows_via("pop6", SERVER) if s.flow.src_ip.startswith("10.66.")]
    assert len(flood) == 2
    for stats in flood:
        assert stats.window.packet_size == pytest.approx(packet_bytes("http_flood"))
        assert stats.window.half_open == pytest.approx(0.0)
        # 0.1 MB/s of 800-byte requests: about 131 requests a second.
        assert stats.window.ack / 5 == pytest.approx(0.1 * 1_048_576 / 800, rel=0.15)
    assert sum(plane.ground_truth().values()) == 2
    assert set(plane.cnf_truth("web")) == {"http_flood"}
    assert column(plane, "throughput")[-1] > 200


def test_slowloris_flows_are_a_trickle_of_open_connections(
    make_scenario: Callable[..., Scenario],
) -> None:
    plane = DataPlane(make_scenario(attack=attack("slowloris", 0.005, 3), cnfs=[WEB]))
    plane.run_until(30)
    slow = [s for s in plane.flows_via("pop6", SERVER) if s.flow.src_ip.startswith("10.66.")]
    assert len(slow) == 3
    for stats in slow:
        assert stats.window.packet_size == pytest.approx(packet_bytes("slowloris"))
        assert stats.window.ack == pytest.approx(stats.window.syn)
        assert stats.window.rate < 0.01
    assert set(plane.cnf_truth("web")) == {"slowloris"}
    assert column(plane, "connections")[-1] > 450


def test_extra_attacks_get_their_own_addresses(make_scenario: Callable[..., Scenario]) -> None:
    scenario = make_scenario(cnfs=[WEB])
    extra = [
        Attack.model_validate({**attack("slowloris", 0.005), "start": 30, "stop": 40}),
        Attack.model_validate({**attack("http_flood", 0.1), "start": 50, "stop": 60}),
    ]
    plane = DataPlane(scenario.model_copy(update={"attack": None}), extra_attacks=extra)
    attackers = sorted(flow.src_ip for flow, bad in plane.ground_truth().items() if bad)
    assert attackers == ["10.66.0.1", "10.66.0.2", "10.66.0.3", "10.66.0.4"]
    plane.run_until(70)
    truth = plane.cnf_truth("web")
    assert truth[30:40] == ["slowloris"] * 10 and truth[50:60] == ["http_flood"] * 10
    assert set(truth[:30] + truth[40:50] + truth[60:]) == {"normal"}

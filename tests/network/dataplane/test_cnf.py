"""The CNF resource model: hand-checkable physics, one signature per condition, remedies.

Most tests drive `CNFModel` directly with steady arrivals and the noise switched off
(`CNFParams(noise=0)`), so values can be worked out by hand from the parameters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.network.dataplane.cnf import (
    METRICS,
    Arrivals,
    CNFModel,
    CNFParams,
    known_conditions,
)
from secmas.network.incident import ended_by
from secmas.scenario.model import CNF, Incident

QUIET = CNFParams(noise=0.0)
SPEC = CNF(id="web", host="server", pop="p1")
NORMAL = Arrivals(requests=30.0, streams=8.0, rx=2.0)
POPS = ("p1", "p2", "p3")


def model(
    incidents: list[dict[str, Any]] | None = None,
    *,
    params: CNFParams = QUIET,
    seed: int = 0,
    **spec: Any,
) -> CNFModel:
    cnf = SPEC.model_copy(update=spec)
    found = [Incident.model_validate({"cnf": "web", **i}) for i in incidents or []]
    return CNFModel(cnf, found, pops=POPS, seed=seed, params=params)


def run(cnf: CNFModel, arrivals: Arrivals, steps: int, start: float = 0.0) -> np.ndarray:
    """Samples of `steps` one-second steps from `start`, [steps, len(METRICS)]."""
    return np.array([cnf.sample(start + k, 1.0, arrivals) for k in range(steps)])


def m(rows: np.ndarray, name: str) -> np.ndarray:
    return rows[..., METRICS.index(name)]


def steady(arrivals: Arrivals, **kw: Any) -> dict[str, float]:
    """The metrics after 30 s of the same arrivals."""
    rows = run(model(**kw), arrivals, 30)
    return {name: float(value) for name, value in zip(METRICS, rows[-1], strict=True)}


def test_the_names_agree_with_the_contract() -> None:
    assert len(METRICS) == 14 and METRICS[0] == "cpu" and METRICS[-1] == "connections"
    assert known_conditions()[0] == "normal" and "disk_storm" in known_conditions()
    assert ended_by("migrate") == {"high_cpu", "high_memory", "network_latency"}
    assert ended_by("isolate") == ended_by("migrate") | {"disk_storm"}


# -- load and saturation -------------------------------------------------------------------


def test_cpu_is_the_base_plus_the_cost_of_each_request() -> None:
    p = QUIET
    for rate in (0.0, 50.0, 100.0, 200.0):
        cpu = steady(Arrivals(requests=rate))["cpu"]
        assert cpu == pytest.approx(p.base_cpu + rate * p.request_cpu)


def test_cpu_saturates_at_cores_times_replicas_and_a_backlog_builds() -> None:
    p = QUIET
    capacity = (2.0 - p.base_cpu) / p.request_cpu  # 390 requests/s
    below = steady(Arrivals(requests=300.0))
    above = steady(Arrivals(requests=800.0))
    far = steady(Arrivals(requests=1600.0))
    assert above["cpu"] == far["cpu"] == pytest.approx(2.0)
    assert above["throughput"] == pytest.approx(capacity) == far["throughput"]
    assert below["throughput"] == pytest.approx(300.0)
    assert below["error_rate"] == pytest.approx(p.base_error)
    assert above["error_rate"] > 0.3 and far["error_rate"] > above["error_rate"]
    assert above["latency_p50"] > 10 * below["latency_p50"]
    assert above["load"] > above["cpu"] + 1.0  # runnable work waits for a core
    doubled = steady(Arrivals(requests=1600.0), replicas=2)
    assert doubled["cpu"] == pytest.approx(4.0)


def test_latency_quantiles_are_ordered_and_grow_with_utilisation() -> None:
    light, busy = steady(Arrivals(requests=50.0)), steady(Arrivals(requests=350.0))
    for sample in (light, busy):
        assert sample["latency_p50"] < sample["latency_p90"] < sample["latency_p99"]
    assert busy["latency_p50"] > 2 * light["latency_p50"]


@settings(max_examples=40)
@given(
    requests=st.floats(0, 5000),
    streams=st.floats(0, 50),
    half_open=st.floats(0, 1e5),
    slow=st.floats(0, 200),
    replicas=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_every_sample_stays_in_range(
    requests: float, streams: float, half_open: float, slow: float, replicas: int, seed: int
) -> None:
    cnf = model(params=CNFParams(), seed=seed, replicas=replicas)
    arrivals = Arrivals(requests, streams, requests * 0.0008 + streams * 0.15, half_open, slow)
    rows = run(cnf, arrivals, 15)
    assert np.isfinite(rows).all() and (rows >= 0).all()
    assert (m(rows, "cpu") <= 2.0 * replicas + 1e-9).all()
    assert (m(rows, "error_rate") <= 1.0).all()


def test_a_seed_fixes_the_noise() -> None:
    rows = [run(model(params=CNFParams(), seed=s), NORMAL, 20) for s in (4, 4, 5)]
    assert np.array_equal(rows[0], rows[1]) and not np.array_equal(rows[0], rows[2])
    cpu = m(rows[0], "cpu")
    assert 0.0 < cpu.std() < 0.1 * cpu.mean()


# -- attacks -------------------------------------------------------------------------------


def test_an_http_flood_saturates_the_cores_with_requests() -> None:
    normal = steady(NORMAL)
    flood = steady(Arrivals(requests=550.0, streams=8.0, rx=2.4))
    assert flood["cpu"] == pytest.approx(2.0) and normal["cpu"] < 0.5
    assert flood["throughput"] > 5 * normal["throughput"]
    assert flood["net_tx"] > normal["net_tx"] + 2.0
    assert flood["latency_p50"] > 10 * normal["latency_p50"]
    assert flood["error_rate"] > 0.2


def test_slowloris_fills_the_connections_with_little_cpu() -> None:
    normal = steady(NORMAL)
    cnf = model()
    rows = run(cnf, Arrivals(requests=30.0, streams=8.0, rx=2.01, slow=50.0), 30)
    assert m(rows, "connections")[5] < m(rows, "connections")[10]  # it builds up
    last = dict(zip(METRICS, rows[-1], strict=True))
    assert last["connections"] > 0.9 * 512
    assert last["cpu"] < normal["cpu"] + 0.1
    assert last["error_rate"] > 0.5 and last["throughput"] < 0.5 * normal["throughput"]
    assert last["latency_p50"] > 100 * normal["latency_p50"]


def test_a_guard_cuts_the_held_connections() -> None:
    cnf = model()
    attack = Arrivals(requests=30.0, streams=8.0, rx=2.01, slow=50.0)
    run(cnf, attack, 30)
    cnf.remedy("guard", "p2", 30.0)
    after = run(cnf, attack, 5, start=30.0)[-1]
    assert m(after, "connections") < 100 and m(after, "error_rate") < 0.01
    assert cnf.placement.guarded


def test_slowloris_connections_time_out_once_it_stops() -> None:
    cnf = model()
    run(cnf, Arrivals(requests=30.0, streams=8.0, rx=2.0, slow=50.0), 30)
    after = run(cnf, NORMAL, 10, start=30.0)
    assert m(after, "connections")[-1] < 60


def test_a_syn_flood_fills_the_backlog_and_delays_the_tail() -> None:
    p = QUIET
    normal = steady(NORMAL)
    flood = steady(Arrivals(requests=30.0, streams=8.0, rx=6.0, half_open=60_000.0))
    assert flood["connections"] >= p.syn_backlog
    assert flood["latency_p99"] > normal["latency_p99"] + 0.9 * p.rto_ms
    assert flood["latency_p50"] == pytest.approx(normal["latency_p50"], rel=0.05)
    assert normal["cpu"] + 0.2 < flood["cpu"] < 1.0  # kernel work: mild
    assert flood["net_tx"] > normal["net_tx"] + 3.0  # one SYN-ACK per SYN


# -- microservice anomalies ----------------------------------------------------------------


def test_high_cpu_takes_the_cores_but_not_the_throughput() -> None:
    normal = run(model(), NORMAL, 20)
    hog = run(model([{"kind": "high_cpu", "start": 0}]), NORMAL, 20)
    assert (m(hog, "cpu") > 1.9).all() and (m(normal, "cpu") < 0.5).all()
    assert m(hog, "throughput") == pytest.approx(m(normal, "throughput"))
    assert (m(hog, "latency_p50") > 1.3 * m(normal, "latency_p50")).all()
    assert (m(hog, "load") > 2.0).all()


def test_high_memory_grows_steadily_and_restarts_at_the_limit() -> None:
    p = QUIET
    rows = run(model([{"kind": "high_memory", "start": 0}]), NORMAL, 400)
    rss = m(rows, "memory_rss")
    assert rss[60] - rss[0] == pytest.approx(60 * p.leak_mb, rel=0.02)
    assert m(rows, "memory_vsize")[60] - m(rows, "memory_vsize")[0] > 60 * p.leak_mb
    crash = int(np.argmax(np.diff(rss) < -100)) + 1
    assert 0 < crash < 400 and rss[crash - 1] > p.memory_limit - 100
    assert m(rows, "error_rate")[crash] > 0.3
    assert (rss < p.memory_limit + 100).all()


def test_a_traffic_spike_multiplies_the_load_by_two_to_four() -> None:
    normal = steady(NORMAL)
    for seed in range(5):
        spike = steady(NORMAL, incidents=[{"kind": "traffic_spike", "start": 0}], seed=seed)
        assert 2.0 <= spike["throughput"] / normal["throughput"] <= 4.0
        assert 2.0 <= spike["net_rx"] / normal["net_rx"] <= 4.0


def test_a_load_step_rises_every_ten_seconds() -> None:
    rows = run(model([{"kind": "load_step", "start": 5, "stop": 65}]), NORMAL, 70)
    rate = m(rows, "throughput")
    assert rate[:5] == pytest.approx(30.0)
    assert [round(rate[5 + 10 * k] / 30, 2) for k in range(6)] == [1.5, 2, 2.5, 3, 3.5, 4]
    assert rate[66] == pytest.approx(30.0, rel=0.2)  # the backlog is gone a step later


def test_network_latency_adds_delay_and_nothing_else() -> None:
    p = QUIET
    normal = steady(NORMAL)
    slow = steady(NORMAL, incidents=[{"kind": "network_latency", "start": 0, "magnitude": 2}])
    assert slow["latency_p50"] - normal["latency_p50"] == pytest.approx(2 * p.delay_ms)
    assert slow["latency_p99"] - normal["latency_p99"] > slow["latency_p50"] - normal["latency_p50"]
    assert slow["cpu"] == pytest.approx(normal["cpu"])
    assert slow["throughput"] == pytest.approx(normal["throughput"])


def test_a_disk_storm_is_heavy_io_and_blocked_tasks() -> None:
    normal = steady(NORMAL)
    storm = steady(NORMAL, incidents=[{"kind": "disk_storm", "start": 0}])
    assert storm["disk_read"] > 30 and storm["disk_write"] > 20
    assert normal["disk_read"] < 1 and normal["disk_write"] < 1
    assert storm["load"] > storm["cpu"] + 1.5
    assert storm["throughput"] == pytest.approx(normal["throughput"])


def test_incidents_end_at_their_stop() -> None:
    cnf = model([{"kind": "high_cpu", "start": 2, "stop": 4}])
    assert [bool(cnf.active(t)) for t in range(6)] == [False, False, True, True, False, False]


# -- remedies ------------------------------------------------------------------------------


def test_scaling_out_shares_the_load() -> None:
    cnf = model()
    heavy = Arrivals(requests=350.0, streams=8.0, rx=2.3)
    before = run(cnf, heavy, 20)[-1]
    cnf.remedy("scale_out", "p2", 20.0)
    after = run(cnf, heavy, 5, start=20.0)[-1]
    assert m(after, "cpu") / 2 < 0.6 * m(before, "cpu")
    assert m(after, "latency_p50") < m(before, "latency_p50")
    assert cnf.placement.replicas == ("p1", "p2") and cnf.placement.pop == "p1"


def test_scaling_out_adds_capacity_under_a_flood() -> None:
    cnf = model()
    flood = Arrivals(requests=600.0)
    before = run(cnf, flood, 20)[-1]
    cnf.remedy("scale_out", "p1", 20.0)
    after = run(cnf, flood, 10, start=20.0)[-1]
    assert m(before, "error_rate") > 0.3 and m(after, "error_rate") < 0.01
    assert m(after, "throughput") == pytest.approx(600.0)


def test_migration_ends_a_memory_leak_after_a_short_cold_start() -> None:
    p = QUIET
    cnf = model([{"kind": "high_memory", "start": 0}])
    leaking = run(cnf, NORMAL, 40)
    cnf.remedy("migrate", "p2", 40.0)
    assert cnf.active(40.0) == [] and cnf.placement.pop == "p2"
    after = run(cnf, NORMAL, 20, start=40.0)
    rss = m(after, "memory_rss")
    assert m(leaking, "memory_rss")[-1] > rss[0]
    assert rss[0] < p.base_rss and m(after, "disk_read")[0] > 5.0  # cold start
    assert m(after, "error_rate")[0] > 0.05
    assert rss[-1] == pytest.approx(m(leaking, "memory_rss")[0], rel=0.05)
    assert m(after, "disk_read")[-1] < 1.0


@pytest.mark.parametrize("kind", sorted(ended_by("isolate")))
def test_migration_and_isolation_end_what_is_bound_to_the_instance(kind: str) -> None:
    for remedy in ("migrate", "isolate"):
        ends = ended_by(remedy)
        cnf = model([{"kind": kind, "start": 0}])
        run(cnf, NORMAL, 5)
        cnf.remedy(remedy, "p3", 5.0)
        assert bool(cnf.active(6.0)) == (kind not in ends)
    assert cnf.placement.isolated == ("p1",) and cnf.placement.pop == "p3"


def test_remedies_leave_load_incidents_and_later_incidents_alone() -> None:
    cnf = model([{"kind": "traffic_spike", "start": 0}, {"kind": "high_cpu", "start": 50}])
    cnf.remedy("isolate", "p2", 10.0)
    assert [i.kind for i in cnf.active(10.0)] == ["traffic_spike"]
    assert [i.kind for i in cnf.active(50.0)] == ["traffic_spike", "high_cpu"]


def test_unknown_remedies_and_pops_are_refused() -> None:
    cnf = model()
    with pytest.raises(ValueError, match="unknown remedy 'reboot'"):
        cnf.remedy("reboot", "p1", 0.0)
    with pytest.raises(ValueError, match="unknown PoP 'p9'"):
        cnf.remedy("migrate", "p9", 0.0)


def test_the_spike_factor_scales_with_magnitude() -> None:
    base = steady(NORMAL)["throughput"]
    half = steady(NORMAL, incidents=[{"kind": "traffic_spike", "start": 0, "magnitude": 0.5}])
    assert 1.0 <= half["throughput"] / base <= 2.0
    assert math.isclose(steady(NORMAL)["throughput"], base)


def test_live_migration_moves_warm_and_fails_requests_only_for_its_downtime() -> None:
    cnf = model([{"kind": "high_memory", "start": 0}])
    before = run(cnf, NORMAL, 20)
    cnf.remedy("live_migrate", "p2", 20.0, downtime=2.5)
    assert cnf.placement.pop == "p2" and [i.kind for i in cnf.active(20.0)] == ["high_memory"]
    after = run(cnf, NORMAL, 6, start=20.0)
    errors = m(after, "error_rate")
    assert errors[0] > 0.95 and errors[1] > 0.95  # two whole seconds down
    assert 0.4 < errors[2] < 0.6  # half of the third
    assert errors[3] < 0.01 and errors[5] < 0.01
    assert m(after, "memory_rss")[0] >= m(before, "memory_rss")[-1]  # memory came along
    assert m(after, "disk_read")[0] < 1.0  # no cold start


@pytest.mark.parametrize("downtime", [-1.0, math.inf, math.nan])
def test_live_migration_refuses_a_bad_downtime(downtime: float) -> None:
    with pytest.raises(ValueError, match="downtime"):
        model().remedy("live_migrate", "p2", 0.0, downtime=downtime)

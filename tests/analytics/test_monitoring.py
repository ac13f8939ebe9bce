"""The Monitoring Service: Prometheus exposition, a live endpoint, CSV datasets."""

from __future__ import annotations

import urllib.request

import pytest

from secmas.analytics.csvdata import read_series
from secmas.analytics.monitoring import MetricsCollector
from secmas.network.dataplane.cnf import METRICS


def sample(scale: float = 1.0) -> dict[str, float]:
    return {name: scale * (index + 1) for index, name in enumerate(METRICS)}


def test_exposition_has_every_metric_with_its_labels():
    collector = MetricsCollector()
    collector.record_cnf(1.0, "web", "pop6", sample())
    collector.record_pop("pop6", (1.0, 2.0, 10.0), (2.0, 4.0, 50.0))
    collector.record_trust("pop6", 0.75)
    collector.record_alert("web")
    text = collector.exposition().decode()
    assert 'secmas_cnf_cpu_cores{cnf="web",pop="pop6"} 1.0' in text
    assert 'secmas_cnf_connections_connections{cnf="web",pop="pop6"} 14.0' in text
    assert 'secmas_pop_allocated_ratio{pop="pop6",resource="disk"} 0.2' in text
    assert 'secmas_agent_trust_score{agent="pop6"} 0.75' in text
    assert 'secmas_alerts_total{cnf="web"} 1.0' in text
    assert "secmas_simulated_seconds 1.0" in text


def test_a_moved_cnf_is_exposed_under_its_new_pop_only():
    collector = MetricsCollector()
    collector.record_cnf(1.0, "web", "pop6", sample())
    collector.record_cnf(2.0, "web", "pop5", sample(2.0))
    text = collector.exposition().decode()
    assert 'cnf="web",pop="pop5"' in text
    assert 'cnf="web",pop="pop6"' not in text


def test_endpoint_serves_the_exposition_while_live():
    collector = MetricsCollector()
    collector.record_cnf(3.0, "web", "pop6", sample())
    exporter = collector.serve(0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{exporter.port}/metrics", timeout=5) as r:
            body = r.read().decode()
    finally:
        exporter.close()
    assert 'secmas_cnf_throughput_requests_per_second{cnf="web",pop="pop6"} 12.0' in body


def test_csv_dataset_reads_back_as_a_series(tmp_path):
    collector = MetricsCollector()
    for t in range(5):
        collector.record_cnf(float(t), "web", "pop6", sample(t + 1.0))
    path = collector.write_csv(tmp_path / "web.csv", "web")
    features, values, timestamps, _ = read_series(path)
    assert features == METRICS
    assert values.shape == (5, len(METRICS))
    assert values[4, 0] == pytest.approx(5.0)
    assert timestamps is not None and len(timestamps) == 5


def test_incomplete_sample_and_unknown_cnf_are_refused():
    collector = MetricsCollector()
    with pytest.raises(ValueError, match="lacks latency_p50"):
        collector.record_cnf(0.0, "web", "pop6", {k: 0.0 for k in METRICS if k != "latency_p50"})
    with pytest.raises(KeyError, match="no metrics recorded for CNF 'db'"):
        collector.series("db")

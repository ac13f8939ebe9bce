"""The Prometheus query path: a real Prometheus scraping a tiny exporter, then the
parsers on hand-written answers."""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from secmas.analytics.prometheus import (
    PrometheusClient,
    PrometheusError,
    parse_matrix,
    parse_vector,
)
from secmas.analytics.promserver import PrometheusServer, scrape_config
from secmas.listenport import free_port

needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None and not Path("/usr/bin/prometheus").exists(),
    reason="Debian package prometheus not installed",
)


@needs_prometheus
def test_query_range_reads_what_the_exporter_served(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    level = Gauge("probe_level", "a constant", registry=registry)
    ticks = Counter("probe_ticks", "grows by 10 per scrape", registry=registry)
    level.set(42.5)
    server, thread = start_http_server(0, "127.0.0.1", registry=registry)
    prometheus = PrometheusServer(tmp_path / "prom", [f"127.0.0.1:{server.server_address[1]}"], 0.2)
    try:
        client = prometheus.start()
        deadline = time.time() + 15
        while time.time() < deadline:  # until a whole second of scrapes is stored
            ticks.inc(10)
            end = time.time()
            series = client.query_range("probe_level", end - 1.0, end, 0.2)
            if series and len(series[0].values) >= 5:
                break
            time.sleep(0.1)
        assert len(series) == 1
        assert series[0].labels["__name__"] == "probe_level"
        assert series[0].labels["job"] == "cnf"
        assert len(series[0].values) >= 5
        assert set(series[0].values.tolist()) == {42.5}
        steps = np.diff(series[0].times)
        assert steps == pytest.approx(np.full(len(steps), 0.2))
        growth = client.query_range("rate(probe_ticks_total[1s])", end - 0.6, end, 0.2)
        assert len(growth) == 1 and all(v > 0 for v in growth[0].values)
        assert client.query_range("no_such_metric", end - 1, end, 0.5) == []
        with pytest.raises(PrometheusError, match="bad_data"):
            client.query_range("rate(probe_level[", end - 1, end, 0.5)
    finally:
        prometheus.stop()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert prometheus.process is None
    assert (tmp_path / "prom" / "prometheus.yml").exists()


def test_unreachable_prometheus_is_a_clear_error() -> None:
    client = PrometheusClient(f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(PrometheusError, match="cannot reach Prometheus"):
        client.query("up")
    assert not client.ready()


def test_not_a_url() -> None:
    with pytest.raises(PrometheusError, match="not an http"):
        PrometheusClient("localhost:9090")


def test_matrix_with_nan_and_labels() -> None:
    payload = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"__name__": "x", "code": "2xx"},
                    "values": [[100, "1.5"], [101.5, "NaN"], [103, "+Inf"]],
                }
            ],
        },
    }
    (series,) = parse_matrix(payload, "x")
    assert series.labels == {"__name__": "x", "code": "2xx"}
    assert series.times.tolist() == [100.0, 101.5, 103.0]
    assert series.values[0] == 1.5 and math.isnan(series.values[1]) and series.values[2] == math.inf


def test_vector() -> None:
    payload = {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [7, "3"]}]},
    }
    assert parse_vector(payload, "q")[0].value == 3.0


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "not a JSON object"),
        ({"status": "error", "errorType": "bad_data", "error": "parse error"}, "bad_data: parse"),
        (
            {"status": "success", "data": {"resultType": "vector", "result": []}},
            "expected a matrix",
        ),
        ({"status": "success", "data": {"resultType": "matrix", "result": {}}}, "not a list"),
        (
            {"status": "success", "data": {"resultType": "matrix", "result": [{"values": []}]}},
            "no label set",
        ),
        (
            {
                "status": "success",
                "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, 2]]}]},
            },
            "not \\[time",
        ),
        (
            {
                "status": "success",
                "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "x"]]}]},
            },
            "not a number",
        ),
    ],
)
def test_bad_answers(payload: object, message: str) -> None:
    with pytest.raises(PrometheusError, match=message):
        parse_matrix(payload, "q")


def test_scrape_config() -> None:
    text = scrape_config(["127.0.0.1:9100", "127.0.0.1:9101"], 0.5)
    assert "scrape_interval: 500ms" in text and "scrape_timeout: 500ms" in text
    assert 'targets: ["127.0.0.1:9100", "127.0.0.1:9101"]' in text

"""Reading the CNF's telemetry back from a real Prometheus (secmas.analytics.cnftelemetry)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from secmas.analytics.cnftelemetry import MAX_POINTS, CNFTelemetry
from secmas.analytics.promserver import PrometheusServer


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian package prometheus")
def test_a_span_longer_than_one_range_query_is_read_in_pieces(tmp_path: Path) -> None:
    """Prometheus refuses a range query of more than 11,000 points; hours of recording at
    0.5 s hold more, so the reader splits the span, and gets every step."""
    registry = CollectorRegistry()
    Gauge("secmas_cnf_connections", "open connections", registry=registry).set(3)
    server, thread = start_http_server(0, "127.0.0.1", registry=registry)
    prometheus = PrometheusServer(tmp_path / "prom", [f"127.0.0.1:{server.server_address[1]}"], 0.2)
    try:
        telemetry = CNFTelemetry(prometheus.start(), 0.2)
        deadline = time.time() + 15
        while time.time() < deadline:  # until a second of scrapes is stored
            if (~telemetry.read(time.time() - 1.0, time.time()).stale).sum() >= 4:
                break
            time.sleep(0.1)
        end = time.time()
        start = end - 0.2 * (MAX_POINTS + 2_000)
        frame = telemetry.read(start, end)
        assert len(frame.times) > 11_000
        assert (~frame.stale).sum() >= 4  # the scrapes at the end are there
        assert frame.stale[1:MAX_POINTS].all()  # before the exporter existed: nothing
    finally:
        prometheus.stop()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

"""Fixtures of the analytics tests: a real Prometheus scraping a real exporter."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from http.server import HTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from secmas.analytics.cnftelemetry import CNFTelemetry
from secmas.analytics.promserver import PrometheusServer

SCRAPE_S = 0.2


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[tuple[CNFTelemetry, HTTPServer]]:
    """The CNF's telemetry read from a real Prometheus that scrapes a real exporter (one
    gauge, `secmas_cnf_connections` = 3) every 0.2 s, once a second of scrapes is stored;
    the exporter's server, which a test may shut down."""
    if shutil.which("prometheus") is None:
        pytest.skip("Debian package prometheus")
    registry = CollectorRegistry()
    Gauge("secmas_cnf_connections", "open connections", registry=registry).set(3)
    server, thread = start_http_server(0, "127.0.0.1", registry=registry)
    target = f"127.0.0.1:{server.server_address[1]}"
    prometheus = PrometheusServer(tmp_path / "prom", [target], SCRAPE_S)
    try:
        telemetry = CNFTelemetry(prometheus.start(), SCRAPE_S)
        deadline = time.time() + 15
        while time.time() < deadline:  # until a second of scrapes is stored
            frame = telemetry.read(time.time() - 1.0, time.time())
            if (~frame.stale).sum() >= 4:
                break
            time.sleep(0.1)
        assert (~frame.stale).sum() >= 4  # fresh scrapes every 0.2 s
        yield telemetry, server
    finally:
        prometheus.stop()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

"""Reading the CNF's telemetry back from a real Prometheus (secmas.analytics.cnftelemetry)."""

from __future__ import annotations

import time
from http.server import HTTPServer

from secmas.analytics.cnftelemetry import MAX_POINTS, CNFTelemetry


def test_a_span_longer_than_one_range_query_is_read_in_pieces(
    scraped: tuple[CNFTelemetry, HTTPServer],
) -> None:
    """Prometheus refuses a range query of more than 11,000 points; hours of recording at
    0.5 s hold more, so the reader splits the span, and gets every step."""
    telemetry, _ = scraped
    end = time.time()
    start = end - 0.2 * (MAX_POINTS + 2_000)
    frame = telemetry.read(start, end)
    assert len(frame.times) > 11_000
    assert (~frame.stale).sum() >= 4  # the scrapes at the end are there
    assert frame.stale[1:MAX_POINTS].all()  # before the exporter existed: nothing

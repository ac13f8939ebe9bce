"""The Monitoring Service of the emulated CNF: its metrics, read through Prometheus.

`002_…` (Section IV): a Metrics Collector pulls CNF and server metrics from Prometheus'
API and hands the Analytics Service either the last x steps (live) or a whole series
(datasets). Each of the fourteen metrics of the simulated CNF (`network.dataplane.cnf
.METRICS`, same names and units, so recordings and simulated datasets share columns) is
one PromQL expression over the exporter's real counters (`network.emulation.cnfexporter`),
read with `query_range` on one time grid.

A quantile or ratio over no requests is NaN in PromQL; here it is 0 (no request was
slow, none failed). A metric absent at a step takes the value of the step before it
(the first scrapes: the first value there is); a metric never present is 0.

Prometheus repeats a series' last sample for up to five minutes when scrapes stop, so
every frame also says which rows are stale (`MetricFrame.stale`): those whose samples
come from no newer scrape than the row before (`SCRAPE_QUERY`, `freshness.stale_rows`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from secmas.analytics.freshness import stale_rows
from secmas.analytics.prometheus import PrometheusClient, PrometheusError
from secmas.network.dataplane.cnf import METRICS

MB = 1048576
SCRAPE_QUERY = "timestamp(secmas_cnf_connections)"
"""When each step's samples were scraped (a gauge of the exporter's, Unix s)."""


def metric_queries(interval: float) -> dict[str, str]:
    """PromQL per metric, for a scrape interval of `interval` seconds (pure)."""
    span = f"{max(2, math.ceil(4 * interval))}s"
    bucket = f"secmas_cnf_request_duration_seconds_bucket[{span}]"
    requests = f"secmas_cnf_requests_total[{span}]"
    errors = f'sum(rate(secmas_cnf_requests_total{{code=~"4xx|5xx"}}[{span}]))'

    def quantile(q: float) -> str:
        return f"histogram_quantile({q}, sum by (le) (rate({bucket}))) * 1000"

    return {
        "cpu": f"irate(secmas_cnf_cpu_seconds_total[{span}])",
        "load": "secmas_cnf_runnable_processes",
        "memory_rss": f"secmas_cnf_memory_rss_bytes / {MB}",
        "memory_vsize": f"secmas_cnf_memory_vsize_bytes / {MB}",
        "disk_read": f"irate(secmas_cnf_disk_read_bytes_total[{span}]) / {MB}",
        "disk_write": f"irate(secmas_cnf_disk_written_bytes_total[{span}]) / {MB}",
        "net_rx": f"irate(secmas_cnf_network_receive_bytes_total[{span}]) / {MB}",
        "net_tx": f"irate(secmas_cnf_network_transmit_bytes_total[{span}]) / {MB}",
        "latency_p50": quantile(0.5),
        "latency_p90": quantile(0.9),
        "latency_p99": quantile(0.99),
        "throughput": f'sum(irate(secmas_cnf_requests_total{{code=~"2xx|3xx"}}[{span}]))',
        "error_rate": f"{errors} / sum(rate({requests}))",
        "connections": "secmas_cnf_connections",
    }


@dataclass(frozen=True)
class MetricFrame:
    """Metrics on a time grid: times [T] (Unix s), values [T, len(METRICS)], and whether
    each row is stale (a repeat of an older scrape, not a measurement)."""

    times: np.ndarray
    values: np.ndarray
    stale: np.ndarray
    features: tuple[str, ...] = METRICS

    def fresh(self) -> MetricFrame:
        """The frame without its stale rows."""
        keep = ~self.stale
        return MetricFrame(self.times[keep], self.values[keep], self.stale[keep], self.features)


def grid(start: float, end: float, step: float) -> np.ndarray:
    """The evaluation times Prometheus uses for a range query (pure)."""
    count = math.floor((end - start) / step + 1e-9) + 1
    return start + step * np.arange(max(count, 0))


def align(times: np.ndarray, points: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per metric, its points placed on `times` (pure): a NaN value is 0, a missing step
    takes the first present value before it (or, before any, the first one at all)."""
    values = np.full((len(times), len(points)), np.nan)
    for column, (at, got) in enumerate(points):
        index = np.searchsorted(times, at - 1e-6)
        keep = (index < len(times)) & (np.abs(times[np.minimum(index, len(times) - 1)] - at) < 1e-3)
        values[index[keep], column] = np.nan_to_num(got[keep], nan=0.0, posinf=0.0, neginf=0.0)
    for column in range(values.shape[1]):
        series = values[:, column]
        present = np.flatnonzero(~np.isnan(series))
        if present.size:
            series[: present[0]] = series[present[0]]
            for row in range(present[0] + 1, len(series)):
                if np.isnan(series[row]):
                    series[row] = series[row - 1]
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)


MAX_POINTS = 10_000
"""Steps one range query reads (Prometheus answers at most 11,000 points a series)."""


class CNFTelemetry:
    """Reads the CNF's metrics from one Prometheus."""

    def __init__(self, client: PrometheusClient, interval: float) -> None:
        self.client = client
        self.interval = interval
        self.queries = metric_queries(interval)

    def read(self, start: float, end: float) -> MetricFrame:
        """Every metric from `start` to `end` (Unix s), one row per interval."""
        start = round(start / self.interval) * self.interval
        times = grid(start, end, self.interval)
        points = [self._points(self.queries[name], start, end, times) for name in METRICS]
        scrapes = align(times, [self._points(SCRAPE_QUERY, start, end, times)])[:, 0]
        return MetricFrame(times, align(times, points), stale_rows(scrapes))

    def _points(
        self, query: str, start: float, end: float, times: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The one series of `query` (none: no points), read in spans of at most
        `MAX_POINTS` steps: Prometheus refuses a longer range query (11,000 points), and a
        recording of hours holds more."""
        found_times, found_values = [times[:0]], [times[:0]]
        span = MAX_POINTS * self.interval
        first = start
        while first <= end:
            last = min(end, first + span - self.interval)
            series = self.client.query_range(query, first, last, self.interval)
            if len(series) > 1:
                raise PrometheusError(f"{query!r}: {len(series)} series where one was expected")
            if series:
                found_times.append(series[0].times)
                found_values.append(series[0].values)
            first = last + self.interval
        return np.concatenate(found_times), np.concatenate(found_values)

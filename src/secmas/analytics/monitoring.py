"""The Monitoring Service (MS): metrics of CNFs, PoPs and agents, as Prometheus scrapes them.

`002_…` (Section IV) has a Metrics Collector pull CNF, host and server metrics from
Prometheus and hand the Analytics Service either the last x steps (live) or whole time
series as CSV files (datasets on demand). `MetricsCollector` is both sides here: it keeps
the series of a live run, exposes the latest values in the Prometheus text exposition
format (on an HTTP endpoint while the run is live, or as bytes), and writes the series as
CSV files that `secmas detect fit/score` read back.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from threading import Thread
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, start_http_server

from secmas.network.dataplane.cnf import METRICS

UNITS = {
    "cpu": "cores",
    "load": "tasks",
    "memory_rss": "megabytes",
    "memory_vsize": "megabytes",
    "disk_read": "megabytes_per_second",
    "disk_write": "megabytes_per_second",
    "net_rx": "megabytes_per_second",
    "net_tx": "megabytes_per_second",
    "latency_p50": "milliseconds",
    "latency_p90": "milliseconds",
    "latency_p99": "milliseconds",
    "throughput": "requests_per_second",
    "error_rate": "ratio",
    "connections": "connections",
}
"""Unit suffix of each metric's Prometheus name (`secmas_cnf_<metric>_<unit>`)."""


@dataclass
class Exporter:
    """A running HTTP endpoint serving the exposition format at /metrics."""

    port: int
    _server: Any
    _thread: Thread

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass
class MetricsCollector:
    """Per-CNF metric series of a run, with Prometheus gauges of the latest values."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _series: dict[str, list[tuple[float, tuple[float, ...]]]] = field(default_factory=dict)
    _pop_of: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._cnf = {
            name: Gauge(
                f"secmas_cnf_{name}_{UNITS[name]}",
                f"CNF {name.replace('_', ' ')} ({UNITS[name].replace('_', ' ')})",
                ("cnf", "pop"),
                registry=self.registry,
            )
            for name in METRICS
        }
        self._pop_use = Gauge(
            "secmas_pop_allocated_ratio",
            "share of a PoP's resource allocated to VNF instances",
            ("pop", "resource"),
            registry=self.registry,
        )
        self._trust = Gauge(
            "secmas_agent_trust_score",
            "the Trust Manager's score",
            ("agent",),
            registry=self.registry,
        )
        self._alerts = Counter(
            "secmas_alerts", "closed-loop alerts raised", ("cnf",), registry=self.registry
        )
        self._sim_time = Gauge(
            "secmas_simulated_seconds", "simulated time of the run", registry=self.registry
        )

    # -- recording ---------------------------------------------------------------------------
    def record_cnf(self, t: float, cnf: str, pop: str, sample: Mapping[str, float]) -> None:
        """One step's sample of a CNF (keys are `METRICS`)."""
        missing = [name for name in METRICS if name not in sample]
        if missing:
            raise ValueError(f"sample of CNF {cnf!r} lacks {', '.join(missing)}")
        if self._pop_of.get(cnf, pop) != pop:
            for name in METRICS:
                self._cnf[name].remove(cnf, self._pop_of[cnf])
        self._pop_of[cnf] = pop
        values = tuple(float(sample[name]) for name in METRICS)
        self._series.setdefault(cnf, []).append((t, values))
        for name, value in zip(METRICS, values, strict=True):
            self._cnf[name].labels(cnf, pop).set(value)
        self._sim_time.set(t)

    def record_pop(self, pop: str, used: Sequence[float], total: Sequence[float]) -> None:
        """A PoP's allocation of CPU, memory and disk."""
        for resource, u, t in zip(("cpu", "memory", "disk"), used, total, strict=True):
            self._pop_use.labels(pop, resource).set(u / t if t else 0.0)

    def record_trust(self, agent: str, score: float) -> None:
        self._trust.labels(agent).set(score)

    def record_alert(self, cnf: str) -> None:
        self._alerts.labels(cnf).inc()

    # -- reading -----------------------------------------------------------------------------
    @property
    def cnfs(self) -> tuple[str, ...]:
        return tuple(self._series)

    def series(self, cnf: str) -> list[tuple[float, tuple[float, ...]]]:
        """(t, values in `METRICS` order) per recorded step."""
        if cnf not in self._series:
            raise KeyError(f"no metrics recorded for CNF {cnf!r}")
        return list(self._series[cnf])

    def exposition(self) -> bytes:
        """The latest values in the Prometheus text exposition format."""
        return generate_latest(self.registry)

    def serve(self, port: int, addr: str = "127.0.0.1") -> Exporter:
        """Serve /metrics on `port` (0 picks a free one) until `close()`."""
        server, thread = start_http_server(port, addr, registry=self.registry)
        return Exporter(server.server_address[1], server, thread)

    def write_csv(self, path: Path, cnf: str) -> Path:
        """The CNF's series as CSV: a `timestamp` column (simulated s), one per metric."""
        rows = self.series(cnf)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(("timestamp", *METRICS))
            for t, values in rows:
                writer.writerow((f"{t:g}", *(f"{v:.6g}" for v in values)))
        return path

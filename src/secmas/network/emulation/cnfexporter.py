"""The emulated CNF's metrics exporter: its real counters in the Prometheus text format.

Every scrape, and every step of the agents' closed loop (`CNFCollector.counters`), reads
the CNF afresh (`cnfmetrics` parses): the cgroup's CPU time and member processes
(memory, I/O, running), the server namespace's interface bytes, the half-open
connections in every instance's namespace, the stub_status of each nginx instance (over
its Unix socket) and the access-log lines written since the last reading (requests by
status class and a histogram of their durations). The endpoint listens on the run's
loopback (root namespace), where the run's Prometheus scrapes it.

Metrics (all prefixed `secmas_cnf_`): `cpu_seconds_total`, `runnable_processes`,
`memory_rss_bytes`, `memory_vsize_bytes`, `disk_read_bytes_total`,
`disk_written_bytes_total`, `network_receive_bytes_total`,
`network_transmit_bytes_total`, `connections` (nginx's active plus half-open),
`requests_total{code}`, `request_duration_seconds` (histogram), `processes`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from secmas.network.emulation.cnfcgroup import CNFGroup
from secmas.network.emulation.cnfmetrics import (
    LATENCY_BUCKETS,
    CNFCounters,
    ProcessSample,
    StubStatus,
    bucket_counts,
    count_half_open,
    parse_access_line,
    parse_net_dev,
    parse_process,
    parse_stub_status,
    status_class,
)
from secmas.network.emulation.cnfnginx import NginxCNF
from secmas.network.emulation.counters import TRUTH, FlowCount, parse_named_counters
from secmas.network.emulation.linkstats import ETHERNET_HEADER
from secmas.network.emulation.namespaces import CommandFailed

PREFIX = "secmas_cnf_"
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")


def read_stub_status(path: Path, timeout: float = 1.0) -> StubStatus:
    """GET /status over nginx's Unix socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(b"GET /status HTTP/1.0\r\nHost: cnf\r\n\r\n")
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    _, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return parse_stub_status(body.decode())


@dataclass
class _Totals:
    """What the exporter accumulates between scrapes."""

    offset: int = 0
    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUS_CLASSES, 0))
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    duration: float = 0.0
    io: dict[int, tuple[int, int]] = field(default_factory=dict)
    read: int = 0
    written: int = 0


class CNFCollector:
    """A prometheus_client collector reading the CNF at every scrape (and the agents'
    closed loop, `counters`, every step). `instances` is the CNF's nginx instances, a list
    that grows when a replica starts; they share one access log."""

    def __init__(self, instances: Sequence[NginxCNF], group: CNFGroup) -> None:
        self.instances = instances
        self.group = group
        self._totals = _Totals()
        self._lock = threading.Lock()
        self._forwarded = False
        """Whether an instance ever ran elsewhere (the front forwarded to it)."""

    def collect(self) -> Iterator[Metric]:
        yield from _families(self.counters())

    def counters(self) -> CNFCounters:
        """Read the CNF now."""
        with self._lock:
            totals = self._totals
            self._read_log()
            processes = self._processes()
            rx, tx, half_open = self._network()
            return CNFCounters(
                cpu_seconds=self.group.cpu_seconds(),
                processes=len(processes),
                runnable=sum(p.running for p in processes.values()),
                rss=sum(p.rss for p in processes.values()),
                vsize=sum(p.vsize for p in processes.values()),
                disk_read=totals.read,
                disk_written=totals.written,
                net_rx=rx,
                net_tx=tx,
                connections=self._active() + half_open,
                requests=dict(totals.requests),
                buckets=tuple(totals.buckets),
                duration=totals.duration,
            )

    def _active(self) -> int:
        """nginx's active connections over every instance that answers, as one instance's
        stub_status counts them: the status request it answers counts once (so a replica
        adds only what it serves, and recordings of one instance keep their level)."""
        counts = []
        for instance in list(self.instances):
            with contextlib.suppress(OSError, ValueError):
                counts.append(read_stub_status(instance.layout.status_socket).active)
        return sum(counts) - max(0, len(counts) - 1)

    def _read_log(self) -> None:
        """Count the access-log lines written since the last scrape."""
        totals, log = self._totals, self.instances[0].access_log
        try:
            with log.open("rb") as handle:
                handle.seek(totals.offset)
                data = handle.read()
        except OSError:
            return
        complete = data.rfind(b"\n") + 1
        totals.offset += complete
        durations = []
        for line in data[:complete].decode(errors="replace").splitlines():
            record = parse_access_line(line)
            if record is None:
                continue
            code = status_class(record.status)
            totals.requests[code] = totals.requests.get(code, 0) + 1
            durations.append(record.seconds)
        for index, count in enumerate(bucket_counts(durations)):
            totals.buckets[index] += count
        totals.duration += sum(durations)

    def _processes(self) -> dict[int, ProcessSample]:
        """Every process of the group now; disk I/O accumulated per process, so that a
        process that exits does not take its bytes back."""
        totals, found = self._totals, {}
        for pid in self.group.pids():
            with contextlib.suppress(OSError, ValueError, IndexError):
                base = Path(f"/proc/{pid}")
                sample = parse_process(
                    (base / "status").read_text(),
                    (base / "io").read_text(),
                    (base / "stat").read_text(),
                )
                found[pid] = sample
                read, written = totals.io.get(pid, (0, 0))
                totals.read += max(0, sample.read - read)
                totals.written += max(0, sample.written - written)
                totals.io[pid] = (sample.read, sample.written)
        for pid in set(totals.io) - set(found):
            del totals.io[pid]
        return found

    def _network(self) -> tuple[int, int, int]:
        """The bytes in and out of the server's namespace (the service address's, where
        every user's connection arrives, whichever instance serves it), less what only
        crossed its link between the CNF's front and an instance elsewhere, and the
        half-open connections of every instance's namespace."""
        network = self.instances[0].network
        home = network.namespace(network.plan.server)
        ports = set(self.instances[0].ports)
        instances = list(self.instances)
        self._forwarded = self._forwarded or any(i.pop is not None for i in instances)
        try:
            rx, tx = parse_net_dev(Path(f"/proc/{home.pid}/net/dev").read_text())
            half_open = sum(
                count_half_open(Path(f"/proc/{pid}/net/tcp").read_text(), ports)
                for pid in {i.namespace.pid for i in instances}
            )
            if self._forwarded:
                relayed = parse_named_counters(home.run(TRUTH))
                rx -= _frames(relayed.get("elsewhere_in"))
                tx -= _frames(relayed.get("elsewhere_out"))
        except (OSError, ValueError, IndexError, CommandFailed):
            return 0, 0, 0
        return rx, tx, half_open


def _frames(count: FlowCount | None) -> int:
    """The bytes nftables counted (from the IP header on) as the interface counts them
    (with each frame's Ethernet header)."""
    return 0 if count is None else count.bytes + ETHERNET_HEADER * count.packets


def _families(read: CNFCounters) -> Iterator[Metric]:
    """One reading as the exporter's metric families."""
    yield _counter("cpu_seconds", "CPU time of the CNF's cgroup", read.cpu_seconds)
    yield _gauge("processes", "processes in the CNF's cgroup", read.processes)
    yield _gauge("runnable_processes", "CNF processes running or runnable", read.runnable)
    yield _gauge("memory_rss_bytes", "resident memory", read.rss)
    yield _gauge("memory_vsize_bytes", "virtual memory", read.vsize)
    yield _counter("disk_read_bytes", "bytes read from storage", read.disk_read)
    yield _counter("disk_written_bytes", "bytes written to storage", read.disk_written)
    yield _counter("network_receive_bytes", "bytes the server namespace received", read.net_rx)
    yield _counter("network_transmit_bytes", "bytes the server namespace sent", read.net_tx)
    yield _gauge("connections", "nginx's active connections plus half-open ones", read.connections)
    requests = CounterMetricFamily(
        PREFIX + "requests", "requests nginx answered, by status class", labels=("code",)
    )
    for code, count in read.requests.items():
        requests.add_metric((code,), count)
    yield requests
    bounds = [*(f"{b:g}" for b in LATENCY_BUCKETS), "+Inf"]
    yield HistogramMetricFamily(
        PREFIX + "request_duration_seconds",
        "nginx's request time",
        buckets=list(zip(bounds, read.buckets, strict=True)),
        sum_value=read.duration,
    )


def _counter(name: str, documentation: str, value: float) -> Metric:
    return CounterMetricFamily(PREFIX + name, documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> Metric:
    return GaugeMetricFamily(PREFIX + name, documentation, value=value)


@dataclass
class CNFExporter:
    """The exporter's HTTP endpoint on 127.0.0.1 (root namespace)."""

    port: int
    _server: Any
    _thread: threading.Thread

    @classmethod
    def serve(cls, collector: CNFCollector, port: int = 0) -> CNFExporter:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)  # type: ignore[arg-type]
        server, thread = start_http_server(port, "127.0.0.1", registry=registry)
        return cls(server.server_address[1], server, thread)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

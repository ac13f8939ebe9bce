"""Parsing the emulated CNF's real counters, and its metrics from two readings of them
(pure; `cnfexporter.py` reads the files).

The sources are those the vCDN proof of concept scrapes (`002_…` Section IV): the
server's own view (nginx's `stub_status` and access log, as the NGINX log exporter),
the container's (its cgroup's CPU time and its processes' memory and I/O in procfs, as
cadvisor) and the network namespace's interface and socket tables. `metric_row` turns
two readings into the fourteen metrics the agents' closed loop reads every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (s) of the request-duration histogram's buckets (+Inf is implied)."""
SYN_RECV = "03"
"""The state column of /proc/net/tcp for a half-open connection."""


@dataclass(frozen=True, slots=True)
class StubStatus:
    """nginx's stub_status page."""

    active: int
    accepts: int
    handled: int
    requests: int
    reading: int
    writing: int
    waiting: int


def parse_stub_status(text: str) -> StubStatus:
    """The numbers of a stub_status page; ValueError when it is not one."""
    lines = [line.split() for line in text.strip().splitlines()]
    try:
        if lines[0][:2] != ["Active", "connections:"] or lines[1] != [
            "server",
            "accepts",
            "handled",
            "requests",
        ]:
            raise ValueError
        accepts, handled, requests = (int(x) for x in lines[2])
        rest = lines[3]
        return StubStatus(
            active=int(lines[0][2]),
            accepts=accepts,
            handled=handled,
            requests=requests,
            reading=int(rest[1]),
            writing=int(rest[3]),
            waiting=int(rest[5]),
        )
    except (IndexError, ValueError):
        raise ValueError(f"not an nginx stub_status page: {text[:80]!r}") from None


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One access-log line (`cnfnginx.LOG_FORMAT`)."""

    t: float
    status: int
    seconds: float
    client: str
    bytes_sent: int


def parse_access_line(line: str) -> AccessRecord | None:
    """An access-log line, or None for a line that is not one (cut by a rotation)."""
    parts = line.split()
    if len(parts) != 5:
        return None
    try:
        return AccessRecord(
            float(parts[0]), int(parts[1]), float(parts[2]), parts[3], int(parts[4])
        )
    except ValueError:
        return None


def status_class(status: int) -> str:
    """'2xx' … '5xx' (what the request counter is labelled with)."""
    return f"{status // 100}xx"


def bucket_counts(seconds: list[float]) -> list[int]:
    """Per bucket of LATENCY_BUCKETS and +Inf: how many durations are ≤ its bound
    (cumulative, as Prometheus histograms count)."""
    counts = [sum(1 for s in seconds if s <= bound) for bound in LATENCY_BUCKETS]
    return [*counts, len(seconds)]


def parse_net_dev(text: str) -> tuple[int, int]:
    """Bytes received and sent by every interface of /proc/PID/net/dev but loopback."""
    rx = tx = 0
    for line in text.splitlines()[2:]:
        name, _, data = line.partition(":")
        if not data or name.strip() == "lo":
            continue
        fields = data.split()
        rx += int(fields[0])
        tx += int(fields[8])
    return rx, tx


def count_half_open(text: str, ports: set[int]) -> int:
    """Connections in SYN_RECV on one of `ports` in /proc/PID/net/tcp."""
    count = 0
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != SYN_RECV:
            continue
        port = int(fields[1].rsplit(":", 1)[1], 16)
        if port in ports:
            count += 1
    return count


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One process's memory (bytes), I/O (bytes, cumulative) and whether it is running."""

    rss: int
    vsize: int
    read: int
    written: int
    running: bool


def parse_process(status: str, io: str, stat: str) -> ProcessSample:
    """A process from its /proc/PID/status, /proc/PID/io and /proc/PID/stat texts."""
    memory = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmSize"):
            memory[key] = int(value.split()[0]) * 1024
    counters = {}
    for line in io.splitlines():
        key, _, value = line.partition(":")
        if key in ("read_bytes", "write_bytes"):
            counters[key] = int(value)
    state = stat.rsplit(")", 1)[1].split()[0] if ")" in stat else ""
    return ProcessSample(
        rss=memory.get("VmRSS", 0),
        vsize=memory.get("VmSize", 0),
        read=counters.get("read_bytes", 0),
        written=counters.get("write_bytes", 0),
        running=state == "R",
    )


@dataclass(frozen=True, slots=True)
class CNFCounters:
    """One reading of the CNF (what the exporter serves at a scrape): cumulative counters
    and gauges, bytes and seconds as read."""

    cpu_seconds: float
    processes: int
    runnable: int
    rss: int
    vsize: int
    disk_read: int
    disk_written: int
    net_rx: int
    net_tx: int
    connections: int
    requests: dict[str, int]
    """Requests answered so far, by status class ('2xx' … '5xx')."""
    buckets: tuple[int, ...]
    """Cumulative request-duration histogram over LATENCY_BUCKETS and +Inf."""
    duration: float


def histogram_quantile(q: float, buckets: Sequence[int]) -> float:
    """The q-quantile (seconds) of a cumulative histogram over LATENCY_BUCKETS and +Inf,
    interpolated within its bucket as Prometheus' `histogram_quantile` does; 0 with no
    observations, the highest finite bound when the quantile falls in +Inf."""
    total = buckets[-1]
    if total <= 0:
        return 0.0
    rank = q * total
    lower, below = 0.0, 0
    for bound, count in zip(LATENCY_BUCKETS, buckets, strict=False):
        if count >= rank:
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return LATENCY_BUCKETS[-1]


MB = 1048576
QUANTILES = {"latency_p50": 0.5, "latency_p90": 0.9, "latency_p99": 0.99}


def metric_row(before: CNFCounters, after: CNFCounters, seconds: float) -> dict[str, float]:
    """The CNF's fourteen metrics (`network.dataplane.cnf.METRICS`, the simulated CNF's
    names and units) over the `seconds` between two readings, as the PromQL expressions
    of `analytics.cnftelemetry` compute them from the same counters (pure): rates of the
    counters, gauges as read, latency quantiles in ms, the failed share of requests."""
    span = max(seconds, 1e-6)

    def rate(name: str, unit: float = 1.0) -> float:
        return max(getattr(after, name) - getattr(before, name), 0) / unit / span

    answered = {code: n - before.requests.get(code, 0) for code, n in after.requests.items()}
    total = sum(answered.values())
    served = answered.get("2xx", 0) + answered.get("3xx", 0)
    failed = answered.get("4xx", 0) + answered.get("5xx", 0)
    window = [max(a - b, 0) for a, b in zip(after.buckets, before.buckets, strict=True)]
    row = {
        "cpu": rate("cpu_seconds"),
        "load": float(after.runnable),
        "memory_rss": after.rss / MB,
        "memory_vsize": after.vsize / MB,
        "disk_read": rate("disk_read", MB),
        "disk_write": rate("disk_written", MB),
        "net_rx": rate("net_rx", MB),
        "net_tx": rate("net_tx", MB),
        "throughput": served / span,
        "error_rate": failed / total if total > 0 else 0.0,
        "connections": float(after.connections),
    }
    for name, q in QUANTILES.items():
        row[name] = 1000.0 * histogram_quantile(q, window)
    return row

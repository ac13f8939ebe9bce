"""Parsing the emulated CNF's real counters, and its metrics from two readings, on
hand-written inputs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.network.dataplane.cnf import METRICS
from secmas.network.emulation.cnfcgroup import parse_cpu_seconds
from secmas.network.emulation.cnfmetrics import (
    LATENCY_BUCKETS,
    CNFCounters,
    bucket_counts,
    count_half_open,
    histogram_quantile,
    metric_row,
    parse_access_line,
    parse_net_dev,
    parse_process,
    parse_stub_status,
    status_class,
)

STUB = """Active connections: 291
server accepts handled requests
 16630948 16630948 31070465
Reading: 6 Writing: 179 Waiting: 106
"""


def test_stub_status() -> None:
    status = parse_stub_status(STUB)
    assert (status.active, status.accepts, status.handled, status.requests) == (
        291,
        16630948,
        16630948,
        31070465,
    )
    assert (status.reading, status.writing, status.waiting) == (6, 179, 106)


@pytest.mark.parametrize("text", ["", "<html>502</html>", STUB.replace("accepts", "took")])
def test_not_a_stub_status(text: str) -> None:
    with pytest.raises(ValueError, match="stub_status"):
        parse_stub_status(text)


def test_access_line() -> None:
    record = parse_access_line("1795423357.833 200 0.004 10.1.0.7 2284")
    assert record is not None
    assert (record.t, record.status, record.seconds, record.client, record.bytes_sent) == (
        1795423357.833,
        200,
        0.004,
        "10.1.0.7",
        2284,
    )
    assert parse_access_line("1795423357.833 200 0.0") is None
    assert parse_access_line("x 200 0.004 10.1.0.7 2284") is None
    assert status_class(404) == "4xx" and status_class(201) == "2xx"


def test_buckets_are_cumulative() -> None:
    counts = bucket_counts([0.0, 0.003, 0.003, 0.2, 30.0])
    assert len(counts) == len(LATENCY_BUCKETS) + 1
    assert counts[0] == 1  # ≤ 1 ms
    assert counts[LATENCY_BUCKETS.index(0.005)] == 3
    assert counts[LATENCY_BUCKETS.index(0.25)] == 4
    assert counts[-2] == 4 and counts[-1] == 5  # 30 s only in +Inf


@given(st.lists(st.floats(min_value=0, max_value=100), max_size=50))
def test_buckets_never_decrease(seconds: list[float]) -> None:
    counts = bucket_counts(seconds)
    assert counts == sorted(counts) and counts[-1] == len(seconds)


NET_DEV = "\n".join(
    [
        "Inter-|   Receive   |  Transmit",
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets ...",
        "    lo:    1000      10    0    0    0     0          0         0     1000      10"
        "    0    0    0     0       0          0",
        "s1h0-eth0: 52000     400    0    0    0     0          0         0   780000     600"
        "    0    0    0     0       0          0",
    ]
)


def test_net_dev_skips_loopback() -> None:
    assert parse_net_dev(NET_DEV) == (52000, 780000)


TCP = "\n".join(
    [
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid",
        "   0: 6400000A:1F40 0300420A:D431 03 00000000:00000000 02:00000187 00000002     0",
        "   1: 6400000A:1F40 0400420A:D432 03 00000000:00000000 02:00000187 00000002     0",
        "   2: 6400000A:1F90 0400420A:D433 03 00000000:00000000 02:00000187 00000002     0",
        "   3: 6400000A:1F40 0701010A:C000 01 00000000:00000000 00:00000000 00000000     0",
    ]
)


def test_half_open_on_service_ports() -> None:
    assert count_half_open(TCP, {8000}) == 2  # 0x1F40; the established one is not counted
    assert count_half_open(TCP, {8000, 8080}) == 3
    assert count_half_open(TCP, {9}) == 0


def test_process() -> None:
    status = "Name:\tnginx\nVmSize:\t   22240 kB\nVmRSS:\t    5648 kB\n"
    io = "rchar: 10\nread_bytes: 4096\nwrite_bytes: 8192\n"
    stat = "123 (nginx: worker) R 1 123 123 0 -1"
    sample = parse_process(status, io, stat)
    assert (sample.vsize, sample.rss) == (22240 * 1024, 5648 * 1024)
    assert (sample.read, sample.written, sample.running) == (4096, 8192, True)
    assert not parse_process(status, io, "9 (a) b) S 1").running


def test_cpu_seconds_v1_and_v2() -> None:
    assert parse_cpu_seconds("2500000000\n", "cpuacct.usage") == 2.5
    assert parse_cpu_seconds("usage_usec 1500000\nuser_usec 1\n", "cpu.stat") == 1.5
    with pytest.raises(ValueError, match="usage_usec"):
        parse_cpu_seconds("user_usec 1\n", "cpu.stat")


def _counters(cpu: float, requests: dict[str, int], durations: list[float], **extra: int):
    fields = {
        "processes": 2,
        "runnable": 1,
        "rss": 20 * 1048576,
        "vsize": 60 * 1048576,
        "disk_read": 0,
        "disk_written": 0,
        "net_rx": 0,
        "net_tx": 0,
        "connections": 3,
    } | extra
    return CNFCounters(
        cpu_seconds=cpu,
        requests=requests,
        buckets=tuple(bucket_counts(durations)),
        duration=sum(durations),
        **fields,
    )


def test_a_step_of_the_cnf_from_two_readings() -> None:
    before = _counters(10.0, {"2xx": 100, "5xx": 0}, [0.001] * 100)
    after = _counters(
        10.5,
        {"2xx": 140, "5xx": 10},
        [0.001] * 100 + [0.003] * 40 + [0.2] * 10,
        net_rx=2 * 1048576,
        disk_written=1048576,
    )
    row = metric_row(before, after, 2.0)
    assert set(row) == set(METRICS)
    assert row["cpu"] == pytest.approx(0.25) and row["load"] == 1.0
    assert row["throughput"] == pytest.approx(20.0) and row["error_rate"] == pytest.approx(0.2)
    assert row["net_rx"] == pytest.approx(1.0) and row["disk_write"] == pytest.approx(0.5)
    assert row["memory_rss"] == 20.0 and row["connections"] == 3.0
    # 50 requests in the step: 40 took 3 ms, 10 took 200 ms
    assert 2.5 <= row["latency_p50"] <= 5.0 and 100.0 <= row["latency_p99"] <= 250.0


def test_no_request_in_a_step_is_no_latency_and_no_error() -> None:
    same = _counters(1.0, {"2xx": 5}, [0.01] * 5)
    row = metric_row(same, same, 1.0)
    assert row["latency_p99"] == 0.0 and row["error_rate"] == 0.0 and row["throughput"] == 0.0


@given(
    st.lists(st.floats(0.0, 20.0, allow_nan=False), min_size=1, max_size=200),
    st.floats(0.01, 0.99),
    st.floats(0.01, 0.99),
)
def test_quantiles_are_ordered_and_within_the_buckets(
    seconds: list[float], q: float, r: float
) -> None:
    buckets = bucket_counts(seconds)
    low, high = sorted((q, r))
    assert 0.0 <= histogram_quantile(low, buckets) <= histogram_quantile(high, buckets)
    assert histogram_quantile(high, buckets) <= LATENCY_BUCKETS[-1]
    assert histogram_quantile(0.5, [0] * len(buckets)) == 0.0

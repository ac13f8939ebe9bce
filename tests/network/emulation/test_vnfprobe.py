"""The VNF program's own counting: its kernel filter and its parse of captured frames."""

from __future__ import annotations

import socket
import struct

from hypothesis import given
from hypothesis import strategies as st

from secmas.network.emulation.vnfprobe import (
    PACKET_OUTGOING,
    SKF_AD_PKTTYPE,
    SNAP,
    Counters,
    filter_program,
)

SERVER = "10.0.0.100"


def frame(src: str, dst: str, *, flags: int | None = None, length: int = 60) -> bytes:
    """An Ethernet frame's first SNAP bytes: IPv4 (TCP with `flags`, else UDP)."""
    ethernet = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
    protocol = 17 if flags is None else 6
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        length,
        1,
        0,
        64,
        protocol,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    transport = b"\x1f\x40\x1f\x40" + b"\0" * 8 + bytes([0x50, flags or 0]) + b"\0" * 6
    return (ethernet + ip + transport)[:SNAP]


def run_filter(program: list[tuple[int, int, int, int]], data: bytes, pkttype: int) -> int:
    """Interpret the few classic BPF instructions the program uses, as the kernel would."""
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x30 and k == SKF_AD_PKTTYPE & 0xFFFFFFFF:
            accumulator = pkttype
        elif code == 0x28:
            accumulator = int.from_bytes(data[k : k + 2], "big")
        elif code == 0x20:
            accumulator = int.from_bytes(data[k : k + 4], "big")
        elif code == 0x15:
            pc += jt if accumulator == k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")
        pc += 1


def test_the_filter_passes_only_ipv4_arriving_towards_the_watched_address() -> None:
    program = filter_program(SERVER)
    towards = frame("10.66.0.1", SERVER, flags=0x02)
    assert run_filter(program, towards, 0) == SNAP  # arrived from a neighbour
    assert run_filter(program, towards, PACKET_OUTGOING) == 0  # the same packet leaving
    assert run_filter(program, frame("10.66.0.1", "10.0.0.7"), 0) == 0
    arp = towards[:12] + b"\x08\x06" + towards[14:]
    assert run_filter(program, arp, 0) == 0


def test_counts_packets_ip_bytes_and_bare_syns_per_source() -> None:
    counters = Counters("classifier", SERVER, 0.0)
    counters.count(frame("10.66.0.1", SERVER, flags=0x02, length=60))  # SYN
    counters.count(frame("10.66.0.1", SERVER, flags=0x12, length=60))  # SYN+ACK: not a bare SYN
    counters.count(frame("10.1.0.2", SERVER, flags=0x10, length=1500))  # ACK
    counters.count(frame("10.1.0.2", SERVER, length=100))  # UDP
    document = counters.document(1.0)
    assert document["packets"] == 4
    assert document["bytes"] == 60 + 60 + 1500 + 100
    assert document["sources"] == {
        "10.1.0.2": {"packets": 2, "bytes": 1600, "syns": 0},
        "10.66.0.1": {"packets": 2, "bytes": 120, "syns": 1},
    }


@given(st.binary(max_size=SNAP))
def test_any_captured_bytes_are_counted_or_ignored_never_raise(data: bytes) -> None:
    counters = Counters("classifier", SERVER, 0.0)
    counters.count(data)
    assert counters.document(0.0)["packets"] in (0, 1)

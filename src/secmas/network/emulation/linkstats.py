"""A namespace's interface byte counters, read over rtnetlink at a known instant.

A link's rate is bytes over seconds, and both must belong to the same instant. Read
through a command (`mnexec … ip -s link`), the counters were taken some tens to hundreds
of milliseconds after the time the sample was stamped with, by a delay that varies with
the machine's load: consecutive steps of a steady link swung by ±25 % (one step's bytes
counted in the next), and a limit set at "half the link's rate" or a VNF sized by it
took the swing with it. So each routing namespace keeps one NETLINK_ROUTE socket, opened
from a thread inside it (`call_inside`: the socket stays in that namespace), and a read
is one request and its answer in this process, stamped right after it, well under a
millisecond apart.

Parsing is pure (`link_dump_request`, `parse_link_dump`); `LinkStatsSocket` does the I/O.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

NLMSG_HEADER = struct.Struct("=IHHII")
"""struct nlmsghdr: length, type, flags, sequence, port id."""
IFINFOMSG = struct.Struct("=BxHiII")
"""struct ifinfomsg: family, (pad), device type, index, flags, change mask."""
RTATTR = struct.Struct("=HH")
"""struct rtattr: length, type."""
STATS64 = struct.Struct("=QQQQ")
"""The head of struct rtnl_link_stats64: rx_packets, tx_packets, rx_bytes, tx_bytes."""

NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_GETLINK = 16, 18
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFLA_IFNAME, IFLA_STATS64 = 3, 23
ETHERNET_HEADER = 14
"""Bytes of Ethernet header an interface counts per packet and nftables does not."""
RECEIVE_BYTES = 1 << 16


@dataclass(frozen=True, slots=True)
class LinkCounters:
    """Every interface's IP bytes sent and received, and when they were read."""

    at: float
    tx: dict[str, int] = field(default_factory=dict)
    rx: dict[str, int] = field(default_factory=dict)


def link_dump_request(sequence: int) -> bytes:
    """An RTM_GETLINK dump request: every link of the namespace with its statistics."""
    body = IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    flags = NLM_F_REQUEST | NLM_F_DUMP
    return NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), RTM_GETLINK, flags, sequence, 0) + body


def _align(length: int) -> int:
    return (length + 3) & ~3


def _attributes(data: bytes, start: int, end: int) -> dict[int, bytes]:
    """The rtattrs in data[start:end] by type; ValueError on one that overruns."""
    found: dict[int, bytes] = {}
    offset = start
    while offset + RTATTR.size <= end:
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size or offset + length > end:
            raise ValueError(f"netlink attribute of length {length} at byte {offset} overruns")
        found[kind] = data[offset + RTATTR.size : offset + length]
        offset += _align(length)
    return found


def parse_link_dump(data: bytes, sequence: int) -> tuple[dict[str, tuple[int, int]], bool]:
    """The links in one chunk of a dump's answer as {name: (IP bytes sent, received)},
    and whether the dump ended in it. A message of another sequence is skipped; a
    truncated message, a malformed attribute or an error answer raise ValueError."""
    links: dict[str, tuple[int, int]] = {}
    offset = 0
    while offset + NLMSG_HEADER.size <= len(data):
        length, kind, _flags, seq, _port = NLMSG_HEADER.unpack_from(data, offset)
        if length < NLMSG_HEADER.size or offset + length > len(data):
            raise ValueError(f"netlink message of length {length} at byte {offset} is truncated")
        body = offset + NLMSG_HEADER.size
        if seq == sequence:
            if kind == NLMSG_DONE:
                return links, True
            if kind == NLMSG_ERROR:
                fits = length >= NLMSG_HEADER.size + 4
                errno = -struct.unpack_from("=i", data, body)[0] if fits else 0
                raise ValueError(f"the link dump failed: errno {errno}")
            if kind == RTM_NEWLINK and length >= NLMSG_HEADER.size + IFINFOMSG.size:
                attrs = _attributes(data, body + IFINFOMSG.size, offset + length)
                name = attrs.get(IFLA_IFNAME, b"").split(b"\0", 1)[0].decode(errors="replace")
                stats = attrs.get(IFLA_STATS64)
                if name and stats is not None and len(stats) >= STATS64.size:
                    rx_packets, tx_packets, rx_bytes, tx_bytes = STATS64.unpack_from(stats)
                    links[name] = (
                        tx_bytes - ETHERNET_HEADER * tx_packets,
                        rx_bytes - ETHERNET_HEADER * rx_packets,
                    )
        offset += _align(length)
    if offset != len(data):
        raise ValueError(f"{len(data) - offset} stray bytes after the last netlink message")
    return links, False


class LinkStatsSocket:
    """One namespace's NETLINK_ROUTE socket; `read` stamps the counters with `now()`."""

    def __init__(self, opened: socket.socket, now: Callable[[], float]) -> None:
        self._socket = opened
        self._now = now
        self._sequence = 0
        self._lock = threading.Lock()
        """One request and its answer at a time: two threads' dumps would interleave."""

    @classmethod
    def open_here(cls, now: Callable[[], float]) -> LinkStatsSocket:
        """A socket in the calling thread's network namespace."""
        opened = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        opened.bind((0, 0))
        return cls(opened, now)

    def read(self) -> LinkCounters:
        """Every interface's counters now (blocking; a few hundred microseconds)."""
        with self._lock:
            self._sequence += 1
            self._socket.send(link_dump_request(self._sequence))
            counters: dict[str, tuple[int, int]] = {}
            done = False
            while not done:
                links, done = parse_link_dump(self._socket.recv(RECEIVE_BYTES), self._sequence)
                counters |= links
            at = self._now()
        return LinkCounters(
            at,
            {name: sent for name, (sent, _) in counters.items()},
            {name: received for name, (_, received) in counters.items()},
        )

    def close(self) -> None:
        with self._lock:
            self._socket.close()

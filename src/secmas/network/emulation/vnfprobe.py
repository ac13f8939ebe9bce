"""The program every VNF container runs: it counts the packets that reach its PoP towards
the address it watches, per source, from the packets themselves.

A VNF container shares its PoP's network namespace (003's testbed attached each VNF
container to the switch of the PoP that won it). This program opens a packet socket
there with a kernel filter that passes only the first bytes of IPv4 frames arriving at
one of the PoP's interfaces towards the watched address (a forwarded packet is seen once,
where it comes in, never again as it leaves), and keeps per source: packets, IP bytes and
TCP SYNs without ACK. Every second it writes its counters as JSON (atomically, by
renaming) so that the run and its tests read what the VNF itself saw; SIGTERM writes them
once more and ends it.

The file is copied into each VNF image and run by the image's own python3, so it imports
nothing but the standard library.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import socket
import struct
import time
from dataclasses import dataclass, field

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
PACKET_OUTGOING = 4
SKF_AD_PKTTYPE = -0x1000 + 4
"""The kernel's ancillary load of the packet's type (`SKF_AD_OFF + SKF_AD_PKTTYPE`)."""
SNAP = 64
"""Bytes of each frame the filter passes: Ethernet, IPv4 and the TCP flags."""
ETHERTYPE_IPV4 = 0x0800
TCP = 6
SYN, ACK = 0x02, 0x10


def filter_program(watch: str) -> list[tuple[int, int, int, int]]:
    """Classic BPF (code, jump if true, jump if false, k): accept SNAP bytes of an IPv4
    frame towards `watch` that arrived here, drop everything else."""
    destination = struct.unpack("!I", socket.inet_aton(watch))[0]
    return [
        (0x30, 0, 0, SKF_AD_PKTTYPE & 0xFFFFFFFF),  # ldb the packet's type
        (0x15, 5, 0, PACKET_OUTGOING),  # leaving the namespace: drop
        (0x28, 0, 0, 12),  # ldh the Ethernet type
        (0x15, 0, 3, ETHERTYPE_IPV4),
        (0x20, 0, 0, 30),  # ld the IPv4 destination
        (0x15, 0, 1, destination),
        (0x06, 0, 0, SNAP),
        (0x06, 0, 0, 0),
    ]


@dataclass
class SourceCount:
    """What arrived from one source towards the watched address."""

    packets: int = 0
    bytes: int = 0
    syns: int = 0


@dataclass
class Counters:
    """A VNF's own counters since it started."""

    vnf: str
    watch: str
    since: float
    sources: dict[str, SourceCount] = field(default_factory=dict)

    def count(self, frame: bytes) -> None:
        """Count one captured frame (its first SNAP bytes); frames too short or not IPv4
        towards the watched address (the filter lets none through) are ignored."""
        if len(frame) < 34 or frame[12:14] != b"\x08\x00":
            return
        ip = frame[14:]
        source = socket.inet_ntoa(ip[12:16])
        entry = self.sources.setdefault(source, SourceCount())
        entry.packets += 1
        entry.bytes += int.from_bytes(ip[2:4], "big")
        header = (ip[0] & 0x0F) * 4
        if ip[9] == TCP and len(ip) > header + 13:
            flags = ip[header + 13]
            entry.syns += flags & (SYN | ACK) == SYN

    def document(self, now: float) -> dict[str, object]:
        return {
            "vnf": self.vnf,
            "watch": self.watch,
            "since": self.since,
            "at": now,
            "packets": sum(s.packets for s in self.sources.values()),
            "bytes": sum(s.bytes for s in self.sources.values()),
            "sources": {
                ip: {"packets": s.packets, "bytes": s.bytes, "syns": s.syns}
                for ip, s in sorted(self.sources.items())
            },
        }


def write(path: str, document: dict[str, object]) -> None:
    """Replace `path` with `document`, never leaving it half written."""
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8") as out:
        json.dump(document, out)
    os.replace(partial, path)


def open_socket(watch: str) -> socket.socket:
    """A packet socket on every interface of this namespace, filtered by the kernel."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    program = filter_program(watch)
    instructions = b"".join(struct.pack("HBBI", *step) for step in program)
    buffer = ctypes.create_string_buffer(instructions)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    sock.setblocking(False)
    try:  # frames queued before the filter was attached
        while sock.recv(SNAP):
            pass
    except BlockingIOError:
        pass
    sock.settimeout(0.2)
    return sock


def run(vnf: str, watch: str, out: str, every: float = 1.0) -> None:
    """Count until SIGTERM, writing the counters to `out` every `every` seconds."""
    stop = False

    def stopping(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    sock = open_socket(watch)
    counters = Counters(vnf, watch, time.time())
    write(out, counters.document(time.time()))
    due = time.monotonic() + every
    while not stop:
        try:
            counters.count(sock.recv(SNAP))
        except TimeoutError:
            pass
        except InterruptedError:
            continue
        if time.monotonic() >= due:
            write(out, counters.document(time.time()))
            due += every
    write(out, counters.document(time.time()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vnf", required=True, help="the VNF's catalogue id")
    parser.add_argument("--watch", required=True, help="the IPv4 address to count towards")
    parser.add_argument("--out", required=True, help="the JSON file of the counters")
    args = parser.parse_args(argv)
    run(args.vnf, args.watch, args.out)


if __name__ == "__main__":
    main()

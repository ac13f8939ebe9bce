"""One burst of a pulsing flood's bot on the emulated network (`attack.PulseFlood`).

`python -m pulse_guard.bot SERVER PORTS RATE IP DELAY LENGTH`: sleep DELAY seconds, send
RATE 200-byte UDP datagrams a second from IP to SERVER's PORTS for LENGTH seconds, then
wait for the engine's SIGTERM. Standard library only: the engine starts one per burst and
bot, so it must start fast.
"""

from __future__ import annotations

import socket
import sys
import time

DATAGRAM_BYTES = 200
TICK_S = 0.01


def main(argv: list[str]) -> int:
    server, ports, rate, ip = argv[0], [int(p) for p in argv[1].split(",")], float(argv[2]), argv[3]
    delay, length = float(argv[4]), float(argv[5])
    time.sleep(max(0.0, delay))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, 0))
    payload = bytes(DATAGRAM_BYTES)
    began, sent = time.monotonic(), 0
    while (elapsed := time.monotonic() - began) < length:
        due = int(elapsed * rate)
        for index in range(sent, due):
            try:
                sock.sendto(payload, (server, ports[index % len(ports)]))
            except OSError:
                break  # a full send queue drops the rest of this tick, as a NIC would
        sent = max(sent, due)
        time.sleep(TICK_S)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A user's attack as a distribution of its own would ship it: a low-rate pulsing flood,
each burst from fresh bots (so volume over a window stays low and no source repeats).

The tests install this file as the module of a distribution (`tests.network.test_attack`);
its attackers' process is this file run as a script (`main`).
"""

from __future__ import annotations

import socket
import sys
import time

import numpy as np
from pydantic import Field

from secmas.network.attack import Launch, Sender, port_list, source
from secmas.network.dataplane.flows import FlowSpec
from secmas.network.dataplane.stats import FlowId
from secmas.scenario.base import Strict
from secmas.scenario.model import Attack

DATAGRAM = 200


class PulseParameters(Strict):
    """When the bursts come: one `on` seconds long every `period` seconds."""

    period: float = Field(default=4.0, gt=0)
    on: float = Field(default=1.0, gt=0)


class Pulse(Sender):
    """Bursts of 200-byte datagrams; every burst its own `attackers` bots."""

    packet_bytes = float(DATAGRAM)
    connects = False
    parameters = PulseParameters

    def flows(self, attack: Attack, dst_ip: str, first: int, until: float) -> list[FlowSpec]:
        """One flow per bot and port, active for its burst only."""
        pulse = PulseParameters.model_validate(attack.parameters)
        end = min(until, np.inf if attack.stop is None else attack.stop)
        starts = np.arange(attack.start, end, pulse.period)
        return [
            FlowSpec(
                id=FlowId(source(attack, first, burst * attack.attackers + bot), dst_ip, port),
                kind=attack.kind,
                attach=attack.attach[bot % len(attack.attach)],
                rate=attack.rate / len(attack.ports),
                start=float(start),
                stop=float(min(start + pulse.on, end)),
            )
            for burst, start in enumerate(starts)
            for bot in range(attack.attackers)
            for port in attack.ports
        ]

    def command(self, launch: Launch) -> list[str]:
        """This file as a script: wait for the bot's burst, then send it."""
        length = "inf" if launch.length is None else f"{launch.length:g}"
        ports, rate = port_list(launch.ports), f"{launch.rate:.1f}"
        delay = f"{launch.delay:g}"
        return [sys.executable, __file__, launch.server_ip, ports, rate, launch.ip, delay, length]


def main(argv: list[str]) -> int:
    """Sleep `delay` seconds, send datagrams at `rate` a second for `length` seconds,
    then wait to be stopped."""
    server, ports, rate, ip = argv[0], [int(p) for p in argv[1].split(",")], float(argv[2]), argv[3]
    delay, length = float(argv[4]), float(argv[5])
    time.sleep(delay)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, 0))
    began, sent = time.monotonic(), 0
    while time.monotonic() - began < length:
        due = int((time.monotonic() - began) * rate)
        for index in range(sent, due):
            sock.sendto(bytes(DATAGRAM), (server, ports[index % len(ports)]))
        sent = max(sent, due)
        time.sleep(0.01)
    time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

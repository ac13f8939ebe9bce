"""Slowloris (the vCDN proof of concept's slow attack, `002_…` Section IV): connections
opened and kept open with a trickle of header bytes, taking the server's slots
(`secmas.network.emulation.slowloris` on the emulated network)."""

from __future__ import annotations

from secmas.network.attack import Launch, Sender, module, port_list

SLOW_HOLD = 30.0
"""Seconds of a Slowloris attacker's openings it holds at once (then it only reopens what
the server closes), at most `MAX_SLOW_HELD` connections."""
MAX_SLOW_HELD = 512
SLOW_INTERVAL = 3.0
"""Seconds between the header lines that keep a Slowloris connection open."""


class Slowloris(Sender):
    """A unit is a connection: its handshake and a first partial header, 300 bytes, after
    which it sends only a few bytes now and then."""

    packet_bytes = 300.0
    handshakes = True
    holds = True

    def command(self, launch: Launch) -> list[str]:
        """`rate` connections opened a second from its address, holding what it opened in
        the last `SLOW_HOLD` seconds (at most `MAX_SLOW_HELD`)."""
        rate, ports = launch.rate, port_list(launch.ports)
        held = str(max(1, min(MAX_SLOW_HELD, round(rate * SLOW_HOLD))))
        interval, opening = f"{SLOW_INTERVAL:g}", f"{max(rate, 0.1):.1f}"
        return [*module("slowloris"), launch.server_ip, ports, held, interval, launch.ip, opening]

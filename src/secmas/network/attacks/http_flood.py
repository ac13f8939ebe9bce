"""The HTTP flood (the vCDN proof of concept's application-layer flood, `002_…` Section
IV): complete HTTP requests as fast as it can, like the Hulk tool
(`secmas.network.emulation.httpflood` on the emulated network)."""

from __future__ import annotations

from secmas.network.attack import Launch, Sender, module, port_list

HTTP_FLOOD_SIZE = 2048
"""Bytes each HTTP-flood request fetches (`GET /bytes/2048`, as the real-CNF demo's)."""


class HttpFlood(Sender):
    """One 800-byte request (a GET with randomised URL and headers) per unit, each after
    a completed handshake, on a new connection."""

    packet_bytes = 800.0
    handshakes = True
    requests = True
    fetches = (HTTP_FLOOD_SIZE,)

    def command(self, launch: Launch) -> list[str]:
        """`rate` requests a second from its address, each fetching `HTTP_FLOOD_SIZE`
        bytes."""
        ports, rate, size = port_list(launch.ports), f"{launch.rate:.1f}", str(HTTP_FLOOD_SIZE)
        return [*module("httpflood"), launch.server_ip, ports, rate, size, launch.ip]

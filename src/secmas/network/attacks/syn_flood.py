"""The SYN flood (Section 5.3 of `003_…`): SYNs that are never acknowledged, from raw
sockets on the emulated network (`secmas.network.emulation.synflood`)."""

from __future__ import annotations

from secmas.network.attack import Launch, Sender, module, port_list


class SynFlood(Sender):
    """Bare 60-byte SYNs whose handshakes never complete, so its sources may be forged."""

    packet_bytes = 60.0

    def command(self, launch: Launch) -> list[str]:
        """`rate` SYNs a second from its address."""
        ports, rate = port_list(launch.ports), f"{launch.rate:.1f}"
        return [*module("synflood"), launch.server_ip, rate, ports, launch.ip]

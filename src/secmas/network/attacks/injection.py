"""The injection: crafted datagrams into the service, with no handshake, typically at a
rate too low for volumetric monitoring. The simulator runs it; the emulated engine does not
launch it."""

from __future__ import annotations

from secmas.network.attack import Sender


class Injection(Sender):
    """A unit is one 200-byte crafted UDP payload; its sources may be forged."""

    packet_bytes = 200.0
    connects = False
    emulated = False

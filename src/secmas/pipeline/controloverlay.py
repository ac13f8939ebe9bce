"""The agents' overlay on the emulated network: one VXLAN segment, the pipeline's VNI,
joining the control host and every PoP's namespace (`000_…`, Fig. 1 D: the near-real-time
plane is a VXLAN overlay among the agents, the secure channel on top).

Each member's VXLAN interface is sourced from the member's underlay address: a PoP's is
the address on its router's loopback that its agent speaks from (`ControlHost.agents`), the
control host's is its end of the shaped link. The interfaces are tied to no device, so an
encapsulated frame follows the routes the plan laid hop by hop along the scenario's links:
the agents' control traffic still shares the links with the traffic, flood included, but
crosses them as UDP on the VXLAN port between underlay addresses, carrying Ethernet frames
between overlay addresses. The run's bus and ledger listen on the control host's overlay
address too, and the agents are told that one: their TLS connections run inside the
segment. A namespace that is not a member has no interface for the VNI, and its kernel
drops the segment's frames.

The plan is pure (`plan_overlay`); `overlay_up` configures it, `overlay_down` takes it down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from secmas.network.emulation.plan import ControlHost
from secmas.transport.overlay import VXLAN_PORT, VxlanOverlay, VxlanSpec

OVERLAY_NET = IPv4Network("10.252.0.0/16")
"""The overlay's addresses: the control host the first, each PoP the next in scenario
order (beside the plan's 10.250/16 access, 10.251/16 agent and 10.254/16 management nets)."""
CONTROL = "control host"
"""The control host's key among the overlay's members."""


@dataclass(frozen=True)
class ControlOverlay:
    """The segment: its VNI, and each member's underlay and overlay address (by PoP, and
    `CONTROL` for the control host)."""

    vni: int
    underlay: dict[str, str]
    overlay: dict[str, str]

    @property
    def control_ip(self) -> str:
        """Where the agents reach the bus and the ledger: the control host's overlay
        address."""
        return self.overlay[CONTROL]

    def specs(self, namespaces: Mapping[str, str]) -> list[VxlanSpec]:
        """One interface per member, in its named namespace (`namespaces`, by member),
        flooding to every other member's underlay address."""
        prefix = OVERLAY_NET.prefixlen
        return [
            VxlanSpec(
                self.vni,
                None,
                local,
                f"{self.overlay[member]}/{prefix}",
                tuple(a for m, a in self.underlay.items() if m != member),
                netns=namespaces[member],
            )
            for member, local in self.underlay.items()
        ]

    def describe(self) -> dict[str, Any]:
        """What report.json says carried the agents' control traffic."""
        return {
            "kind": "vxlan",
            "vni": self.vni,
            "port": VXLAN_PORT,
            "underlay": "the emulated links, routed hop by hop between underlay addresses",
            "control_host": self.control_ip,
            "agents": {m: a for m, a in self.overlay.items() if m != CONTROL},
        }


def plan_overlay(control: ControlHost, vni: int) -> ControlOverlay:
    """The segment of the pipeline `vni` over `control`'s host and the PoPs it serves."""
    underlay = {CONTROL: control.ip, **control.agents}
    overlay = {member: str(OVERLAY_NET[index + 1]) for index, member in enumerate(underlay)}
    return ControlOverlay(vni, underlay, overlay)


def overlay_up(overlay: ControlOverlay, name: Callable[[str], str]) -> list[VxlanOverlay]:
    """Each member's interface up (`name`: a member's namespace name, naming it if need
    be); OverlayError, and nothing left, when one cannot be configured. Blocking (netlink):
    a caller on an event loop runs it in a thread."""
    namespaces = {member: name(member) for member in overlay.underlay}
    interfaces: list[VxlanOverlay] = []
    try:
        for spec in overlay.specs(namespaces):
            interfaces.append(VxlanOverlay(spec).up())
    except BaseException:
        overlay_down(interfaces)
        raise
    return interfaces


def overlay_down(interfaces: list[VxlanOverlay]) -> None:
    """The interfaces removed (those whose namespace is gone went with it)."""
    for interface in reversed(interfaces):
        interface.down()

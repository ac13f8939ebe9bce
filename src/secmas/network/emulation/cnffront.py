"""The emulated CNF's front: its service address spread over instances in other PoPs.

A CNF replica that an auction placed on another PoP runs in that PoP's namespace and
listens on the PoP's own address; the users still connect to the service address, on
the server. The front is the layer-4 load balancer a CNF's service gets when its
instances leave the node that holds its address (a Kubernetes Service's or LVS's "full
NAT" mode): in the server's namespace, nftables gives each new connection to the next
instance in turn (`numgen inc`: round robin, the CNF's own instance included while it
runs) and, for an instance elsewhere, rewrites the source to the service address so
that the answers come back through the front, which undoes both rewrites. A connection
keeps the instance it was given (NAT is decided once per connection), so a change
never breaks one that is open; what an instance sees as the source of such a
connection is the front.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from secmas.network.emulation.namespaces import CommandFailed, Namespace

FRONT_TABLE = "secmasfront"
FORWARD = "net.ipv4.ip_forward"


def front_ruleset(service: str, ports: Sequence[int], instances: Sequence[str]) -> str:
    """The front's nftables table (pure): new connections to `service` on `ports` go to
    `instances` (addresses, one entry per instance, repeated where a PoP runs several) in
    turn; the ones that leave are sourced from `service`."""
    listed = ", ".join(str(p) for p in sorted(set(ports)))
    targets = ", ".join(f"{index} : {address}" for index, address in enumerate(instances))
    spread = f"numgen inc mod {len(instances)} map {{ {targets} }}"
    away = sorted(set(instances) - {service})
    snat = (
        f"    ip daddr {{ {', '.join(away)} }} tcp dport {{ {listed} }} snat to {service}\n"
        if away
        else ""
    )
    return f"""table ip {FRONT_TABLE} {{
  chain spread {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {service} tcp dport {{ {listed} }} dnat to {spread}
  }}
  chain source {{
    type nat hook postrouting priority srcnat; policy accept;
{snat}  }}
}}
"""


class ServiceFront:
    """The front of one CNF (see the module docstring), in the namespace that holds the
    service address; absent while every instance runs there."""

    def __init__(self, namespace: Namespace, service: str, ports: Sequence[int]) -> None:
        self.namespace = namespace
        self.service = service
        self.ports = sorted(set(ports))
        self.instances: tuple[str, ...] = (service,)
        self._forwarding = ""
        """The namespace's ip_forward before the front first needed it."""

    def spread(self, instances: Sequence[str]) -> None:
        """Give new connections to `instances` in turn from now on (ValueError for none)."""
        if not instances:
            raise ValueError("the CNF's front needs at least one instance to send users to")
        self.instances = tuple(instances)
        if set(instances) == {self.service}:
            self._drop()
            return
        if not self._forwarding:
            self._forwarding = self.namespace.run(["sysctl", "-n", FORWARD]).strip()
            self.namespace.run(["sysctl", "-q", "-w", f"{FORWARD}=1"])
        # declaring the table first makes the delete succeed on the first install too: the
        # whole script is one transaction, so no connection ever meets a missing front
        replace = f"table ip {FRONT_TABLE}\ndelete table ip {FRONT_TABLE}\n"
        self.namespace.nft(replace + front_ruleset(self.service, self.ports, instances))

    def close(self) -> None:
        """Take the front out (connections it sent elsewhere end with their instances)."""
        self._drop()
        if self._forwarding:
            with contextlib.suppress(CommandFailed):
                self.namespace.run(["sysctl", "-q", "-w", f"{FORWARD}={self._forwarding}"])
            self._forwarding = ""

    def _drop(self) -> None:
        with contextlib.suppress(CommandFailed):
            self.namespace.nft(f"table ip {FRONT_TABLE}\ndelete table ip {FRONT_TABLE}\n")

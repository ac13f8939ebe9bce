"""An optional Linux overlay: one VXLAN segment per pipeline VNI, configured with pyroute2.

The paper separates pipelines by VXLAN segment (VNI) and encrypts inter-agent links with
IPsec. Kernel IPsec (xfrm) is not available on the machines this project is built and
tested on, so encryption is the secure channel's job (`secmas.transport.channel`, an
ESP-like AEAD per link at the application level). What this driver adds is the network
half of the design: a VXLAN interface per VNI gives each pipeline its own L2 overlay for
agent traffic (a NATS server bound to an overlay address is reachable only from the
segment), and segment isolation comes from the kernel, which drops frames of a VNI it
has no interface for. The channel checks the same 24-bit VNI in every frame, so a frame
that crossed segments would still be refused.

Remote peers are unicast: one all-zeros FDB entry per peer's underlay address (as
`bridge fdb append 00:00:00:00:00:00 dst PEER`), so broadcast and unknown traffic (ARP)
is replicated to every peer, and peers can join or leave a segment without recreating
the interface. No multicast is needed on the underlay.

Everything here needs Linux, pyroute2 (`pip install 'secmas[overlay]'`), CAP_NET_ADMIN
and the vxlan kernel module; `overlay_available` says which is missing, so callers and
tests can skip with a clear message. The driver configures a given network namespace
(by name, as `ip netns` names it) but never creates one, nor the underlay device.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from secmas.transport.channel import MAX_VNI
from secmas.transport.netns import NETNS_DIR, NamespaceUnreachable, call_in_namespace

if TYPE_CHECKING:
    from pyroute2 import IPRoute

_FAILURES: tuple[type[Exception], ...] = (OSError,)
"""What a refused netlink request raises: NetlinkError (not an OSError) or an OSError."""
with contextlib.suppress(ImportError):  # optional: overlay_available says it is missing
    from pyroute2.netlink.exceptions import NetlinkError

    _FAILURES = (OSError, NetlinkError)

T = TypeVar("T")
VXLAN_PORT = 4789
"""The IANA VXLAN port; every member of a segment must use the same one."""
FLOOD_MAC = "00:00:00:00:00:00"
"""The FDB address whose entries list the peers that broadcast traffic is sent to."""
CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
ETHERNET_MTU = 1500
HEADROOM = {4: 50, 6: 70}
"""Bytes VXLAN adds to a frame over IPv4 and IPv6: outer IP, UDP, VXLAN and inner
Ethernet headers."""
MAX_IFNAME = 15
"""Linux interface names are at most IFNAMSIZ - 1 bytes."""
INSTALL_HINT = "pip install 'secmas[overlay]'"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class OverlayError(RuntimeError):
    """A VXLAN interface could not be configured; the message names it and the namespace."""


def _effective_caps(status: Path = Path("/proc/self/status")) -> int:
    """This process's effective capability set (root in a container may lack some)."""
    for line in status.read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def _vxlan_module(release: str | None = None) -> bool:
    """Whether the vxlan module is loaded, built in, or installed (the kernel loads it on
    the first VXLAN link). /sys/module lists loaded and built-in modules alike."""
    if Path("/sys/module/vxlan").exists():
        return True
    modules = Path("/lib/modules") / (release or os.uname().release)
    builtin = modules / "modules.builtin"
    if builtin.exists() and "/vxlan.ko" in builtin.read_text(errors="replace"):
        return True
    drivers = modules / "kernel" / "drivers" / "net"
    return drivers.is_dir() and any(drivers.glob("**/vxlan.ko*"))


def overlay_available(*, namespaces: bool = False) -> str | None:
    """None when VXLAN overlays can be configured here, else why not (for a skip message).

    `namespaces=True` also asks for CAP_SYS_ADMIN, which creating and entering network
    namespaces needs (tests build their underlay in namespaces; the driver only enters
    them)."""
    if sys.platform != "linux":
        return f"VXLAN overlays need Linux, this is {sys.platform}"
    if importlib.util.find_spec("pyroute2") is None:
        return f"pyroute2 is not installed: {INSTALL_HINT}"
    try:
        caps = _effective_caps()
    except OSError as exc:
        return f"cannot read this process's capabilities: {exc}"
    if not caps >> CAP_NET_ADMIN & 1:
        return "no CAP_NET_ADMIN: configuring network interfaces needs root or that capability"
    if namespaces and not caps >> CAP_SYS_ADMIN & 1:
        return "no CAP_SYS_ADMIN: creating network namespaces needs root or that capability"
    if not _vxlan_module():
        return f"the vxlan kernel module is neither loaded nor installed ({os.uname().release})"
    return None


@dataclass(frozen=True, slots=True)
class VxlanSpec:
    """One member of a VXLAN segment: VNI `vni` over device `underlay`, sourced from the
    underlay address `local`, with overlay address `address` (an interface, "IP/prefix").

    `remotes` are the other members' underlay addresses, reachable through `underlay`:
    the interface is tied to that device, so the kernel sends the encapsulated packets out
    of it only (a peer routed via another device is unreachable). With `underlay` None the
    interface is tied to no device: each encapsulated packet follows the namespace's
    routes to its peer, as on a router whose peers lie behind different links (`local`
    then is an address of the namespace, such as one on its loopback). `netns` names the network
    namespace the underlay lives in (None: this process's); `ifname` defaults to
    `vxlan<VNI>`. Values are checked here, so a typo fails before anything is configured.
    """

    vni: int
    underlay: str | None
    local: str
    address: str
    remotes: tuple[str, ...] = ()
    netns: str | None = None
    ifname: str | None = None
    port: int = VXLAN_PORT

    def __post_init__(self) -> None:
        if isinstance(self.vni, bool) or not isinstance(self.vni, int):
            raise TypeError(f"VNI must be an int, got {type(self.vni).__name__}")
        if not 0 < self.vni <= MAX_VNI:
            raise ValueError(f"VNI {self.vni} is not in 1..{MAX_VNI}")
        if not 0 < self.port < 1 << 16:
            raise ValueError(f"UDP port {self.port} is out of range")
        if not 0 < len(self.name.encode()) <= MAX_IFNAME:
            raise ValueError(f"interface name {self.name!r} must be 1..{MAX_IFNAME} bytes")
        if isinstance(self.remotes, str):
            raise TypeError("remotes must be a tuple of addresses, not one string")
        local = ipaddress.ip_address(self.local)
        for remote in self.remotes:
            _same_family(local, ipaddress.ip_address(remote))
        ipaddress.ip_interface(self.address)

    @property
    def name(self) -> str:
        """The VXLAN interface's name."""
        return self.ifname or f"vxlan{self.vni}"

    @property
    def overlay(self) -> IPInterface:
        """The overlay address with its prefix."""
        return ipaddress.ip_interface(self.address)


def _same_family(local: IPAddress, remote: IPAddress) -> None:
    """The kernel sends a segment's packets from one address family only."""
    if local.version != remote.version:
        raise ValueError(f"remote {remote} is not IPv{local.version} like local {local}")


def _where(spec: VxlanSpec) -> str:
    return f"netns {spec.netns!r}" if spec.netns else "this network namespace"


def _netlink(spec: VxlanSpec, work: Callable[[IPRoute], T]) -> T:
    """`work` done over a netlink socket of the spec's namespace (a missing one is an
    error, never created), by a thread that entered it (`secmas.transport.netns`):
    pyroute2's own way in forks a helper process per socket, and a fork in a process
    with threads can deadlock the helper (it hung a run's take-down after SIGTERM)."""
    from pyroute2 import IPRoute

    def opened() -> T:
        with IPRoute() as ipr:
            return work(ipr)

    if spec.netns is None:
        return opened()
    try:
        return call_in_namespace(NETNS_DIR / spec.netns, opened, f"netns:{spec.netns}")
    except NamespaceUnreachable as exc:
        raise OverlayError(f"cannot enter {_where(spec)}: {exc}") from exc


def _lookup(ipr: IPRoute, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return int(found[0]) if found else None


class VxlanOverlay:
    """One VXLAN interface per `VxlanSpec`; `up` creates it, `down` removes it.

    A context manager too. `up` either configures everything (interface, peers, address,
    link up) or removes what it created and raises OverlayError; `down` may be called
    again, or after the namespace is gone, and then does nothing.
    """

    def __init__(self, spec: VxlanSpec) -> None:
        self.spec = spec

    def __repr__(self) -> str:
        spec = self.spec
        return f"VxlanOverlay({spec.name}, vni={spec.vni}, {spec.address}, {_where(spec)})"

    def up(self) -> VxlanOverlay:
        """Create and configure the interface; OverlayError (and nothing left) on failure."""
        _netlink(self.spec, self._create)
        return self

    def _create(self, ipr: IPRoute) -> None:
        spec = self.spec
        underlay = None
        if spec.underlay is not None:
            underlay = _lookup(ipr, spec.underlay)
            if underlay is None:
                raise OverlayError(f"no underlay device {spec.underlay!r} in {_where(spec)}")
        try:
            ipr.link("add", **self._link_attrs(underlay))
        except _FAILURES as exc:  # EEXIST, EPERM, ...
            raise OverlayError(f"cannot create {self!r}: {exc}") from exc
        try:
            index = _lookup(ipr, spec.name)
            if index is None:
                raise OverlayError(f"{self!r} vanished right after it was created")
            for remote in spec.remotes:
                self._flood(ipr, "append", index, remote)
            overlay = spec.overlay
            prefix = overlay.network.prefixlen
            ipr.addr("add", index=index, address=str(overlay.ip), prefixlen=prefix)
            ipr.link("set", index=index, state="up")
        except BaseException as exc:
            created = _lookup(ipr, spec.name)
            if created is not None:
                with contextlib.suppress(*_FAILURES):
                    ipr.link("del", index=created)
            if isinstance(exc, _FAILURES):
                raise OverlayError(f"cannot configure {self!r}: {exc}") from exc
            raise

    def _link_attrs(self, underlay: int | None) -> dict[str, Any]:
        """The rtnetlink request: learning stays on, so unicast frames go straight to the
        peer that owns a MAC once it has been seen; the kernel derives the MTU from the
        underlay (minus the VXLAN headroom) when the link is given; without one it
        would keep Ethernet's 1500, and every full frame would leave fragmented, so the
        MTU is set to an Ethernet underlay's less the headroom."""
        spec = self.spec
        local = ipaddress.ip_address(spec.local)
        attrs: dict[str, Any] = {
            "ifname": spec.name,
            "kind": "vxlan",
            "vxlan_id": spec.vni,
            "vxlan_port": spec.port,
            "vxlan_learning": 1,
        }
        if underlay is not None:
            attrs["vxlan_link"] = underlay
        else:
            attrs["mtu"] = ETHERNET_MTU - HEADROOM[local.version]
        attrs["vxlan_local" if local.version == 4 else "vxlan_local6"] = str(local)
        return attrs

    def _flood(self, ipr: IPRoute, command: str, index: int, remote: str) -> None:
        ipr.fdb(command, ifindex=index, lladdr=FLOOD_MAC, dst=remote)

    def add_remote(self, remote: str) -> None:
        """Add a peer (its underlay address) to the running segment."""
        _same_family(ipaddress.ip_address(self.spec.local), ipaddress.ip_address(remote))
        self._change_remote("append", remote)

    def remove_remote(self, remote: str) -> None:
        """Stop sending the segment's broadcast traffic to a peer."""
        self._change_remote("del", remote)

    def _change_remote(self, command: str, remote: str) -> None:
        def change(ipr: IPRoute) -> None:
            index = _lookup(ipr, self.spec.name)
            if index is None:
                raise OverlayError(f"{self!r} is not up")
            try:
                self._flood(ipr, command, index, remote)
            except _FAILURES as exc:
                raise OverlayError(f"cannot {command} remote {remote} on {self!r}: {exc}") from exc

        _netlink(self.spec, change)

    def remotes(self) -> list[str]:
        """The peers the kernel floods to now (read back, not what the spec asked for)."""

        def read(ipr: IPRoute) -> list[str]:
            index = _lookup(ipr, self.spec.name)
            if index is None:
                return []
            entries = ipr.fdb("dump", ifindex=index, lladdr=FLOOD_MAC)
            return [str(entry.get("NDA_DST")) for entry in entries if entry.get("NDA_DST")]

        return _netlink(self.spec, read)

    @property
    def exists(self) -> bool:
        """Whether the interface is there (False too when its namespace is gone)."""
        try:
            return _netlink(self.spec, lambda ipr: _lookup(ipr, self.spec.name) is not None)
        except OverlayError:
            return False

    def down(self) -> None:
        """Remove the interface, with its address and FDB entries; nothing if it is gone."""

        def remove(ipr: IPRoute) -> None:
            index = _lookup(ipr, self.spec.name)
            if index is not None:
                ipr.link("del", index=index)

        try:
            _netlink(self.spec, remove)
        except OverlayError:  # the namespace is gone, and the interface with it
            return

    def __enter__(self) -> VxlanOverlay:
        return self.up()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

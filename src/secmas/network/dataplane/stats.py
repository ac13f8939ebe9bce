"""What the data plane reports: per-flow counters as a switch would export them, and telemetry.

A VNF sees only `FlowStats` (addresses, bytes, packets, SYN and ACK counts); whether a
flow is an attack is ground truth that the simulator keeps apart, for evaluation only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

BYTES_PER_MB = 1e6  # rates are MB/s with 1 MB = 10^6 bytes


@dataclass(frozen=True, slots=True, order=True)
class FlowId:
    """A flow as a switch matches it: source and destination address, destination port."""

    src_ip: str
    dst_ip: str
    port: int


@dataclass(frozen=True, slots=True)
class Counters:
    """Traffic of one flow seen at one node over `seconds` simulated seconds.

    Counts are expected values, so they may be fractional: the simulator is flow-level.
    `syn` counts connection attempts and `ack` the handshakes completed; a SYN flood leaves
    its connections half-open, legitimate TCP completes them.
    """

    seconds: float
    bytes: float
    packets: float
    syn: float
    ack: float

    @property
    def rate(self) -> float:
        """Mean MB/s over the period."""
        return self.bytes / BYTES_PER_MB / self.seconds if self.seconds > 0 else 0.0

    @property
    def packet_size(self) -> float:
        """Mean packet size in bytes (0 without packets)."""
        return self.bytes / self.packets if self.packets > 0 else 0.0

    @property
    def syn_rate(self) -> float:
        """Connection attempts per second."""
        return self.syn / self.seconds if self.seconds > 0 else 0.0

    @property
    def half_open(self) -> float:
        """Connection attempts never acknowledged."""
        return max(0.0, self.syn - self.ack)

    @property
    def half_open_ratio(self) -> float:
        """Share of connection attempts left half-open (0 without attempts)."""
        return self.half_open / self.syn if self.syn > 0 else 0.0


@dataclass(frozen=True, slots=True)
class FlowStats:
    """One flow as observed arriving at `node`: last step, recent window and since start.

    `part` is the flow's group under the node's traffic split towards its destination,
    if there is one.
    """

    flow: FlowId
    node: str
    part: int | None
    last: Counters
    window: Counters
    total: Counters


@dataclass(frozen=True, slots=True)
class Telemetry:
    """One step of the server's traffic (Figure 5.4), in MB/s; `t` is the step's start.

    The legit/attack split is ground truth, for plots and evaluation. `monitored` is the
    load of the Defence's monitored link (the busier direction), if the scenario has one.
    `latency` is the one-way latency of the legitimate traffic delivered, ms, averaged
    over its flows weighted by their rates (0 when none arrives): steering raises it.
    `links` is the load of every scenario link that carried traffic in the step (the
    busier direction, MB/s, to LINK_DECIMALS places), keyed "a~b" by the link's ends as the
    scenario lists them; a link absent from it carried none (under 0.5 kB/s), which keeps
    report.json small on large topologies, most of whose links are idle.
    """

    t: float
    legit: float
    attack: float
    offered_legit: float
    offered_attack: float
    monitored: float | None
    latency: float = 0.0
    links: dict[str, float] | None = None


LINK_DECIMALS = 3
"""Places a link's load keeps in telemetry (1 kB/s): enough for a plot, and report.json
stays small on large topologies."""


def busy_links(loads: Iterable[tuple[str, float]]) -> dict[str, float]:
    """`Telemetry.links` from (key, MB/s) pairs: rounded, links with no load left out."""
    rounded = ((key, round(load, LINK_DECIMALS)) for key, load in loads)
    return {key: load for key, load in rounded if load > 0}


def link_key(a: str, b: str) -> str:
    """A link's key in `Telemetry.links`: its two ends as the scenario lists them."""
    return f"{a}~{b}"

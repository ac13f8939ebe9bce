"""The measurement sources SSLA indicators read in a run: records built from what the data
plane, the CNFs and the agents' bus show, one step at a time.

A source is named `<slice>.<kind>` (`translate.py` writes these names); the kinds are

- `ingress` (stream, one record per flow and step, weighted by `packets`): the packets
  that reached the slice's hosts in the step: `source_ip`, `destination_ip`, `port`,
  `packets`, `bytes`, and `ingress`, the node where the source's traffic enters;
- `rejected` (stream, weighted by `packets`): the packets switch rules dropped on their way
  to the slice's hosts in the step: the same fields plus `node` and `rule`;
- `availability` (metric, percent): the share of the run's seconds in which every CNF of
  the slice was up, a second being down when more than :data:`DOWN_ERROR_RATE` of its
  requests failed (availability as uptime, the usual SLA reading);
- `agent-bus` (stream, one record per message): the NFV-A messages on the wire, from a tap
  on the shared bus: `subject`, `sender`, `encrypted` (the message has a sealed frame's
  envelope, `secmas.transport.channel`), `bytes`;
- `placements` (stream): where the slice's CNF replicas run, one record per replica and
  step: `cnf`, `pop`, `region` (the PoP's, or 'unknown').

`patches` has no source in a simulated run: its terms are reported as not measured.
Building records is pure; the manager (`manager.py`) feeds it the plane's observations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from secmas.agents.acl import ACLMessage, MalformedMessage
from secmas.network.dataplane import DataPlane, Drop, FlowStats
from secmas.network.dataplane.traffic import DEFAULT_SERVER_IP
from secmas.scenario.model import Scenario, Slice
from secmas.transport.channel import frame_sender

DOWN_ERROR_RATE = 0.05
"""A second counts as down for a CNF when more than this share of its requests failed."""

WEIGHTS: dict[str, str] = {"ingress": "packets", "rejected": "packets"}
"""The field that says how many packets a record of a flow-level stream stands for."""

METRIC_KINDS = frozenset({"availability"})
STREAM_KINDS = frozenset({"ingress", "rejected", "agent-bus", "placements"})

Record = Mapping[str, Any]


def split_source(name: str) -> tuple[str, str]:
    """`protected-web.ingress` → (`protected-web`, `ingress`); the slice may contain dots."""
    slice_id, dot, kind = name.rpartition(".")
    if not dot or not slice_id:
        raise ValueError(f"measurement source {name!r} is not <slice>.<kind>")
    return slice_id, kind


@dataclass(frozen=True)
class SliceView:
    """What identifies a slice's traffic and services in the network."""

    slice: Slice
    addresses: Mapping[str, str]
    """host id → its address."""
    attach: Mapping[str, str]
    """host id → the node it hangs off."""
    pop_of_cnf: Mapping[str, str]
    regions: Mapping[str, str]
    """PoP id → region, for PoPs that have one."""

    @classmethod
    def of(cls, scenario: Scenario, slice_: Slice) -> SliceView:
        hosts = {host.id: host for host in scenario.hosts}
        addresses = {h: hosts[h].ip or DEFAULT_SERVER_IP for h in slice_.hosts}
        return cls(
            slice_,
            addresses,
            {h: hosts[h].attach for h in slice_.hosts},
            {cnf.id: cnf.pop for cnf in scenario.cnfs if cnf.id in slice_.cnfs},
            {pop.id: pop.region for pop in scenario.pops if pop.region is not None},
        )


def ingress_records(flows: Iterable[FlowStats], ingress: Mapping[str, str]) -> list[Record]:
    """One record per flow that delivered packets to a slice host in the last step."""
    return [
        {
            "source_ip": stats.flow.src_ip,
            "destination_ip": stats.flow.dst_ip,
            "port": stats.flow.port,
            "packets": stats.last.packets,
            "bytes": stats.last.bytes,
            "ingress": ingress.get(stats.flow.src_ip, "unknown"),
        }
        for stats in flows
        if stats.last.packets > 0
    ]


def rejected_records(
    drops: Iterable[Drop], addresses: Iterable[str], ingress: Mapping[str, str]
) -> list[Record]:
    """One record per (rule, flow) that dropped packets towards a slice address."""
    wanted = set(addresses)
    return [
        {
            "source_ip": drop.flow.src_ip,
            "destination_ip": drop.flow.dst_ip,
            "port": drop.flow.port,
            "packets": drop.packets,
            "bytes": drop.bytes,
            "ingress": ingress.get(drop.flow.src_ip, "unknown"),
            "node": drop.node,
            "rule": type(drop.rule).__name__,
        }
        for drop in drops
        if drop.flow.dst_ip in wanted and drop.packets > 0
    ]


def cnf_up(metrics: Mapping[str, float]) -> bool:
    """Whether a CNF served its second: at most DOWN_ERROR_RATE of its requests failed."""
    return metrics.get("error_rate", 0.0) <= DOWN_ERROR_RATE


def placement_records(
    replicas: Mapping[str, Sequence[str]], regions: Mapping[str, str]
) -> list[Record]:
    """One record per running replica of the slice's CNFs, with its PoP's region."""
    return [
        {"cnf": cnf, "pop": pop, "region": regions.get(pop, "unknown")}
        for cnf, pops in replicas.items()
        for pop in pops
    ]


def message_record(subject: str, data: bytes, vni: int) -> Record:
    """A tapped bus message: sealed (and who its header names) or readable in clear."""
    sender = frame_sender(data, vni)
    encrypted = sender is not None
    if sender is None:
        try:
            sender = ACLMessage.decode(data).sender
        except MalformedMessage:
            sender = "unknown"
    return {"subject": subject, "sender": sender, "encrypted": encrypted, "bytes": len(data)}


class SliceTap:
    """Collects one step of every source of one slice from the data plane."""

    def __init__(self, plane: DataPlane, view: SliceView) -> None:
        self.plane = plane
        self.view = view
        self.up_seconds = 0.0
        self.seconds = 0.0
        self._ingress: dict[str, str] = {}

    def ingress_of(self, src_ip: str) -> str:
        """The node where a source's traffic enters (cached: the host table is static)."""
        node = self._ingress.get(src_ip)
        if node is None:
            try:
                node = self.plane.ingress(src_ip)
            except KeyError:
                node = "unknown"
            self._ingress[src_ip] = node
        return node

    def step(self) -> dict[str, list[Record]]:
        """The stream records of the step that just ended, by source kind."""
        flows = [
            stats
            for host, address in self.view.addresses.items()
            for stats in self.plane.flows_via(host, address)
        ]
        ingress = {s.flow.src_ip: self.ingress_of(s.flow.src_ip) for s in flows}
        drops = self.plane.drops
        ingress |= {d.flow.src_ip: self.ingress_of(d.flow.src_ip) for d in drops}
        replicas = {
            cnf: tuple(self.plane.cnf_placement(cnf).replicas) for cnf in self.view.pop_of_cnf
        }
        return {
            "ingress": ingress_records(flows, ingress),
            "rejected": rejected_records(drops, self.view.addresses.values(), ingress),
            "placements": placement_records(replicas, self.view.regions),
        }

    def availability(self) -> float | None:
        """Percent of the run's seconds the slice's CNFs were all up (None without CNFs);
        call once per step."""
        if not self.view.pop_of_cnf:
            return None
        self.seconds += self.plane.step_seconds
        if all(cnf_up(self.plane.cnf_metrics(cnf)) for cnf in self.view.pop_of_cnf):
            self.up_seconds += self.plane.step_seconds
        return 100.0 * self.up_seconds / self.seconds

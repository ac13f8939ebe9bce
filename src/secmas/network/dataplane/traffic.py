"""Clients and the traffic they offer each step (Section 5.3).

Background clients are video viewers and HTTP clients, one video client in every
(http_per_video + 1); attackers send what the scenario's attack plug-in says
(`secmas.network.attack`) to the server's service ports. Clients are virtual hosts behind
their attach node, spread round-robin over the attach list.
Random draws never depend on rules or on what the network delivers, so runs with
different defences see exactly the same offered traffic for a seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from secmas.network import attack as registry
from secmas.network.dataplane.flows import LEGIT_PREFIX, FlowKind, FlowSpec, client_ip
from secmas.network.dataplane.stats import BYTES_PER_MB, FlowId
from secmas.scenario.model import Attack, BackgroundTraffic, Scenario

DEFAULT_SERVER_IP = "10.0.0.100"
JITTER = 0.1  # each step's rate is the mean × U(1 − JITTER, 1 + JITTER)
HTTP_ON = 0.75  # chance an HTTP client requests in a step; its rate is scaled to keep the mean

CLIENT_BYTES = {FlowKind.VIDEO: 1400.0, FlowKind.HTTP: 800.0}
"""Bytes per packet of the legitimate clients; an attack's are its `Sender.packet_bytes`."""


def packet_bytes(kind: str) -> float:
    """Bytes per packet of a flow of `kind` (for an attack, per unit of it)."""
    if kind in CLIENT_BYTES:
        return CLIENT_BYTES[FlowKind(kind)]
    return registry.sender(kind).packet_bytes


@dataclass(frozen=True, slots=True)
class Offered:
    """One step of offered traffic per flow: MB/s, SYNs sent and handshakes completed."""

    rate: np.ndarray
    syn: np.ndarray
    ack: np.ndarray


def server_ip(scenario: Scenario) -> str:
    """The traffic server's address, or the default one if the scenario gives none."""
    assert scenario.traffic is not None
    ips = {host.id: host.ip for host in scenario.hosts}
    return ips[scenario.traffic.server] or DEFAULT_SERVER_IP


def background_flows(
    background: BackgroundTraffic, dst_ip: str, ports: Sequence[int]
) -> list[FlowSpec]:
    """Video clients (last service port) and HTTP clients (first port), active all run."""
    flows = []
    for index in range(background.hosts):
        video = index % (background.http_per_video + 1) == 0
        kind = FlowKind.VIDEO if video else FlowKind.HTTP
        flows.append(
            FlowSpec(
                id=FlowId(client_ip(LEGIT_PREFIX, index), dst_ip, ports[-1] if video else ports[0]),
                kind=kind,
                attach=background.attach[index % len(background.attach)],
                rate=background.video_rate if video else background.http_rate,
                start=0.0,
                stop=np.inf,
            )
        )
    return flows


def attack_flows(attack: Attack, dst_ip: str, until: float, first: int = 0) -> list[FlowSpec]:
    """The flows of `attack`'s kind (`AttackPlugin.flows`) in a run of `until` seconds, its
    attackers numbered from `first`."""
    return registry.attack_kind(attack.kind).flows(attack, dst_ip, first, until)


def scenario_flows(scenario: Scenario, extra_attacks: Sequence[Attack] = ()) -> list[FlowSpec]:
    """Every flow of the scenario: background first, then the attack, then `extra_attacks`
    (further attacks in the same run, for generated data sets), each numbering its
    attackers after the addresses the ones before it used."""
    assert scenario.traffic is not None
    dst_ip = server_ip(scenario)
    flows = background_flows(scenario.traffic.background, dst_ip, scenario.traffic.ports)
    attacks = ([] if scenario.attack is None else [scenario.attack]) + list(extra_attacks)
    first = 0
    for attack in attacks:
        added = attack_flows(attack, dst_ip, scenario.traffic.duration, first)
        flows += added
        first += len({flow.id.src_ip for flow in added})
    return flows


class TrafficModel:
    """Draws each step's offered traffic from one seeded generator."""

    def __init__(self, flows: Sequence[FlowSpec], step: float, seed: int) -> None:
        self._step = step
        self._rng = np.random.default_rng(seed)
        self._rate = np.array([f.rate for f in flows], dtype=float)
        self._start = np.array([f.start for f in flows], dtype=float)
        self._stop = np.array([f.stop for f in flows], dtype=float)
        self._http = np.array([f.kind is FlowKind.HTTP for f in flows], dtype=bool)
        self._video = np.array([f.kind is FlowKind.VIDEO for f in flows], dtype=bool)
        senders = [registry.sender(f.kind) if f.is_attack else None for f in flows]
        half_open = [s is not None and s.connects and not s.handshakes for s in senders]
        self._flood = np.array(half_open, dtype=bool)
        self._datagram = np.array([s is not None and not s.connects for s in senders], dtype=bool)
        self._attack = np.array([s is not None for s in senders], dtype=bool)
        self._packet_bytes = np.array([packet_bytes(f.kind) for f in flows], dtype=float)

    def offered(self, t: float) -> Offered:
        """Traffic offered in the step starting at `t`.

        HTTP clients request in a step with probability HTTP_ON, one connection each;
        a video client opens its one connection in its first step. Attackers open one
        connection per unit of attack (`Sender.packet_bytes`): those of an attack that
        completes no handshake (a SYN flood) are never acknowledged, the others' are
        (an HTTP flood, a slowloris); datagrams (an injection) open none.
        """
        n = len(self._rate)
        jitter = self._rng.uniform(1.0 - JITTER, 1.0 + JITTER, n)
        requesting = self._rng.random(n) < HTTP_ON
        active = (self._start <= t) & (t < self._stop)
        http_on = self._http & requesting
        rate = self._rate * jitter * active
        rate = np.where(self._http, rate * http_on / HTTP_ON, rate)
        opening = (self._video & (t < self._start + self._step)) | http_on
        legit_syn = (active & opening).astype(float)
        attack_syn = rate * self._step * BYTES_PER_MB / self._packet_bytes
        syn = np.where(self._attack & ~self._datagram, attack_syn, legit_syn)
        return Offered(rate=rate, syn=syn, ack=np.where(self._flood, 0.0, syn))

    @property
    def packet_bytes(self) -> np.ndarray:
        """Packet size of each flow, bytes."""
        return self._packet_bytes

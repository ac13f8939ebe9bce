"""Clients and the traffic they offer each step (Section 5.3).

Background clients are video viewers and HTTP clients, one video client in every
(http_per_video + 1); attackers send a SYN flood, an HTTP flood or a slowloris attack to
the server's service ports. Clients are virtual hosts behind their attach node, spread
round-robin over the attach list.
Random draws never depend on rules or on what the network delivers, so runs with
different defences see exactly the same offered traffic for a seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Network

import numpy as np

from secmas.network.dataplane.stats import BYTES_PER_MB, FlowId
from secmas.scenario.model import Attack, BackgroundTraffic, Scenario

DEFAULT_SERVER_IP = "10.0.0.100"
LEGIT_PREFIX = "10.1"
ATTACK_PREFIX = "10.66"
JITTER = 0.1  # each step's rate is the mean × U(1 − JITTER, 1 + JITTER)
HTTP_ON = 0.75  # chance an HTTP client requests in a step; its rate is scaled to keep the mean


class FlowKind(StrEnum):
    """What a client sends; fixes the packet size and the handshake behaviour.

    The attack kinds carry the names of `Attack.kind` (`Attack.kind_of` for a mixed one).
    """

    VIDEO = "video"
    HTTP = "http"
    SYN_FLOOD = "syn_flood"
    HTTP_FLOOD = "http_flood"
    SLOWLORIS = "slowloris"
    INJECTION = "injection"


ATTACK_KINDS = frozenset(
    {FlowKind.SYN_FLOOD, FlowKind.HTTP_FLOOD, FlowKind.SLOWLORIS, FlowKind.INJECTION}
)

# Bytes per packet; for the attacks, per unit of attack. A SYN is a bare 60-byte segment,
# an HTTP-flood request (Hulk style: a GET with randomised URL and headers) is one 800-byte
# packet after a completed handshake, and a slowloris connection costs its handshake and
# a first partial header, 300 bytes, after which it sends only a few bytes now and then.
# An injected datagram is a 200-byte crafted UDP payload with no handshake at all.
PACKET_BYTES = {
    FlowKind.VIDEO: 1400.0,
    FlowKind.HTTP: 800.0,
    FlowKind.SYN_FLOOD: 60.0,
    FlowKind.HTTP_FLOOD: 800.0,
    FlowKind.SLOWLORIS: 300.0,
    FlowKind.INJECTION: 200.0,
}


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """A client's flow: mean offered rate (MB/s) while active in [start, stop)."""

    id: FlowId
    kind: FlowKind
    attach: str
    rate: float
    start: float
    stop: float

    @property
    def is_attack(self) -> bool:
        """Ground truth, for evaluation only."""
        return self.kind in ATTACK_KINDS


@dataclass(frozen=True, slots=True)
class Offered:
    """One step of offered traffic per flow: MB/s, SYNs sent and handshakes completed."""

    rate: np.ndarray
    syn: np.ndarray
    ack: np.ndarray


def client_ip(prefix: str, index: int) -> str:
    """Deterministic address of the index-th client under a /16 prefix (x.y, y in 1..254)."""
    high, low = divmod(index, 254)
    if high > 255:
        raise ValueError(f"client {index} does not fit in {prefix}.0.0/16")
    return f"{prefix}.{high}.{low + 1}"


def spoofed_ip(prefix: IPv4Network, index: int) -> str:
    """The source address the index-th attacker forges: the prefix's (index+1)-th host."""
    if not 0 <= index < prefix.num_addresses - 2:
        raise ValueError(f"attacker {index} does not fit in {prefix}")
    return str(prefix[index + 1])


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


def attack_flows(attack: Attack, dst_ip: str, first: int = 0) -> list[FlowSpec]:
    """One flow per attacker and attacked port, splitting the attacker's rate evenly.

    Attackers are numbered from `first` (their addresses follow from the number), so that
    several attacks in one run use distinct addresses; a spoofing attack's addresses are
    forged from its prefix instead. Each attacker sends its kind (`Attack.kind_of`).
    """
    stop = np.inf if attack.stop is None else attack.stop

    def source(index: int) -> str:
        if attack.spoof is not None:
            return spoofed_ip(attack.spoof, index)
        return client_ip(ATTACK_PREFIX, first + index)

    return [
        FlowSpec(
            id=FlowId(source(index), dst_ip, port),
            kind=FlowKind(attack.kind_of(index)),
            attach=attack.attach[index % len(attack.attach)],
            rate=attack.rate / len(attack.ports),
            start=attack.start,
            stop=stop,
        )
        for index in range(attack.attackers)
        for port in attack.ports
    ]


def scenario_flows(scenario: Scenario, extra_attacks: Sequence[Attack] = ()) -> list[FlowSpec]:
    """Every flow of the scenario: background first, then the attack, then `extra_attacks`
    (further attacks in the same run, for generated data sets)."""
    assert scenario.traffic is not None
    dst_ip = server_ip(scenario)
    flows = background_flows(scenario.traffic.background, dst_ip, scenario.traffic.ports)
    attacks = ([] if scenario.attack is None else [scenario.attack]) + list(extra_attacks)
    first = 0
    for attack in attacks:
        flows += attack_flows(attack, dst_ip, first)
        first += attack.attackers
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
        self._flood = np.array([f.kind is FlowKind.SYN_FLOOD for f in flows], dtype=bool)
        self._datagram = np.array([f.kind is FlowKind.INJECTION for f in flows], dtype=bool)
        self._attack = np.array([f.kind in ATTACK_KINDS for f in flows], dtype=bool)
        self._packet_bytes = np.array([PACKET_BYTES[f.kind] for f in flows], dtype=float)

    def offered(self, t: float) -> Offered:
        """Traffic offered in the step starting at `t`.

        HTTP clients request in a step with probability HTTP_ON, one connection each;
        a video client opens its one connection in its first step. Attackers open one
        connection per unit of attack (see PACKET_BYTES): a SYN flood's are never
        acknowledged, an HTTP flood's and a slowloris's complete their handshakes; injected
        datagrams open none.
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

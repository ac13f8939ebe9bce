"""Clients and the traffic they offer each step (Section 5.3).

Background clients are video viewers and HTTP clients, one video client in every
(http_per_video + 1); attackers send a SYN flood to the server's service ports. Clients
are virtual hosts behind their attach node, spread round-robin over the attach list.
Random draws never depend on rules or on what the network delivers, so runs with
different defences see exactly the same offered traffic for a seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from secmas.network.dataplane.stats import BYTES_PER_MB, FlowId
from secmas.scenario.model import Attack, BackgroundTraffic, Scenario

DEFAULT_SERVER_IP = "10.0.0.100"
LEGIT_PREFIX = "10.1"
ATTACK_PREFIX = "10.66"
JITTER = 0.1  # each step's rate is the mean × U(1 − JITTER, 1 + JITTER)
HTTP_ON = 0.75  # chance an HTTP client requests in a step; its rate is scaled to keep the mean


class FlowKind(StrEnum):
    """What a client sends; fixes the packet size and the handshake behaviour."""

    VIDEO = "video"
    HTTP = "http"
    SYN_FLOOD = "syn_flood"


PACKET_BYTES = {FlowKind.VIDEO: 1400.0, FlowKind.HTTP: 800.0, FlowKind.SYN_FLOOD: 60.0}


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
        return self.kind is FlowKind.SYN_FLOOD


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


def attack_flows(attack: Attack, dst_ip: str) -> list[FlowSpec]:
    """One flow per attacker and attacked port, splitting the attacker's rate evenly."""
    stop = np.inf if attack.stop is None else attack.stop
    return [
        FlowSpec(
            id=FlowId(client_ip(ATTACK_PREFIX, index), dst_ip, port),
            kind=FlowKind.SYN_FLOOD,
            attach=attack.attach[index % len(attack.attach)],
            rate=attack.rate / len(attack.ports),
            start=attack.start,
            stop=stop,
        )
        for index in range(attack.attackers)
        for port in attack.ports
    ]


def scenario_flows(scenario: Scenario) -> list[FlowSpec]:
    """Every flow of the scenario: background first, then the attack."""
    assert scenario.traffic is not None
    dst_ip = server_ip(scenario)
    flows = background_flows(scenario.traffic.background, dst_ip, scenario.traffic.ports)
    if scenario.attack is not None:
        flows += attack_flows(scenario.attack, dst_ip)
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
        self._packet_bytes = np.array([PACKET_BYTES[f.kind] for f in flows], dtype=float)

    def offered(self, t: float) -> Offered:
        """Traffic offered in the step starting at `t`.

        HTTP clients request in a step with probability HTTP_ON, one connection each;
        a video client opens its one connection in its first step; every SYN of a flood
        is a 60-byte packet that is never acknowledged.
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
        flood_syn = rate * self._step * BYTES_PER_MB / self._packet_bytes
        return Offered(
            rate=rate,
            syn=np.where(self._flood, flood_syn, legit_syn),
            ack=np.where(self._flood, 0.0, legit_syn),
        )

    @property
    def packet_bytes(self) -> np.ndarray:
        """Packet size of each flow, bytes."""
        return self._packet_bytes

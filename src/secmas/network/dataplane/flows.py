"""What a client sends towards the server, as the flow-level simulator takes it: a flow's
kind, its identity, where it enters the network and its mean rate while it is active.

Background clients send `FlowKind`s; an attacker sends what its attack plug-in names
(`secmas.network.attack`), so a flow's kind is any installed attack's name as well.
Addresses follow from a client's number (`client_ip`), or are forged from a prefix
(`spoofed_ip`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Network

from secmas.network.dataplane.stats import FlowId

LEGIT_PREFIX = "10.1"
ATTACK_PREFIX = "10.66"


class FlowKind(StrEnum):
    """What a legitimate client sends; an attacker's flow carries its attack's name."""

    VIDEO = "video"
    HTTP = "http"


LEGITIMATE = frozenset(FlowKind)


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """A client's flow: mean offered rate (MB/s) while active in [start, stop)."""

    id: FlowId
    kind: str
    attach: str
    rate: float
    start: float
    stop: float

    @property
    def is_attack(self) -> bool:
        """Ground truth, for evaluation only: every flow no legitimate client sends."""
        return self.kind not in LEGITIMATE


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

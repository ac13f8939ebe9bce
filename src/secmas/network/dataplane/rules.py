"""Switch rules the Rate Limiter and Load Balancer VNFs install (Tables 5.1 and 5.5)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass


def _check_rate(rate: float) -> None:
    if not rate >= 0:
        raise ValueError(f"rate limit must be a non-negative MB/s, got {rate!r}")


@dataclass(frozen=True, slots=True)
class LinkRateLimit:
    """limitLink(link, RATE): cap the total traffic entering directed link a→b, MB/s."""

    a: str
    b: str
    rate: float

    def __post_init__(self) -> None:
        _check_rate(self.rate)


@dataclass(frozen=True, slots=True)
class IpRateLimit:
    """limitIP(ip, RATE): cap the traffic towards `dst_ip` passing `node`, MB/s."""

    node: str
    dst_ip: str
    rate: float

    def __post_init__(self) -> None:
        _check_rate(self.rate)


@dataclass(frozen=True, slots=True)
class FlowBlock:
    """blockFlow(flow): drop the traffic from `src_ip` to `dst_ip` at `node`."""

    node: str
    src_ip: str
    dst_ip: str


@dataclass(frozen=True, slots=True)
class TrafficSplit:
    """splitTrafficIP(ip, PARTS): group the flows towards `dst_ip` at `node` into `parts`.

    Rates are untouched; the groups exist so that one VNF per part analyses only its share.
    """

    node: str
    dst_ip: str
    parts: int

    def __post_init__(self) -> None:
        if self.parts < 2:
            raise ValueError(f"a traffic split needs at least 2 parts, got {self.parts}")


@dataclass(frozen=True, slots=True)
class Steer:
    """Traffic towards `dst_ip` arriving at `node` (only split part `part` of the split
    installed at `node`, when given) leaves along `via` — a node path that starts at `node`
    and crosses the VNF's PoP — and continues to `dst_ip` from via's last node.

    With `src_ip`, only the traffic from that source is steered (a flow a rate limiter
    must block, sent to it from where it enters the network).

    The chaining of `003_…` §3: a VNF placed off the traffic's path sees it only once the
    traffic is steered over the virtual path the winning bid computed. A packet is steered
    by one rule at most once (coming back through `node` it is routed normally), and not
    at all when it already crossed via's last node on its way to `node`: it has been
    through that PoP's VNF, and steering it there again would only loop it.
    """

    node: str
    dst_ip: str
    via: tuple[str, ...]
    part: int | None = None
    src_ip: str | None = None

    def __post_init__(self) -> None:
        if len(self.via) < 2 or self.via[0] != self.node:
            raise ValueError(
                f"a steering path must start at {self.node!r} and have at least 2 nodes, "
                f"got {list(self.via)}"
            )
        if len(set(self.via)) != len(self.via):
            raise ValueError(f"a steering path must not revisit a node, got {list(self.via)}")
        if self.part is not None and self.part < 0:
            raise ValueError(f"split part must be non-negative, got {self.part}")


Rule = LinkRateLimit | IpRateLimit | FlowBlock | TrafficSplit | Steer


def split_part(src_ip: str, parts: int) -> int:
    """The part of a split a source falls in: a hash stable across runs and processes."""
    return zlib.crc32(src_ip.encode()) % parts

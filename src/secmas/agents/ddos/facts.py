"""Names of links and flows in goals, the goals' priorities, and beliefs as they travel in
messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from secmas.agents.bdi import Belief

PROTECT, DIAGNOSE = 10.0, 5.0  # goal deliberation: protect the network first (Section 5.1)


def unplaced(goal: Belief) -> Belief:
    """unplaced(g, args): no PoP took goal g(args) in its auction (the Load Balancer's
    precondition, Table 5.5: the Anomaly Detector's or Classifier's auction failed)."""
    return Belief("unplaced", (goal.name, *goal.args))


def link_name(a: str, b: str) -> str:
    """`pop6~server`: the argument of linkRateLimited(link) and friends."""
    return f"{a}~{b}"


def link_ends(link: str) -> tuple[str, str]:
    """The two ends of a link name."""
    a, _, b = link.partition("~")
    if not a or not b:
        raise ValueError(f"not a link name: {link!r}")
    return a, b


def flow_name(src_ip: str, dst_ip: str) -> str:
    """`10.66.0.1>10.0.0.100`: the argument of flowRateLimited(flow)."""
    return f"{src_ip}>{dst_ip}"


def flow_ends(flow: str) -> tuple[str, str]:
    """Source and destination address of a flow name."""
    src, _, dst = flow.partition(">")
    if not src or not dst:
        raise ValueError(f"not a flow name: {flow!r}")
    return src, dst


def beliefs_to_json(beliefs: Iterable[Belief]) -> list[list[Any]]:
    """Beliefs as [name, args, positive] triples (INFORM-DONE content)."""
    return [[b.name, list(b.args), b.positive] for b in beliefs]


def beliefs_from_json(items: object) -> list[Belief]:
    """Parse [name, args, positive] triples; anything else raises ValueError."""
    if not isinstance(items, list):
        raise ValueError("beliefs must be a list")
    parsed = []
    for item in items:
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)):
            raise ValueError(f"not a belief triple: {item!r}")
        name, args, positive = item
        if not isinstance(args, list) or not isinstance(positive, bool):
            raise ValueError(f"not a belief triple: {item!r}")
        parsed.append(Belief(name, tuple(str(a) for a in args), positive))
    return parsed

"""NFV-A message content: a call's request and a proposal's bid, to and from the JSON
objects ACL messages carry (a bad frame raises; the receiver answers or drops it)."""

from __future__ import annotations

from typing import Any

from secmas.agents.bidding import Bid, GoalRequest, Ranges
from secmas.scenario.model import Constraint, Preferences


def request_to_content(request: GoalRequest, payload: dict[str, Any]) -> dict[str, Any]:
    """A GoalRequest (and the goal's payload) as CFP content."""
    return {
        "goal": request.goal,
        "args": list(request.args),
        "auctioneer": request.auctioneer,
        "preferences": {
            "T": request.preferences.T,
            "C": request.preferences.C,
            "D": request.preferences.D,
        },
        "constraints": [
            {"measure": c.measure.value, "op": c.op.value, "value": c.value}
            for c in request.constraints
        ],
        "vnfs": list(request.vnfs),
        "traffic": request.traffic,
        "payload": payload,
        **(
            {}
            if request.predicted_traffic is None
            else {"predicted_traffic": request.predicted_traffic}
        ),
        **({} if request.ranges is None else {"ranges": ranges_to_content(request.ranges)}),
    }


def ranges_to_content(ranges: Ranges) -> dict[str, list[float]]:
    """A call's normalisation ranges as CFP content: {"T": [low, high], "C": …, "D": …}."""
    return {"T": list(ranges.T), "C": list(ranges.C), "D": list(ranges.D)}


def ranges_from_content(content: Any) -> Ranges | None:
    """Parse a call's ranges (absent: None); raises KeyError, TypeError or ValueError."""
    if content is None:
        return None
    bounds = []
    for component in ("T", "C", "D"):
        low, high = (float(v) for v in content[component])
        if not low <= high:
            raise ValueError(f"ranges.{component}: low {low} above high {high}")
        bounds.append((low, high))
    return Ranges(*bounds)


def request_from_content(content: dict[str, Any]) -> tuple[GoalRequest, dict[str, Any]]:
    """Parse CFP content; raises ValueError (pydantic) or KeyError on a bad frame."""
    request = GoalRequest(
        goal=str(content["goal"]),
        auctioneer=str(content["auctioneer"]),
        preferences=Preferences.model_validate(content["preferences"]),
        constraints=tuple(Constraint.model_validate(c) for c in content["constraints"]),
        vnfs=tuple(str(v) for v in content["vnfs"]),
        traffic=float(content["traffic"]),
        args=tuple(str(a) for a in content["args"]),
        predicted_traffic=(
            None
            if content.get("predicted_traffic") is None
            else float(content["predicted_traffic"])
        ),
        ranges=ranges_from_content(content.get("ranges")),
    )
    payload = content.get("payload") or {}
    if not isinstance(payload, dict):
        raise ValueError("payload must be an object")
    return request, payload


def bid_to_content(bid: Bid) -> dict[str, Any]:
    """A Bid as PROPOSE content."""
    return {
        "bidder": bid.bidder,
        "vnf": bid.vnf,
        "T": bid.T,
        "C": bid.C,
        "D": bid.D,
        "units": bid.units,
        "path": list(bid.path),
        "instance": bid.instance,
    }


def bid_from_content(content: dict[str, Any]) -> Bid:
    """Parse PROPOSE content; raises KeyError, TypeError or ValueError on a bad frame."""
    return Bid(
        bidder=str(content["bidder"]),
        vnf=str(content["vnf"]),
        T=float(content["T"]),
        C=float(content["C"]),
        D=float(content["D"]),
        units=int(content["units"]),
        path=tuple(str(p) for p in content["path"]),
        instance=None if content.get("instance") is None else str(content["instance"]),
    )

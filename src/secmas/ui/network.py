"""Steered paths and blocked flows over the run, as the topology draws them.

report.json has no record of its own for either; both come from the data-plane actions
the agents journal (`actions[]`) and the SSLA manager's enforcements:

- `steer` — "<dst>[ part <k>][ from <src>] at <node> over <a>→<b>→…": traffic towards
  `dst` (a split's part `k`, a single source's flow) taken at `node` over that path to the
  agent's PoP (`secmas.agents.ddos.agent`); `unsteer`, with the same detail, when the agent
  let it go (its rule removed). What it fed (limit, analysis, block) is inferred from the
  agent's next actions. A journal with no `unsteer` at all (a run recorded before agents
  journalled them) has the end inferred too, as the agent lets a steering go: a steering
  for an analysis (Anomaly Detector, Classifier) once the analysis is done
  (`detectIntrusion`, `classifyFlows`), a steering for a limit (`limitLink`, `limitIP`,
  and a later limit on the same traffic that reuses it) once every such limit is lifted
  (`unlinkRateLimited`, `unipRateLimited`), a steering for a block (`blockFlow`, never
  lifted) never; a steering the journal says nothing more about lasts to the end of the
  run;
- `blockFlow` — "<src>>"<dst> at <pop>": the flow dropped at that PoP from then on (the
  agents' rate limiter, or a CNF's guard), and the SSLA manager's `REJECT_PACKET`
  enforcements ("<src>><dst> at <pop>").

Link loads are not here: the page reads them from report.json's telemetry (`monitored`,
the watched link's load; `links`, per-link loads, where a run records them).
Pure functions of report.json-shaped data (plain dicts), so the live page shows the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

_STEER = re.compile(
    r"^(?P<dst>\S+)(?: part (?P<part>\d+))?(?: from (?P<src>\S+))?"
    r" at (?P<at>\S+) over (?P<path>\S+)$"
)
_FLOW = re.compile(r"^(?P<src>[^\s>]+)>(?P<dst>\S+) at (?P<at>\S+)$")
_LIMIT = re.compile(r"^(?P<target>\S+) to ")
_CLASSIFIED = re.compile(r"^(?P<dst>\S+) part (?P<part>\d+):")

LIMITS = {"limitLink": "link", "limitIP": "ip"}
LIFTS = {"unlinkRateLimited": "link", "unipRateLimited": "ip"}
ANALYSES = frozenset({"detectIntrusion", "classifyFlows"})


class Steering(BaseModel):
    """Traffic taken over a path to an agent's PoP, from `time` to `until`."""

    time: float = Field(description="simulated s the steering was installed")
    until: float | None = Field(
        description="when it was let go (its unsteer, else inferred); null: to the end"
    )
    ended: str = Field(description="what ended it, or why it is thought to last")
    agent: str = Field(description="the agent that steered the traffic to its PoP")
    dst: str = Field(description="destination IP of the traffic steered")
    part: int | None = Field(None, description="the split's part, when one part is steered")
    src: str | None = Field(None, description="the source IP, when one flow is steered")
    at: str = Field(description="where the traffic was taken")
    path: list[str] = Field(description="nodes from `at` to the agent's PoP")
    purpose: str = Field(
        description="what it fed: limit, block, analysis (ended with one), or unknown"
    )


class BlockedFlow(BaseModel):
    """A flow dropped from `time` on."""

    time: float
    by: str = Field(description="the agent, or 'SSLA manager'")
    src: str
    dst: str
    at: str = Field(description="the PoP that drops it")
    ingress: str | None = Field(None, description="where the flow enters, when known")
    path: list[str] = Field([], description="its path from the ingress to `at`, when steered")


class NetworkView(BaseModel):
    """What the topology draws over time besides the VNFs."""

    steerings: list[Steering]
    blocks: list[BlockedFlow]
    ends_journalled: bool = Field(
        False, description="steerings end at their `unsteer` action; false: ends inferred"
    )


@dataclass
class _Open:
    steering: Steering
    limits: set[tuple[str, str]] = field(default_factory=set)
    exact: bool = False
    """Its end comes from `unsteer` actions, not from inference."""


def network_view(
    actions: Iterable[Mapping[str, Any]], enforcements: Iterable[Mapping[str, Any]] = ()
) -> NetworkView:
    """Steerings and blocked flows from the journal's actions (in journal order) and the
    SSLA manager's enforcements."""
    actions = list(actions)
    exact = any(action["action"] == "unsteer" for action in actions)
    steerings: list[Steering] = []
    blocks: list[BlockedFlow] = []
    open_by: dict[str, list[_Open]] = {}
    last_steer: dict[str, tuple[float, _Open]] = {}
    live: dict[tuple[str, str], list[_Open]] = {}
    """Steerings not let go yet, by agent and detail (with `unsteer` actions)."""
    for action in actions:
        kind, agent, detail = action["action"], action["agent"], str(action["detail"])
        time = float(action["time"])
        held = open_by.setdefault(agent, [])
        if kind == "steer":
            steer = _steering(time, agent, detail)
            if steer is None:
                continue
            if exact:
                steer.ended = "no unsteer journalled: to the end of the run"
            steerings.append(steer)
            record = _Open(steer, exact=exact)
            held.append(record)
            last_steer[agent] = (time, record)
            live.setdefault((agent, detail), []).append(record)
            continue
        if kind == "unsteer":
            waiting = live.get((agent, detail))
            if waiting:
                steer = waiting.pop(0).steering
                steer.until, steer.ended = time, "unsteer: its agent let it go"
            continue
        fresh = last_steer.pop(agent, None)
        fresh_record = fresh[1] if fresh is not None and fresh[0] == time else None
        if kind in LIMITS:
            match = _LIMIT.match(detail)
            if match is None:
                continue
            limit = (LIMITS[kind], match["target"])
            for record in [fresh_record] if fresh_record else _sharing(held, limit):
                record.limits.add(limit)
                record.steering.purpose = "limit"
        elif kind in LIFTS:
            limit = (LIFTS[kind], detail.strip())
            for record in list(held):
                if limit in record.limits:
                    record.limits.discard(limit)
                    if not record.limits:
                        _end(record, time, f"{kind} {detail}: no limit left on it")
                        held.remove(record)
        elif kind in ANALYSES:
            part = _CLASSIFIED.match(detail)
            for record in list(held):
                steer = record.steering
                if steer.purpose != "unknown" or steer.src is not None:
                    continue
                if part is not None and (steer.dst, steer.part) != (part["dst"], int(part["part"])):
                    continue
                steer.purpose = "analysis"
                _end(record, time, f"{kind}: the analysis is done")
                held.remove(record)
        elif kind == "blockFlow":
            flow = _FLOW.match(detail)
            if flow is None:
                continue
            steered = None
            if fresh_record is not None:
                steered = fresh_record.steering
                steered.purpose = "block"
                if steered.until is None:
                    steered.ended = "blocks are never lifted: to the end of the run"
                held.remove(fresh_record)
            blocks.append(_block(time, agent, flow, steered))
    for record in (r for rs in open_by.values() for r in rs):
        steer = record.steering
        if steer.purpose == "limit" and steer.until is None:
            steer.ended = "its limit was not lifted: to the end of the run"
    for enforcement in enforcements:
        if enforcement.get("action") != "REJECT_PACKET":
            continue
        flow = _FLOW.match(str(enforcement.get("target", "")))
        if flow is not None:
            time = float(enforcement["time"])
            blocks.append(_block(time, "SSLA manager", flow, None, ingress=flow["at"]))
    blocks.sort(key=lambda b: b.time)
    return NetworkView(steerings=steerings, blocks=blocks, ends_journalled=exact)


def _steering(time: float, agent: str, detail: str) -> Steering | None:
    match = _STEER.match(detail)
    if match is None:
        return None
    return Steering(
        time=time,
        until=None,
        ended="nothing more journalled: to the end of the run",
        agent=agent,
        dst=match["dst"],
        part=None if match["part"] is None else int(match["part"]),
        src=match["src"],
        at=match["at"],
        path=match["path"].split("→"),
        purpose="unknown",
    )


def _sharing(held: list[_Open], limit: tuple[str, str]) -> list[_Open]:
    """The agent's steerings for a limit that a new limit without a steering of its own
    reuses: those of the same traffic (the whole of it, towards the IP limited)."""
    return [
        r
        for r in held
        if r.steering.purpose == "limit"
        and r.steering.part is None
        and r.steering.src is None
        and (limit[0] == "link" or r.steering.dst == limit[1])
    ]


def _end(record: _Open, time: float, why: str) -> None:
    """End an inferred steering; one whose end is journalled (`unsteer`) keeps it."""
    if record.exact:
        return
    record.steering.until = time
    record.steering.ended = why


def _block(
    time: float,
    by: str,
    flow: re.Match[str],
    steered: Steering | None,
    ingress: str | None = None,
) -> BlockedFlow:
    return BlockedFlow(
        time=time,
        by=by,
        src=flow["src"],
        dst=flow["dst"],
        at=flow["at"],
        ingress=steered.at if steered is not None else ingress,
        path=list(steered.path) if steered is not None else [],
    )

"""The near-real-time loop in real time: from a data-plane event to the rule enforced
for it.

The loop of Table 5.2 of `003_…` runs three times in the DDoS story: the Link Monitor
sees the link over-used and a Rate Limiter caps the link; the Anomaly Detector names the
victim and a Rate Limiter caps its address; a Classifier names malicious flows and a Rate
Limiter blocks them. Between detection and rule lie a goal, an auction (call for
proposals, bids, award) and the winner's plan. On the virtual clock that loop takes no
simulated time, so only the wall clock says what the agents, and the trust layer around
them, cost it; the agents' messages, attestation steps and the rest of the process
compete for the same cores meanwhile.

Each episode's stages, Unix seconds on this machine's clock (agent processes on it share
it):

- event: for a detection made on perceiving a step (the Link Monitor reads its link's
  load), the step was taken (`secmas.pipeline.runloop.run_steps`); the Anomaly Detector
  and the Classifier detect when their own analysis ends, on a timer of the run's clock
  and not on a step, so for them the event is the detection;
- detected: the detecting agent journalled the detection;
- enforced: the first rule of the kind that answers it was journalled by its winner.

`attested` names the deciding agents (detector, enforcer) an attestation measured or
verified that was settled from the event's step until the step after the rule's: the
loop ran while they were being attested (on the virtual clock a step's attestation work
runs within its instant, before the clock moves on).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from secmas.agents.journal import ActionEvent
from secmas.trust.deadlines import round_trip_summary

ENFORCED_BY = {"overUsage": "limitLink", "detectIntrusion": "limitIP", "classifyFlows": "blockFlow"}
"""Each detection and the rule that answers it (Tables 5.2–5.5 of `003_…`)."""
ON_STEP = frozenset({"overUsage"})
"""Detections an agent makes on perceiving a data-plane step."""
SAME_TIME = 1e-6
"""Run times closer than this are one step (steps add floating-point fractions)."""


@dataclass(frozen=True)
class LoopEpisode:
    """One detection and the rule enforced for it."""

    detection: str
    detector: str
    time: float
    """Run time of the detection."""
    event_wall: float | None
    """Unix time of the event: the step at (or just before) a detection made on a step,
    else the detection; None when the run recorded no step by then."""
    detected_wall: float
    rule: str
    enforcer: str | None
    """Who installed the rule; None: no rule followed."""
    enforced_time: float | None
    enforced_wall: float | None
    attested: tuple[str, ...]

    @property
    def total_ms(self) -> float | None:
        """Event to enforced rule, milliseconds."""
        if self.enforced_wall is None or self.event_wall is None:
            return None
        return (self.enforced_wall - self.event_wall) * 1000

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["attested"] = list(self.attested)
        data["detect_ms"] = (
            None if self.event_wall is None else (self.detected_wall - self.event_wall) * 1000
        )
        data["enforce_ms"] = (
            None if self.enforced_wall is None else (self.enforced_wall - self.detected_wall) * 1000
        )
        data["total_ms"] = self.total_ms
        return data


def step_wall(walls: Mapping[float, float], time: float) -> float | None:
    """The Unix time of the last step taken at or before run time `time`."""
    times = sorted(walls)
    at = bisect.bisect_right(times, time + SAME_TIME)
    return walls[times[at - 1]] if at else None


def _event_wall(walls: Mapping[float, float], detection: ActionEvent) -> float | None:
    """When the event behind `detection` happened: its step, or the detection itself."""
    if detection.action not in ON_STEP:
        return detection.wall
    return step_wall(walls, detection.time)


def _detections(actions: Iterable[ActionEvent]) -> list[ActionEvent]:
    """The first journalled detection of each kind at each run time (two Classifiers
    naming flows in one step are one episode)."""
    first: dict[tuple[str, float], ActionEvent] = {}
    for action in actions:
        if action.action not in ENFORCED_BY:
            continue
        key = (action.action, round(action.time / SAME_TIME))
        if key not in first or action.wall < first[key].wall:
            first[key] = action
    return sorted(first.values(), key=lambda a: a.wall)


def _involved(
    attestations: Sequence[Mapping[str, Any]], agents: set[str], start: float, end: float
) -> tuple[str, ...]:
    """The `agents` measured or verifying in an attestation settled in [start, end)."""
    found = set()
    for record in attestations:
        if start - SAME_TIME <= float(record["time"]) < end - SAME_TIME:
            found |= {str(record["measured"]), str(record["verifier"])} & agents
    return tuple(sorted(found))


def episodes(
    actions: Sequence[ActionEvent],
    walls: Mapping[float, float],
    attestations: Sequence[Mapping[str, Any]] = (),
    step: float = 1.0,
) -> list[LoopEpisode]:
    """Each detection in `actions` with the first unclaimed rule answering it that was
    journalled after it."""
    claimed: set[int] = set()
    found = []
    for detection in _detections(actions):
        rule = ENFORCED_BY[detection.action]
        enforcing = next(
            (
                (index, action)
                for index, action in enumerate(actions)
                if action.action == rule
                and index not in claimed
                and action.time >= detection.time - SAME_TIME
                and action.wall >= detection.wall
            ),
            None,
        )
        enforcer = None
        if enforcing is not None:
            claimed.add(enforcing[0])
            enforcer = enforcing[1]
        deciding = {detection.agent} | ({enforcer.agent} if enforcer else set())
        end = enforcer.time if enforcer else detection.time
        found.append(
            LoopEpisode(
                detection=detection.action,
                detector=detection.agent,
                time=detection.time,
                event_wall=_event_wall(walls, detection),
                detected_wall=detection.wall,
                rule=rule,
                enforcer=enforcer.agent if enforcer else None,
                enforced_time=enforcer.time if enforcer else None,
                enforced_wall=enforcer.wall if enforcer else None,
                attested=_involved(attestations, deciding, detection.time, end + step),
            )
        )
    return found


def loop_report(found: Sequence[LoopEpisode]) -> dict[str, Any]:
    """report.json's `loop`: every episode, and event-to-rule count, p50, p99 (nearest
    rank) and maximum over the enforced ones."""
    totals = [e.total_ms / 1000 for e in found if e.total_ms is not None]
    return {
        "episodes": [e.as_dict() for e in found],
        "unenforced": sum(e.enforcer is None for e in found),
        **round_trip_summary(totals),
    }

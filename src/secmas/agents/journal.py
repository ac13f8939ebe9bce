"""What the agents did during a run: auctions, placements, mitigation actions, the
promises initiators judged (`secmas.agents.reputation`), the NFV-A messages refused as
not their named sender's, or out of its role (`secmas.agents.senders`), and how each
agent's mind changed (`secmas.agents.mind`).

Agents write here; the report layer reads it. `Journal` holds plain records, no I/O;
`RelayJournal` also sends them to the run's driver when agents run in other processes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from secmas.agents.bidding import Refusal
from secmas.agents.mind import GoalState, MindChange
from secmas.agents.nfva.codec import (
    bid_from_content,
    bid_to_content,
    request_from_content,
    request_to_content,
)
from secmas.agents.nfva.records import AuctionRecord
from secmas.agents.outcome import AuctionOutcome
from secmas.agents.reputation import Conduct, Promise, ReputationBook
from secmas.agents.senders import RefusedMessage
from secmas.transport.bus import Bus, BusClosed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlacementEvent:
    """A VNF instance started (after its download) or terminated."""

    time: float
    kind: str
    pop: str
    vnf: str
    units: int
    instance: str
    goal: str = ""


@dataclass(frozen=True)
class ActionEvent:
    """A primitive VNF action on the data plane (a rule installed or removed)."""

    time: float
    agent: str
    action: str
    detail: str
    wall: float = field(default_factory=time.time, compare=False)
    """Unix time the acting process journalled it: how long the loop from a data-plane
    event to its enforced rule took in real time (`secmas.report.looplatency`). Not
    compared: two runs of one seed act alike at different wall times."""


@dataclass(frozen=True)
class ExecutionEvent:
    """A winner's plan acted for a goal (it reported "acted"): exactly once per goal
    awarded, however the agents failed meanwhile."""

    time: float
    agent: str
    initiator: str
    goal: str


@dataclass
class Journal:
    """The run's record as the agents see it."""

    auctions: list[tuple[str, AuctionRecord]] = field(default_factory=list)
    placements: list[PlacementEvent] = field(default_factory=list)
    actions: list[ActionEvent] = field(default_factory=list)
    executions: list[ExecutionEvent] = field(default_factory=list)
    reputation: ReputationBook = field(default_factory=ReputationBook)
    """Every promise judged, and the peers' reputation they add up to."""
    refusals: list[RefusedMessage] = field(default_factory=list)
    """Messages refused: a spoofed sender, or a sender out of its role."""
    minds: list[MindChange] = field(default_factory=list)
    """Each agent's beliefs, goals and intentions, as they changed."""

    def auction(self, initiator: str, record: AuctionRecord) -> None:
        """Record an auction run by `initiator`."""
        self.auctions.append((initiator, record))

    def placement(self, event: PlacementEvent) -> None:
        """Record a VNF start or termination."""
        self.placements.append(event)

    def action(self, event: ActionEvent) -> None:
        """Record a VNF action."""
        self.actions.append(event)

    def execution(self, event: ExecutionEvent) -> None:
        """Record that a winner's plan acted for a goal."""
        self.executions.append(event)

    def promise(self, promise: Promise) -> None:
        """Record a promise an initiator judged (kept or broken)."""
        self.reputation.add(promise)

    def refused(self, event: RefusedMessage) -> None:
        """Record a message an agent refused (`secmas.agents.senders`)."""
        self.refusals.append(event)

    def mind(self, change: MindChange) -> None:
        """Record a change of an agent's mind (`secmas.agents.mind.MindRecorder`)."""
        self.minds.append(change)


# -- across processes ------------------------------------------------------------------------
# Agents in their own processes relay what they journal to the run's driver, which merges
# it into one Journal for the report. Format:
# {"event": "auction" | "placement" | "action" | "execution" | "promise" | "refused" | "mind",
#  …}
# (not "kind": placements have a field of that name).


def auction_to_json(initiator: str, record: AuctionRecord) -> dict[str, Any]:
    outcome = record.outcome
    return {
        "event": "auction",
        "initiator": initiator,
        "request": request_to_content(outcome.request, {}),
        "bids": [bid_to_content(b) for b in outcome.bids],
        "refusals": [{"bidder": r.bidder, "reason": r.reason} for r in outcome.refusals],
        "status": record.status,
        "started": record.started,
        "ended": record.ended,
        "wall_ms": record.wall_ms,
        "messages": record.messages,
        "attempt": record.attempt,
        "result": record.result,
        "standing": dict(outcome.standing),
        "weight": outcome.weight,
    }


def _auction_from_json(data: dict[str, Any]) -> tuple[str, AuctionRecord]:
    request, _ = request_from_content(data["request"])
    outcome = AuctionOutcome(
        request,
        tuple(bid_from_content(b) for b in data["bids"]),
        tuple(Refusal(str(r["bidder"]), str(r["reason"])) for r in data["refusals"]),
        {str(k): float(v) for k, v in data.get("standing", {}).items()},
        float(data.get("weight", 0.0)),
    )
    record = AuctionRecord(
        outcome,
        str(data["status"]),
        float(data["started"]),
        float(data["ended"]),
        float(data["wall_ms"]),
        int(data["messages"]),
        int(data["attempt"]),
        dict(data["result"]),
    )
    return str(data["initiator"]), record


def _action(fields: dict[str, Any]) -> ActionEvent:
    """A relayed action whose run time and wall time are finite numbers: the report
    subtracts wall times (`secmas.report.looplatency`), so one that is not would fail it."""
    action = ActionEvent(**fields)
    for name in ("time", "wall"):
        value = getattr(action, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"malformed journal event: action {name} {value!r}")
    return action


def _mind_from_json(fields: dict[str, Any]) -> MindChange:
    return MindChange(
        **fields
        | {
            "believed": tuple(fields["believed"]),
            "forgotten": tuple(fields["forgotten"]),
            "goals": tuple(GoalState(**goal) for goal in fields["goals"]),
        }
    )


def apply_json(journal: Journal, data: Any) -> None:
    """Add one relayed event to `journal`; ValueError when it is malformed."""
    try:
        event = data["event"]
        fields = {k: v for k, v in data.items() if k != "event"}
        if event == "auction":
            journal.auction(*_auction_from_json(data))
        elif event == "placement":
            journal.placement(PlacementEvent(**fields))
        elif event == "action":
            journal.action(_action(fields))
        elif event == "execution":
            journal.execution(ExecutionEvent(**fields))
        elif event == "promise":
            journal.promise(Promise(**fields | {"conduct": Conduct(fields["conduct"])}))
        elif event == "refused":
            journal.refused(RefusedMessage(**fields))
        elif event == "mind":
            journal.mind(_mind_from_json(fields))
        else:
            raise ValueError(f"unknown journal event {event!r}")
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed journal event: {exc}") from None


def journal_subject(pipeline: str) -> str:
    return f"secmas.journal.{pipeline}"


class RelayJournal(Journal):
    """A Journal that also sends every event, in order, to the run's driver."""

    def __init__(self, bus: Bus, pipeline: str) -> None:
        super().__init__()
        self._bus = bus
        self._subject = journal_subject(pipeline)
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sender = asyncio.ensure_future(self._send())

    async def stop(self) -> None:
        """Send what is queued, then stop."""
        if self._sender is None:
            return
        await self._queue.join()
        self._sender.cancel()
        await asyncio.gather(self._sender, return_exceptions=True)
        self._sender = None

    async def _send(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._bus.publish(self._subject, json.dumps(event).encode())
            except BusClosed:
                logger.warning("journal relay: bus closed, event lost: %s", event.get("event"))
            finally:
                self._queue.task_done()

    def auction(self, initiator: str, record: AuctionRecord) -> None:
        super().auction(initiator, record)
        self._queue.put_nowait(auction_to_json(initiator, record))

    def placement(self, event: PlacementEvent) -> None:
        super().placement(event)
        self._queue.put_nowait({"event": "placement", **asdict(event)})

    def action(self, event: ActionEvent) -> None:
        super().action(event)
        self._queue.put_nowait({"event": "action", **asdict(event)})

    def execution(self, event: ExecutionEvent) -> None:
        super().execution(event)
        self._queue.put_nowait({"event": "execution", **asdict(event)})

    def promise(self, promise: Promise) -> None:
        super().promise(promise)
        self._queue.put_nowait({"event": "promise", **asdict(promise)})

    def refused(self, event: RefusedMessage) -> None:
        super().refused(event)
        self._queue.put_nowait({"event": "refused", **asdict(event)})

    def mind(self, change: MindChange) -> None:
        super().mind(change)
        self._queue.put_nowait({"event": "mind", **asdict(change)})

"""What the agents did during a run: auctions, placements, mitigation actions.

Agents write here; the report layer reads it. It holds plain records, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from secmas.agents.auction import AuctionRecord


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


@dataclass
class Journal:
    """The run's record as the agents see it."""

    auctions: list[tuple[str, AuctionRecord]] = field(default_factory=list)
    placements: list[PlacementEvent] = field(default_factory=list)
    actions: list[ActionEvent] = field(default_factory=list)

    def auction(self, initiator: str, record: AuctionRecord) -> None:
        """Record an auction run by `initiator`."""
        self.auctions.append((initiator, record))

    def placement(self, event: PlacementEvent) -> None:
        """Record a VNF start or termination."""
        self.placements.append(event)

    def action(self, event: ActionEvent) -> None:
        """Record a VNF action."""
        self.actions.append(event)

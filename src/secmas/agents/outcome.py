"""The record of one auction: what was asked, every bid and refusal, and who won."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from secmas.agents.bidding import Bid, GoalRequest, Refusal, utilities, winner


def goal_label(goal: str, args: Sequence[str]) -> str:
    """A goal as written in the dissertation, e.g. `ipRateLimited(10.0.0.100)`."""
    return f"{goal}({', '.join(args)})"


@dataclass(frozen=True)
class AuctionOutcome:
    """An NFV-A auction after winner determination (Eq. 3.1), for tables and report.json."""

    request: GoalRequest
    bids: tuple[Bid, ...]
    refusals: tuple[Refusal, ...]
    scores: tuple[float, ...] = field(init=False)
    winner: Bid | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", tuple(utilities(self.bids, self.request.preferences)))
        object.__setattr__(self, "winner", winner(self.bids, self.request.preferences))

    @property
    def label(self) -> str:
        """The goal as written in the dissertation, e.g. `ipRateLimited(10.0.0.100)`."""
        return goal_label(self.request.goal, self.request.args)

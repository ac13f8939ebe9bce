"""The record of one auction: what was asked, every bid and refusal, and who won."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    standing: Mapping[str, float] = field(default_factory=dict)
    """The bidders' reputation as the initiator weighed it (empty with weight 0)."""
    weight: float = 0.0
    """The reputation weight of Eq. 3.1 (`secmas.agents.reputation.weighed`)."""
    scores: tuple[float, ...] = field(init=False)
    winner: Bid | None = field(init=False)

    def __post_init__(self) -> None:
        prefs, standing, weight = self.request.preferences, self.standing, self.weight
        object.__setattr__(self, "scores", tuple(utilities(self.bids, prefs, standing, weight)))
        object.__setattr__(self, "winner", winner(self.bids, prefs, standing, weight))

    @property
    def label(self) -> str:
        """The goal as written in the dissertation, e.g. `ipRateLimited(10.0.0.100)`."""
        return goal_label(self.request.goal, self.request.args)

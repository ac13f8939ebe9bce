"""One auction as the initiator records it (`AuctionRecord`), for the journal and report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from secmas.agents.outcome import AuctionOutcome


@dataclass
class AuctionRecord:
    """One auction as it happened: the outcome plus status, timings and messages."""

    outcome: AuctionOutcome
    status: str
    started: float
    ended: float
    wall_ms: float
    messages: int
    attempt: int = 1
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def achieved(self) -> bool:
        """Whether the winner reported INFORM-DONE."""
        return self.status == "done"

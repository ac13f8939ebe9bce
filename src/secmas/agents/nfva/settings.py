"""An auction's deadlines and modes (`AuctionSettings`), and their pace on a wall clock."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class AuctionSettings:
    """Deadlines (seconds on the run's clock) and the serialised mode of 003."""

    bid_deadline: float = 1.0
    lease_renew: float = 2.0
    """How often a winner reports its progress to the initiator while it works."""
    lease: float = 10.0
    """How long an initiator waits for the next progress report before it takes its winner
    for lost (five missed reports: longer than a brief broker outage, far shorter than a
    VNF download's T)."""
    handover: float = 60.0
    """How long a winner keeps the result of a goal it executed, to hand it to the stand-in
    of an initiator that is gone (goals are adopted after the board's silence rounds)."""
    attempts: int = 3
    """Attempts of an auction whose initiator cannot say whether the goal is still
    needed; with a `needed` test, attempts go on while it holds."""
    serialised: bool = False
    backoff: float = 0.5
    retry_wait: float = 2.0
    """First wait before a call nobody answered, or with no candidate left, is repeated;
    it doubles up to `retry_wait_max`."""
    retry_wait_max: float = 16.0
    probation: float = 30.0
    """How long an agent that did not answer is left out of calls for proposals before it
    is asked again (any message from it ends the probation at once)."""
    reputation_weight: float = 0.0
    """How much Eq. 3.1 weighs a bidder's reputation (`secmas.agents.reputation`): 0 is
    the dissertation's Eq. 3.1 (Table 5.8), 1 ranks bids by reputation alone."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.reputation_weight <= 1.0:
            raise ValueError(
                f"reputation_weight must be within [0, 1], got {self.reputation_weight:g}"
            )


REAL_TIME_BID_WALL_S = 0.25
"""Least wall time a call for proposals stays open on a scaled wall clock (agents as
processes at `speed`): room for a busy agent process to answer, and for another auction's
plan on a shared instance to run over the bus first (at 10x the seed's 1 s deadline is
100 ms of wall time, which a bidder answering an attestation challenge on a loaded 2-core
machine missed). A real-time deadline is the scenario's bound or this margin, whichever
is longer, never what the machine's load happens to allow."""


def paced(settings: AuctionSettings, speed: float) -> AuctionSettings:
    """`settings` for a run on a wall clock sped up `speed` times: the bid deadline is at
    least `REAL_TIME_BID_WALL_S` of wall time (one simulated second up to 4x)."""
    least = speed * REAL_TIME_BID_WALL_S
    return settings if settings.bid_deadline >= least else replace(settings, bid_deadline=least)

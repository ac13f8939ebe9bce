"""The bid function as a plug-in: what a PoP's agent is given to price a goal it is called
for, and what it answers (`BidFunction`), found by the name a scenario gives it
(`auction.bid`) in the `secmas.bids` entry-point group.

The built-in is the dissertation's U (`secmas.agents.bidding.compute_bid`: T, C and D of
Section 4.2 of `003_…`), registered in secmas' own `pyproject.toml` as any other
distribution registers its own. Whatever function made a bid, the initiator still checks
it against the topology (`secmas.agents.plausibility`) and ranks it by Eq. 3.1."""

from __future__ import annotations

from typing import Protocol, cast, runtime_checkable

from secmas.agents.bidding import Bid, BidContext, GoalRequest, Refusal
from secmas.network.infrastructure import Infrastructure
from secmas.plugins import plugin


@runtime_checkable
class BidFunction(Protocol):
    """U of one PoP for one call for proposals: its bid, or why it refuses to bid.

    It receives the infrastructure as this agent sees it (committed state plus its own
    holds), the bidding PoP, the call's request, the run's shared caches over that
    infrastructure (`BidContext`: Algorithm 1's graph, download times) and, for a CNF
    that moves to the PoP, the seconds its migration takes (None: no move). It returns a
    `Bid` naming this PoP as bidder, or a `Refusal` with a reason the record keeps; it
    must not change the infrastructure (the mailbox holds what the bid needs)."""

    def __call__(
        self,
        infra: Infrastructure,
        pop: str,
        request: GoalRequest,
        ctx: BidContext,
        move_s: float | None,
        /,
    ) -> Bid | Refusal: ...


def bid_function(name: str) -> BidFunction:
    """The installed bid function `name`; PluginError naming the installed ones when none
    is, or why it cannot be loaded or called."""
    return cast(BidFunction, plugin("secmas.bids", name).load(BidFunction))

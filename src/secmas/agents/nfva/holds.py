"""What a participant's proposals hold (`Reservation`) until each is accepted, rejected or
expires, and the waits of calls for proposals for an instance its own auctions hold.

Auctions may run concurrently (beyond the dissertation, which ran one at a time): a
PROPOSE holds what the bid needs (PoP resources, or the idle instance it reuses) and the
acceptance commits the hold, so two auctions never allocate the same resources twice. A
hold is the bidder's own: its later bids count it, a rival's bid never does (bids read
committed state), so a bid does not depend on which rival proposed first."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from secmas.agents.acl import ACLMessage
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.nfva.endpoint import Endpoint
from secmas.network.infrastructure import CapacityError
from secmas.network.resources import Amount, req

logger = logging.getLogger(__name__)


@dataclass
class Reservation:
    """What a PROPOSE holds until it is accepted, rejected or expires; once `committed`
    (accepted), `amount` is an allocation of the PoP rather than a hold."""

    bid: Bid
    amount: Amount
    bandwidth: float
    expires: float
    initiator: str
    """Who called for the bid: the only agent whose ACCEPT or REJECT counts."""
    committed: bool = False


class Holds:
    """A participant's proposals that hold resources, by conversation."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.name, self.infra, self.clock = endpoint.name, endpoint.infra, endpoint.clock
        self.held: dict[str, Reservation] = {}
        self._queued: list[tuple[str, frozenset[str]]] = []
        """Calls for proposals waiting for an instance this PoP holds, first come first."""

    async def wait_for_held_instance(
        self, conversation: str, request: GoalRequest, deadline: float
    ) -> None:
        """If this PoP's instances that could serve the goal are all taken by its own
        other auctions (a pending proposal holds one, or an accepted one's plan runs on
        it), wait until one is free before bidding; calls that wait are served first
        come, first served; at the latest until the CFP's deadline less a reply margin.

        Waiting for the plan too, not only the ACCEPT, and in arrival order, keeps the bid
        independent of message timing: an instance another auction only borrows for a
        quick plan is bid on again, and a call that waited is not overtaken by a later
        one (the next of a chain of auctions from another initiator) when the instance
        comes free. Only another auction that takes longer than this call's deadline to
        settle leaves this PoP bidding without the instance.
        """
        vnfs = frozenset(request.vnfs)
        if not self._all_taken(vnfs) and not any(vnfs & other for _, other in self._queued):
            return
        step = self.endpoint.settings.bid_deadline / 20
        limit = deadline - 2 * step  # time left to send the answer
        entry = (conversation, vnfs)
        self._queued.append(entry)
        try:
            while self.clock.now() + step <= limit:
                ahead = self._queued[: self._queued.index(entry)]
                if not self._all_taken(vnfs) and not any(vnfs & v for _, v in ahead):
                    return
                await self.clock.sleep(step)
        finally:
            self._queued.remove(entry)

    def _all_taken(self, vnfs: frozenset[str]) -> bool:
        """This PoP has instances of `vnfs`, and every one is busy."""
        mine = [i for i in self.infra.instances.values() if i.pop == self.name and i.vnf in vnfs]
        return bool(mine) and all(i.busy for i in mine)

    def reserve(
        self, cfp: ACLMessage, request: GoalRequest, bid: Bid, deadline: float
    ) -> str | None:
        """Hold the PoP resources (or the idle instance) `bid` needs; the reason if not.

        The virtual path's bandwidth is taken on acceptance instead: every bidder of one
        auction would otherwise hold the same shared links for bids of which one wins.
        """
        vnf = self.infra.catalogue[bid.vnf]
        amount = Amount() if bid.instance else req(vnf, bid.units)
        bandwidth = request.traffic if vnf.throughput is not None else 0.0
        try:
            self.infra.hold(self.name, amount)
        except CapacityError as exc:
            return f"resources taken meanwhile: {exc}"
        if bid.instance:
            self.infra.instances[bid.instance].busy = True
        expires = deadline + self.endpoint.settings.bid_deadline
        self.held[cfp.conversation_id] = Reservation(bid, amount, bandwidth, expires, cfp.sender)
        return None

    def release(self, conversation: str) -> None:
        """Give back what the proposal in `conversation` holds (or, accepted, took)."""
        held = self.held.pop(conversation, None)
        if held is None:
            return
        if held.committed:
            self.infra.release(self.name, held.amount)
        else:
            self.infra.unhold(self.name, held.amount)
        if held.bid.instance and held.bid.instance in self.infra.instances:
            self.infra.instances[held.bid.instance].busy = False

    def commit(self, held: Reservation) -> None:
        """The proposal was accepted: its hold becomes an allocation the other agents see
        (CapacityError when it no longer fits; the caller answers FAILURE)."""
        if not held.committed:
            self.infra.commit(self.name, held.amount)
            held.committed = True

    async def expire(self, conversation: str) -> None:
        """Give the proposal's hold back once it expires unanswered."""
        held = self.held.get(conversation)
        if held is None:
            return
        await self.clock.sleep(max(0.0, held.expires - self.clock.now()))
        if self.held.get(conversation) is held:
            logger.info("%s: proposal %s expired unanswered", self.name, conversation)
            self.release(conversation)

"""A goal a winner works on (`Work`): whom it reports to, how far it got, its lease; and
how the goal's plan tells the initiator it has acted (`report_acted`)."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.bidding import Bid
from secmas.agents.nfva.subjects import PROTOCOL

Acted = Callable[[dict[str, Any]], Awaitable[None]]

ACTING: contextvars.ContextVar[Acted | None] = contextvars.ContextVar("acting", default=None)
"""Set by the winner's participant role around its executor: how the plan reports it has acted."""


async def report_acted(result: dict[str, Any]) -> None:
    """Called by a winner's plan the moment it has acted, with the result INFORM-DONE will
    carry (the beliefs achieved): the initiator learns it at once, so that losing the winner
    from now on never makes the plan run twice. Outside a won goal's plan it does nothing."""
    acted = ACTING.get()
    if acted is not None:
        await acted(result)


LEASE_ENDED = "lease ended: no report confirmed for {:g} s"
"""Why a winner stops a plan that has not acted (its initiator may have given it up)."""
CANCELLED = "cancelled"
"""The progress a winner answers a CANCEL with once it stopped (or held nothing)."""
END = "end"
"""The reply-with token of a winner's INFORM-DONE or FAILURE, which the initiator confirms."""
NOT_ADMITTED = "the winner is not admitted"
"""Why a winner gives up a goal it may no longer act on (revoked after it won it)."""


@dataclass
class Work:
    """A goal this agent won and works on (or has done): whom it reports to, how far it got.

    `initiator` and `conversation` change when the initiator is gone and its stand-in's
    call for proposals for the same goal arrives: the work is handed over, not redone."""

    initiator: str
    conversation: str
    goal: str
    bid: Bid
    stage: str = "accepted"
    result: dict[str, Any] | None = None
    """What the plan achieved, once it acted."""
    ended: float | None = None
    cancelled: str | None = None
    """Why the initiator cancelled it (its lease lapsed), if it did."""
    task: asyncio.Task[Any] | None = field(default=None, repr=False)
    lease_until: float = 0.0
    """Until when the plan may act: `lease` after the last report the initiator confirmed."""
    sent: dict[str, float] = field(default_factory=dict, repr=False)
    """Reports not confirmed yet: reply-with token → when each was sent."""
    settled: bool = False
    """Whether the initiator confirmed the end of the work (its INFORM-DONE or FAILURE)."""
    _tokens: Iterator[int] = field(default_factory=itertools.count, repr=False)

    def progress(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """How far the work got (`extra` after the stage), with the result once it acted."""
        content: dict[str, Any] = {"progress": self.stage, **(extra or {})}
        if self.result is not None:
            content["result"] = self.result
        return content

    def report(self, sender: str, now: float) -> ACLMessage:
        """The progress report that renews the lease (FIPA INFORM) once it is confirmed."""
        token = str(next(self._tokens))
        self.sent[token] = now
        return ACLMessage(
            Performative.INFORM,
            sender,
            (self.initiator,),
            self.conversation,
            self.progress(),
            reply_with=token,
            protocol=PROTOCOL,
        )

    def confirmed(self, token: str | None, lease: float) -> None:
        """The initiator confirmed the report `token`: the lease runs `lease` from its
        sending (reports sent before it need no answer any more), or the end is known."""
        if token == END:
            self.settled = True
            return
        at = self.sent.get(token or "")
        if at is None:
            return
        self.lease_until = max(self.lease_until, at + lease)
        self.sent = {t: s for t, s in self.sent.items() if s > at}

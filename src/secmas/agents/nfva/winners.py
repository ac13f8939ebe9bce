"""The initiator's wait for its winner (exactly-once execution, beyond 003): the winner's
lease, renewed by each progress report the initiator confirms; a winner lost (its lease
lapsed, it overran its bid's T, it is gone) is sent CANCEL and its answer waited for; a
winner lost after it acted did the goal; late reports on a closed conversation are
confirmed, or answered with the CANCEL again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.bidding import Bid
from secmas.agents.nfva.endpoint import Endpoint, next_message
from secmas.agents.nfva.subjects import PROTOCOL
from secmas.agents.nfva.work import CANCELLED

logger = logging.getLogger(__name__)

GONE = "gone: {}"
LAPSED = "lease lapsed: no progress report for {:g} s"
OVERRAN = "overran its bid: still downloading {:g} s after the award, its T was {:g} s"

REPORTS = frozenset({Performative.INFORM, Performative.INFORM_DONE, Performative.FAILURE})
"""What the winner alone sends once a goal is awarded (`Winners.await_done`)."""

_DOWNLOADING = ("accepted", "downloading")
"""A winner's progress while its bid's T still runs (`Work.stage`)."""


@dataclass
class Closed:
    """A conversation whose wait for its winner is over. The winner's late reports are
    confirmed (its end, whose CONFIRM was lost), or, when it was given up, answered with
    the `cancel` again (the CANCEL was lost) until it says it stopped."""

    winner: str
    cancel: ACLMessage | None
    heard: float


class Winners:
    """The winners an initiator waits on, by conversation, and the conversations closed."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.name, self.clock = endpoint.name, endpoint.clock
        self._awaiting: dict[str, asyncio.Future[str]] = {}
        """Conversation → resolved with a reason when its winner is known to be gone."""
        self._winners: dict[str, str] = {}
        self._closed: dict[str, Closed] = {}
        """Conversations whose wait for the winner is over, for its late reports."""

    def winner_of(self, conversation: str) -> str | None:
        """The winner this agent waits on in `conversation`, if any."""
        return self._winners.get(conversation)

    def closed(self, conversation: str) -> bool:
        """Whether the wait for the winner of `conversation` is over (its late reports
        are still answered)."""
        return conversation in self._closed

    def gone(self, agent: str, reason: str) -> None:
        """`agent` is known to be gone: every wait on it as a winner ends at once."""
        for conversation, winner in list(self._winners.items()):
            waiter = self._awaiting.get(conversation)
            if winner == agent and waiter is not None and not waiter.done():
                waiter.set_result(reason)

    async def await_done(
        self,
        win: Bid,
        queue: asyncio.Queue[ACLMessage],
        conversation: str,
        progress: Mapping[str, Any],
    ) -> tuple[str, dict[str, Any], int]:
        """INFORM-DONE or FAILURE from the winner, with the messages it sent meanwhile.

        Each progress report renews the winner's lease; it is lost when the lease lapses
        (no report for `settings.lease` seconds), or at once when it is known to be gone
        (see `gone`). A winner lost after it reported "acted" did the goal: the result it
        reported stands and nothing runs again. One lost before is sent CANCEL (it may be
        alive but cut off) so that it stops and gives back what it took, and its answer is
        waited for (`_answer_to_cancel`). Each report is confirmed (CONFIRM): the winner's
        lease holds only so. `progress` is what the winner reported before (a work handed
        over by its holder).

        The bid is a promise too: a winner still downloading a lease after its own T (a
        download takes T at most, `Participant._instance_for`) is lost the same way, however
        often it renews its lease."""
        acted = _acted_result(progress)
        if progress.get("progress") == "done" and acted is not None:
            self._close(conversation, win.bidder, None)
            return "done", acted, 0
        lost = asyncio.get_running_loop().create_future()
        self._awaiting[conversation], self._winners[conversation] = lost, win.bidder
        if not self.endpoint.admitted(win.bidder):
            lost.set_result("not admitted")
        awarded = self.clock.now()
        expires, reports = awarded + self.endpoint.settings.lease, 0
        due = None if progress else awarded + win.T + self.endpoint.settings.lease
        cancel: ACLMessage | None = None
        try:
            while (
                message := await self._next_report(queue, lost, _until(expires, due))
            ) is not None:
                if message.sender != win.bidder:
                    continue
                reports += 1
                await self._confirm(message)
                if message.performative is Performative.INFORM_DONE:
                    return "done", dict(message.content), reports
                if message.performative is Performative.FAILURE:
                    if acted is not None:  # it acted, then failed: what it did stands
                        return "done", acted, reports
                    return "failed", dict(message.content), reports
                if message.performative is Performative.INFORM:
                    acted = _acted_result(message.content) or acted
                    expires = self.clock.now() + self.endpoint.settings.lease
                    if message.content.get("progress") not in _DOWNLOADING:
                        due = None
            why = self._why_lost(lost, expires, due, awarded, win)
            if acted is not None:
                logger.warning("%s: %s lost after it acted (%s)", self.name, win.bidder, why)
                return "done", {**acted, "lost": why}, reports
            if win.bidder != self.name:
                self.endpoint.silent.setdefault(win.bidder, self.clock.now())
            cancel = ACLMessage(
                Performative.CANCEL,
                self.name,
                (win.bidder,),
                conversation,
                {"reason": why},
                protocol=PROTOCOL,
            )
            await self.endpoint.send(cancel)
            answer, answers = await self._answer_to_cancel(win, queue, lost, cancel)
            if answer is not None:
                cancel = None
                return answer[0], answer[1], reports + answers + 1
            return "winner-lost", {"reason": why}, reports + answers + 1
        finally:
            del self._awaiting[conversation], self._winners[conversation]
            self._close(conversation, win.bidder, cancel)

    async def _answer_to_cancel(
        self,
        win: Bid,
        queue: asyncio.Queue[ACLMessage],
        lost: asyncio.Future[str],
        cancel: ACLMessage,
    ) -> tuple[tuple[str, dict[str, Any]] | None, int]:
        """The winner's answer to `cancel`, waited for a lease (by then the winner's lease,
        confirmed no more, has ended: it starts no act), and how many reports came: its
        end ("done" or "failed", with the content) or the result it acted on ("done"),
        None when it stopped, stayed silent or is gone. Any other report meanwhile (a
        winner that did not get the CANCEL) is answered with the CANCEL again. A winner no
        longer admitted is not waited for: its answers count no more, and it gives its work
        up itself at the latest before it acts (`_may_act`)."""
        if not self.endpoint.admitted(win.bidder):
            return None, 0
        until, reports = self.clock.now() + self.endpoint.settings.lease, 0
        while (message := await self._next_report(queue, lost, until)) is not None:
            if message.sender != win.bidder:
                continue
            reports += 1
            content = dict(message.content)
            if message.performative is not Performative.INFORM:
                await self._confirm(message)
                failed = message.performative is Performative.FAILURE
                return ("failed" if failed else "done", content), reports
            acted = _acted_result(content)
            if acted is not None:
                reason = str(cancel.content["reason"])
                logger.warning("%s: %s acted before its CANCEL (%s)", self.name, win.bidder, reason)
                return ("done", {**acted, "lost": reason}), reports
            if content.get("progress") == CANCELLED:
                return None, reports
            await self.endpoint.send(cancel)
        return None, reports

    async def _confirm(self, report: ACLMessage) -> None:
        """CONFIRM a winner's report that asks for it: its lease holds, or its end is known."""
        if report.reply_with is not None:
            await self.endpoint.send(report.reply(Performative.CONFIRM, sender=self.name))

    def _close(self, conversation: str, winner: str, cancel: ACLMessage | None) -> None:
        """Keep the ended `conversation` for the winner's late reports (`late`), those
        not heard of for `handover` seconds forgotten."""
        now = self.clock.now()
        for old, closed in list(self._closed.items()):
            if now > closed.heard + self.endpoint.settings.handover:
                del self._closed[old]
        self._closed[conversation] = Closed(winner, cancel, now)

    def late(self, report: ACLMessage) -> None:
        """A report from the winner of a closed conversation: its end confirmed again, or,
        if it was given up, the CANCEL sent again until it answers that it stopped."""
        closed = self._closed[report.conversation_id]
        if report.sender != closed.winner or report.performative not in REPORTS:
            return
        closed.heard = self.clock.now()
        acted = report.performative is Performative.INFORM_DONE or _acted_result(report.content)
        if closed.cancel is not None and acted:
            logger.warning("%s: %s acted after it was given up", self.name, report.sender)
        elif closed.cancel is not None and report.performative is Performative.INFORM:
            if report.content.get("progress") == CANCELLED:
                del self._closed[report.conversation_id]
            else:
                self.endpoint.spawn(self.endpoint.send(closed.cancel))
            return
        self.endpoint.spawn(self._confirm(report))

    def _why_lost(
        self,
        lost: asyncio.Future[str],
        expires: float,
        due: float | None,
        awarded: float,
        win: Bid,
    ) -> str:
        """Why a winner that sent no result is lost: gone, silent for a lease, or still
        downloading past its bid (while it renews its lease)."""
        if lost.done():
            return GONE.format(lost.result())
        now = self.clock.now()
        if due is not None and now >= due and now < expires:
            return OVERRAN.format(now - awarded, win.T)
        return LAPSED.format(self.endpoint.settings.lease)

    async def _next_report(
        self, queue: asyncio.Queue[ACLMessage], lost: asyncio.Future[str], expires: float
    ) -> ACLMessage | None:
        """The next message of the conversation, or None once the lease ran out at
        `expires` or the winner is known to be gone."""
        if lost.done():
            return None
        lapse = asyncio.ensure_future(self.clock.sleep(max(0.0, expires - self.clock.now())))
        ends = asyncio.ensure_future(
            asyncio.wait({lapse, lost}, return_when=asyncio.FIRST_COMPLETED)
        )
        try:
            return await next_message(queue, ends)
        finally:
            lapse.cancel()
            ends.cancel()


def _until(expires: float, due: float | None) -> float:
    """When a winner is lost: its lease's expiry, or its bid's `due` time when earlier."""
    return expires if due is None else min(expires, due)


def _acted_result(progress: Mapping[str, Any]) -> dict[str, Any] | None:
    """The result a progress report carries once the winner acted, else None."""
    result = progress.get("result")
    if progress.get("progress") in ("acted", "done") and isinstance(result, dict):
        return dict(result)
    return None

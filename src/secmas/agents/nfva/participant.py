"""The participant's role of NFV-A (GoalResponse): answer a call for proposals with a bid
(held until the award, `holds`), work on a goal it won under a lease it renews with
progress reports, report its end until confirmed, stop when cancelled or no longer
admitted, and hand a goal in hand over to the stand-in of an initiator that is gone.

The bid is the scenario's bid function (`secmas.agents.bidfunction`), a plug-in of the
`secmas.bids` group; the initiator checks each bid against the topology whatever
function made it (`secmas.agents.plausibility`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.bidding import Bid, GoalRequest, Refusal, move_time, shared_context
from secmas.agents.bidfunction import BidFunction
from secmas.agents.nfva.codec import bid_to_content, request_from_content
from secmas.agents.nfva.endpoint import Endpoint
from secmas.agents.nfva.holds import Holds, Reservation
from secmas.agents.nfva.hooks import Executor
from secmas.agents.nfva.subjects import PROTOCOL
from secmas.agents.nfva.work import (
    ACTING,
    CANCELLED,
    END,
    LEASE_ENDED,
    NOT_ADMITTED,
    Work,
)
from secmas.agents.outcome import goal_label
from secmas.network.infrastructure import CapacityError, Instance

logger = logging.getLogger(__name__)


class Participant:
    """An agent's participant role: its bids, holds and the goals it works on."""

    def __init__(self, endpoint: Endpoint, executor: Executor, bid: BidFunction) -> None:
        self.endpoint = endpoint
        self.name, self.infra, self.clock = endpoint.name, endpoint.infra, endpoint.clock
        self.hooks = endpoint.hooks
        self.executor = executor
        self.bid = bid
        """The bid function U this agent prices a goal with."""
        self.holds = Holds(endpoint)
        self.works: dict[str, Work] = {}
        """Goals this agent won, by the conversation that awarded them: in progress, or
        done within `settings.handover` seconds."""

    def stop(self) -> None:
        """Give back what every proposal holds (the agent stops)."""
        for conversation in list(self.holds.held):
            self.holds.release(conversation)

    async def answer_cfp(self, cfp: ACLMessage) -> None:
        """PROPOSE the bid for the called goal, holding what it needs until the award or
        the proposal's expiry; REFUSE (why) or NOT-UNDERSTOOD (a bad frame) otherwise."""
        try:
            request, payload = request_from_content(cfp.content)
        except (KeyError, TypeError, ValueError) as exc:
            self.endpoint.malformed += 1
            await self.endpoint.send(
                cfp.reply(Performative.NOT_UNDERSTOOD, {"reason": str(exc)}, sender=self.name)
            )
            return
        declined = None if self.hooks.declines is None else await self.hooks.declines(request)
        if declined is not None:
            await self.endpoint.send(
                cfp.reply(Performative.REFUSE, {"reason": declined}, sender=self.name)
            )
            return
        deadline = cfp.reply_by if cfp.reply_by is not None else self.clock.now()
        await self.holds.wait_for_held_instance(cfp.conversation_id, request, deadline)
        outcome = self.bid(
            self.infra,
            self.name,
            request,
            shared_context(self.infra),
            move_time(payload, self.name),
        )
        if isinstance(outcome, Bid):
            reason = self.holds.reserve(cfp, request, outcome, deadline)
            if reason is None:
                await self.endpoint.send(
                    cfp.reply(Performative.PROPOSE, bid_to_content(outcome), sender=self.name)
                )
                await self.holds.expire(cfp.conversation_id)  # this task keeps the proposal's timer
                return
            outcome = Refusal(self.name, reason)
        await self.endpoint.send(
            cfp.reply(Performative.REFUSE, {"reason": outcome.reason}, sender=self.name)
        )

    async def accepted(self, accept: ACLMessage) -> None:
        """The proposal won: commit its hold and the path, work on the goal under the
        lease, and report the end (FAILURE at once when the hold is gone or no longer fits)."""
        held = self.holds.held.pop(accept.conversation_id, None)
        if held is None:
            reason = "proposal expired"
            await self.endpoint.send(
                accept.reply(Performative.FAILURE, {"reason": reason}, sender=self.name)
            )
            return
        bid = held.bid
        path = list(bid.path)
        try:
            request, payload = request_from_content(accept.content)
            self.holds.commit(held)
            # the virtual path; with `announce`, the initiator has told the others already
            self.infra.reserve_path(path, held.bandwidth, tell=self.hooks.announce is None)
        except (CapacityError, KeyError, TypeError, ValueError) as exc:
            self.holds.held[accept.conversation_id] = held
            self.holds.release(accept.conversation_id)
            if self.hooks.announce is not None and held.bandwidth > 0:
                await self.hooks.announce("release", self.name, path, held.bandwidth)
            await self.endpoint.send(
                accept.reply(Performative.FAILURE, {"reason": str(exc)}, sender=self.name)
            )
            return
        self._forget_old_works()
        work = Work(
            accept.sender, accept.conversation_id, goal_label(request.goal, request.args), bid
        )
        work.task = asyncio.current_task()
        lease_end = self.clock.now() + self.endpoint.settings.lease
        work.lease_until = min(lease_end, accept.reply_by or lease_end)
        self.works[accept.conversation_id] = work
        lease = asyncio.ensure_future(self._renew_lease(work))
        try:
            performative, result = await self._work_on(work, request, held, payload)
        except asyncio.CancelledError:
            if work.cancelled is None:
                raise  # the agent stops (crashes): nothing more is sent
            if self.hooks.on_cancel is not None:
                self.hooks.on_cancel(work)
            return
        finally:
            lease.cancel()
            work.ended = self.clock.now()
            self.infra.release_path(path, held.bandwidth)
        await self._report_end(work, performative, result)

    async def _report_end(
        self, work: Work, performative: Performative, result: dict[str, Any]
    ) -> None:
        """INFORM-DONE or FAILURE, sent again every `lease_renew` seconds until the initiator
        confirms it (a lost one would have the goal run again), for `handover` seconds at
        most; to whoever the work reports to by then (a stand-in that took it over)."""
        until = self.clock.now() + self.endpoint.settings.handover
        while not work.settled and self.clock.now() < until:
            await self.endpoint.send(
                ACLMessage(
                    performative,
                    self.name,
                    (work.initiator,),
                    work.conversation,
                    result,
                    reply_with=END,
                    protocol=PROTOCOL,
                )
            )
            await self.clock.sleep(self.endpoint.settings.lease_renew)

    async def _work_on(
        self, work: Work, request: GoalRequest, held: Reservation, payload: dict[str, Any]
    ) -> tuple[Performative, dict[str, Any]]:
        """Get the instance, run the plan on it: INFORM-DONE with the result, or FAILURE
        with the reason. When the initiator cancels the goal, an instance started for it
        is terminated (a download in progress gives its resources back)."""
        new = held.bid.instance is None
        work.stage = "downloading" if new else "instantiating"
        try:
            instance = await self._instance_for(request, held)
        except Exception as exc:  # a download that failed fails the goal, said to its initiator
            logger.warning("%s: %s not instantiated: %s", self.name, held.bid.vnf, exc)
            work.stage = "failed"
            return Performative.FAILURE, {"reason": f"{held.bid.vnf} not instantiated: {exc}"}
        try:
            instance.busy = True
            token = ACTING.set(lambda result: self._acted(work, result))
            try:
                await self._may_act(work)
                work.stage = "acting"
                result = await self.executor(request, held.bid, payload)
            finally:
                ACTING.reset(token)
                instance.busy = False
        except asyncio.CancelledError:
            if new and work.cancelled is not None and instance.id in self.infra.instances:
                await self._terminate(instance.id, f"{work.goal} cancelled: {work.cancelled}")
            raise
        except Exception as exc:  # a failed plan is reported, never lost
            logger.exception("%s: plan for %s failed", self.name, work.conversation)
            work.stage = "failed"
            return Performative.FAILURE, {"reason": str(exc)}
        result["instance"] = instance.id
        work.stage, work.result = "done", result
        return Performative.INFORM_DONE, result

    async def _terminate(self, instance: str, cause: str) -> None:
        if self.hooks.terminate is not None:
            await self.hooks.terminate(instance, cause)
        else:
            self.infra.terminate(instance)

    async def _instance_for(self, request: GoalRequest, held: Reservation) -> Instance:
        """The instance that runs the plan: the idle one bid on, or a new one.

        A new one is the Orchestrator's InstantiateVNF: download (for T seconds where the
        engine models it), then start. Resources held for a download that never finishes
        (the agent stops, or the goal is cancelled) go back.
        """
        bid = held.bid
        if bid.instance is not None:
            return self.infra.instances[bid.instance]
        download = self.hooks.download
        try:
            if download is None or not await download(bid):
                await self.clock.sleep(bid.download_s)
        except BaseException:
            self.infra.release(self.name, held.amount)
            raise
        instance = self.infra.adopt(self.name, bid.vnf, bid.units)
        if self.hooks.on_start is not None:
            self.hooks.on_start(instance, request)
        return instance

    async def _may_act(self, work: Work) -> None:
        """Trust is checked at the act, not only at the auction: a winner no longer admitted
        (revoked while it downloaded) gives the goal up instead of acting, as if cancelled.
        The plan starts only under a confirmed lease: without one (its reports or their
        CONFIRMs were lost, or it was given up) the winner waits, still reporting, for a
        CONFIRM or a CANCEL."""
        if self.endpoint.revoked():
            work.cancelled = NOT_ADMITTED
            raise asyncio.CancelledError
        while not self._leased(work):
            await self.clock.sleep(self.endpoint.settings.lease_renew / 4)

    def _leased(self, work: Work) -> bool:
        """Whether `work` may act now: its lease holds, or its initiator is known gone (the
        stand-in that adopts the goal takes the work over)."""
        return self.clock.now() < work.lease_until or self.endpoint.known_gone(work.initiator)

    async def _renew_lease(self, work: Work) -> None:
        """Report progress every `lease_renew` seconds while the goal is worked on; a plan
        that has not acted when its lease runs out unconfirmed is stopped then (its
        initiator may have given it up and called again, the CANCEL lost) and gives back
        what it took; a winner no longer admitted renews nothing and gives the goal up (a
        download stops)."""
        renew = self.endpoint.settings.lease_renew
        while True:
            ends = work.lease_until - self.clock.now()
            early = 0 < ends < renew  # the lease ends before the next report is due
            await self.clock.sleep(ends if early else renew)
            acting = work.stage == "acting" and work.result is None
            if acting and not self._leased(work):
                self._withdraw(work, LEASE_ENDED.format(self.endpoint.settings.lease))
                return
            if early:
                continue
            if self.endpoint.revoked():
                self._withdraw(work, NOT_ADMITTED)
                return
            await self.endpoint.send(work.report(self.name, self.clock.now()))

    async def _acted(self, work: Work, result: dict[str, Any]) -> None:
        """The plan acted (`report_acted`): tell the initiator at once, with the result."""
        work.stage, work.result = "acted", dict(result)
        await self.endpoint.send(work.report(self.name, self.clock.now()))

    def cancel(self, cancel: ACLMessage) -> None:
        """The initiator cancelled a goal this agent works on (its lease lapsed: this agent
        was cut off): stop, give back what the work took, and answer how far it got. A plan
        that acted already cannot be undone: the answer carries its result, which stands.
        A goal this agent holds nothing of (the ACCEPT was lost) is answered "cancelled"
        too, after a proposal still held is given back."""
        self.holds.release(cancel.conversation_id)
        answer: dict[str, Any] = {"progress": CANCELLED}
        for work in self.works.values():
            if work.conversation == cancel.conversation_id and work.initiator == cancel.sender:
                self._withdraw(work, str(cancel.content.get("reason", "cancelled")))
                if work.result is not None:
                    answer = work.progress()
                break
        self.endpoint.spawn(
            self.endpoint.send(cancel.reply(Performative.INFORM, answer, sender=self.name))
        )

    def confirmed(self, confirm: ACLMessage) -> None:
        """The initiator confirmed a report of a goal this agent works on (or its end)."""
        for work in self.works.values():
            if work.conversation == confirm.conversation_id and work.initiator == confirm.sender:
                work.confirmed(confirm.in_reply_to, self.endpoint.settings.lease)
                return

    async def withdraw(self, reason: str) -> None:
        """This agent may act no more (it was revoked): every goal it works on and has not
        acted on yet is given up as its initiator's CANCEL would have it (a download gives
        its resources back, an instance started for the goal is terminated, `on_cancel`
        is told); returns once each has wound down."""
        withdrawn = [w.task for w in list(self.works.values()) if self._withdraw(w, reason)]
        await asyncio.gather(*(t for t in withdrawn if t is not None), return_exceptions=True)

    def _withdraw(self, work: Work, reason: str) -> bool:
        """Stop `work` for `reason` unless it ended, acted (a plan that acted cannot be
        undone; its result stands) or is stopping already; whether it was stopped."""
        if work.ended is not None or work.result is not None or work.cancelled is not None:
            return False
        work.cancelled = reason
        logger.warning("%s: %s cancelled (%s)", self.name, work.goal, reason)
        if work.task is not None:
            work.task.cancel()
        return True

    def _forget_old_works(self) -> None:
        now = self.clock.now()
        for conversation, work in list(self.works.items()):
            if work.ended is not None and now > work.ended + self.endpoint.settings.handover:
                del self.works[conversation]

    def in_hand(self, cfp: ACLMessage) -> Work | None:
        """A goal this agent works on (or did) for an initiator that is gone, called for
        again by another agent (the stand-in that adopted it): that work is handed over."""
        if not self.works:  # the common case: every call for proposals passes here
            return None
        try:
            label = goal_label(str(cfp.content["goal"]), [str(a) for a in cfp.content["args"]])
        except (KeyError, TypeError):
            return None
        for work in self.works.values():
            if (
                work.goal == label
                and self.endpoint.known_gone(work.initiator)
                and work.initiator != cfp.sender
                and work.cancelled is None
                and work.stage != "failed"
            ):
                return work
        return None

    async def hand_over(self, work: Work, cfp: ACLMessage) -> None:
        """Answer the stand-in's call with the work in hand (its bid, its progress, the
        result if it acted) and report to the stand-in from now on."""
        logger.info(
            "%s: %s of gone %s handed to %s", self.name, work.goal, work.initiator, cfp.sender
        )
        content = work.progress({"bid": bid_to_content(work.bid), "for": work.initiator})
        work.initiator, work.conversation = cfp.sender, cfp.conversation_id
        work.lease_until = self.clock.now() + self.endpoint.settings.lease  # from the stand-in now
        await self.endpoint.send(cfp.reply(Performative.INFORM, content, sender=self.name))

    def initiator_of(self, conversation: str) -> str | None:
        """Who called the conversation this agent bid in or works on; None if neither."""
        held = self.holds.held.get(conversation)
        if held is not None:
            return held.initiator
        for work in self.works.values():
            if work.conversation == conversation:
                return work.initiator
        return None

"""What a plan does with chaining (`chaining.py`): steer its goal's traffic to its PoP,
keep the steering for as long as what needs it (a rule, an analysis, the goals of a
split), and let go of it then.

One per agent, shared by the plans of every VNF plug-in, so that goals needing the same
steering hold it once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from secmas.agents.bdi import Goal
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.ddos.chaining import Chains, links_of
from secmas.network.clock import Clock
from secmas.network.dataplane import Steer
from secmas.network.dataplane.controller import Controller
from secmas.network.infrastructure import Infrastructure

T = TypeVar("T")

SETTLE_STEPS = 3
"""Steps an analysing VNF waits once traffic is steered to it, so that its counters hold
the steered traffic (the Anomaly Detector averages the last 3 steps)."""


def steer_detail(steer: Steer) -> str:
    """How `steer` and `unsteer` actions name a steering: "<dst>[ part k][ from src] at
    <node> over a→b→…" (read back by the UI, `secmas.ui.network`)."""
    which = "" if steer.part is None else f" part {steer.part}"
    which += "" if steer.src_ip is None else f" from {steer.src_ip}"
    return f"{steer.dst_ip}{which} at {steer.node} over {'→'.join(steer.via)}"


@dataclass
class Steering:
    """The steerings of one agent's plans, and the rules that hold them."""

    pop: str
    chains: Chains
    infra: Infrastructure
    controller: Controller
    clock: Clock
    act: Callable[[str, str], None]
    """Journals an action of the agent."""
    wait_goal: Callable[[Goal], Awaitable[bool]]
    """Waits until a goal of the agent is over."""
    rules: dict[int, Steer] = field(default_factory=dict)
    """The steering each rule installed here needs, by rule id."""

    async def chain(
        self,
        request: GoalRequest,
        bid: Bid,
        payload: dict[str, Any],
        dst_ip: str,
        part: int | None = None,
        src_ip: str | None = None,
    ) -> Steer | None:
        """Steer the goal's traffic towards `dst_ip` (split part `part`) to this PoP over the
        virtual path, unless it is found here (chaining, 003 §3); None when not needed.

        The goal's traffic is at the payload's `at` (a load balancer's PoP, for a part of
        its split), else at its `node`. A rate limiter or load balancer reserves on the path
        the bandwidth of the traffic steered now; an analysing VNF the traffic its auction
        measured (Definition 6), except where the auction holds it already: on its bid's path.
        """
        node = str(payload.get("at", payload["node"]))
        if node == self.pop:
            return None
        if src_ip is None:
            via = self.chains.virtual_path(request, bid, node)
        else:
            via = self.chains.entry_path(node)
        if self.infra.catalogue[bid.vnf].throughput is None:
            bandwidth = await self.chains.steered_rate(node, dst_ip, part, src_ip)
            covered: set[frozenset[str]] = set()
        else:
            bandwidth, covered = request.traffic, links_of(bid.path)
        new = Steer(node, dst_ip, via, part, src_ip) not in self.chains.held
        steer = await self.chains.steer(via, dst_ip, part, bandwidth, covered, src_ip)
        if new:
            self.act("steer", steer_detail(steer))
        return steer

    async def installed(self, steer: Steer | None, install: Awaitable[T]) -> T:
        """Install a rule that needs `steer`; the steering is let go if installing fails,
        else kept for as long as the rule (see `rule_removed`)."""
        try:
            result = await install
        except BaseException:
            if steer is not None:
                await self.chains.release(steer)
            raise
        if steer is not None:
            rule = result[0] if isinstance(result, tuple) else result
            self.rules[int(rule)] = steer
        return result

    async def rule_removed(self, rule_id: int) -> None:
        """A rule was taken out: let go of the steering it needed."""
        steer = self.rules.pop(rule_id, None)
        if steer is not None:
            await self.chains.release(steer)

    async def analysed(self, steer: Steer | None, analysis: Callable[[], Awaitable[T]]) -> T:
        """Run an analysis on this PoP's traffic; with traffic newly steered here, after
        SETTLE_STEPS steps, and the steering is let go once the analysis is done. The
        analysis is made only then: a plan cancelled while it waits (its agent revoked)
        leaves no coroutine that was never awaited."""
        try:
            if steer is not None:
                await self.clock.sleep(SETTLE_STEPS * self.controller.step_seconds)
            return await analysis()
        finally:
            if steer is not None:
                await self.chains.release(steer)

    async def release_after(self, steer: Steer, goals: list[Goal]) -> None:
        """Let go of a steering once every goal that needs it is over."""
        try:
            await asyncio.gather(*(self.wait_goal(goal) for goal in goals))
        finally:
            await self.chains.release(steer)

"""`pulse_scrubber`: the VNF whose plan scrubs a pulsing flood, run by the winner of the
auction for `pulseScrubbed(ip)` (the goal `sentinel.PulseSentinel` posts).

The plan (`ScrubPulses`) brings the traffic towards `ip` to its PoP if it does not pass
there (secmas's chaining, the shared `Steering`), watches it for `WATCH_STEPS` steps (at
least one period of the pulses), and blocks each source whose own rate swings by more than
the limit the sentinel fitted on the whole normal traffic (`detector.swing`): no single
client of normal traffic swings as much as all of them together, a bot swings by its
whole burst. The blocks are the controller's `FlowBlock`s at this PoP, which hold the
steering for as long as they stay; the bots keep their addresses, so each block stops
all their later bursts.
"""

from __future__ import annotations

from collections.abc import Sequence

from pulse_guard.detector import swing
from pulse_guard.sentinel import GOAL
from secmas.agents.bdi import Belief, PlanContext, Var
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.ddos.steering import SETTLE_STEPS
from secmas.agents.vnfplugin import VNFPlugin, WonPlan
from secmas.network.dataplane.rules import FlowBlock, Steer

WATCH_STEPS = 10
"""Steps the plan watches each source before it judges it."""


class PulseScrubber(VNFPlugin):
    """Finds the bots of a pulsing flood by their swing and blocks them."""

    name = "pulse_scrubber"

    def plans(self) -> Sequence[WonPlan]:
        return (WonPlan("ScrubPulses", Belief(GOAL, (Var("x"),)), self._scrub),)

    async def _scrub(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """pulseScrubbed(ip): watch, judge each source, block the pulsing ones here."""
        ip = request.args[0]
        payload = ctx.goal.payload
        steering = self.context.steering
        steer = await steering.chain(request, bid, payload, ip)
        if steer is not None:
            await self.context.clock.sleep(SETTLE_STEPS * self.context.controller.step_seconds)
        rates = await self._watch(ip)
        limit = float(payload["limit"])
        bots = sorted(src for src, series in rates.items() if swing(series) > limit)
        self.context.act("findPulses", f"{ip}: {len(bots)} of {len(rates)} sources pulse")
        await self._block(bots, ip, steer)
        if not bots:
            return False  # nothing pulsed here: the goal is not achieved
        ctx.believe(Belief(GOAL, (ip,)))
        return True

    async def _watch(self, ip: str) -> dict[str, list[float]]:
        """Each source's rate towards `ip` at this PoP, one value a step (0 when silent)."""
        controller, clock = self.context.controller, self.context.clock
        rates: dict[str, list[float]] = {}
        for step in range(WATCH_STEPS):
            await clock.sleep(controller.step_seconds)
            seen: dict[str, float] = {}
            for stats in await controller.flows_via(self.context.pop, ip):
                src = stats.flow.src_ip
                seen[src] = seen.get(src, 0.0) + stats.last.rate
            for src in seen.keys() - rates.keys():
                rates[src] = [0.0] * step
            for src, series in rates.items():
                series.append(seen.get(src, 0.0))
        return rates

    async def _block(self, bots: list[str], ip: str, steer: Steer | None) -> None:
        """A FlowBlock here for each bot; the first keeps the steering, if any, in place."""
        steering, controller = self.context.steering, self.context.controller
        held = steer
        for src in bots:
            await steering.installed(
                held, controller.add_rule(FlowBlock(self.context.pop, src, ip))
            )
            held = None
            self.context.act("blockFlow", f"{src}→{ip} at {self.context.pop}")
        if bots or steer is None:
            return
        await steering.chains.release(steer)  # nothing blocked: nothing holds the steering

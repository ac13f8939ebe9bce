"""The Orchestrator capability every agent has (003 §5.1): InstantiateVNF is the download
a won auction starts (`Mailbox`); ScaleIn is its counterpart once the attack subsided;
Resize and Update are the lifecycle 003 left open (§7.2, `secmas.agents.lifecycle`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from secmas.agents.bdi import (
    REST,
    Belief,
    BeliefBase,
    Capability,
    Goal,
    GoalKind,
    Plan,
    PlanContext,
    Var,
)
from secmas.agents.bidding import Bid, GoalRequest, shared_context
from secmas.agents.ddos.facts import DIAGNOSE
from secmas.agents.journal import PlacementEvent
from secmas.agents.lifecycle import (
    UpdateRefused,
    Where,
    plan_resize,
    plan_update,
    resize_in_place,
    roll,
)
from secmas.agents.vnfplugin import WonPlan
from secmas.network.infrastructure import Instance
from secmas.network.resources import units_needed
from secmas.scenario import ddos
from secmas.scenario.model import Preferences
from secmas.transport.bus import BusClosed

if TYPE_CHECKING:
    from secmas.agents.ddos.agent import PoPAgent

logger = logging.getLogger(__name__)

ORCHESTRATOR = "orchestrator"
"""The Orchestrator capability's name."""

RESIZED, UPDATED = "resized", "updated"
"""The Orchestrator's lifecycle goals: resized(instance, units), updated(instance, image)."""
LIFECYCLE_PREFERENCES = Preferences(T=1.0, C=0.0, D=0.0)
"""How a lifecycle auction ranks bids for a VNF no goal of the scenario names: soonest."""


class Orchestrator:
    """The instances of one agent's PoP: started for won goals, scaled in, resized and
    updated."""

    def __init__(self, agent: PoPAgent) -> None:
        self.agent = agent
        self.fresh: dict[tuple[str, tuple[str, ...]], str] = {}
        """Instances just started, by the goal (name, args) they serve."""

    def capability(self) -> Capability:
        """ScaleIn: once the attack on an ip subsided, released(ip) terminates the idle
        instances of the strategy's VNFs here that serve no rule, while no other goal is
        open here (a mitigation under way reuses idle instances: Table 5.8's T = 0)."""
        scale_in = Plan(
            "ScaleIn",
            Belief("released", (Var("x"),)),
            self._scale_in,
            precondition=self._quiet,
            slot=False,
        )
        x, y = Var("x"), Var("y")
        resize = Plan("Resize", Belief(RESIZED, (x, y)), self._resize, slot=False)
        update = Plan("Update", Belief(UPDATED, (x, y)), self._update, slot=False)
        return Capability(ORCHESTRATOR, plans=(scale_in, resize, update))

    def copy_plans(self) -> Sequence[WonPlan]:
        """What the winner of a lifecycle auction runs once its Orchestrator started the
        VNF: the larger instance serves as it is; the updated copy is re-attested first."""
        return (
            WonPlan("StartResized", Belief(RESIZED, (REST,)), self._start_resized),
            WonPlan("StartUpdated", Belief(UPDATED, (REST,)), self._start_updated),
        )

    # InstantiateVNF ---------------------------------------------------------------------------
    def started(self, instance: Instance, request: GoalRequest) -> None:
        """An instance started here for a won goal (the download is over)."""
        self.fresh[(request.goal, request.args)] = instance.id
        self.placed(instance, f"{request.goal}({','.join(request.args)})")

    def placed(self, instance: Instance, cause: str) -> None:
        """Journal an instance started here."""
        agent = self.agent
        agent.world.journal.placement(
            PlacementEvent(
                agent.world.clock.now(),
                "start",
                agent.pop,
                instance.vnf,
                instance.units,
                instance.id,
                cause,
            )
        )

    # ScaleIn ----------------------------------------------------------------------------------
    def _quiet(self, _beliefs: BeliefBase, goal: Goal) -> bool:
        """No goal but `goal` is open here."""
        return all(other is goal for other in self.agent.bdi.goals)

    async def _scale_in(self, ctx: PlanContext) -> bool:
        """ScaleIn: terminate here every idle instance of the VNFs scaled in (their
        plug-in's `scaled_in`) that serves nothing (a Rate Limiter stays while its flow
        blocks do), journalled with the cause (a VNF with no instance left here takes its
        capability, and any goal it owns, with it); then tell the others, when this agent
        lifted the last limit."""
        agent = self.agent
        released = ctx.goal.predicate
        cause = f"scale-in: the attack on {released.args[0]} subsided"
        scaled = {name: p for name, p in agent.plugins.items() if p.scaled_in}
        mine = [i for i in await agent.instances() if i.vnf in scaled and not i.busy]
        kept = {name for name, plugin in scaled.items() if plugin.serving()}
        for instance in mine:
            if instance.vnf in kept:
                kept.discard(instance.vnf)  # the oldest one serves what is held
                continue
            await scaled[instance.vnf].stopping()
            await agent.terminate(instance.id, cause)
        left = {i.vnf for i in await agent.instances()}
        for capability in agent.bdi.capabilities:
            if capability.name in scaled and capability.name not in left:
                agent.bdi.remove_capability(capability.name)
        if ctx.goal.payload.get("tell"):
            others = [pop for pop in agent.world.directory if pop != agent.pop]
            await asyncio.gather(*(self._tell(pop, released) for pop in others))
        return True

    async def _tell(self, pop: str, goal: Belief) -> None:
        """Ask `pop` to achieve `goal` too (a FIPA REQUEST, answered by its Auction
        capability's lift); one that does not agree in time keeps its idle instances."""
        agent = self.agent
        request = agent.auctioneer.request_of(pop, goal, 0, 1, tag=pop)
        if not await agent.mailbox.request(request, agent.world.settings.retry_wait):
            logger.warning("%s: %s did not agree to %s", agent.pop, pop, goal)

    # Resize and Update (003 §7.2) -------------------------------------------------------------
    def fit(self, instance: str, traffic: float) -> Goal | None:
        """Post resized(instance, units) when `traffic` MB/s needs other units than the
        instance of a sized VNF here has (Section 5.4.1's units); None when they fit."""
        agent = self.agent
        held = agent.world.infra.instances.get(instance)
        if held is None or held.pop != agent.pop:
            return None
        to = units_needed(agent.world.infra.catalogue[held.vnf], traffic)
        if to == held.units or agent.world.infra.catalogue[held.vnf].throughput is None:
            return None
        resized = Belief(RESIZED, (instance, str(to)))
        if any(g.predicate == resized for g in agent.bdi.goals):
            return None
        goal = Goal(resized, priority=DIAGNOSE, payload={"traffic": traffic})
        return agent.bdi.post_goal(goal)

    def update(self, instance: str, image: str) -> Goal:
        """Post updated(instance, image): the operator's call for a new image (003 §7.2)."""
        goal = Goal(Belief(UPDATED, (instance, image)), priority=DIAGNOSE)
        return self.agent.bdi.post_goal(goal)

    async def fit_served(
        self, instance: str | None, request: GoalRequest, payload: dict[str, Any]
    ) -> None:
        """Resize's trigger: a won goal's traffic measured again as its plan starts on
        `instance` (a download may have taken T seconds since the bid sized it); when it
        needs other units, resized(instance, units) is posted and the plan goes on."""
        if instance is None or "link" not in payload:
            return
        try:
            traffic = await self.agent.auctioneer.link_traffic(payload)
        except (TimeoutError, BusClosed):
            return  # the controller cannot be reached: the instance keeps its units
        self.fit(instance, max(traffic, request.predicted_traffic or 0.0))

    async def _resize(self, ctx: PlanContext) -> bool:
        """Resize: in place when the PoP has room (or the instance shrinks), else the
        larger instance is auctioned and the old one stops once its plan is over."""
        agent = self.agent
        instance = str(ctx.goal.predicate.args[0])
        if instance not in agent.world.infra.instances:
            return False
        traffic = float(ctx.goal.payload["traffic"])
        plan = plan_resize(agent.world.infra, instance, traffic)
        moved = ""
        if plan.where is Where.IN_PLACE:
            resize_in_place(agent.world.infra, plan)
        elif plan.where is Where.ANOTHER_POP:
            copy = await self._copy_elsewhere(ctx.goal, instance, traffic)
            if copy is None:
                return False
            await self._stop_when_idle(instance, f"resized to {plan.to} units by {copy}")
            moved = f": {copy}"
        if plan.where is not Where.UNCHANGED:
            sizes = f"{plan.units}→{plan.to} units"
            agent._act(
                "resizeInstance", f"{instance} {sizes} at {agent.pop}{moved} ({traffic:.2f} MB/s)"
            )
        return True

    async def _update(self, ctx: PlanContext) -> bool:
        """Update, rolling: a copy running the new image starts beside the old instance
        (here when the PoP has room, else on the winner of an auction), is re-attested,
        and only then does the old one stop; a refused image leaves the old one serving."""
        agent = self.agent
        infra = agent.world.infra
        instance, image = (str(a) for a in ctx.goal.predicate.args)
        if instance not in infra.instances:
            return False
        plan = plan_update(infra, instance, image)
        if plan.where is Where.UNCHANGED:
            return True
        if plan.where is Where.ANOTHER_POP:
            old = infra.instances[instance]
            sized = infra.catalogue[old.vnf].throughput
            copy = await self._copy_elsewhere(ctx.goal, instance, old.units * (sized or 0.0))
            if copy is None:
                return False
            await self._stop_when_idle(instance, f"updated to {image} by {copy}")
            agent._act("updateInstance", f"{instance} to {image}: {copy}")
            return True
        vnf = infra.catalogue[plan.vnf]

        async def attest(new: Instance) -> str | None:
            self.placed(new, f"{UPDATED}({instance},{image})")
            return self._attest(new)

        download = shared_context(infra).download_time(agent.pop, vnf)
        try:
            new = await roll(infra, plan, agent.world.clock, download, attest, self._stop_when_idle)
        except UpdateRefused as exc:
            agent._act("updateInstance", str(exc))
            return False
        agent._act("updateInstance", f"{instance} to {image}: {new.id} at {agent.pop}")
        return True

    def _attest(self, instance: Instance) -> str | None:
        """Re-attestation of the image an update starts: the trust layer's reference check
        where the run has one (`World.image_check`), else only that an image is named."""
        if not instance.image:
            return "no image named"
        check = self.agent.world.image_check
        return None if check is None else check(instance.vnf, instance.image)

    async def _copy_elsewhere(self, goal: Goal, instance: str, traffic: float) -> str | None:
        """The NFV-A call for the larger instance or the updated copy of `instance` among
        the other PoPs, journalled; "<new instance> at <PoP>" once its winner runs it,
        None when nobody did."""
        agent = self.agent
        old = agent.world.infra.instances[instance]
        specs = (*agent.world.scenario.goals, ddos.monitor_goal())
        prefs = next((s.preferences for s in specs if old.vnf in s.vnfs), LIFECYCLE_PREFERENCES)
        args = tuple(str(a) for a in goal.predicate.args)
        request = GoalRequest(
            goal.predicate.name, agent.pop, prefs, vnfs=(old.vnf,), traffic=traffic, args=args
        )
        others = [pop for pop in agent.world.directory if pop != agent.pop]
        record = await agent.mailbox.auction(request, {"kind": GoalKind.ACHIEVE.value}, others)
        agent.world.journal.auction(agent.pop, record)
        winner = record.outcome.winner
        if not record.achieved or winner is None:
            return None
        return f"{record.result.get('instance')} at {winner.bidder}"

    async def _stop_when_idle(self, instance: str, cause: str) -> None:
        """Terminate `instance` here once no plan runs on it."""
        agent = self.agent
        held = agent.world.infra.instances.get(instance)
        while held is not None and held.busy:
            await agent.world.clock.sleep(agent.world.controller.step_seconds)
            held = agent.world.infra.instances.get(instance)
        await agent.terminate(instance, cause)

    async def _start_resized(self, ctx: PlanContext, request: GoalRequest, _bid: Bid) -> bool:
        """The larger instance runs here: nothing more to do before it serves."""
        ctx.believe(Belief(RESIZED, request.args))
        return True

    async def _start_updated(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """The copy runs the new image, then is re-attested; a refused one is stopped."""
        agent = self.agent
        old, image = request.args
        infra = agent.world.infra
        copy = infra.instances[agent.serving[ctx.goal]]
        if bid.instance is not None:  # an idle instance bid on: the new image downloads now
            vnf = infra.catalogue[copy.vnf]
            await agent.world.clock.sleep(shared_context(infra).download_time(agent.pop, vnf))
        copy.image = image
        refused = self._attest(copy)
        if refused is not None:
            await agent.terminate(copy.id, f"update of {old} to {image} refused: {refused}")
            raise UpdateRefused(f"{old}: image {image} refused: {refused}")
        ctx.believe(Belief(UPDATED, request.args))
        return True

"""One BDI agent per PoP, running the DDoS resilience strategy of Section 5.1 of `003_…`.

Every plan is a plan of the BDI engine (`secmas.agents.bdi`), in the capability of its VNF,
and chosen by the engine's plan selection. The VNFs are plug-ins (`secmas.agents.vnfplugin`,
the `secmas.vnfs` entry points): the agent makes one of each VNF its scenario's catalogue
names, and knows none of them by name. Goals that need a VNF are never placed by central
code: the agent's Auction capability (GoalRequest, `auctioneer.py`) auctions them with
NFV-A, and the winner's GoalResponse (`PoPAgent._execute`) has its engine pick, among the
won VNF's plans (Tables 5.1–5.5), an applicable one, after downloading and starting the
VNF when needed (the Orchestrator's InstantiateVNF, `orchestrator.py`). Plans post their
follow-up goals themselves; when an analysing VNF finds no PoP, plan selection falls back
to the Load Balancer's split (Table 5.5). Only goals whose plan needs a belief the agent
already holds (UnlimitLink, UnlimitIP) run locally, on the agent that installed the limit;
others ask it with a FIPA REQUEST (RequestLift).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from secmas.agents.acl import ACLMessage
from secmas.agents.auction import Mailbox
from secmas.agents.bdi import Agent, Belief, BeliefBase, Goal, GoalKind, Plan, PlanContext
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.board import GoalBoard, OpenGoal
from secmas.agents.ddos.auctioneer import Auctioneer
from secmas.agents.ddos.chaining import Chains
from secmas.agents.ddos.facts import beliefs_from_json, beliefs_to_json
from secmas.agents.ddos.orchestrator import Orchestrator
from secmas.agents.ddos.steering import Steering, steer_detail
from secmas.agents.ddos.world import World
from secmas.agents.journal import ActionEvent, ExecutionEvent, PlacementEvent
from secmas.agents.mind import MindRecorder
from secmas.agents.nfva.hooks import Announce
from secmas.agents.nfva.work import Work, report_acted
from secmas.agents.outcome import goal_label
from secmas.agents.vnfplugin import VNFContext, VNFPlugin, WonPlan, installed
from secmas.network.dataplane.controller import ControllerError
from secmas.network.infrastructure import Instance
from secmas.transport.bus import Bus

logger = logging.getLogger(__name__)


@dataclass
class PoPAgent:
    """The agent controlling one NFVI-PoP (Definition 4) and its NFV-A mailbox."""

    pop: str
    world: World
    seed: int = 0
    bdi: Agent = field(init=False)
    mailbox: Mailbox = field(init=False)
    board: GoalBoard = field(init=False)
    """The goals this agent answers for, told to the others; theirs, adopted when they
    are gone."""
    rules: dict[Belief, int] = field(default_factory=dict)
    """The rules this agent installed, by the belief each achieves (`VNFContext.limits`)."""
    bus: Bus | None = None
    """This agent's own view of the bus (its secure channel); default the world's bus."""
    announce: Announce | None = None
    """Tells agents in other processes of virtual paths (None: they share `world.infra`)."""
    serving: dict[Goal, str] = field(default_factory=dict)
    """The instance each won goal's plan runs on, while it runs."""
    _follow_ups: set[asyncio.Task[None]] = field(default_factory=set)
    _pulled: list[str] = field(default_factory=list)
    """VNFs whose image this PoP pulled for real and has not started yet."""
    _workloads: set[str] = field(default_factory=set)
    """Instances here that run as workloads of the engine (started, not yet stopped)."""
    _awards: dict[Goal, tuple[GoalRequest, Bid]] = field(default_factory=dict)
    """Goals this agent won the auction of, while their plan runs (GoalResponse)."""

    def __post_init__(self) -> None:
        self.bdi = Agent(self.pop)
        self.mind = MindRecorder(self.bdi, self.world.clock, self.world.journal.mind)
        self.auctioneer = Auctioneer(self)
        self.orchestrator = Orchestrator(self)
        self.mailbox = Mailbox(
            self.pop,
            self.world.infra,
            self.bus or self.world.bus,
            self.world.clock,
            self._execute,
            self.world.auction,
            seed=self.seed,
            hooks=Mailbox.Hooks(
                admits=self.world.admits,
                declines=lambda request: self.world.decline(self.pop, request),
                announce=self.announce,
                download=self._download,
                on_start=self._started,
                on_request=self._requested,
                on_cancel=self._cancelled,
                terminate=self.terminate,
                promised=self.world.journal.promise,
                refused=self.world.journal.refused,
            ),
            space=self.world.space,
            reputation=self.world.journal.reputation,
            peers=self.world.directory,
            bid=self.world.scenario.auction.bid,
        )
        self.board = GoalBoard(
            self.pop,
            self.world.directory,
            self.bus or self.world.bus,
            self.world.clock,
            admits=self.world.admits,
            space=self.world.space,
            adopt=self._adopt,
            lost=self.mailbox.gone,
            back=self.mailbox.heard,
            holdings=self._holdings,
            admissions=self.world.admission_changes,
        )
        self.chains = Chains(
            self.pop,
            self.world.controller,
            self.world.infra,
            on_release=lambda steer: self._act("unsteer", steer_detail(steer)),
        )
        self.plugins = self._plug_in()
        """The VNF plug-in of every VNF of the catalogue, by VNF name."""
        plans = (p for plugin in self.plugins.values() for p in plugin.plans())
        self._won_plans = tuple(self._plan(won) for won in plans)
        self._copy_plans = tuple(self._plan(won) for won in self.orchestrator.copy_plans())
        self.bdi.add_capability(self.auctioneer.capability())
        self.bdi.add_capability(self.orchestrator.capability())
        for instance in self.world.infra.instances.values():
            if instance.pop == self.pop:
                self._activate(instance.vnf)

    def _plug_in(self) -> dict[str, VNFPlugin]:
        """One object of each VNF plug-in the catalogue names, with what it may use of
        this agent; PluginError for a VNF that no plug-in provides."""
        world = self.world
        steering = Steering(
            self.pop,
            self.chains,
            world.infra,
            world.controller,
            world.clock,
            act=lambda action, detail: self._act(action, detail),
            wait_goal=self.bdi.wait_goal,
        )
        context = VNFContext(
            pop=self.pop,
            controller=world.controller,
            clock=world.clock,
            scenario=world.scenario,
            beliefs=self.bdi.beliefs,
            act=lambda action, detail: self._act(action, detail),
            follow_up=self._follow_up,
            steering=steering,
            limits=self.rules,
            hold=self.board.hold,
            activate=self._activate,
        )
        found = installed(vnf.id for vnf in world.scenario.vnfs)
        return {name: found[name](context) for name in sorted(found)}

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Join the bus and start reasoning."""
        await self.mailbox.start()
        await self.board.start()
        self.bdi.start()

    async def stop(self) -> None:
        """Leave: stop answering and reasoning (a crash looks the same to the others)."""
        for task in list(self._follow_ups):
            task.cancel()
        await self.board.stop()
        await self.mailbox.stop()
        await self.bdi.stop()
        self.mind.flush()

    async def revoke(self, reason: str) -> None:
        """The trust layer revoked this agent: it takes no further action. Its reasoning
        halts for good (no new goal, no plan), the goals it works on for others and has not
        acted on are given up (a download stopped, an instance started for one terminated,
        each journalled), then it leaves as `stop` does; it perceives nothing more."""
        cause = f"revoked: {reason}"
        await self.bdi.halt(cause)
        await self.mailbox.withdraw(cause)
        await self.stop()

    async def retire(self) -> list[str]:
        """Leave for good (the agent was removed from the pipeline): stop, then terminate
        every VNF instance on this PoP so its resources are free. Returns their ids."""
        await self.stop()
        infra = self.world.infra
        mine = [i.id for i in infra.instances.values() if i.pop == self.pop]
        for instance in mine:
            infra.terminate(instance)
            await self._stop_workload(instance)
        return mine

    async def observe(self) -> None:
        """Perceive the last data-plane step through the VNFs running here (the Link
        Monitor's over-usage events)."""
        if self.bdi.halted is not None:
            return
        running = {capability.name for capability in self.bdi.capabilities}
        for name, plugin in self.plugins.items():
            event = await plugin.observe() if name in running else None
            if event is not None:
                self.bdi.perceive(event)

    # -- the step loops' handle (`secmas.agents.handle.AgentHandle`) --------------------------
    async def post(self, goal: Goal) -> Goal:
        """Hand this agent a goal of a loop beside the agents (a closed loop's decision, an
        SSLA's NOTIFY, a planned move); the goal itself is the poster's ticket."""
        return self.bdi.post_goal(goal)

    async def in_hand(self, predicate: Belief, query: bool) -> bool:
        """Whether a goal of `predicate`'s kind for its first argument is pursued here
        already (a CNF goal still running, the same DDoS goals the Link Monitor posted), or
        `predicate` is believed (its truth value known, for a query)."""
        pursued = any(
            goal.predicate.name == predicate.name and goal.predicate.args[:1] == predicate.args[:1]
            for goal in self.bdi.goals
        )
        beliefs = self.bdi.beliefs
        return pursued or (beliefs.known(predicate) if query else beliefs.holds(predicate))

    async def instances(self) -> list[Instance]:
        """The VNF instances on this PoP, oldest first."""
        return [i for i in self.world.infra.instances.values() if i.pop == self.pop]

    async def terminate(self, instance: str, cause: str) -> Instance | None:
        """Stop an instance on this PoP (a moved CNF's old home) and journal it."""
        gone = self.world.infra.instances.get(instance)
        if gone is None or gone.pop != self.pop:
            return None
        self.world.infra.terminate(instance)
        await self._stop_workload(instance)
        self.world.journal.placement(
            PlacementEvent(
                self.world.clock.now(), "terminate", gone.pop, gone.vnf, gone.units, gone.id, cause
            )
        )
        return gone

    def fit(self, instance: str, traffic: float) -> Goal | None:
        """Post resized(instance, units) when `traffic` MB/s needs other units than the
        instance has (`Orchestrator.fit`); None when they fit."""
        return self.orchestrator.fit(instance, traffic)

    def update(self, instance: str, image: str) -> Goal:
        """Post updated(instance, image): the operator's call for a new image (003 §7.2)."""
        return self.orchestrator.update(instance, image)

    # -- capabilities ------------------------------------------------------------------------
    def _activate(self, vnf: str) -> None:
        """A VNF instance runs here: its capability joins the agent (Definition 2), with
        the plans of the goals the scenario has it achieve (Table 5.7)."""
        if any(c.name == vnf for c in self.bdi.capabilities):
            return
        plugin = self.plugins[vnf]
        won = tuple(p for p in self._won_plans if self._serves(vnf, p.goal.name))
        plans = won + tuple(plugin.local_plans()) + self._copy_plans
        self.bdi.add_capability(plugin.capability(plans))
        plugin.activated()

    def _serves(self, vnf: str, goal: str) -> bool:
        """Whether the goal's spec names `vnf` among the VNFs that achieve it."""
        spec = self.auctioneer.spec(goal)
        return spec is not None and vnf in spec.vnfs

    def _won(self, _beliefs: BeliefBase, goal: Goal) -> bool:
        """The precondition of every plan that needs a VNF: this agent won the goal's
        auction (GoalResponse); a goal posted here is auctioned instead (GoalRequest)."""
        return goal in self._awards

    def _plan(self, won: WonPlan) -> Plan:
        """The engine's plan for a plan run for a won auction: it needs `_won` too."""
        body = won.body

        async def run(ctx: PlanContext) -> bool:
            request, bid = self._awards[ctx.goal]
            return await body(ctx, request, bid)

        return Plan(won.name, won.goal, run, kind=won.kind, precondition=(self._won, *won.requires))

    # -- the goal board: what a successor takes over ------------------------------------------
    def _holdings(self) -> dict[str, Any]:
        """What a successor takes over if this agent is gone (each plug-in's, as the
        limits it installed)."""
        return {key: value for p in self.plugins.values() for key, value in p.holdings().items()}

    def _adopt(self, gone: str, reason: str, goals: list[OpenGoal], held: dict[str, Any]) -> None:
        """Take over for an agent that is gone: what it held becomes this agent's (its
        limits, to lift), and each of its goals is auctioned again at once, with the duties
        it had even if it never told them (a lost Link Monitor is placed anew)."""
        duties = [duty for p in self.plugins.values() for duty in p.adopt(gone, held)]
        told = [g for g in goals if g.key not in {duty.key for duty in duties}]
        pursued = {g.predicate for g in self.bdi.goals}
        for open_goal in (*duties, *told):
            belief = Belief(open_goal.name, open_goal.args)
            if belief in pursued or self.bdi.beliefs.holds(belief):
                continue
            self._act("adoptGoal", f"{open_goal.key} from {gone} ({reason})")
            self.bdi.post_goal(
                Goal(
                    belief,
                    GoalKind(open_goal.kind),
                    priority=open_goal.priority,
                    payload=dict(open_goal.payload),
                )
            )

    # -- GoalResponse: run the won goal's plan -----------------------------------------------
    async def _execute(self, request: GoalRequest, bid: Bid, payload: dict[str, Any]) -> dict:
        """The Auction capability's GoalResponse: achieve the won goal by the plan that the
        engine's plan selection picks among the won VNF's capability's applicable plans,
        then report the beliefs it achieved. Beliefs the auctioneer shared with the request
        are revised in first (003 §5.1: beliefs travel in messages)."""
        self._activate(bid.vnf)
        payload = dict(payload)
        for belief in beliefs_from_json(payload.pop("beliefs", [])):
            self.bdi.beliefs.add(belief)
        kind = GoalKind(payload.pop("kind", GoalKind.ACHIEVE.value))
        goal = Goal(Belief(request.goal, request.args), kind, payload=payload)
        self._awards[goal] = (request, bid)
        served = bid.instance or self.orchestrator.fresh.pop((request.goal, request.args), None)
        if served is not None:
            self.serving[goal] = served
        try:
            await self.orchestrator.fit_served(served, request, payload)
            achieved = await self.bdi.perform(goal, bid.vnf)
        finally:
            del self._awards[goal]
            self.serving.pop(goal, None)
        if not achieved:
            raise RuntimeError(f"{goal} not achieved at {self.pop}: {goal.reason}")
        # the plan has acted: what it achieved is told to the auctioneer
        acted = [b for b in self.bdi.beliefs.query(request.goal) if b.args == request.args]
        result = {"beliefs": beliefs_to_json(acted), "holder": self.pop}
        await report_acted(result)  # first: losing this agent now must not rerun the plan
        self.world.journal.execution(
            ExecutionEvent(
                self.world.clock.now(),
                self.pop,
                request.auctioneer,
                goal_label(request.goal, request.args),
            )
        )
        self.board.changed()  # what it holds now (a limit), told before it can be lost
        return result

    def _cancelled(self, work: Work) -> None:
        """A won goal given up before its plan acted (its initiator cancelled it, or this
        agent was revoked), journalled."""
        detail = f"{work.goal} for {work.initiator}, {work.stage}: {work.cancelled}"
        event = ActionEvent(self.world.clock.now(), self.pop, "cancelGoal", detail)
        self.world.journal.action(event)

    async def _download(self, bid: Bid) -> bool:
        """The Orchestrator's download of the bid's image: pulled for real where the engine
        runs VNFs as workloads (it measures the pull against the bid's T), else False."""
        pulled = await self.world.controller.pull_image(self.pop, bid.vnf, bid.download_s)
        if pulled is None:
            return False
        self._pulled.append(bid.vnf)
        return True

    def _started(self, instance: Instance, request: GoalRequest) -> None:
        """The Orchestrator's InstantiateVNF is over: the instance serves the won goal (as a
        workload in this PoP where its image was pulled for real)."""
        self.orchestrator.started(instance, request)
        if instance.vnf in self._pulled:
            self._pulled.remove(instance.vnf)
            self._workloads.add(instance.id)
            self._follow_up(self._start_workload(instance))

    async def _start_workload(self, instance: Instance) -> None:
        try:
            await self.world.controller.start_vnf(instance.id, self.pop, instance.vnf)
        except ControllerError as exc:  # the plan's rules act without it; said, not fatal
            self._workloads.discard(instance.id)
            logger.warning("%s: %s", self.pop, exc)

    async def _stop_workload(self, instance: str) -> None:
        if instance in self._workloads:
            self._workloads.discard(instance)
            try:
                await self.world.controller.stop_vnf(instance)
            except ControllerError as exc:
                logger.warning("%s: %s", self.pop, exc)

    def _requested(self, message: ACLMessage) -> None:
        """Another agent's FIPA REQUEST (to lift a limit, to scale in)."""
        self.auctioneer.requested(message)

    # -- helpers ------------------------------------------------------------------------------
    def _follow_up(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._follow_ups.add(task)
        task.add_done_callback(self._follow_ups.discard)

    def _act(self, action: str, detail: str) -> None:
        self.world.journal.action(ActionEvent(self.world.clock.now(), self.pop, action, detail))

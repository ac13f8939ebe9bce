"""One BDI agent per PoP, running the DDoS resilience strategy of Section 5.1 of `003_…`.

Every plan is a plan of the BDI engine (`secmas.agents.bdi`), in the capability of its VNF,
and chosen by the engine's plan selection. Goals that need a VNF are never placed by
central code: the agent's Auction capability (GoalRequest) auctions them with NFV-A, and
the winner's GoalResponse has its engine pick, among the won VNF's plans (Tables 5.1–5.5),
an applicable one, after downloading and starting the VNF when needed (Orchestrator:
InstantiateVNF). Plans post their follow-up goals themselves; when an analysing VNF finds
no PoP, plan selection falls back to the Load Balancer's split (Table 5.5). Only goals
whose plan needs a belief the agent already holds (UnlimitLink, UnlimitIP) run locally, on
the agent that installed the limit; others ask it with a FIPA REQUEST (RequestLift).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.auction import (
    SPACE,
    Admits,
    Announce,
    AuctionSettings,
    Mailbox,
    Work,
    goal_label,
    report_acted,
)
from secmas.agents.bdi import (
    ANY,
    REST,
    Agent,
    Belief,
    Capability,
    Forget,
    Goal,
    GoalKind,
    Plan,
    PlanBody,
    PlanContext,
    Var,
)
from secmas.agents.bidding import Bid, GoalRequest, shared_context
from secmas.agents.board import GoalBoard, OpenGoal
from secmas.agents.ddos.chaining import Chains, links_of
from secmas.agents.ddos.cnf import CNFAction, CNFPlans
from secmas.agents.ddos.facts import (
    beliefs_from_json,
    beliefs_to_json,
    flow_ends,
    flow_name,
    link_ends,
    link_name,
)
from secmas.agents.ddos.vnfs import (
    AnomalyDetectorVNF,
    ClassifierVNF,
    LinkMonitorVNF,
    LoadBalancerVNF,
    RateLimiterVNF,
)
from secmas.agents.journal import ActionEvent, ExecutionEvent, Journal, PlacementEvent
from secmas.agents.lifecycle import (
    UpdateRefused,
    Where,
    plan_resize,
    plan_update,
    resize_in_place,
    roll,
)
from secmas.agents.mind import MindRecorder
from secmas.network.clock import Clock, VirtualClock
from secmas.network.dataplane import DataPlane, Steer, UsageEvent
from secmas.network.dataplane.controller import Controller, LocalController
from secmas.network.infrastructure import Infrastructure, Instance
from secmas.network.resources import units_needed
from secmas.scenario import ddos
from secmas.scenario.model import Defence, GoalSpec, Preferences, Scenario
from secmas.transport.bus import Bus, BusClosed
from secmas.transport.memory import MemoryBus

logger = logging.getLogger(__name__)

PROTECT, DIAGNOSE = 10.0, 5.0  # goal deliberation: protect the network first (Section 5.1)
SETTLE_STEPS = 3
"""Steps an analysing VNF waits once traffic is steered to it, so that its counters hold
the steered traffic (the Anomaly Detector averages the last 3 steps)."""

T = TypeVar("T")

RESIZES = 1
RESIZE_DROP = 0.95
"""A goal nothing fitted is auctioned again (up to RESIZES times) when its traffic, measured
again, dropped below RESIZE_DROP of what was asked: in separate processes the limit that
lowers it may take effect a step after the measurement."""


async def _dropped(
    renewed: Callable[[], Awaitable[GoalRequest]], traffic: float
) -> GoalRequest | None:
    """The goal's request measured again (a step apart, up to RESIZES times) once its
    traffic dropped below RESIZE_DROP of `traffic`; None if it did not."""
    for _ in range(RESIZES):
        again = await renewed()
        if again.traffic < RESIZE_DROP * traffic:
            return again
    return None


Decline = Callable[[str, GoalRequest], str | Awaitable[str | None] | None]
"""(PoP, goal request) → why that PoP refuses to bid for it, or None; a policy held in
another process answers over the bus (awaitable)."""


ImageCheck = Callable[[str, str], str | None]
"""(VNF, image version) → why that image may not run, or None (003_… §7.2's re-attestation)."""


@dataclass
class World:
    """What every agent of one run shares: the network they act on and the bus."""

    scenario: Scenario
    infra: Infrastructure
    plane: DataPlane | None
    """The network, when it runs in this process (the local driver steps it)."""
    controller: Controller
    """How the VNFs reach the network: the local plane, or a controller over the bus."""
    bus: Bus
    clock: Clock
    journal: Journal
    settings: AuctionSettings
    directory: tuple[str, ...] = ()
    space: str = SPACE
    """The NFV-A subject space (per pipeline when several share a bus)."""
    admits: Admits | None = None
    """Which agents may take part (the trust layer's view); None admits every agent."""
    admission_changes: Sequence[str] | None = None
    """The trust layer's log of whose admission changed (`GoalBoard.admissions`); None when
    `admits` keeps none."""
    declines: list[Decline] = field(default_factory=list)
    """Local policies that make a PoP refuse a goal, with the reason (CTI hygiene, moving
    target defence); consulted on every call for proposals."""
    image_check: ImageCheck | None = None
    """The trust layer's reference check of an image an update starts (a secure run:
    `secmas.trust.vnfimages`); None (an insecure run): any image that is named runs."""

    async def decline(self, pop: str, request: GoalRequest) -> str | None:
        """The first reason a policy gives for `pop` not to bid for `request`, if any."""
        for rule in self.declines:
            reason = rule(pop, request)
            if inspect.isawaitable(reason):
                reason = await reason
            if reason is not None:
                return reason
        return None

    @classmethod
    def simulated(
        cls,
        scenario: Scenario,
        *,
        settings: AuctionSettings | None = None,
        journal: Journal | None = None,
    ) -> World:
        """An in-process world: the scenario's network, a data plane, an in-memory bus and
        a virtual clock; one agent per PoP in the directory."""
        defence = scenario.defence
        plane = DataPlane(scenario)
        return cls(
            scenario=scenario,
            infra=Infrastructure.from_scenario(scenario),
            plane=plane,
            controller=LocalController(plane),
            bus=MemoryBus(),
            clock=VirtualClock(),
            journal=journal if journal is not None else Journal(),
            settings=settings or AuctionSettings(serialised=bool(defence and defence.serialised)),
            directory=tuple(p.id for p in scenario.pops),
        )

    @property
    def auction(self) -> AuctionSettings:
        """The auction's settings with the scenario's reputation weight (its `auction`)."""
        weight = self.scenario.auction.reputation_weight
        return replace(self.settings, reputation_weight=weight)

    @property
    def defence(self) -> Defence:
        """The strategy's parameters (RATE, PARTS, monitor)."""
        if self.scenario.defence is None:
            raise ValueError(f"scenario {self.scenario.id!r} has no defence section")
        return self.scenario.defence


class LinkMonitorCapability(Capability):
    """Table 5.2: belief revision on over-usage events and the two goals it generates."""

    def __init__(self, vnf: LinkMonitorVNF, plans: Iterable[Plan] = ()) -> None:
        super().__init__(ddos.LINK_MONITOR, vnf, plans=plans)
        self.link = link_name(*vnf.monitor.link)
        self._handled = False

    def revise(self, event: object, beliefs: Any) -> Iterable[Belief | Forget]:
        over = Belief("overUsage", (self.link,))
        if event is UsageEvent.OVER:
            return [over, Forget("anomalousUsage", (self.link,))]
        if event is UsageEvent.NORMAL:
            self._handled = False
            return [over.forget()]
        return ()

    def options(self, beliefs: Any, goals: Sequence[Goal]) -> Iterable[Goal]:
        """overUsage(link) ∧ not anomalousUsage(link) → goal(linkRateLimited(link)) and
        goal(?anomalousUsage(link)) (Table 5.2). Protect first (Section 5.1): the query
        waits for the limit, since the limit changes the traffic its VNF is sized by."""
        over = beliefs.holds(Belief("overUsage", (self.link,)))
        known = beliefs.known(Belief("anomalousUsage", (self.link,)))
        if not over or known or self._handled:
            return ()
        self._handled = True  # one pair of goals per over-usage episode
        vnf: LinkMonitorVNF = self.vnf
        a, b = vnf.monitor.link
        over = [list(episode) for episode in vnf.episodes]
        payload = {"node": a, "link": [a, b], "since": vnf.onset, "over": over}
        # a closed loop's decision engine may have handed the agent the same goals first
        pursued = {goal.predicate for goal in goals}

        def wanted(predicate: Belief) -> bool:
            return predicate not in pursued and not beliefs.holds(predicate)

        limit_of = Belief("linkRateLimited", (self.link,))
        limit = Goal(limit_of, priority=PROTECT, payload=payload) if wanted(limit_of) else None
        query_of = Belief("anomalousUsage", (self.link,))
        query = (
            Goal(query_of, GoalKind.QUERY, priority=DIAGNOSE, payload=payload, after=limit)
            if wanted(query_of)
            else None
        )
        return tuple(goal for goal in (limit, query) if goal is not None)


Won = Callable[[PlanContext, GoalRequest, Bid], Awaitable[bool]]
"""The body of a plan run for a won auction: (context, request, winning bid) → achieved."""

AUCTION = "auction"
"""The Auction capability every agent has (003 §5.1): GoalRequest, the fall-backs to
splitting, and the requests to lift a limit held by another agent."""

ORCHESTRATOR = "orchestrator"
"""The Orchestrator capability every agent has (003 §5.1): InstantiateVNF is the download
a won auction starts (`Mailbox`); ScaleIn is its counterpart once the attack subsided;
Resize and Update are the lifecycle 003 left open (§7.2, `secmas.agents.lifecycle`)."""

RESIZED, UPDATED = "resized", "updated"
"""The Orchestrator's lifecycle goals: resized(instance, units), updated(instance, image)."""
LIFECYCLE_PREFERENCES = Preferences(T=1.0, C=0.0, D=0.0)
"""How a lifecycle auction ranks bids for a VNF no goal of the scenario names: soonest."""


def unplaced(goal: Belief) -> Belief:
    """unplaced(g, args): no PoP took goal g(args) in its auction (the Load Balancer's
    precondition, Table 5.5: the Anomaly Detector's or Classifier's auction failed)."""
    return Belief("unplaced", (goal.name, *goal.args))


def _agreed(_beliefs: Any, goal: Goal) -> bool:
    """An un-goal every part asked for (`PoPAgent._lift`), not one part's request."""
    return "parts" not in goal.payload


def _asked_by_part(_beliefs: Any, goal: Goal) -> bool:
    """An un-goal one part posted: the limit's holder lifts it once every part asked."""
    return "parts" in goal.payload


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
    holders: dict[str, str] = field(default_factory=dict)
    _votes: dict[Belief, set[int]] = field(default_factory=dict)
    monitor: LinkMonitorVNF | None = None
    bus: Bus | None = None
    """This agent's own view of the bus (its secure channel); default the world's bus."""
    announce: Announce | None = None
    """Tells agents in other processes of virtual paths (None: they share `world.infra`)."""
    _follow_ups: set[asyncio.Task[None]] = field(default_factory=set)
    _auctions: dict[Goal, asyncio.Task[bool]] = field(default_factory=dict)
    _awards: dict[Goal, tuple[GoalRequest, Bid]] = field(default_factory=dict)
    """Goals this agent won the auction of, while their plan runs (GoalResponse)."""
    _serving: dict[Goal, str] = field(default_factory=dict)
    """The instance each won goal's plan runs on, while it runs."""
    _fresh: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)
    """Instances the Orchestrator just started, by the goal (name, args) they serve."""

    def __post_init__(self) -> None:
        self.bdi = Agent(self.pop)
        self.mind = MindRecorder(self.bdi, self.world.clock, self.world.journal.mind)
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
        plane = self.world.controller
        self._vnfs: dict[str, Any] = {
            ddos.RATE_LIMITER: RateLimiterVNF(plane, self.pop),
            ddos.ANOMALY_DETECTOR: AnomalyDetectorVNF(plane, self.pop),
            ddos.CLASSIFIER: ClassifierVNF(plane, self.pop),
            ddos.LOAD_BALANCER: LoadBalancerVNF(plane, self.pop),
        }
        self.chains = Chains(
            self.pop,
            plane,
            self.world.infra,
            on_release=lambda steer: self._act("unsteer", _steer_detail(steer)),
        )
        self._steers: dict[int, Steer] = {}
        """The steering each rule installed here needs, by rule id."""
        self._won_plans = self._strategy_plans() + self._cnf_plans(
            CNFPlans(self.pop, plane, self._act, self.world.clock, self._follow_up)
        )
        self._split_rules: list[int] = []
        """The traffic splits this agent's Load Balancer installed."""
        self.bdi.add_capability(self._auction_capability())
        self.bdi.add_capability(self._orchestrator_capability())
        for instance in self.world.infra.instances.values():
            if instance.pop == self.pop:
                self._activate(instance.vnf)

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
        return mine

    async def observe(self) -> None:
        """Perceive the last data-plane step through this agent's monitoring VNF."""
        if self.monitor is None or self.bdi.halted is not None:
            return
        event = await self.monitor.observe()
        if event is not None:
            self._act(
                "overUsage" if event is UsageEvent.OVER else "normal",
                link_name(*self.monitor.monitor.link),
            )
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
        self.world.journal.placement(
            PlacementEvent(
                self.world.clock.now(), "terminate", gone.pop, gone.vnf, gone.units, gone.id, cause
            )
        )
        return gone

    # -- capabilities ------------------------------------------------------------------------
    def _activate(self, vnf: str) -> None:
        """A VNF instance runs here: its capability joins the agent (Definition 2), with
        the plans of the goals the scenario has it achieve (Table 5.7)."""
        if any(c.name == vnf for c in self.bdi.capabilities):
            return
        plans = self._plans_of(vnf)
        if vnf == ddos.LINK_MONITOR:
            watcher = LinkMonitorVNF(self.world.controller, self.world.defence.monitor)
            self.bdi.add_capability(LinkMonitorCapability(watcher, plans))
            if self.world.defence.monitor.pop == self.pop:
                self._watch()
        else:
            self.bdi.add_capability(Capability(vnf, self._vnfs.get(vnf), plans=plans))

    def _plans_of(self, vnf: str) -> tuple[Plan, ...]:
        """The plans of `vnf`'s capability: those of each goal whose spec names the VNF,
        and Table 5.1's UnlimitLink and UnlimitIP for the Rate Limiter."""
        won = tuple(p for p in self._won_plans if vnf in self._vnfs_for(p.goal.name))
        unlimit = self._unlimit_plans() if vnf == ddos.RATE_LIMITER else ()
        return won + unlimit + self._copy_plans()

    def _vnfs_for(self, goal: str) -> tuple[str, ...]:
        spec = self._spec(goal)
        return () if spec is None else spec.vnfs

    def _watch(self) -> Belief:
        """Run the Link Monitor on the defence's link here. The duty goes on the board, so
        that if this agent is gone another places a new monitor (no single point of
        failure for detection)."""
        monitor = self.world.defence.monitor
        link = link_name(*monitor.link)
        if self.monitor is None:
            self._activate(ddos.LINK_MONITOR)
            [capability] = [c for c in self.bdi.capabilities if c.name == ddos.LINK_MONITOR]
            self.monitor = capability.vnf
        self.board.hold(OpenGoal(ddos.MONITOR_GOAL, (link,), priority=PROTECT))
        return Belief(ddos.MONITOR_GOAL, (link,))

    def _won(self, _beliefs: Any, goal: Goal) -> bool:
        """The precondition of every plan that needs a VNF: this agent won the goal's
        auction (GoalResponse); a goal posted here is auctioned instead (GoalRequest)."""
        return goal in self._awards

    def _plan(self, name: str, goal: Belief, body: Won, *extra: Any, **kwargs: Any) -> Plan:
        """A plan run for a won auction, with `extra` preconditions besides `_won`."""

        async def run(ctx: PlanContext) -> bool:
            request, bid = self._awards[ctx.goal]
            return await body(ctx, request, bid)

        return Plan(name, goal, run, precondition=(self._won, *extra), **kwargs)

    def _strategy_plans(self) -> tuple[Plan, ...]:
        """Tables 5.1 and 5.3–5.5, and the Link Monitor's placement (`ddos.monitor_goal`)."""
        x = Var("x")
        query = GoalKind.QUERY
        return (
            self._plan("LL", Belief("linkRateLimited", (x,)), self._limit_link),
            self._plan("LIP", Belief("ipRateLimited", (x,)), self._limit_ip),
            self._plan("LF", Belief("flowRateLimited", (x,)), self._limit_flow),
            self._plan("ALS", Belief("anomalousUsage", (x, REST)), self._analyse_link, kind=query),
            self._plan("AIPF", Belief("flowRecord", (x, REST)), self._analyse_ip_flows),
            self._plan(
                "LBL",
                Belief("splitTrafficLink", (x,)),
                self._balance_link,
                unplaced(Belief("anomalousUsage", (x,))),
            ),
            self._plan(
                "LBIP",
                Belief("splitTrafficTowardsIp", (x,)),
                self._balance_ip,
                unplaced(Belief("flowRecord", (x,))),
            ),
            self._plan("MonitorLink", Belief(ddos.MONITOR_GOAL, (x,)), self._monitor_link),
        )

    def _cnf_plans(self, cnf: CNFPlans) -> tuple[Plan, ...]:
        """The CNF closed loop's plans, one per goal it hands the agents."""

        def body(action: CNFAction) -> Won:
            async def run(ctx: PlanContext, request: GoalRequest, _bid: Bid) -> bool:
                ctx.believe(*await action(request, ctx.goal.payload))
                return True

            return run

        return tuple(
            self._plan(goal, Belief(goal, (REST,)), body(action))
            for goal, action in cnf.plans.items()
        )

    def _unlimit_plans(self) -> tuple[Plan, ...]:
        """Table 5.1's UnlimitLink and UnlimitIP: they need the limit this agent installed,
        and a lift every part of a split asked for."""
        x = Var("x")
        return tuple(
            Plan(name, ~Belief(limit, (x,)), body, precondition=(Belief(limit, (x,)), _agreed))
            for name, limit, body in (
                ("UL", "linkRateLimited", self._unlimit),
                ("UIP", "ipRateLimited", self._unlimit_ip),
            )
        )

    def _orchestrator_capability(self) -> Capability:
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

    def _auction_capability(self) -> Capability:
        """The Auction capability (003 §5.1): GoalRequest for every goal a VNF achieves,
        run before the Load Balancer fall-backs of Table 5.5 (less time), which are
        applicable once the auction left the goal unplaced; and the request to the holder
        of a limit to lift it."""
        x = Var("x")
        specs = (*self.world.scenario.goals, ddos.monitor_goal())
        waits = {"slot": False}
        requests = tuple(
            Plan(
                "GoalRequest",
                Belief(spec.name, (REST,)),
                self._request,
                kind=kind,
                cancellable=False,
                **waits,
            )
            for spec in specs
            for kind in GoalKind
        )
        fall_backs = tuple(
            Plan(
                name,
                Belief(goal, (x,)),
                self._split_instead(split),
                kind=kind,
                precondition=unplaced(Belief(goal, (x,))),
                time=1.0,
                **waits,
            )
            for name, goal, kind, split in (
                ("SplitLink", "anomalousUsage", GoalKind.QUERY, "splitTrafficLink"),
                ("SplitIP", "flowRecord", GoalKind.ACHIEVE, "splitTrafficTowardsIp"),
            )
        )
        lifts = tuple(
            Plan(
                "RequestLift",
                ~Belief(limit, (x,)),
                self._request_lift,
                precondition=_asked_by_part,
                time=1.0,
                **waits,
            )
            for limit in ("linkRateLimited", "ipRateLimited")
        )
        return Capability(AUCTION, plans=requests + fall_backs + lifts)

    # -- GoalRequest: auction a goal ---------------------------------------------------------
    async def _request(self, ctx: PlanContext) -> bool:
        """The Auction capability's GoalRequest plan: NFV-A for a goal needing a VNF.

        A goal this agent is auctioning already (posted again: by both parts of a split
        link, or adopted from a gone agent) is not auctioned twice: it waits for the
        auction in progress and shares its outcome."""
        goal = ctx.goal
        for other, running in self._auctions.items():
            if other.key == goal.key:
                return await asyncio.shield(running)
        task = asyncio.ensure_future(self._auction_goal(goal))
        self._auctions[goal] = task
        try:
            return await task
        finally:
            del self._auctions[goal]

    async def _auction_goal(self, goal: Goal) -> bool:
        name = goal.predicate.name
        spec = self._spec(name)
        if spec is None:
            return False
        self.bdi.beliefs.remove(unplaced(goal.predicate))
        # who holds the limits its follow-ups ask to lift (`_ask`): told to the winner, and
        # on the board, since an agent that adopts the goal must ask them (or their stand-in)
        shared = dict(goal.payload) | {
            "holders": {**goal.payload.get("holders", {}), **self.holders}
        }
        payload = shared | {"kind": goal.kind.value}
        args = tuple(str(a) for a in goal.predicate.args)
        held = OpenGoal(name, args, goal.kind.value, goal.priority, shared)
        self.board.hold(held)  # another agent takes it over if this one is gone

        async def renewed() -> GoalRequest:
            traffic = await self._measured(goal, spec, payload)
            predicted = payload.get("predicted_traffic")  # a forecast's peak (004_… §4.2)
            return GoalRequest.for_goal(
                spec, self.pop, traffic, args, None if predicted is None else float(predicted)
            )

        try:
            request = await renewed()
            for _ in range(RESIZES + 1):
                record = await self.mailbox.auction(
                    request,
                    payload,
                    self.world.directory,
                    needed=lambda: self._needs(goal),
                    renew=renewed,
                )
                self.world.journal.auction(self.pop, record)
                if record.status != "no-bids" or not self._needs(goal):
                    break
                # Nothing fitted: if the traffic measured was not settled yet (a limit just
                # installed, a split just steered), measure again before giving up.
                again = await _dropped(renewed, request.traffic)
                if again is None:
                    break
                request = again
        finally:
            self.board.release(held)
        if not record.achieved:
            self.bdi.beliefs.add(unplaced(goal.predicate))
            return False
        try:
            learnt = beliefs_from_json(record.result.get("beliefs", []))
        except ValueError:
            learnt = []
        for belief in learnt:
            self.bdi.beliefs.add(belief)
        holder = record.result.get("holder")
        if isinstance(holder, str):
            self.holders[f"{name}({','.join(request.args)})"] = holder
        return True

    def _split_instead(self, split: str) -> PlanBody:
        """Table 5.5's fall-back: no Anomaly Detector or Classifier fits the goal's
        traffic, so goal(`split`) divides it into lighter parts, each analysed on its own.
        The auction's failure (the Load Balancer's precondition) goes with the request."""

        async def body(ctx: PlanContext) -> bool:
            goal = ctx.goal
            shared = {"beliefs": beliefs_to_json([unplaced(goal.predicate)])}
            divide = Goal(
                Belief(split, goal.predicate.args),
                priority=goal.priority,
                payload=dict(goal.payload) | shared,
            )
            return await ctx.achieve(divide)

        return body

    def _spec(self, name: str) -> GoalSpec | None:
        """The goal's design-time settings: the scenario's, or the standing monitor duty's."""
        try:
            return self.world.scenario.goal(name)
        except KeyError:
            return ddos.monitor_goal() if name == ddos.MONITOR_GOAL else None

    def _needs(self, goal: Goal) -> bool:
        """Whether this agent still needs `goal` (it runs and does not believe it achieved):
        until then a failed or unanswered auction for it is repeated."""
        return self.bdi.running and not goal.satisfied_by(self.bdi.beliefs)

    def _holdings(self) -> dict[str, Any]:
        """What a successor takes over if this agent is gone: the limits it installed
        (only their holder lifts them, when asked by the agents that asked for them)."""
        beliefs = beliefs_to_json(self.rules)
        rules = [[b, r] for b, r in zip(beliefs, self.rules.values(), strict=True)]
        return {"rules": rules} if rules else {}

    def _adopt(self, gone: str, reason: str, goals: list[OpenGoal], held: dict[str, Any]) -> None:
        """Take over for an agent that is gone: its limits become this agent's to lift,
        and each of its goals is auctioned again at once (a lost Link Monitor is placed
        anew)."""
        try:
            rules = [(beliefs_from_json([b])[0], int(r)) for b, r in held.get("rules", [])]
        except (TypeError, ValueError):
            logger.warning("%s: unusable holdings of %s", self.pop, gone)
            rules = []
        if rules:
            self._activate(ddos.RATE_LIMITER)
        for belief, rule in rules:
            self.rules.setdefault(belief, rule)
            self.bdi.beliefs.add(belief)
            self._act("adoptRule", f"{belief} (rule {rule}) from {gone}")
        monitor = self.world.scenario.defence.monitor if self.world.scenario.defence else None
        if monitor is not None and gone == monitor.pop:
            # the scenario's Link Monitor: its duty even if it never told it (revoked at once)
            duty = OpenGoal(ddos.MONITOR_GOAL, (link_name(*monitor.link),), priority=PROTECT)
            goals = [duty, *(g for g in goals if g.key != duty.key)]
        pursued = {g.predicate for g in self.bdi.goals}
        for open_goal in goals:
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

    async def _measured(self, goal: Goal, spec: GoalSpec, payload: dict[str, Any]) -> float:
        """`_traffic_for` the goal; while the controller cannot be reached (a broker
        outage) asked again after a back-off, for as long as the goal is needed."""
        settings = self.world.settings
        wait = settings.retry_wait
        while True:
            try:
                return await self._traffic_for(spec, payload)
            except (TimeoutError, BusClosed) as exc:
                if not self._needs(goal):
                    raise
                logger.warning(
                    "%s: no traffic figure for %s (%r); again in %g s", self.pop, goal, exc, wait
                )
                await self.world.clock.sleep(wait)
                wait = min(2 * wait, settings.retry_wait_max)

    async def _traffic_for(self, spec: GoalSpec, payload: dict[str, Any]) -> float:
        """MB/s the goal's VNF must process, measured one step after the last change: the
        watched link's traffic (its part of a split) for a VNF sized by the traffic it
        processes (one with a throughput in Table 5.6); none for the others."""
        catalogue = self.world.infra.catalogue
        sized = any(catalogue[vnf].throughput is not None for vnf in spec.vnfs)
        if not sized or "link" not in payload:
            return 0.0
        await self.world.clock.sleep(self.world.controller.step_seconds)
        return await self._link_traffic(payload)

    async def _link_traffic(self, payload: dict[str, Any]) -> float:
        """MB/s on the goal's watched link now (its part of a split)."""
        a, b = payload["link"]
        return await self.world.controller.rate(a, b) / int(payload.get("parts", 1))

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
        served = bid.instance or self._fresh.pop((request.goal, request.args), None)
        if served is not None:
            self._serving[goal] = served
        try:
            await self._fit_served(served, request, payload)
            achieved = await self.bdi.perform(goal, bid.vnf)
        finally:
            del self._awards[goal]
            self._serving.pop(goal, None)
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

    def _started(self, instance: Instance, request: GoalRequest) -> None:
        self._fresh[(request.goal, request.args)] = instance.id
        self._placed(instance, f"{request.goal}({','.join(request.args)})")

    def _placed(self, instance: Instance, cause: str) -> None:
        """Journal an instance started here."""
        self.world.journal.placement(
            PlacementEvent(
                self.world.clock.now(),
                "start",
                self.pop,
                instance.vnf,
                instance.units,
                instance.id,
                cause,
            )
        )

    async def _monitor_link(self, ctx: PlanContext, request: GoalRequest, _bid: Bid) -> bool:
        """linkMonitored(link): the Link Monitor placed again, here, after its agent was lost."""
        ctx.believe(self._watch())
        self._act("monitorLink", request.args[0])
        return True

    # Table 5.1 -------------------------------------------------------------------------------
    async def _limit_link(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """LimitLink (LL): limitLink(link, RATE), on the link's traffic steered here."""
        link = request.args[0]
        a, b = link_ends(link)
        server = self.world.controller.server_ip
        steer = await self._chain(request, bid, {"node": a} | ctx.goal.payload, server)
        rule, cap = await self._installed(
            steer, self._vnfs[ddos.RATE_LIMITER].limit_link(a, b, self.world.defence.rate)
        )
        achieved = Belief("linkRateLimited", (link,))
        self.rules[achieved] = rule
        self._act("limitLink", f"{link} to {cap:.2f} MB/s at {self.pop}")
        ctx.believe(achieved)
        return True

    async def _limit_ip(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """LimitIP (LIP): limitIP(ip, RATE), then goal(¬linkRateLimited(link)) for the link
        towards ip (its holder lifts it)."""
        ip = request.args[0]
        payload = ctx.goal.payload
        a, b = payload["link"]
        achieved = Belief("ipRateLimited", (ip,))
        await self._replace(achieved)
        steer = await self._chain(request, bid, payload, ip)
        rule, cap = await self._installed(
            steer,
            self._vnfs[ddos.RATE_LIMITER].limit_ip(a, b, ip, self.world.defence.rate),
        )
        self.rules[achieved] = rule
        self._act("limitIP", f"{ip} to {cap:.2f} MB/s at {self.pop}")
        ctx.believe(achieved)
        lift = ~Belief("linkRateLimited", (link_name(a, b),))
        ctx.post_goal(Goal(lift, priority=PROTECT, payload=payload | {"part": 0, "parts": 1}))
        return True

    async def _limit_flow(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """LimitFlow (LF): blockFlow(flow) here. A flow that does not cross this PoP is
        steered here from where it enters the network, alone: it dies here and loads only
        the links on its way (003 drops it at the victim's switch)."""
        flow = request.args[0]
        src, dst = flow_ends(flow)
        ingress = await self.world.controller.ingress(src)
        payload = ctx.goal.payload | {"at": ingress}
        steer = await self._chain(request, bid, payload, dst, src_ip=src)
        rule = await self._installed(steer, self._vnfs[ddos.RATE_LIMITER].block_flow(src, dst))
        achieved = Belief("flowRateLimited", (flow,))
        self.rules[achieved] = rule
        self._act("blockFlow", f"{flow} at {self.pop}")
        ctx.believe(achieved)
        return True

    async def _unlimit(self, ctx: PlanContext) -> bool:
        """UnlimitLink (UL) and UnlimitIP (UIP): take out the limit this agent installed."""
        target = Belief(ctx.goal.predicate.name, ctx.goal.predicate.args)
        rule = self.rules.pop(target, None)
        if rule is None:
            return False
        await self._remove_rule(rule)
        self._act(f"un{target.name}", ",".join(target.args))
        ctx.believe(~target)
        return True

    async def _unlimit_ip(self, ctx: PlanContext) -> bool:
        """UnlimitIP (UIP), the strategy's last step (Figure 5.1): every threat towards ip
        is limited. With no IP limit left here the attack subsided: goal(released(ip))
        scales in the VNFs the mitigation started, here and (told) on every other PoP."""
        if not await self._unlimit(ctx):
            return False
        if not self.bdi.beliefs.query(Belief("ipRateLimited", (ANY,))):
            released = Belief("released", ctx.goal.predicate.args)
            ctx.post_goal(Goal(released, priority=DIAGNOSE, payload={"tell": True}))
        return True

    def _quiet(self, _beliefs: Any, goal: Goal) -> bool:
        """No goal but `goal` is open here."""
        return all(other is goal for other in self.bdi.goals)

    async def _scale_in(self, ctx: PlanContext) -> bool:
        """ScaleIn: terminate here every idle instance of the strategy's VNFs that serves
        no rule (a Rate Limiter stays while its flow blocks do), journalled with the cause
        (a VNF with no instance left here takes its capability, and any goal it owns, with
        it); then tell the others, when this agent lifted the last limit."""
        released = ctx.goal.predicate
        cause = f"scale-in: the attack on {released.args[0]} subsided"
        mine = [i for i in await self.instances() if i.vnf in self._vnfs and not i.busy]
        kept = {ddos.RATE_LIMITER} if self.rules else set()
        for instance in mine:
            if instance.vnf in kept:
                kept.discard(instance.vnf)  # the oldest one serves the rules
                continue
            if instance.vnf == ddos.LOAD_BALANCER:
                await self._merge_splits()
            await self.terminate(instance.id, cause)
        left = {i.vnf for i in await self.instances()}
        for capability in self.bdi.capabilities:
            if capability.name in self._vnfs and capability.name not in left:
                self.bdi.remove_capability(capability.name)
        if ctx.goal.payload.get("tell"):
            others = [pop for pop in self.world.directory if pop != self.pop]
            await asyncio.gather(*(self._tell(pop, released) for pop in others))
        return True

    async def _merge_splits(self) -> None:
        """Take out the traffic splits this agent's Load Balancer installed."""
        balancer: LoadBalancerVNF = self._vnfs[ddos.LOAD_BALANCER]
        while self._split_rules:
            await balancer.merge(self._split_rules.pop())

    async def _tell(self, pop: str, goal: Belief) -> None:
        """Ask `pop` to achieve `goal` too (a FIPA REQUEST, answered by `_lift`); one that
        does not agree in time keeps its idle instances."""
        request = self._request_of(pop, goal, 0, 1, tag=pop)
        if not await self.mailbox.request(request, self.world.settings.retry_wait):
            logger.warning("%s: %s did not agree to %s", self.pop, pop, goal)

    async def _request_lift(self, ctx: PlanContext) -> bool:
        """A part's un-goal: ask the agent holding the limit to lift it (`_ask`)."""
        await self._ask(ctx.goal.payload, ctx.goal.predicate)
        return True

    async def _ask(self, payload: dict[str, Any], goal: Belief) -> None:
        """Ask the agent holding the positive belief to achieve `goal` (its un-plan).

        With traffic split into parts, each part reports; the holder lifts the limit
        once every part has (see `_lift`). A holder the payload does not name (its auction
        ended after the payload was made) may be this agent itself. The REQUEST is sent
        again, after a back-off, until the holder (or its stand-in) agrees: one lost in a
        broker outage would leave the limit on for good.
        """
        part, parts = payload.get("part", 0), int(payload.get("parts", 1))
        settings = self.world.settings
        wait = settings.retry_wait
        while True:
            holder = payload.get("holders", {}).get(f"{goal.name}({','.join(goal.args)})")
            if not holder and Belief(goal.name, goal.args) in self.rules:
                holder = self.pop
            holder = self.board.stand_in(holder) if holder else holder  # it may be gone
            if holder == self.pop:
                self._lift(goal, part, parts)
                return
            if not holder:
                logger.warning("%s: nobody known to hold the limit %s lifts", self.pop, goal)
                return
            request = self._request_of(holder, goal, part, parts, tag=part)
            if await self.mailbox.request(request, wait):
                return
            logger.warning("%s: %s did not agree to %s; asked again", self.pop, holder, goal)
            wait = min(2 * wait, settings.retry_wait_max)

    def _request_of(self, to: str, goal: Belief, part: int, parts: int, tag: object) -> ACLMessage:
        """The FIPA REQUEST asking `to` to achieve `goal` for `part` of `parts` (answered
        by its `_lift`); `tag` tells this agent's requests for one goal apart."""
        content = {"goal": beliefs_to_json([goal])[0], "part": part, "parts": parts}
        return ACLMessage(
            Performative.REQUEST, self.pop, (to,), f"{self.pop}.req.{goal}.{tag}", content
        )

    def _requested(self, message: ACLMessage) -> None:
        try:
            [goal] = beliefs_from_json([message.content.get("goal")])
            part, parts = int(message.content["part"]), int(message.content["parts"])
        except (KeyError, TypeError, ValueError):
            logger.warning("%s: ignored a malformed REQUEST from %s", self.pop, message.sender)
            return
        self._lift(goal, part, parts)

    def _lift(self, goal: Belief, part: int, parts: int) -> None:
        """Post a goal another agent asked for (an un-goal, a release) once all `parts`
        asked for it.

        Table 5.1 lifts the IP limit as soon as one malicious flow is limited; when the
        traffic was split, the other parts' attackers would then flood the link again
        before their classifier reports, so here every part must have reported first.
        """
        if self.bdi.beliefs.holds(goal):  # lifted already: a REQUEST sent again
            return
        votes = self._votes.setdefault(goal, set())
        votes.add(part)
        if len(votes) >= parts:
            del self._votes[goal]
            self.bdi.post_goal(Goal(goal, priority=PROTECT))

    # Resize and Update (003 §7.2) -----------------------------------------------------------
    def fit(self, instance: str, traffic: float) -> Goal | None:
        """Post resized(instance, units) when `traffic` MB/s needs other units than the
        instance of a sized VNF here has (Section 5.4.1's units); None when they fit."""
        held = self.world.infra.instances.get(instance)
        if held is None or held.pop != self.pop:
            return None
        to = units_needed(self.world.infra.catalogue[held.vnf], traffic)
        if to == held.units or self.world.infra.catalogue[held.vnf].throughput is None:
            return None
        resized = Belief(RESIZED, (instance, str(to)))
        if any(g.predicate == resized for g in self.bdi.goals):
            return None
        goal = Goal(resized, priority=DIAGNOSE, payload={"traffic": traffic})
        return self.bdi.post_goal(goal)

    def update(self, instance: str, image: str) -> Goal:
        """Post updated(instance, image): the operator's call for a new image (003 §7.2)."""
        return self.bdi.post_goal(Goal(Belief(UPDATED, (instance, image)), priority=DIAGNOSE))

    async def _fit_served(
        self, instance: str | None, request: GoalRequest, payload: dict[str, Any]
    ) -> None:
        """Resize's trigger: a won goal's traffic measured again as its plan starts on
        `instance` (a download may have taken T seconds since the bid sized it); when it
        needs other units, resized(instance, units) is posted and the plan goes on."""
        if instance is None or "link" not in payload:
            return
        try:
            traffic = await self._link_traffic(payload)
        except (TimeoutError, BusClosed):
            return  # the controller cannot be reached: the instance keeps its units
        self.fit(instance, max(traffic, request.predicted_traffic or 0.0))

    async def _resize(self, ctx: PlanContext) -> bool:
        """Resize: in place when the PoP has room (or the instance shrinks), else the
        larger instance is auctioned and the old one stops once its plan is over."""
        instance = str(ctx.goal.predicate.args[0])
        if instance not in self.world.infra.instances:
            return False
        traffic = float(ctx.goal.payload["traffic"])
        plan = plan_resize(self.world.infra, instance, traffic)
        moved = ""
        if plan.where is Where.IN_PLACE:
            resize_in_place(self.world.infra, plan)
        elif plan.where is Where.ANOTHER_POP:
            copy = await self._copy_elsewhere(ctx.goal, instance, traffic)
            if copy is None:
                return False
            await self._stop_when_idle(instance, f"resized to {plan.to} units by {copy}")
            moved = f": {copy}"
        if plan.where is not Where.UNCHANGED:
            sizes = f"{plan.units}→{plan.to} units"
            self._act(
                "resizeInstance", f"{instance} {sizes} at {self.pop}{moved} ({traffic:.2f} MB/s)"
            )
        return True

    async def _update(self, ctx: PlanContext) -> bool:
        """Update, rolling: a copy running the new image starts beside the old instance
        (here when the PoP has room, else on the winner of an auction), is re-attested,
        and only then does the old one stop; a refused image leaves the old one serving."""
        instance, image = (str(a) for a in ctx.goal.predicate.args)
        if instance not in self.world.infra.instances:
            return False
        plan = plan_update(self.world.infra, instance, image)
        if plan.where is Where.UNCHANGED:
            return True
        if plan.where is Where.ANOTHER_POP:
            old = self.world.infra.instances[instance]
            sized = self.world.infra.catalogue[old.vnf].throughput
            copy = await self._copy_elsewhere(ctx.goal, instance, old.units * (sized or 0.0))
            if copy is None:
                return False
            await self._stop_when_idle(instance, f"updated to {image} by {copy}")
            self._act("updateInstance", f"{instance} to {image}: {copy}")
            return True
        vnf = self.world.infra.catalogue[plan.vnf]

        async def attest(new: Instance) -> str | None:
            self._placed(new, f"{UPDATED}({instance},{image})")
            return self._attest(new)

        download = shared_context(self.world.infra).download_time(self.pop, vnf)
        try:
            new = await roll(
                self.world.infra, plan, self.world.clock, download, attest, self._stop_when_idle
            )
        except UpdateRefused as exc:
            self._act("updateInstance", str(exc))
            return False
        self._act("updateInstance", f"{instance} to {image}: {new.id} at {self.pop}")
        return True

    def _attest(self, instance: Instance) -> str | None:
        """Re-attestation of the image an update starts: the trust layer's reference check
        where the run has one (`World.image_check`), else only that an image is named."""
        if not instance.image:
            return "no image named"
        check = self.world.image_check
        return None if check is None else check(instance.vnf, instance.image)

    async def _copy_elsewhere(self, goal: Goal, instance: str, traffic: float) -> str | None:
        """The NFV-A call for the larger instance or the updated copy of `instance` among
        the other PoPs, journalled; "<new instance> at <PoP>" once its winner runs it,
        None when nobody did."""
        old = self.world.infra.instances[instance]
        specs = (*self.world.scenario.goals, ddos.monitor_goal())
        prefs = next((s.preferences for s in specs if old.vnf in s.vnfs), LIFECYCLE_PREFERENCES)
        args = tuple(str(a) for a in goal.predicate.args)
        request = GoalRequest(
            goal.predicate.name, self.pop, prefs, vnfs=(old.vnf,), traffic=traffic, args=args
        )
        others = [pop for pop in self.world.directory if pop != self.pop]
        record = await self.mailbox.auction(request, {"kind": GoalKind.ACHIEVE.value}, others)
        self.world.journal.auction(self.pop, record)
        winner = record.outcome.winner
        if not record.achieved or winner is None:
            return None
        return f"{record.result.get('instance')} at {winner.bidder}"

    async def _stop_when_idle(self, instance: str, cause: str) -> None:
        """Terminate `instance` here once no plan runs on it."""
        held = self.world.infra.instances.get(instance)
        while held is not None and held.busy:
            await self.world.clock.sleep(self.world.controller.step_seconds)
            held = self.world.infra.instances.get(instance)
        await self.terminate(instance, cause)

    def _copy_plans(self) -> tuple[Plan, ...]:
        """What the winner of a lifecycle auction runs once its Orchestrator started the
        VNF: the larger instance serves as it is; the updated copy is re-attested first."""
        return (
            self._plan("StartResized", Belief(RESIZED, (REST,)), self._start_resized),
            self._plan("StartUpdated", Belief(UPDATED, (REST,)), self._start_updated),
        )

    async def _start_resized(self, ctx: PlanContext, request: GoalRequest, _bid: Bid) -> bool:
        """The larger instance runs here: nothing more to do before it serves."""
        ctx.believe(Belief(RESIZED, request.args))
        return True

    async def _start_updated(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """The copy runs the new image, then is re-attested; a refused one is stopped."""
        old, image = request.args
        infra = self.world.infra
        copy = infra.instances[self._serving[ctx.goal]]
        if bid.instance is not None:  # an idle instance bid on: the new image downloads now
            vnf = infra.catalogue[copy.vnf]
            await self.world.clock.sleep(shared_context(infra).download_time(self.pop, vnf))
        copy.image = image
        refused = self._attest(copy)
        if refused is not None:
            await self.terminate(copy.id, f"update of {old} to {image} refused: {refused}")
            raise UpdateRefused(f"{old}: image {image} refused: {refused}")
        ctx.believe(Belief(UPDATED, request.args))
        return True

    # Tables 5.3–5.5 --------------------------------------------------------------------------
    async def _analyse_link(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """AnalyseLinkStatistics (ALS): detectIntrusion(link); for each outlier ip,
        belief(anomalous(ip)), goal(ipRateLimited(ip)), then goal(flowRecord(ip)) once the
        limit is over (protect first: it changes the traffic the classifier is sized by)."""
        link = request.args[0]
        payload = ctx.goal.payload
        part, parts = payload.get("part"), int(payload.get("parts", 1))
        outliers = await self._analysed(
            await self._chain(request, bid, payload, self.world.controller.server_ip, part),
            lambda: self._vnfs[ddos.ANOMALY_DETECTOR].detect(
                payload["node"], payload["since"], part, parts, payload.get("over", ())
            ),
        )
        self._act("detectIntrusion", f"{link}: {', '.join(outliers) or 'no outlier'}")
        for ip in outliers:
            ctx.believe(Belief("anomalous", (ip,)))
            limit = ctx.post_goal(
                Goal(Belief("ipRateLimited", (ip,)), priority=PROTECT, payload=dict(payload))
            )
            ctx.post_goal(
                Goal(
                    Belief("flowRecord", (ip,)),
                    priority=DIAGNOSE,
                    payload=dict(payload),
                    after=limit,
                )
            )
        ctx.believe(Belief("anomalousUsage", request.args, positive=bool(outliers)))
        return True

    async def _analyse_ip_flows(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """AnalyseIPFlows (AIPF): classifyFlows(ip); goal(flowRateLimited(flow)) for each
        threat, one after another, then goal(¬ipRateLimited(ip)) for this part (Table 5.1's
        LimitFlow follow-up, once every threat of the part is limited)."""
        ip = request.args[0]
        payload = ctx.goal.payload
        part, parts = payload.get("part"), int(payload.get("parts", 1))
        sources = await self._analysed(
            await self._chain(request, bid, payload, ip, part),
            lambda: self._vnfs[ddos.CLASSIFIER].malicious_sources(ip, part, parts),
        )
        which = "" if part is None else f" part {part}"
        self._act("classifyFlows", f"{ip}{which}: {len(sources)} malicious at {self.pop}")
        previous: Goal | None = None
        for src in sources:
            threat = Belief("threat", (flow_name(src, ip),))
            ctx.believe(threat)
            previous = ctx.post_goal(
                Goal(
                    Belief("flowRateLimited", threat.args),
                    priority=PROTECT,
                    payload=dict(payload),
                    after=previous,
                )
            )
        lift = ~Belief("ipRateLimited", (ip,))
        ask = {"part": payload.get("part", 0), "parts": parts}
        ctx.post_goal(Goal(lift, priority=PROTECT, payload=payload | ask, after=previous))
        ctx.believe(Belief("flowRecord", request.args))
        return True

    async def _balance_ip(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """LoadBalanceIP (LBIP): splitTrafficIP(ip, PARTS); goal(flowRecord) per part."""
        ip = request.args[0]
        divided = Belief("flowRecord", (ip,))
        await self._split(ctx, request, bid, ip, "splitTrafficIP", divided, GoalKind.ACHIEVE)
        return True

    async def _balance_link(self, ctx: PlanContext, request: GoalRequest, bid: Bid) -> bool:
        """LoadBalanceLink (LBL): splitTrafficLink(link, PARTS); ?anomalousUsage per part.

        The link's traffic is split by destination: the server behind the watched link.
        """
        link = request.args[0]
        diagnose = Belief("anomalousUsage", (link,))
        ip = self.world.controller.server_ip
        await self._split(ctx, request, bid, ip, "splitTrafficLink", diagnose, GoalKind.QUERY)
        return True

    async def _split(
        self,
        ctx: PlanContext,
        request: GoalRequest,
        bid: Bid,
        ip: str,
        action: str,
        per_part: Belief,
        kind: GoalKind,
    ) -> None:
        """Split the traffic towards `ip` here into PARTS and post `per_part` for each part;
        the parts are found here (their analysers steer them from this PoP) for as long as
        they are pursued: the steering bringing the traffic here goes once they are over."""
        parts = self.world.defence.split_parts
        payload = ctx.goal.payload
        steer = await self._chain(request, bid, payload, ip)
        self._split_rules.append(await self._vnfs[ddos.LOAD_BALANCER].split(ip, parts))
        self._act(action, f"{','.join(per_part.args)} into {parts} at {self.pop}")
        goals = [
            ctx.post_goal(
                Goal(
                    Belief(per_part.name, (*per_part.args, str(part))),
                    kind,
                    priority=DIAGNOSE,
                    payload=dict(payload) | {"part": part, "parts": parts, "at": self.pop},
                )
            )
            for part in range(parts)
        ]
        ctx.believe(Belief(request.goal, request.args))
        if steer is not None:
            self._follow_up(self._release_after(steer, goals))

    async def _release_after(self, steer: Steer, goals: list[Goal]) -> None:
        """Let go of a steering once every goal that needs it is over."""
        try:
            await asyncio.gather(*(self.bdi.wait_goal(goal) for goal in goals))
        finally:
            await self.chains.release(steer)

    # -- chaining -----------------------------------------------------------------------------
    async def _chain(
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
        if self.world.infra.catalogue[bid.vnf].throughput is None:
            bandwidth = await self.chains.steered_rate(node, dst_ip, part, src_ip)
            covered: set[frozenset[str]] = set()
        else:
            bandwidth, covered = request.traffic, links_of(bid.path)
        new = Steer(node, dst_ip, via, part, src_ip) not in self.chains.held
        steer = await self.chains.steer(via, dst_ip, part, bandwidth, covered, src_ip)
        if new:
            self._act("steer", _steer_detail(steer))
        return steer

    async def _installed(self, steer: Steer | None, install: Awaitable[T]) -> T:
        """Install a rule that needs `steer`; the steering is let go if installing fails,
        else kept for as long as the rule (see `_remove_rule`)."""
        try:
            result = await install
        except BaseException:
            if steer is not None:
                await self.chains.release(steer)
            raise
        if steer is not None:
            rule = result[0] if isinstance(result, tuple) else result
            self._steers[int(rule)] = steer
        return result

    async def _analysed(self, steer: Steer | None, analysis: Callable[[], Awaitable[T]]) -> T:
        """Run an analysis on this PoP's traffic; with traffic newly steered here, after
        SETTLE_STEPS steps, and the steering is let go once the analysis is done. The
        analysis is made only then: a plan cancelled while it waits (its agent revoked)
        leaves no coroutine that was never awaited."""
        try:
            if steer is not None:
                await self.world.clock.sleep(SETTLE_STEPS * self.world.controller.step_seconds)
            return await analysis()
        finally:
            if steer is not None:
                await self.chains.release(steer)

    async def _remove_rule(self, rule_id: int) -> None:
        """Take a rule out, and let go of the steering it needed."""
        await self._vnfs[ddos.RATE_LIMITER].remove(rule_id)
        steer = self._steers.pop(rule_id, None)
        if steer is not None:
            await self.chains.release(steer)

    # -- helpers ------------------------------------------------------------------------------
    async def _replace(self, limit: Belief) -> None:
        """A new limit for the same target replaces the one this agent installed before."""
        old = self.rules.pop(limit, None)
        if old is not None:
            await self._remove_rule(old)

    def _follow_up(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._follow_ups.add(task)
        task.add_done_callback(self._follow_ups.discard)

    def _act(self, action: str, detail: str) -> None:
        self.world.journal.action(ActionEvent(self.world.clock.now(), self.pop, action, detail))


def _steer_detail(steer: Steer) -> str:
    """How `steer` and `unsteer` actions name a steering: "<dst>[ part k][ from src] at
    <node> over a→b→…" (read back by the UI, `secmas.ui.network`)."""
    which = "" if steer.part is None else f" part {steer.part}"
    which += "" if steer.src_ip is None else f" from {steer.src_ip}"
    return f"{steer.dst_ip}{which} at {steer.node} over {'→'.join(steer.via)}"

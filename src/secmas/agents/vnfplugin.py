"""VNF plug-ins: what a VNF brings to the agent of a PoP that runs it, and what of the
agent its plans may use.

A VNF of the scenario's catalogue is a plug-in of the `secmas.vnfs` entry-point group,
registered under the name the catalogue calls it by (`secmas.plugins`); the DDoS
strategy's own VNFs are registered so too. Each agent makes one object of every plug-in
its scenario's catalogue names, with a `VNFContext`, and the plug-in builds its VNF (the
primitive actions on the network, through the PoP's controller). When an instance of the
VNF runs on the PoP, the plug-in's capability joins the agent (Definition 2), holding the
plans of every goal whose scenario entry names the VNF: a plan is the goal's, so a VNF
named by a goal does that goal's work, whichever plug-in brought the plan.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from secmas.agents.bdi import Belief, BeliefBase, Capability, Goal, GoalKind, Plan, PlanContext
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.board import OpenGoal
from secmas.agents.ddos.steering import Steering
from secmas.agents.ddos.world import defence_of
from secmas.network.clock import Clock
from secmas.network.dataplane.controller import Controller
from secmas.plugins import PluginError, plugin
from secmas.scenario.model import Defence, Scenario

GROUP = "secmas.vnfs"

Won = Callable[[PlanContext, GoalRequest, Bid], Awaitable[bool]]
"""The body of a plan run for a won auction: (context, request, winning bid) → achieved."""

Condition = Callable[[BeliefBase, Goal], bool]
"""A test of the beliefs and the goal that must hold for a plan to apply."""


@dataclass(frozen=True)
class WonPlan:
    """A plan that the winner of a goal's auction runs (GoalResponse), once its
    Orchestrator has started the VNF: the goal's pattern, the body, and what must hold
    besides having won (beliefs to match, tests of the beliefs and the goal)."""

    name: str
    goal: Belief
    body: Won
    kind: GoalKind = GoalKind.ACHIEVE
    requires: tuple[Belief | Condition, ...] = ()


@dataclass(frozen=True)
class VNFContext:
    """What a VNF plug-in may use of the agent of its PoP."""

    pop: str
    controller: Controller
    """The PoP's way to the network: its switch's rules and statistics."""
    clock: Clock
    scenario: Scenario
    beliefs: BeliefBase
    """The agent's beliefs (plans revise them through their `PlanContext`)."""
    act: Callable[[str, str], None]
    """Journals an action of the agent: (action, detail)."""
    follow_up: Callable[[Awaitable[None]], None]
    """Runs work in the background, cancelled when the agent stops."""
    steering: Steering
    """Brings a goal's traffic to this PoP (chaining), shared by every plug-in's plans."""
    limits: dict[Belief, int]
    """The rules this agent installed, by the belief each achieves: only their holder
    lifts them, and a successor adopts them if it is gone."""
    hold: Callable[[OpenGoal], None]
    """Puts a standing duty on the goal board: if this agent is gone, another takes it."""
    activate: Callable[[str], None]
    """Has a VNF's capability join the agent (as an instance of it running here does)."""

    @property
    def defence(self) -> Defence:
        """The DDoS strategy's parameters (RATE, PARTS, monitor); ValueError without."""
        return defence_of(self.scenario)


class VNFPlugin:
    """A VNF for the agents: subclass it, name the VNF, and give its plans.

    Every hook has a default that does nothing, so a plug-in states only what its VNF
    does: its plans (`plans`), the VNF object they act through (`build`), and, where it
    needs them, a capability of its own (`capability`: belief revision and goals of its
    own, as the Link Monitor's), what it perceives each step (`observe`), and what it
    keeps or hands over when it stops or its agent is gone.
    """

    name: ClassVar[str]
    """The VNF, as the scenario's catalogue names it (and the plug-in's entry point)."""
    scaled_in: ClassVar[bool] = False
    """Whether its idle instances stop once the attack they mitigate subsided (the
    Orchestrator's ScaleIn); False for a VNF that serves beyond an attack."""

    def __init__(self, context: VNFContext) -> None:
        self.context = context
        self.vnf = self.build()

    def build(self) -> Any:
        """The VNF object the plans act through, built from the PoP's controller."""
        return None

    def plans(self) -> Sequence[WonPlan]:
        """The plans of the goals this VNF serves, run for a won auction."""
        return ()

    def local_plans(self) -> Sequence[Plan]:
        """Plans run without an auction by the agent holding what they need."""
        return ()

    def capability(self, plans: Iterable[Plan]) -> Capability:
        """The capability that joins the agent while the VNF runs on its PoP."""
        return Capability(self.name, self.vnf, plans=plans)

    def activated(self) -> None:
        """The capability joined the agent."""

    async def observe(self) -> object | None:
        """What the VNF perceived in the last data-plane step (an event for the agent's
        belief revision), or None."""
        return None

    def serving(self) -> bool:
        """Whether one instance must stay at scale-in, for what it holds."""
        return False

    async def stopping(self) -> None:
        """Take out what the VNF installed, before its instances stop at scale-in."""

    def holdings(self) -> dict[str, Any]:
        """What a successor takes over if this agent is gone (told on the goal board)."""
        return {}

    def adopt(self, gone: str, held: Mapping[str, Any]) -> Sequence[OpenGoal]:
        """Take over what the gone agent held (its `holdings`); returns the duties it had
        even if it never told them."""
        return ()


def installed(names: Iterable[str]) -> dict[str, type[VNFPlugin]]:
    """The plug-in of each VNF named, loaded; PluginError naming a VNF no plug-in
    provides, with the installed ones, or a plug-in that is no VNFPlugin of its name."""
    loaded: dict[str, type[VNFPlugin]] = {}
    for name in names:
        found = plugin(GROUP, name)
        provided = found.load(VNFPlugin)
        if not isinstance(provided, type) or getattr(provided, "name", None) != name:
            raise PluginError(f"{found.where()}: is no VNFPlugin subclass named {name!r}")
        loaded[name] = provided
    return loaded

"""What every agent of one run shares: the scenario, the network it acts on, the bus and
the clock, and the trust layer's and the local policies' say in who bids for what."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from secmas.agents.auction import SPACE, Admits, AuctionSettings
from secmas.agents.bidding import GoalRequest
from secmas.agents.journal import Journal
from secmas.network.clock import Clock, VirtualClock
from secmas.network.dataplane import DataPlane
from secmas.network.dataplane.controller import Controller, LocalController
from secmas.network.infrastructure import Infrastructure
from secmas.scenario.model import Defence, Scenario
from secmas.transport.bus import Bus
from secmas.transport.memory import MemoryBus

Decline = Callable[[str, GoalRequest], str | Awaitable[str | None] | None]
"""(PoP, goal request) → why that PoP refuses to bid for it, or None; a policy held in
another process answers over the bus (awaitable)."""


ImageCheck = Callable[[str, str], str | None]
"""(VNF, image version) → why that image may not run, or None (003_… §7.2's re-attestation)."""


def defence_of(scenario: Scenario) -> Defence:
    """The strategy's parameters (RATE, PARTS, monitor); ValueError without any."""
    if scenario.defence is None:
        raise ValueError(f"scenario {scenario.id!r} has no defence section")
    return scenario.defence


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
        return defence_of(self.scenario)

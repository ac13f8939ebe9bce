"""The one run loop: the data plane takes a step, the agents perceive it, the step loops
look at it.

Every run is this loop over two plug-ins, whatever its engine and wherever its agents:

- the engine (`SteppedNetwork`): the simulator on the virtual clock or on a scaled wall
  clock (`secmas.pipeline.simulated`), or a real emulated network sampled in real time
  (`secmas.pipeline.emulated.EmulatedSteps`);
- the placement's `Perception`: how a step reaches the agents. Agents in this process
  perceive it in turn (`secmas.pipeline.operate`); agent processes, wherever they run,
  get a tick over the bus and report back (`secmas.pipeline.processes`).

The step loops (`StepLoop`: closed loops, the SSLA manager, CTI hygiene, moving target
defence) run here, where the data plane is, and reach the agents only through the world
and the agents' handles, so the same loop runs in every placement.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from secmas.agents.ddos.world import World
from secmas.agents.handle import AgentHandle
from secmas.ledger.connection import Ledger
from secmas.network.clock import Clock
from secmas.network.dataplane import DataPlane, Telemetry
from secmas.network.dataplane.controller import Controller

Progress = Callable[[float, float], None]
"""Told (run time now, duration) after every step."""


class TrustLayer(Protocol):
    """What a step loop may ask of the run's trust layer: the MLFO and SECaaS of the run
    (`secmas.pipeline.orchestrator.Orchestrator`), wherever its agents are placed."""

    @property
    def ledger(self) -> Ledger: ...

    @property
    def plan(self) -> Sequence[str]: ...

    async def remove_agent(self, agent: str, reason: str) -> None:
        """Revoke `agent` on chain, exclude it from auctions and re-key the others."""
        ...


class StepLoop(Protocol):
    """Something that runs beside the agents, step by step: a closed loop of
    `secmas.analytics` (monitoring, analytics, decisions handed to the agents as goals),
    the SSLA manager of `secmas.policy`, CTI hygiene or moving target defence."""

    def attach(
        self,
        world: World,
        attestations: Callable[[], Sequence[Any]],
        trust_layer: TrustLayer | None = None,
    ) -> None:
        """Before the agents start: the world they share (its `admits` may be narrowed and
        `declines` extended: with agents as processes both reach every agent over the
        bus), the attestation records so far (empty without the trust layer) and the
        trust layer itself (None when security is off), through which agents are revoked."""

    async def start(self, agents: Sequence[AgentHandle]) -> None:
        """The agents are running; each is reached through its handle."""

    async def after_step(self, now: float) -> None:
        """The data plane finished a step and every agent perceived it."""

    def report(self) -> dict[str, Any]:
        """What report.json holds about this loop."""


class SteppedNetwork(Protocol):
    """A data-plane engine as the run loop steps it."""

    @property
    def clock(self) -> Clock:
        """The run's clock: held at 0 until `begin`, as the agents come up."""
        ...

    @property
    def controller(self) -> Controller: ...

    @property
    def plane(self) -> DataPlane | None:
        """The simulator, for the step loops' world (None: an emulated network)."""
        ...

    @property
    def duration(self) -> float: ...

    async def begin(self) -> None:
        """Run time 0 starts (now, or just ahead)."""
        ...

    async def step(self) -> float:
        """Wait for the next step and take it; its run time."""
        ...

    async def quiet(self) -> None:
        """Let what this process's agents started settle (on the virtual clock, until
        nothing is ready to run; in real time, one turn of the event loop)."""
        ...

    def telemetry(self) -> list[Telemetry]:
        """The server's telemetry so far, one sample per step."""
        ...


class Perception(Protocol):
    """How a step reaches the agents of a placement, and what it checks after the loops."""

    async def perceive(self, now: float) -> None:
        """Every live agent perceived the step at run time `now`."""
        ...

    async def looked(self, now: float) -> None:
        """The step loops looked at the step."""
        ...


async def run_steps(
    network: SteppedNetwork,
    agents: Perception,
    loops: Sequence[StepLoop],
    progress: Progress | None,
    until: float | None = None,
    walls: dict[float, float] | None = None,
) -> float:
    """Step `network` (begun) to its end, or to run time `until` if sooner: after each
    step the agents perceive it, then the loops look at it. The last step's run time.
    `walls`, if given, gets each step's Unix time as it was taken, before the agents
    perceived it: where the real-time loop from a data-plane event starts."""
    end = network.duration if until is None else min(until, network.duration)
    now = 0.0
    while now < end - 1e-9:
        now = await network.step()
        if walls is not None:
            walls[now] = time.time()
        await agents.perceive(now)
        for loop in loops:
            await loop.after_step(now)
        await agents.looked(now)
        if progress is not None:
            progress(min(now, end), end)
    return now

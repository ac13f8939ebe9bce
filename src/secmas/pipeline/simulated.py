"""The data-plane simulator as the run loop's engine (`secmas.pipeline.runloop`).

On the virtual clock (agents in this process) a step moves the clock to the step's end
once the agents are quiet, waking the sleepers (VNF downloads, deadlines, back-offs) in
time order on the way: a 240 s scenario runs in about a second, the same way for a given
seed. On a scaled wall clock (agents as processes, which share its origin and speed) a
step waits for its wall time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from secmas.network.clock import ScaledClock, VirtualClock, drive_clock, settle
from secmas.network.dataplane import DataPlane, Telemetry
from secmas.network.dataplane.controller import LocalController
from secmas.scenario.model import Scenario

START_AHEAD = 0.2
"""Wall seconds between the start of a scaled run's time and its origin: the start
message reaches the agent processes first."""


@dataclass
class Simulator:
    """The scenario's simulated data plane, on the virtual clock (`speed` None) or on a
    wall clock sped up `speed` times."""

    scenario: Scenario
    speed: float | None = None
    plane: DataPlane = field(init=False)
    controller: LocalController = field(init=False)
    clock: VirtualClock | ScaledClock = field(init=False)

    def __post_init__(self) -> None:
        self.plane = DataPlane(self.scenario)
        self.controller = LocalController(self.plane)
        if self.speed is None:
            self.clock = VirtualClock()
        else:
            self.clock = ScaledClock(self.speed, held=True)

    @property
    def duration(self) -> float:
        assert self.scenario.traffic is not None
        return self.scenario.traffic.duration

    async def begin(self) -> None:
        if isinstance(self.clock, ScaledClock):
            self.clock.begin(time.time() + START_AHEAD)

    async def step(self) -> float:
        if isinstance(self.clock, VirtualClock):
            self.plane.step()
            await drive_clock(self.clock, self.plane.now)
        else:
            await self.clock.sleep_until(self.plane.now + self.plane.step_seconds)
            self.plane.step()
        return self.plane.now

    async def quiet(self) -> None:
        if isinstance(self.clock, VirtualClock):
            await settle()
        else:
            await asyncio.sleep(0)

    def telemetry(self) -> list[Telemetry]:
        return self.plane.server_series()

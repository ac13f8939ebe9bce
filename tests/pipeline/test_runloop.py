"""The one run loop over the simulator: the order of a step's parts, `until`, progress,
and the simulator's two clocks (virtual, and wall time sped up and held until it begins)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from secmas.network.clock import ScaledClock, VirtualClock
from secmas.pipeline.runloop import run_steps
from secmas.pipeline.simulated import START_AHEAD, Simulator
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")


def lasting(seconds: float) -> Scenario:
    assert SCENARIO.traffic is not None
    traffic = SCENARIO.traffic.model_copy(update={"duration": seconds})
    return SCENARIO.model_copy(update={"traffic": traffic})


@dataclass
class Recorder:
    """A placement's perception and a step loop that write down what they were told."""

    network: Simulator
    seen: list[tuple[str, float]] = field(default_factory=list)

    async def perceive(self, now: float) -> None:
        assert self.network.plane.now == now  # the step was taken before the agents look
        self.seen.append(("perceive", now))

    async def looked(self, now: float) -> None:
        self.seen.append(("looked", now))

    def attach(self, *_args: Any) -> None:
        raise AssertionError("the run loop does not attach loops: the placement does")

    async def start(self, _agents: Any) -> None:
        raise AssertionError("the run loop does not start loops: the placement does")

    async def after_step(self, now: float) -> None:
        self.seen.append(("loop", now))

    def report(self) -> dict[str, Any]:
        return {}


def run_recorded(
    seconds: float, with_loop: bool, until: float | None = None
) -> tuple[float, Recorder, list[tuple[float, float]]]:
    """A run of `seconds` through the loop, the recorder as its perception (and as its
    one step loop, `with_loop`): the last step's time, the recorder, what progress heard."""
    network = Simulator(lasting(seconds))
    recorder = Recorder(network)
    told: list[tuple[float, float]] = []

    async def run() -> float:
        await network.begin()
        loops = [recorder] if with_loop else []
        return await run_steps(network, recorder, loops, lambda n, d: told.append((n, d)), until)

    return asyncio.run(run()), recorder, told


def test_each_step_is_perceived_then_looked_at_by_the_loops_then_checked() -> None:
    last, recorder, told = run_recorded(3.0, with_loop=True)
    assert last == 3.0
    assert recorder.seen == [
        (part, now) for now in (1.0, 2.0, 3.0) for part in ("perceive", "loop", "looked")
    ]
    assert told == [(1.0, 3.0), (2.0, 3.0), (3.0, 3.0)]
    assert len(recorder.network.telemetry()) == 3


def test_until_ends_the_run_early_and_progress_counts_to_it() -> None:
    last, recorder, told = run_recorded(10.0, with_loop=False, until=2.0)
    assert last == 2.0
    assert told == [(1.0, 2.0), (2.0, 2.0)]
    assert [part for part, _ in recorder.seen] == ["perceive", "looked"] * 2


def test_on_the_virtual_clock_a_step_wakes_the_sleepers_due_in_it_in_time_order() -> None:
    network = Simulator(lasting(2.0))
    assert isinstance(network.clock, VirtualClock)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await network.clock.sleep(seconds)
        woke.append((name, network.clock.now()))

    async def run() -> None:
        tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("late", 1.5), ("early", 0.5))]
        await network.begin()
        assert await network.step() == 1.0
        assert woke == [("early", 0.5)]
        await network.step()
        await asyncio.gather(*tasks)

    asyncio.run(run())
    assert woke == [("early", 0.5), ("late", 1.5)]


def test_a_scaled_simulator_holds_its_clock_at_0_until_it_begins_then_paces_steps() -> None:
    network = Simulator(lasting(2.0), speed=20.0)
    assert isinstance(network.clock, ScaledClock)

    async def run() -> tuple[float, float, float]:
        time.sleep(0.05)
        held = network.clock.now()
        await network.begin()
        started = time.perf_counter()
        first = await network.step()
        return held, first, time.perf_counter() - started

    held, first, waited = asyncio.run(run())
    assert held == 0.0
    assert first == 1.0
    # the first step's end is 1 s of run time after the origin, itself just ahead
    assert waited >= START_AHEAD + 1.0 / 20.0 - 0.01


@pytest.mark.parametrize("speed", [None, 5.0])
def test_the_simulator_reports_its_duration_and_no_telemetry_before_a_step(
    speed: float | None,
) -> None:
    network = Simulator(lasting(4.0), speed=speed)
    assert network.duration == 4.0
    assert network.telemetry() == []

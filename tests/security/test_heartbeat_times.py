"""Heartbeats from the future: an attested insider dates its beat, or its goal
announcement, at 1e300 s (or NaN, infinity) with its own genuine keys. The orchestrator
kept the latest `at` it was told as the agent's last beat, so one such beat made the
agent never silent, never withdrawn, however long it then stayed quiet; a watcher took
such an announcement as fresh, however late it arrived. A time a sender claims is now
bounded by the receiver's clock: each test is the insider's attempt."""

from __future__ import annotations

import asyncio
import json

import pytest

from secmas.agents.board import GoalBoard, board_subject
from secmas.network.clock import VirtualClock, drive_clock
from secmas.transport.memory import MemoryBus
from secmas.trust.control import MLFO, ControlPlane
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import PeerKeys
from secmas.trust.liveness import WITHDRAWN, Heartbeat, LivenessMonitor, heartbeat_subject

LIES = [1e300, float("inf"), float("nan")]
"""From the future, or not a time. A time in the past is only old (`claimed_time`)."""


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def listening(monitor: LivenessMonitor) -> tuple[MemoryBus, dict[str, ControlPlane]]:
    """`monitor` listening for the beats of an honest member and an insider, each sealed
    with its own genuine keys; their control planes."""
    bus = MemoryBus()
    ids = {n: AgentIdentity.generate(n) for n in (MLFO, "honest", "insider")}
    directory = {n: PeerKeys.of(i) for n, i in ids.items()}
    controls = {n: ControlPlane(bus, i, directory, "p") for n, i in ids.items()}
    await monitor.start(controls[MLFO])
    return bus, controls


async def lie(controls: dict[str, ControlPlane], at: float) -> None:
    """The insider's beat dated `at`, sealed with its own keys."""
    beat = json.dumps({"seq": 1, "at": at}).encode()
    await controls["insider"].publish(heartbeat_subject("p", "insider"), MLFO, beat)


@pytest.mark.parametrize("at", LIES, ids=["1e300", "inf", "nan"])
def test_a_beat_dated_beyond_the_monitors_clock_does_not_keep_an_insider_alive(at):
    async def main():
        clock, monitor = VirtualClock(), LivenessMonitor("p", {"honest", "insider"})
        bus, controls = await listening(monitor)
        monitor.watch(clock, 5.0, 10.0)
        honest = Heartbeat(controls["honest"], clock, period=5.0)
        honest.start()
        await lie(controls, at)
        await drive_clock(clock, 30.0)
        assert monitor.withdrew("insider") and monitor.admits("honest")
        assert monitor.rejected == 1
        assert [(c.agent, c.state) for c in monitor.changes] == [("insider", WITHDRAWN)]
        assert monitor.silent(30.0, timeout=15.0) == ["insider"]
        await honest.stop()
        await monitor.stop()
        await bus.close()

    run(main())


@pytest.mark.parametrize("at", LIES, ids=["1e300", "inf", "nan"])
def test_goal_announcements_dated_beyond_the_watchers_clock_are_refused(at):
    """The insider announces every period, each time dated `at`: its watcher drops every
    announcement as malformed and finds it gone after `silence` live rounds."""

    async def main():
        bus, clock = MemoryBus(), VirtualClock()
        watcher = GoalBoard("watcher", ["insider", "watcher"], bus, clock, period=5.0)
        await watcher.start()

        async def announce() -> None:
            for seq in range(1, 7):
                frame = {"agent": "insider", "seq": seq, "at": at, "periodic": True}
                data = json.dumps(frame | {"goals": []}).encode()
                await bus.publish(board_subject("insider"), data)
                await clock.sleep(5.0)

        insider = asyncio.ensure_future(announce())
        await drive_clock(clock, 30.0)
        assert watcher.gone == {"insider": "silent for 3 rounds"}
        assert watcher.malformed >= 5
        await insider
        await watcher.stop()
        await bus.close()

    run(main())


@pytest.mark.parametrize("at", LIES, ids=["1e300", "inf", "nan"])
def test_a_beat_dated_beyond_any_clock_before_the_watch_does_not_keep_an_insider_alive(at):
    """The lie arrives after the monitor listens but before it watches (a run's bring-up:
    with agents in their own processes, steps 9-12 up to the start message). The monitor
    had no clock then, took no time as from the future, and kept 1e300 as the last beat:
    the insider was never withdrawn, however long it stayed silent."""

    async def main():
        clock, monitor = VirtualClock(), LivenessMonitor("p", {"honest", "insider"})
        bus, controls = await listening(monitor)
        await lie(controls, at)
        await bus.flush()
        assert monitor.rejected == 1 and "insider" not in monitor.last  # refused, not kept
        monitor.watch(clock, 5.0, 10.0)
        honest = Heartbeat(controls["honest"], clock, period=5.0)
        honest.start()
        await drive_clock(clock, 300.0)
        assert monitor.withdrew("insider") and monitor.admits("honest")
        assert [(c.agent, c.state) for c in monitor.changes] == [("insider", WITHDRAWN)]
        assert monitor.changes[0].time <= 5.0 + 10.0
        await honest.stop()
        await monitor.stop()
        await bus.close()

    run(main())


def test_with_a_clock_from_construction_an_honest_beat_before_the_watch_counts_a_lie_does_not():
    """As the orchestrator builds it: the bring-up clock bounds claims until the watch."""

    async def main():
        clock = VirtualClock()
        monitor = LivenessMonitor("p", {"honest", "insider"}, clock=clock, period=5.0)
        bus, controls = await listening(monitor)
        await lie(controls, 1e300)
        honest = Heartbeat(controls["honest"], clock, period=5.0)
        honest.start()
        await bus.flush()
        assert monitor.beats == {"honest": 1} and monitor.rejected == 1
        monitor.watch(clock, 5.0, 10.0)
        await drive_clock(clock, 60.0)
        assert monitor.withdrew("insider") and monitor.admits("honest")
        await honest.stop()
        await monitor.stop()
        await bus.close()

    run(main())

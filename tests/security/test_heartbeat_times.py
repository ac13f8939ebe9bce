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


@pytest.mark.parametrize("at", LIES, ids=["1e300", "inf", "nan"])
def test_a_beat_dated_beyond_the_monitors_clock_does_not_keep_an_insider_alive(at):
    async def main():
        bus, clock = MemoryBus(), VirtualClock()
        ids = {n: AgentIdentity.generate(n) for n in (MLFO, "honest", "insider")}
        directory = {n: PeerKeys.of(i) for n, i in ids.items()}
        controls = {n: ControlPlane(bus, i, directory, "p") for n, i in ids.items()}
        monitor = LivenessMonitor("p", {"honest", "insider"})
        await monitor.start(controls[MLFO])
        monitor.watch(clock, 5.0, 10.0)
        honest = Heartbeat(controls["honest"], clock, period=5.0)
        honest.start()
        lie = json.dumps({"seq": 1, "at": at}).encode()  # sealed with its own keys
        await controls["insider"].publish(heartbeat_subject("p", "insider"), MLFO, lie)
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

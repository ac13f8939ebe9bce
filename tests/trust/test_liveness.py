"""Heartbeats: sealed beats to the MLFO on the run's clock, and the monitor naming silent
agents and withdrawing them from auctions until they beat again."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from secmas.network.clock import VirtualClock, drive_clock
from secmas.transport.memory import MemoryBus
from secmas.trust.control import MLFO, ControlPlane
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import PeerKeys
from secmas.trust.liveness import (
    READMITTED,
    WITHDRAWN,
    Heartbeat,
    LivenessMonitor,
    Presence,
    heartbeat_subject,
)


def test_beats_are_counted_and_a_stopped_agent_turns_silent() -> None:
    async def main() -> None:
        bus, clock = MemoryBus(), VirtualClock()
        ids = {n: AgentIdentity.generate(n) for n in (MLFO, "a1", "a2")}
        directory = {n: PeerKeys.of(i) for n, i in ids.items()}
        controls = {n: ControlPlane(bus, i, directory, "p") for n, i in ids.items()}
        monitor = LivenessMonitor("p", {"a1", "a2"}, clock=clock, period=5.0)
        await monitor.start(controls[MLFO])
        beats = {n: Heartbeat(controls[n], clock, period=5.0) for n in ("a1", "a2")}
        for beat in beats.values():
            beat.start()
        await drive_clock(clock, 20.0)
        assert monitor.beats == {"a1": 5, "a2": 5}  # t = 0, 5, 10, 15, 20
        assert monitor.silent(20.0, timeout=15.0) == []
        await beats["a2"].stop()
        await drive_clock(clock, 60.0)
        assert monitor.silent(60.0, timeout=15.0) == ["a2"]
        assert monitor.last["a1"] == 60.0
        await beats["a1"].stop()
        await monitor.stop()
        await bus.close()

    asyncio.run(main())


def test_forged_replayed_and_malformed_beats_are_rejected() -> None:
    async def main() -> None:
        bus = MemoryBus()
        mlfo, genuine = AgentIdentity.generate(MLFO), AgentIdentity.generate("a1")
        impostor, stranger = AgentIdentity.generate("a1"), AgentIdentity.generate("x")
        directory = {MLFO: PeerKeys.of(mlfo), "a1": PeerKeys.of(genuine)}
        control = ControlPlane(bus, mlfo, directory, "p")
        monitor = LivenessMonitor("p", {"a1"}, clock=VirtualClock(start=200.0))
        await monitor.start(control)
        clock = VirtualClock(start=100.0)
        # The impostor holds other keys under the genuine agent's name; the stranger is
        # a member nobody enrolled (its key is in its own directory only).
        forged = ControlPlane(bus, impostor, directory, "p")
        outsider = ControlPlane(bus, stranger, {**directory, "x": PeerKeys.of(stranger)}, "p")
        for plane in (forged, outsider):
            beat = Heartbeat(plane, clock, period=5.0)
            beat.start()
            await drive_clock(clock, 100.0)
            await beat.stop()
        for junk in (b"", b"[]", b'{"agent": "a1"}', b"\xff", json.dumps({"at": 1}).encode()):
            await bus.publish(heartbeat_subject("p", "a1"), junk)
        await bus.publish(heartbeat_subject("p", "a1"), b"[" * 5000)
        # A genuine beat, captured on the bus and published again.
        captured: list[bytes] = []

        async def tap(_subject: str, data: bytes) -> None:
            captured.append(data)

        await bus.subscribe(heartbeat_subject("p", "a1"), tap)
        honest = ControlPlane(bus, genuine, directory, "p")
        await honest.publish(heartbeat_subject("p", "a1"), MLFO, b'{"seq": 1, "at": 150.0}')
        await bus.flush()
        await bus.publish(heartbeat_subject("p", "a1"), captured[-1])
        await bus.flush()
        assert monitor.beats == {"a1": 1}
        assert control.stats.dropped["forged"] >= 1
        assert control.stats.dropped["unknown"] >= 1
        assert control.stats.dropped["replayed"] == 1
        assert control.stats.dropped["malformed"] + control.stats.dropped["version"] == 6
        assert monitor.silent(151.0, timeout=0.5) == ["a1"]
        await monitor.stop()
        await bus.close()

    asyncio.run(main())


async def _beating(names: list[str]) -> tuple[Any, ...]:
    """A monitor watching `names` beat every 5 s on a virtual clock (attestation
    period 10 s), each beat sealed from the agent's own key."""
    bus, clock = MemoryBus(), VirtualClock()
    ids = {n: AgentIdentity.generate(n) for n in (MLFO, *names)}
    directory = {n: PeerKeys.of(i) for n, i in ids.items()}
    controls = {n: ControlPlane(bus, i, directory, "p") for n, i in ids.items()}
    monitor = LivenessMonitor("p", set(names))
    await monitor.start(controls[MLFO])
    told: list[Presence] = []
    monitor.told = told.append
    monitor.watch(clock, 5.0, 10.0)
    beats = {n: Heartbeat(controls[n], clock, period=5.0) for n in names}
    for beat in beats.values():
        beat.start()
    return bus, clock, monitor, beats, told, controls


def test_a_silent_agent_is_withdrawn_after_its_window_and_readmitted_when_it_beats() -> None:
    async def main() -> None:
        bus, clock, monitor, beats, told, _ = await _beating(["a1", "a2"])
        await drive_clock(clock, 12.0)
        await beats["a2"].stop()  # last beat at t = 10
        assert monitor.window("a2") == 10.0
        await drive_clock(clock, 19.9)
        assert monitor.admits("a2")  # within its window
        await drive_clock(clock, 20.0)
        assert not monitor.admits("a2") and monitor.withdrew("a2")
        assert monitor.admits("a1")
        await drive_clock(clock, 33.0)
        beats["a2"].start()
        await drive_clock(clock, 34.0)
        assert monitor.admits("a2")
        assert [(c.time, c.agent, c.state) for c in told] == [
            (20.0, "a2", WITHDRAWN),
            (33.0, "a2", READMITTED),
        ]
        assert told == monitor.changes
        assert monitor.window("a2") == 10.0  # the stop did not lengthen its window
        for beat in beats.values():
            await beat.stop()
        await monitor.stop()
        await bus.close()

    asyncio.run(main())


def test_nobody_is_withdrawn_when_nobody_is_heard() -> None:
    """Every beat lost at once: the bus, or the orchestrator, is cut off, not the agents."""

    async def main() -> None:
        bus, clock, monitor, beats, told, _ = await _beating(["a1", "a2", "a3"])
        await drive_clock(clock, 7.0)
        for beat in beats.values():
            await beat.stop()
        await drive_clock(clock, 60.0)
        assert told == [] and all(monitor.admits(a) for a in ("a1", "a2", "a3"))
        await monitor.stop()
        await bus.close()

    asyncio.run(main())


def test_nobody_is_withdrawn_when_beats_come_back_one_by_one_after_an_outage() -> None:
    """Every beat lost at once (a broker restarted), then one agent is heard before the
    others: their silence was the bus's, so each gets a whole window from then; one that
    stays silent after it is withdrawn."""

    async def main() -> None:
        bus, clock, monitor, beats, told, controls = await _beating(["a1", "a2", "a3"])
        await drive_clock(clock, 7.0)
        for beat in beats.values():
            await beat.stop()
        await drive_clock(clock, 40.0)
        for at in (40.0, 45.0):  # a1 back first; the others not within its first beats
            await drive_clock(clock, at)
            beat = json.dumps({"at": at}).encode()
            await controls["a1"].publish(heartbeat_subject("p", "a1"), MLFO, beat)
        await drive_clock(clock, 46.0)
        assert told == []
        await controls["a2"].publish(heartbeat_subject("p", "a2"), MLFO, b'{"at": 46.0}')
        await drive_clock(clock, 50.5)
        assert [(c.time, c.agent, c.state) for c in told] == [(50.0, "a3", WITHDRAWN)]
        await monitor.stop()
        await bus.close()

    asyncio.run(main())


def test_late_beats_lengthen_the_window_up_to_one_attestation_period() -> None:
    async def main() -> None:
        bus, clock, monitor, beats, told, controls = await _beating(["a1", "a2"])
        await beats["a2"].stop()  # a2 beats by hand from now on, late
        at = 0.0
        for _ in range(6):
            at += 9.0  # 4 s later than a beat every 5 s: within its window still
            await drive_clock(clock, at)
            beat = json.dumps({"at": at}).encode()
            await controls["a2"].publish(heartbeat_subject("p", "a2"), MLFO, beat)
        await drive_clock(clock, at)
        assert 10.0 < monitor.window("a2") <= 15.0
        assert monitor.window("a1") == 10.0
        assert told == []
        await beats["a1"].stop()
        await monitor.stop()
        await bus.close()

    asyncio.run(main())


def test_a_stale_beat_does_not_readmit_and_a_revoked_agent_is_not_watched() -> None:
    async def main() -> None:
        bus, clock, monitor, beats, told, controls = await _beating(["a1", "a2", "a3"])
        monitor.gone = lambda agent: agent == "a3"  # revoked: out for good, not watched
        await drive_clock(clock, 2.0)
        await beats["a2"].stop()
        await beats["a3"].stop()
        await drive_clock(clock, 30.0)
        assert [(c.agent, c.state) for c in told] == [("a2", WITHDRAWN)]
        stale = json.dumps({"at": 1.0}).encode()  # delivered late: proves nothing now
        await controls["a2"].publish(heartbeat_subject("p", "a2"), MLFO, stale)
        await drive_clock(clock, 31.0)
        assert monitor.withdrew("a2")
        await beats["a1"].stop()
        await monitor.stop()
        await bus.close()

    asyncio.run(main())

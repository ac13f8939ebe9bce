"""Heartbeats: sealed beats to the MLFO on the run's clock, and the monitor naming silent
agents."""

from __future__ import annotations

import asyncio
import json

from secmas.network.clock import VirtualClock
from secmas.pipeline.operate import drive_clock
from secmas.transport.memory import MemoryBus
from secmas.trust.control import MLFO, ControlPlane
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import PeerKeys
from secmas.trust.liveness import Heartbeat, LivenessMonitor, heartbeat_subject


def test_beats_are_counted_and_a_stopped_agent_turns_silent() -> None:
    async def main() -> None:
        bus, clock = MemoryBus(), VirtualClock()
        ids = {n: AgentIdentity.generate(n) for n in (MLFO, "a1", "a2")}
        directory = {n: PeerKeys.of(i) for n, i in ids.items()}
        controls = {n: ControlPlane(bus, i, directory, "p") for n, i in ids.items()}
        monitor = LivenessMonitor("p", {"a1", "a2"})
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
        monitor = LivenessMonitor("p", {"a1"})
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

"""Heartbeats: signed beats on the run's clock, and the monitor naming silent agents."""

from __future__ import annotations

import asyncio
import json

from secmas.network.clock import VirtualClock
from secmas.pipeline.operate import drive_clock
from secmas.transport.memory import MemoryBus
from secmas.trust.identity import AgentIdentity
from secmas.trust.liveness import Heartbeat, LivenessMonitor, heartbeat_subject


def test_beats_are_counted_and_a_stopped_agent_turns_silent() -> None:
    async def main() -> None:
        bus, clock = MemoryBus(), VirtualClock()
        agents = {n: AgentIdentity.generate(n) for n in ("a1", "a2")}
        monitor = LivenessMonitor("p", {n: i.signing_public for n, i in agents.items()})
        await monitor.start(bus)
        beats = {n: Heartbeat(i, "p", bus, clock, period=5.0) for n, i in agents.items()}
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


def test_forged_and_malformed_beats_are_rejected() -> None:
    async def main() -> None:
        bus = MemoryBus()
        genuine, impostor = AgentIdentity.generate("a1"), AgentIdentity.generate("a1")
        monitor = LivenessMonitor("p", {"a1": genuine.signing_public})
        await monitor.start(bus)
        clock = VirtualClock(start=100.0)
        forged = Heartbeat(impostor, "p", bus, clock, period=5.0)
        forged.start()
        for junk in (b"", b"[]", b'{"agent": "a1"}', b"\xff", json.dumps({"agent": "x"}).encode()):
            await bus.publish(heartbeat_subject("p", "a1"), junk)
        await bus.publish(heartbeat_subject("p", "a1"), b"[" * 5000)
        await drive_clock(clock, 100.0)
        assert monitor.beats == {} and monitor.rejected == 7
        assert monitor.silent(100.0, timeout=1.0) == ["a1"]
        await forged.stop()
        await monitor.stop()
        await bus.close()

    asyncio.run(main())

"""The MLFO's measure of how long each agent took to perceive a tick: from the tick's
publication to the agent's `ticked` report, summarised per phase of the run."""

from __future__ import annotations

import asyncio
import json

from secmas.pipeline.agentcontrol import ticked_subject
from secmas.pipeline.ticklatency import Phase, TickLatency
from secmas.transport.memory import MemoryBus


async def reports(latency: TickLatency, delays: dict[float, dict[str, float]]) -> None:
    """Publish each tick, then each agent's report after its delay (wall seconds)."""
    bus = MemoryBus()
    await latency.start(bus)
    for now, agents in delays.items():
        latency.sent(now)
        waited = 0.0
        for agent, delay in sorted(agents.items(), key=lambda item: item[1]):
            await asyncio.sleep(delay - waited)
            waited = delay
            await bus.publish(ticked_subject("p"), json.dumps({"pop": agent, "now": now}).encode())
    await bus.publish(ticked_subject("p"), b"{not json")
    await bus.publish(ticked_subject("p"), json.dumps({"pop": "a", "now": 99.0}).encode())
    await asyncio.sleep(0.01)
    await bus.close()


def test_each_agents_latency_is_measured_per_tick_and_summarised_per_phase() -> None:
    latency = TickLatency("p")
    asyncio.run(reports(latency, {1.0: {"a": 0.0, "b": 0.05}, 2.0: {"a": 0.12}, 3.0: {}}))
    assert set(latency.latencies) == {"a", "b"}
    assert latency.latencies["b"][1.0] >= 0.05
    assert latency.latencies["a"][2.0] >= 0.12 > latency.latencies["a"][1.0]
    assert latency.dropped == 2  # the malformed report, and one for a tick never sent
    report = latency.report(["a", "b"], [Phase("before", 0.0, 2.0), Phase("during", 2.0, 4.0)])
    before, during = report["phases"]["before"]["agents"], report["phases"]["during"]["agents"]
    assert before["a"]["ticks"] == before["a"]["reported"] == 1
    assert during["a"] == {
        "ticks": 2,
        "reported": 1,
        "median_ms": during["a"]["max_ms"],
        "p95_ms": during["a"]["max_ms"],
        "max_ms": round(latency.latencies["a"][2.0] * 1000, 3),
    }
    unheard = {"ticks": 2, "reported": 0, "median_ms": None, "p95_ms": None, "max_ms": None}
    assert during["b"] == unheard
    assert [t["t"] for t in report["ticks"]] == [1.0, 2.0, 3.0]
    assert set(report["ticks"][0]["ms"]) == {"a", "b"} and report["ticks"][2]["ms"] == {}
    assert report["dropped_reports"] == 2

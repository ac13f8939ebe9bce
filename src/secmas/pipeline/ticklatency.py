"""How long each agent process takes to perceive a data-plane tick, measured by the MLFO.

A tick travels from the MLFO to the bus server and on to the agent; the agent observes
the step (its VNFs ask the controller, beside the MLFO, for their statistics: more round
trips over the bus) and reports `ticked` back (`secmas.pipeline.agentcontrol`). The
time from publishing the tick to that report's arrival is one agent's control-plane
latency for that step. The MLFO and the agents share this machine's clock, so the
figure needs no clock synchronisation; it includes the MLFO's own event loop, which
serves the controller's answers.

With agents in their PoPs' namespaces (`secmas.pipeline.emulated_processes`) every one
of those messages crosses the emulated links between the agent's PoP and the control
host, so a flood on those links shows here: `report` gives each agent's figures before,
during and after the attack, and every tick's latencies.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from secmas.pipeline.agentcontrol import ticked_subject
from secmas.transport.bus import Bus

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Phase:
    """A named stretch of run time [start, end) a report summarises."""

    name: str
    start: float
    end: float


@dataclass
class TickLatency:
    """Per agent and tick, wall seconds from the tick's publication to its `ticked` report."""

    pipeline: str
    published: dict[float, float] = field(default_factory=dict)
    """Tick time → Unix time it was published."""
    latencies: dict[str, dict[float, float]] = field(default_factory=dict)
    """Agent → tick time → seconds until its report arrived."""
    dropped: int = 0

    async def start(self, bus: Bus) -> None:
        await bus.subscribe(ticked_subject(self.pipeline), self._on_ticked)

    def sent(self, now: float) -> None:
        """The tick of run time `now` is being published."""
        self.published[now] = time.time()

    async def _on_ticked(self, _subject: str, data: bytes) -> None:
        arrived = time.time()
        try:
            message = json.loads(data)
            agent, now = str(message["pop"]), float(message["now"])
            published = self.published[now]
        except (ValueError, KeyError, TypeError) as exc:
            self.dropped += 1
            logger.warning("dropped a tick report: %s", exc)
            return
        self.latencies.setdefault(agent, {})[now] = arrived - published

    def report(self, agents: Sequence[str], phases: Sequence[Phase]) -> dict[str, Any]:
        """Per phase, each agent's ticks, how many it reported, and the median, 95th
        percentile and maximum latency in ms; then every tick's latencies."""
        summary: dict[str, Any] = {}
        for phase in phases:
            ticks = [t for t in self.published if phase.start <= t < phase.end]
            summary[phase.name] = {
                "start": phase.start,
                "end": phase.end,
                "agents": {a: _figures(ticks, self.latencies.get(a, {})) for a in agents},
            }
        return {
            "phases": summary,
            "ticks": [
                {
                    "t": tick,
                    "ms": {
                        a: round(self.latencies[a][tick] * 1000, 3)
                        for a in agents
                        if tick in self.latencies.get(a, {})
                    },
                }
                for tick in sorted(self.published)
            ],
            "dropped_reports": self.dropped,
        }


def _figures(ticks: Sequence[float], seen: dict[float, float]) -> dict[str, Any]:
    """One agent's figures over `ticks` (latencies in ms; None without any report)."""
    values = sorted(seen[t] * 1000 for t in ticks if t in seen)
    figures: dict[str, Any] = {"ticks": len(ticks), "reported": len(values)}
    if not values:
        return figures | {"median_ms": None, "p95_ms": None, "max_ms": None}
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return figures | {
        "median_ms": round(statistics.median(values), 3),
        "p95_ms": round(p95, 3),
        "max_ms": round(values[-1], 3),
    }

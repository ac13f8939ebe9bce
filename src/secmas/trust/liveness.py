"""Liveness: each agent's heartbeat, and the orchestrator's view of who is running.

`000_…` Section III.A asks that the orchestrator can tell an agent is effectively
running, so that a denial of service on the agent or its platform (resource attrition)
shows up even when nothing asks the agent anything. Each agent sends the MLFO a small
beat on the run's clock, sealed between their identity keys (`secmas.trust.control`);
the monitor keeps the last beat per agent and names the silent ones. A beat that does
not open as from a pipeline member, or that was seen before, is counted and ignored, so
nobody can keep a dead agent looking alive, and the bus sees no beat in clear.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, field

from secmas.network.clock import Clock
from secmas.transport.bus import BusClosed, Subscription
from secmas.trust.control import MLFO, ControlPlane
from secmas.trust.envelope import Opened

logger = logging.getLogger(__name__)


def heartbeat_subject(pipeline: str, agent: str = "*") -> str:
    """Where an agent's beats go (`*` for the monitor's subscription)."""
    return f"secmas.heartbeat.{pipeline}.{agent}"


class Heartbeat:
    """Publishes one beat every `period` seconds of the run's clock while running."""

    def __init__(self, control: ControlPlane, clock: Clock, period: float) -> None:
        self.control, self.clock, self.period = control, clock, period
        self.sent = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._beat())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _beat(self) -> None:
        subject = heartbeat_subject(self.control.pipeline, self.control.name)
        while True:
            self.sent += 1
            beat = json.dumps({"seq": self.sent, "at": self.clock.now()}).encode()
            try:
                await self.control.publish(subject, MLFO, beat)
            except BusClosed:
                return
            await self.clock.sleep(self.period)


@dataclass
class LivenessMonitor:
    """The orchestrator's side: last beat per member, as authenticated by its key."""

    pipeline: str
    agents: Collection[str]
    last: dict[str, float] = field(default_factory=dict)
    beats: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    _sub: Subscription | None = None

    async def start(self, control: ControlPlane) -> None:
        self._sub = await control.serve(heartbeat_subject(self.pipeline), self._on_beat)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_beat(self, opened: Opened) -> None:
        agent = opened.sender
        try:
            if len(opened.payload) > 1024:
                raise ValueError("heartbeat frame too long")
            at = float(json.loads(opened.payload)["at"])
        except (ValueError, KeyError, TypeError):
            self.rejected += 1
            return
        if agent not in self.agents or not opened.authenticated:
            self.rejected += 1
            return
        self.last[agent] = max(at, self.last.get(agent, at))
        self.beats[agent] = self.beats.get(agent, 0) + 1

    def silent(self, now: float, timeout: float) -> list[str]:
        """Agents with no valid beat in the last `timeout` seconds (or never)."""
        return sorted(a for a in self.agents if now - self.last.get(a, float("-inf")) > timeout)

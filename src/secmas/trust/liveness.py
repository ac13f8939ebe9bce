"""Liveness: each agent's heartbeat, and the orchestrator's view of who is running.

`000_…` Section III.A asks that the orchestrator can tell an agent is effectively
running, so that a denial of service on the agent or its platform (resource attrition)
shows up even when nothing asks the agent anything. Each agent publishes a small signed
beat on the run's clock; the monitor keeps the last beat per agent and names the silent
ones. A beat whose signature does not verify under the agent's registered key is counted
and ignored, so nobody can keep a dead agent looking alive.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from secmas.network.clock import Clock
from secmas.transport.bus import Bus, BusClosed, Subscription
from secmas.trust.identity import AgentIdentity, signature_valid

logger = logging.getLogger(__name__)

_DOMAIN = b"secmas/heartbeat/1\x00"


def heartbeat_subject(pipeline: str, agent: str = "*") -> str:
    """Where an agent's beats go (`*` for the monitor's subscription)."""
    return f"secmas.heartbeat.{pipeline}.{agent}"


def _signed(agent: str, seq: int, at: float) -> bytes:
    return _DOMAIN + f"{agent}|{seq}|{at!r}".encode()


class Heartbeat:
    """Publishes one beat every `period` seconds of the run's clock while running."""

    def __init__(
        self, identity: AgentIdentity, pipeline: str, bus: Bus, clock: Clock, period: float
    ) -> None:
        self.identity, self.pipeline, self.bus, self.clock = identity, pipeline, bus, clock
        self.period = period
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
        subject = heartbeat_subject(self.pipeline, self.identity.name)
        while True:
            at = self.clock.now()
            self.sent += 1
            signature = self.identity.sign(_signed(self.identity.name, self.sent, at))
            frame = {
                "agent": self.identity.name,
                "seq": self.sent,
                "at": at,
                "sig": signature.hex(),
            }
            try:
                await self.bus.publish(subject, json.dumps(frame).encode())
            except BusClosed:
                return
            await self.clock.sleep(self.period)


@dataclass
class LivenessMonitor:
    """The orchestrator's side: last beat per agent, checked against registered keys."""

    pipeline: str
    keys: Mapping[str, bytes]
    last: dict[str, float] = field(default_factory=dict)
    beats: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    _sub: Subscription | None = None

    async def start(self, bus: Bus) -> None:
        self._sub = await bus.subscribe(heartbeat_subject(self.pipeline), self._on_beat)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_beat(self, _subject: str, data: bytes) -> None:
        try:
            if len(data) > 1024:
                raise ValueError("heartbeat frame too long")
            frame = json.loads(data)
            agent, seq, at = str(frame["agent"]), int(frame["seq"]), float(frame["at"])
            signature = bytes.fromhex(frame["sig"])
        except (ValueError, KeyError, TypeError):
            self.rejected += 1
            return
        key = self.keys.get(agent)
        if key is None or not signature_valid(key, signature, _signed(agent, seq, at)):
            self.rejected += 1
            return
        self.last[agent] = max(at, self.last.get(agent, at))
        self.beats[agent] = self.beats.get(agent, 0) + 1

    def silent(self, now: float, timeout: float) -> list[str]:
        """Agents with no valid beat in the last `timeout` seconds (or never)."""
        return sorted(a for a in self.keys if now - self.last.get(a, float("-inf")) > timeout)

"""Plans that mitigate CNF incidents: the Enforcement Service's side of the closed loops.

The Decision Engine hands the agents goals (`secmas.analytics.decision`); these are the
plans that achieve them on the PoP that won the goal's auction, whose Orchestrator has
already started the VNF the goal needs (a CNF replica or a connection guard):

- cnfScaledOut(cnf, n): the new replica serves its share of the CNF's load;
- cnfMigrated(cnf): the CNF's instance moves to the new one;
- cnfIsolated(cnf): the suspect instance is quarantined and the new one serves;
- cnfGuarded(cnf): a reverse proxy in front of the CNF closes slow connections, inspects
  the sources that reach it and blocks the abusive ones where they enter the network;
- cnfMoved(cnf, k): moving target defence, the k-th proactive move: the CNF's instance
  live-migrates here (the PoP it leaves declined the auction). The migration starts at
  `payload["start_at"]` (so that a service's CNFs arrive together), the CNF keeps serving
  from the old PoP while its state is copied (`payload["transfer"]`, seconds), then is
  down for the stop-and-copy time of its method (`payload["downtime"]`), each as
  predicted on the path to this PoP (`payload["destinations"][pop]`). The goal is
  achieved once the migration is scheduled; it completes in the background.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from secmas.agents.bdi import Belief
from secmas.agents.bidding import GoalRequest
from secmas.agents.ddos.vnfs import RateLimiterVNF
from secmas.network.clock import Clock
from secmas.network.dataplane.controller import Controller
from secmas.network.dataplane.detectors import abusive_sources

Act = Callable[[str, str], None]
Spawn = Callable[[Awaitable[None]], None]
CNFAction = Callable[[GoalRequest, dict[str, Any]], Awaitable[list[Belief]]]


@dataclass
class ConnGuardVNF:
    """A reverse proxy in front of a CNF: per-source connection and request accounting."""

    plane: Controller

    async def abusive(self, host: str, ip: str) -> list[str]:
        """Sources whose traffic reaching `host` towards `ip` looks abusive."""
        return sorted(
            {s.flow.src_ip for s in abusive_sources(await self.plane.flows_via(host, ip))}
        )


@dataclass
class CNFPlans:
    """The mitigation plans of one agent, keyed by goal name in `plans`."""

    pop: str
    plane: Controller
    act: Act
    clock: Clock
    spawn: Spawn
    """Runs work in the background, cancelled when the agent stops."""

    @property
    def plans(self) -> dict[str, CNFAction]:
        return {
            "cnfScaledOut": self._scale_out,
            "cnfMigrated": self._migrate,
            "cnfIsolated": self._isolate,
            "cnfGuarded": self._guard,
            "cnfMoved": self._move,
        }

    async def _remedy(self, request: GoalRequest, remedy: str, action: str) -> list[Belief]:
        cnf = request.args[0]
        await self.plane.remedy(cnf, remedy, self.pop)
        self.act(action, f"{cnf} on {self.pop}")
        return [Belief(request.goal, request.args)]

    async def _scale_out(self, request: GoalRequest, _payload: dict[str, Any]) -> list[Belief]:
        """Horizontal scaling: one more replica, here."""
        return await self._remedy(request, "scale_out", "scaleOut")

    async def _migrate(self, request: GoalRequest, _payload: dict[str, Any]) -> list[Belief]:
        """Move the CNF's instance here (a fresh one: instance-bound faults end)."""
        return await self._remedy(request, "migrate", "migrate")

    async def _isolate(self, request: GoalRequest, _payload: dict[str, Any]) -> list[Belief]:
        """Quarantine the suspect instance; a clean one here takes over."""
        return await self._remedy(request, "isolate", "isolate")

    async def _move(self, request: GoalRequest, payload: dict[str, Any]) -> list[Belief]:
        """Schedule the live migration of the CNF's instance to this PoP: with the start,
        transfer and downtime predicted on the path to this PoP where the payload has them
        (`destinations`), else the payload's own."""
        cnf = request.args[0]
        payload = payload | dict(payload.get("destinations", {}).get(self.pop, {}))
        start = float(payload.get("start_at", self.clock.now()))
        self.spawn(
            self._live_migrate(
                cnf,
                str(payload.get("method", "live")),
                start,
                float(payload.get("transfer", 0.0)),
                float(payload.get("downtime", 0.0)),
            )
        )
        self.act("scheduleMigration", f"{cnf} to {self.pop} from {start:g} s")
        return [Belief(request.goal, request.args)]

    async def _live_migrate(
        self, cnf: str, method: str, start: float, transfer: float, downtime: float
    ) -> None:
        """Wait for the start, copy the state while the CNF serves, then switch over."""
        await self.clock.sleep(max(0.0, start - self.clock.now()) + transfer)
        await self.plane.remedy(cnf, "live_migrate", self.pop, downtime)
        self.act("liveMigrate", f"{cnf} to {self.pop} ({method}, {downtime:.2f} s down)")

    async def _guard(self, request: GoalRequest, payload: dict[str, Any]) -> list[Belief]:
        """Close slow connections, then block each abusive source at its ingress."""
        cnf = request.args[0]
        host, ip = payload["host"], payload["ip"]
        sources = await ConnGuardVNF(self.plane).abusive(host, ip)
        limiter = RateLimiterVNF(self.plane, self.pop)
        for src in sources:
            _rule, node = await limiter.block_at_ingress(src, ip)
            self.act("blockFlow", f"{src}>{ip} at {node}")
        await self.plane.remedy(cnf, "guard", self.pop)
        self.act("guard", f"{cnf}: {len(sources)} abusive sources blocked")
        return [Belief(request.goal, request.args)]

"""Plans that mitigate CNF incidents: the Enforcement Service's side of the closed loops.

The Decision Engine hands the agents goals (`secmas.analytics.decision`); these are the
plans that achieve them on the PoP that won the goal's auction, whose Orchestrator has
already started the VNF the goal needs, each VNF a plug-in (a CNF replica, `WebReplica`,
or a connection guard, `ConnGuard`):

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

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from secmas.agents.bdi import REST, Belief, PlanContext
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.ddos.vnfs import RateLimiterVNF
from secmas.agents.vnfplugin import VNFPlugin, WonPlan
from secmas.network.dataplane.controller import Controller
from secmas.network.dataplane.detectors import abusive_sources
from secmas.scenario import ddos

CNFAction = Callable[[GoalRequest, dict[str, Any]], Awaitable[list[Belief]]]
"""A mitigation: (the won goal's request, its payload) → the beliefs it achieved."""


def _won(goal: str, action: CNFAction) -> WonPlan:
    """The plan of `goal`, whatever its arguments: the mitigation, then what it achieved."""

    async def run(ctx: PlanContext, request: GoalRequest, _bid: Bid) -> bool:
        ctx.believe(*await action(request, ctx.goal.payload))
        return True

    return WonPlan(goal, Belief(goal, (REST,)), run)


@dataclass
class ConnGuardVNF:
    """A reverse proxy in front of a CNF: per-source connection and request accounting."""

    plane: Controller

    async def abusive(self, host: str, ip: str) -> list[str]:
        """Sources whose traffic reaching `host` towards `ip` looks abusive."""
        return sorted(
            {s.flow.src_ip for s in abusive_sources(await self.plane.flows_via(host, ip))}
        )


class WebReplica(VNFPlugin):
    """One more instance of the web CNF: scale-out, migration, isolation and moving
    target defence all start one here."""

    name = ddos.WEB_REPLICA

    def plans(self) -> Sequence[WonPlan]:
        return (
            _won("cnfScaledOut", self._scale_out),
            _won("cnfMigrated", self._migrate),
            _won("cnfIsolated", self._isolate),
            _won("cnfMoved", self._move),
        )

    async def _remedy(self, request: GoalRequest, remedy: str, action: str) -> list[Belief]:
        cnf = request.args[0]
        await self.context.controller.remedy(cnf, remedy, self.context.pop)
        self.context.act(action, f"{cnf} on {self.context.pop}")
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
        pop, clock = self.context.pop, self.context.clock
        payload = payload | dict(payload.get("destinations", {}).get(pop, {}))
        start = float(payload.get("start_at", clock.now()))
        self.context.follow_up(
            self._live_migrate(
                cnf,
                str(payload.get("method", "live")),
                start,
                float(payload.get("transfer", 0.0)),
                float(payload.get("downtime", 0.0)),
            )
        )
        self.context.act("scheduleMigration", f"{cnf} to {pop} from {start:g} s")
        return [Belief(request.goal, request.args)]

    async def _live_migrate(
        self, cnf: str, method: str, start: float, transfer: float, downtime: float
    ) -> None:
        """Wait for the start, copy the state while the CNF serves, then switch over."""
        pop, clock = self.context.pop, self.context.clock
        await clock.sleep(max(0.0, start - clock.now()) + transfer)
        await self.context.controller.remedy(cnf, "live_migrate", pop, downtime)
        self.context.act("liveMigrate", f"{cnf} to {pop} ({method}, {downtime:.2f} s down)")


class ConnGuard(VNFPlugin):
    """A reverse proxy in front of a CNF that closes slow connections and blocks the
    abusive sources where they enter the network."""

    name = ddos.CONN_GUARD

    def build(self) -> ConnGuardVNF:
        return ConnGuardVNF(self.context.controller)

    def plans(self) -> Sequence[WonPlan]:
        return (_won("cnfGuarded", self._guard),)

    async def _guard(self, request: GoalRequest, payload: dict[str, Any]) -> list[Belief]:
        """Close slow connections, then block each abusive source at its ingress."""
        cnf = request.args[0]
        plane, act = self.context.controller, self.context.act
        host, ip = payload["host"], payload["ip"]
        sources = await self.vnf.abusive(host, ip)
        limiter = RateLimiterVNF(plane, self.context.pop)
        for src in sources:
            _rule, node = await limiter.block_at_ingress(src, ip)
            act("blockFlow", f"{src}>{ip} at {node}")
        await plane.remedy(cnf, "guard", self.context.pop)
        act("guard", f"{cnf}: {len(sources)} abusive sources blocked")
        return [Belief(request.goal, request.args)]

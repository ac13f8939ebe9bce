"""Moving target defence on the emulated data plane: the planned moves really happen,
and the quota is judged on what they really cost.

`EmulatedMovingTargetLoop` is the run's `MovingTargetLoop` (same plan, auctions,
re-planning and report) with the simulator's CNF model replaced by real CNFs
(`secmas.network.emulation.migration`): at the start every moving CNF runs as a real
key/value service with real state at its scenario PoP, and a probe sends it requests
every 20 ms from a client namespace. When the winner of a move's auction switches over
(the `live_migrate` remedy the agents already use), the CNF really moves by the planned
method, at the application level (CRIU cannot run here): cold, pre-copy, post-copy or
hybrid. Because the copy is real, the winner starts the migration at its planned start
rather than after the predicted transfer.

Each move then carries, beside the model's prediction on the path the auction chose
(`predicted_*`), what the probe measured (`measured_downtime_s`, `measured_total_s`);
the CNF's downtime spent, the budget check before posting the next move and the run's
`within_quota` are on the measured downtime.

Unless the caller gives its own, the loop plans with the models calibrated on the shipped
recording of measured moves (`secmas.mtd.calibration`), each used where it beat the
analytical model on held-out measured moves: the regressor per method and target, and the
selector, whose pick is each CNF's method (the learned classifier's, or the analytical
model's where the classifier's regret was not lower); `selector=None` lets the strategy
weigh every method instead. The report's `mtd.models` says which model predicted and
picked what, with both models' held-out errors (`calibration`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from secmas.mtd.calibration import calibrated
from secmas.mtd.execution import MovingTargetLoop
from secmas.mtd.migration import DEFAULT_MODEL, Method
from secmas.network.dataplane.cnf import METRICS
from secmas.network.dataplane.controller import ControllerError
from secmas.network.dataplane.routing import Network
from secmas.network.emulation.controller import EmulatedController
from secmas.network.emulation.migration import (
    MIGRATIONS,
    MigrationFailed,
    MobileCNF,
    MobileCNFs,
    MoveResult,
)
from secmas.network.emulation.mobility import StateShape, state_shape

if TYPE_CHECKING:
    from secmas.agents.ddos.world import World
    from secmas.agents.handle import AgentHandle
    from secmas.mtd.execution import Move
    from secmas.mtd.migration import Load
    from secmas.network.dataplane.rules import Rule
    from secmas.network.dataplane.stats import FlowStats


def migration_of(method: str) -> str:
    """The application-level migration that carries out a planned method (each of the
    four has its own; ValueError for an unknown one)."""
    migration = Method(method).value
    if migration not in MIGRATIONS:
        raise ValueError(f"no application-level migration for {method!r}")
    return migration


def shape_of(load: Load, scale: float) -> StateShape:
    """The emulated state of a CNF under `load` (the migration model's dirty rate)."""
    return state_shape(
        load.memory_mb,
        DEFAULT_MODEL.dirty_rate(load),
        load.disk_mbps,
        scale,
        working_set=DEFAULT_MODEL.working_set,
    )


@dataclass(frozen=True)
class Placement:
    """Where a real CNF runs (the simulator's `CNFPlacement`, as the loop reads it)."""

    pop: str

    @property
    def replicas(self) -> tuple[str, ...]:
        return (self.pop,)


@dataclass
class RealCNFs:
    """What the MTD loop reads of the data plane, from the real CNFs: where each runs
    (it changes when a move has been measured). There is no per-CNF metric series on the
    emulated engine, so the loop plans with the scenario's load."""

    pops: dict[str, str]
    controller: EmulatedController

    def cnf_placement(self, cnf: str) -> Placement:
        return Placement(self.pops[cnf])

    def cnf_series(self, _cnf: str) -> np.ndarray:
        return np.empty((0, len(METRICS)))

    @property
    def step_seconds(self) -> float:
        return self.controller.step_seconds

    @property
    def server_ip(self) -> str:
        return self.controller.server_ip


Migrate = Callable[[str, str], Any]


class MigratingController:
    """The emulated controller, with the `live_migrate` remedy carried out by a real move
    (every other call goes to the emulated controller unchanged)."""

    def __init__(self, inner: EmulatedController, migrate: Migrate) -> None:
        self.inner = inner
        self._migrate = migrate

    async def remedy(self, cnf: str, remedy: str, pop: str, downtime: float = 0.0) -> None:
        if remedy != "live_migrate":
            await self.inner.remedy(cnf, remedy, pop, downtime)
            return
        await self._migrate(cnf, pop)

    @property
    def server_ip(self) -> str:
        return self.inner.server_ip

    @property
    def step_seconds(self) -> float:
        return self.inner.step_seconds

    async def now(self) -> float:
        return await self.inner.now()

    async def rate(self, a: str, b: str) -> float:
        return await self.inner.rate(a, b)

    async def load(self, a: str, b: str) -> float:
        return await self.inner.load(a, b)

    async def add_rule(self, rule: Rule) -> int:
        return await self.inner.add_rule(rule)

    async def remove_rule(self, rule_id: int) -> None:
        await self.inner.remove_rule(rule_id)

    async def pull_image(self, pop: str, vnf: str, estimated_s: float) -> float | None:
        return await self.inner.pull_image(pop, vnf, estimated_s)

    async def start_vnf(self, instance: str, pop: str, vnf: str) -> None:
        await self.inner.start_vnf(instance, pop, vnf)

    async def stop_vnf(self, instance: str) -> None:
        await self.inner.stop_vnf(instance)

    async def ingress(self, src_ip: str) -> str:
        return await self.inner.ingress(src_ip)

    async def flows_via(
        self, node: str, dst_ip: str | None = None, part: int | None = None
    ) -> list[FlowStats]:
        return await self.inner.flows_via(node, dst_ip, part)

    async def destination_rates(self, node: str) -> dict[str, list[float]]:
        return await self.inner.destination_rates(node)


class EmulatedMovingTargetLoop(MovingTargetLoop):
    """`MovingTargetLoop` whose moves really happen (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.calibrated = calibrated()
        kwargs.setdefault("predictor", self.calibrated.predictor)
        kwargs.setdefault("selector", self.calibrated.selector)
        super().__init__(*args, **kwargs)
        self.pops = {c.id: c.pop for c in self.scenario.cnfs if c.id in self.targets}
        """CNF → the PoP it runs at (changes when a move has been measured)."""
        self.real: RealCNFs | None = None
        self.cnfs: MobileCNFs | None = None
        self.results: dict[tuple[str, int], MoveResult] = {}
        self.failures: dict[tuple[str, int], str] = {}

    # -- the run ----------------------------------------------------------------------------
    def attach(
        self, world: World, attestations: Callable[[], Sequence[Any]], layer: Any = None
    ) -> None:
        controller = world.controller
        if not isinstance(controller, EmulatedController):
            raise ValueError("the emulated MTD loop needs the emulated data plane")
        self.real = RealCNFs(self.pops, controller)
        world.controller = MigratingController(controller, self.migrate)
        super().attach(dataclasses.replace(world, plane=self.real), attestations, layer)

    async def start(self, agents: Sequence[AgentHandle]) -> None:
        await super().start(agents)
        if self.real is None:
            raise RuntimeError("the MTD loop is not attached to a run")
        network = self.real.controller.network
        self.cnfs = MobileCNFs(network, Network.from_scenario(self.scenario))
        scale = self.scenario.network.scale
        await self.cnfs.start(
            [
                MobileCNF(cnf, pop, shape_of(self.loads[cnf], scale))
                for cnf, pop in self.pops.items()
            ]
        )

    async def migrate(self, cnf: str, pop: str) -> None:
        """Carry out the CNF's move under way to `pop` and record what it measured, or
        why it failed: the winner's agent calls this from a background task, which would
        drop any error, leaving the move posted for the rest of the run and every later
        move of the CNF skipped as "still under way"."""
        move = next((m for m in self.moves if m.cnf == cnf and m.outcome == "posted"), None)
        if move is None or self.cnfs is None:
            raise ControllerError(f"no move of {cnf} is under way")
        try:
            result = await self.cnfs.move(cnf, pop, migration_of(move.method))
        except MigrationFailed as exc:
            self.failures[(cnf, move.k)] = str(exc)
            return
        except Exception as exc:  # the agent's background task would swallow it
            self.failures[(cnf, move.k)] = f"{type(exc).__name__}: {exc}"
            return
        self.results[(cnf, move.k)] = result
        self.pops[cnf] = pop

    def _payload(self, move: Move, now: float) -> dict[str, Any]:
        payload = super()._payload(move, now)
        # the copy is real here: the winner starts the migration at its start time
        payload["transfer"] = 0.0
        for offer in payload.get("destinations", {}).values():
            offer["transfer"] = 0.0
        return payload

    async def _check(self, move: Move, now: float) -> None:
        failure = self.failures.pop((move.cnf, move.k), None)
        if failure is None:
            await super()._check(move, now)
            return
        move.outcome, move.reason = "failed", failure
        self._replan(self._unit_of(move.cnf), now, f"move {move.k} of {move.cnf} failed")

    async def _arrive(self, move: Move, here: str, now: float) -> None:
        await super()._arrive(move, here, now)
        result = self.results[(move.cnf, move.k)]
        move.measured_downtime_s = result.downtime_s
        move.measured_total_s = result.total_s
        self.spent[move.cnf] += result.downtime_s - move.predicted_downtime_s

    # -- what is reported -------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        probe: dict[str, Any] = {}
        if self.cnfs is not None:
            records = self.cnfs.records()
            probe = {
                "interval_s": self.cnfs.probe_interval,
                "requests": len(records),
                "failed": sum(not r.ok for r in records),
            }
            self.cnfs.stop()
        report = super().report()
        mtd = report["mtd"]
        mtd["engine"] = "emulated"
        mtd["quota_judged_on"] = "measured"
        mtd["probe"] = probe
        mtd["models"]["calibration"] = self.calibrated.calibration.to_json()
        for record in mtd["moves"]:
            result = self.results.get((record["cnf"], record["k"]))
            record["migration"] = None if result is None else result.migration
            if result is not None and record["outcome"] == "moved":
                record["frozen_s"] = result.frozen_s
                record["served"] = result.served
                record["state_bytes"] = result.state_bytes
                record["state_verified"] = result.state_verified
                record["rounds"] = len(result.rounds)
        judge_moves(mtd["moves"], self.budget)
        return report


def judge_moves(moves: list[dict[str, Any]], budget: dict[str, float]) -> None:
    """Set each move record's `within_quota`: whether its CNF's measured downtime, summed
    over its moves up to this one in arrival order, is within the CNF's budget (None for
    a move that did not happen or was not measured)."""
    spent = dict.fromkeys(budget, 0.0)
    for record in sorted(moves, key=lambda m: m["arrived_at"] or float("inf")):
        measured = record.get("measured_downtime_s")
        if record["outcome"] != "moved" or measured is None:
            record["within_quota"] = None
            continue
        spent[record["cnf"]] += measured
        record["within_quota"] = spent[record["cnf"]] <= budget[record["cnf"]] + 1e-9

"""The live view of a running demo: an in-process hub of events and the step loop that
feeds it.

The run (the main thread's event loop) publishes; the web app (uvicorn's thread) reads a
snapshot (`/api/live`) and streams what follows as server-sent events
(`/api/live/events`). Events are numbered from 1; each one is also applied to the
snapshot, so a page that opens late gets the run so far, then the rest as it happens.

Event kinds and their data: `start` (run id, scenario view), `step` (a deployment step:
number, name), `plan` (the attestation plan), `initial` (instances there from the
start), `progress` (now, duration, the step's telemetry point), `auction`, `placement`,
`action`, `attestation` (report.json records), `alert` (an Alert), `network` (steered
paths and blocked flows so far, after new actions), `mind` (an agent's mind after it
changed: a MindView), `end` (status, folder, passed, error).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from secmas.agents.mind import Mind, MindChange
from secmas.api.observer import RunObserver
from secmas.ui import minds, views
from secmas.ui.models import Alert, LiveState
from secmas.ui.network import network_view

if TYPE_CHECKING:
    from secmas.scenario.model import Scenario

Event = tuple[int, str, dict[str, Any]]

_LISTS = {
    "auction": "auctions",
    "placement": "placements",
    "action": "actions",
    "attestation": "attestations",
    "alert": "alerts",
    "step": "workflow",
}


class LiveHub:
    """Thread-safe: one writer (the run), any number of readers (event streams)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._state: dict[str, Any] = {"status": "idle", "seq": 0}
        self.streams = 0
        """Event streams open now."""
        self.watched = False
        """Whether an event stream was ever opened."""

    # -- writer --------------------------------------------------------------------------
    def begin(self, run_id: str, scenario: dict[str, Any] | None, duration: float) -> None:
        """A new run: forget the previous one."""
        with self._lock:
            self._events = []
            self._state = {"status": "running", "seq": 0, "run_id": run_id, "duration": duration}
        self.publish("start", {"run_id": run_id, "scenario": scenario, "duration": duration})

    def publish(self, kind: str, data: dict[str, Any]) -> int:
        """Record one event; its number."""
        with self._lock:
            seq = len(self._events) + 1
            self._events.append((seq, kind, data))
            _apply(self._state, kind, data)
            self._state["seq"] = seq
            return seq

    def end(self, status: str, folder: str | None = None, **extra: Any) -> None:
        """The run finished (`folder`: its id under the served runs) or failed."""
        if self.status != "running":
            return
        self.publish("end", {"status": status, "folder": folder, **extra})

    # -- readers -------------------------------------------------------------------------
    @property
    def status(self) -> str:
        with self._lock:
            return str(self._state["status"])

    def snapshot(self) -> LiveState:
        with self._lock:
            return LiveState.model_validate(self._state)

    def since(self, seq: int) -> tuple[list[Event], str]:
        """The events after number `seq`, and the run's status."""
        with self._lock:
            return self._events[max(seq, 0) :], str(self._state["status"])


def _apply(state: dict[str, Any], kind: str, data: dict[str, Any]) -> None:
    """Fold one event into the snapshot (same shape as LiveState)."""
    if kind in _LISTS:
        state.setdefault(_LISTS[kind], []).append(data)
    elif kind == "start":
        state["scenario"] = data["scenario"]
    elif kind == "plan":
        state["plan"] = data["plan"]
    elif kind == "initial":
        state["initial"] = data["instances"]
    elif kind == "network":
        state["network"] = data
    elif kind == "mind":
        state.setdefault("minds", {})[data["agent"]] = data
    elif kind == "progress":
        state["now"] = data["now"]
        state["duration"] = data["duration"]
        if data.get("telemetry") is not None:
            state.setdefault("telemetry", []).append(data["telemetry"])
    elif kind == "end":
        state["status"] = data["status"]
        state["folder"] = data.get("folder")
        state["error"] = data.get("error")


class LiveLoop:
    """A `secmas.pipeline.runloop.StepLoop` that reports the run to a hub after every step:
    new auctions, placements, actions and attestation records, the traffic, and alerts of
    the agents, the trust layer and the `watch`ed loops (closed loop, SSLA manager).

    It changes nothing in the run; `pace` (simulated seconds per wall second) slows the
    run down so that people can follow it.
    """

    def __init__(self, hub: LiveHub, watch: Sequence[Any] = (), pace: float | None = None):
        self.hub = hub
        self.watch = list(watch)
        self.pace = pace
        self._world: Any = None
        self._attestations: Callable[[], Sequence[Any]] = list
        self._seen: dict[str, int] = {}
        self._minds: dict[str, Mind] = {}
        """Each agent's mind as far as the run got."""
        self._started: tuple[float, float] | None = None

    def attach(
        self, world: Any, attestations: Callable[[], Sequence[Any]], trust_layer: Any = None
    ) -> None:
        self._world = world
        self._attestations = attestations
        if trust_layer is not None:
            self.hub.publish("plan", {"plan": list(trust_layer.plan)})
        instances = [
            {"id": i.id, "vnf": i.vnf, "pop": i.pop, "units": i.units}
            for i in world.infra.instances.values()
        ]
        self.hub.publish("initial", {"instances": instances})

    async def start(self, agents: Sequence[Any]) -> None:
        self._publish_new()

    async def after_step(self, now: float) -> None:
        self._publish_new()
        plane = self._world.plane
        series = plane.server_series() if plane is not None else []
        duration = self._world.scenario.traffic.duration if self._world.scenario.traffic else now
        self.hub.publish(
            "progress",
            {"now": now, "duration": duration, "telemetry": asdict(series[-1]) if series else None},
        )
        await self._keep_pace(now)

    def report(self) -> dict[str, Any]:
        return {}

    # -- what is new since the last step ----------------------------------------------------
    def _new(self, key: str, items: Sequence[Any]) -> Sequence[Any]:
        seen = self._seen.get(key, 0)
        self._seen[key] = len(items)
        return items[seen:]

    def _publish_new(self) -> None:
        from secmas.report.record import auction_entry

        journal = self._world.journal
        for initiator, record in self._new("auctions", journal.auctions):
            self.hub.publish("auction", auction_entry(initiator, record))
        for event in self._new("placements", journal.placements):
            self.hub.publish("placement", asdict(event))
        fresh_actions = self._new("actions", journal.actions)
        for event in fresh_actions:
            self.hub.publish("action", asdict(event))
        enforcements = [
            e.to_json() for loop in self.watch for e in getattr(loop, "enforcements", [])
        ]
        if fresh_actions or len(enforcements) != self._seen.get("enforcements", 0):
            self._seen["enforcements"] = len(enforcements)
            actions = (asdict(a) for a in journal.actions)
            view = network_view(actions, enforcements)
            self.hub.publish("network", view.model_dump(mode="json"))
        records = [e.to_json() for e in self._attestations()]
        fresh = self._new("attestations", records)
        for record in fresh:
            self.hub.publish("attestation", record)
        self._alerts("agents", views.agent_alerts(asdict(a) for a in journal.actions))
        for alert in views.attestation_alerts(fresh, self._now()):
            self.hub.publish("alert", alert.model_dump(mode="json"))
        for number, loop in enumerate(self.watch):
            self._alerts(f"watch-{number}", _loop_alerts(loop))
        self._publish_minds(self._new("minds", journal.minds))

    def _publish_minds(self, changes: Sequence[MindChange]) -> None:
        """Each agent's mind now, for the agents whose mind changed."""
        for change in changes:
            self._minds.setdefault(change.agent, Mind()).apply(change)
        for agent in dict.fromkeys(change.agent for change in changes):
            now = minds.view(self._minds[agent], agent, self._now())
            self.hub.publish("mind", now.model_dump(mode="json"))

    def _alerts(self, key: str, alerts: Sequence[Alert]) -> None:
        """Publish the alerts of one source that were not published yet (sources only
        ever append to their lists)."""
        for alert in self._new(key, alerts):
            self.hub.publish("alert", alert.model_dump(mode="json"))

    def _now(self) -> float:
        return float(self._world.clock.now())

    async def _keep_pace(self, now: float) -> None:
        if not self.pace:
            return
        if self._started is None:
            self._started = (time.perf_counter(), now)
            return
        wall0, sim0 = self._started
        delay = wall0 + (now - sim0) / self.pace - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


def _loop_alerts(loop: Any) -> list[Alert]:
    """The alerts of a closed loop or an SSLA manager, so far."""
    alerts: list[Alert] = []
    if hasattr(loop, "alerts") and hasattr(loop, "decisions"):
        alerts += views.loop_alerts(
            [a.to_json() for a in loop.alerts], [d.to_json() for d in loop.decisions]
        )
    if hasattr(loop, "breaches") and hasattr(loop, "enforcements"):
        resolution = getattr(loop, "resolution", None)
        conflicts = [c.to_json() for c in resolution.conflicts] if resolution else []
        alerts += views.policy_alerts(
            {
                "conflicts": conflicts,
                "breaches": [b.to_json() for b in loop.breaches],
                "enforcements": [e.to_json() for e in loop.enforcements],
            }
        )
    return alerts


class LiveRun(RunObserver):
    """A run's observer that feeds the live page: the scenario when it begins, each
    deployment step, progress where no step loop rides along (agents as processes), the
    step loop itself, and the end."""

    def __init__(self, hub: LiveHub, pace: float | None, processes: bool = False) -> None:
        self.hub = hub
        self.pace = pace
        self.processes = processes
        self.folder: Path | None = None

    def begin(self, scenario: Scenario, run_id: str, folder: Path) -> None:
        from secmas.ui.topology import scenario_view

        self.folder = folder
        duration = scenario.traffic.duration if scenario.traffic else 0.0
        view = scenario_view(scenario, "the live run").model_dump(mode="json")
        self.hub.begin(run_id, view, duration)

    def step(self, number: str, name: str) -> None:
        self.hub.publish("step", {"number": number, "name": name})

    def progress(self, now: float, duration: float) -> None:
        if self.processes:  # in one process the step loop feeds the page
            self.hub.publish("progress", {"now": now, "duration": duration, "telemetry": None})

    def loop(self, watch: Sequence[Any]) -> LiveLoop:
        """The step loop that feeds the page; after `watch` (closed loop, SSLA manager)."""
        return LiveLoop(self.hub, watch, self.pace)

    def finish(self, passed: bool) -> None:
        folder = self.folder.name if self.folder is not None else None
        self.hub.end("finished", folder, passed=passed)

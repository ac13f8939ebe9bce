"""The agents' closed loop on a real CNF (`002_…` Section II.A on the emulated engine).

On the emulated engine the CNF a closed loop watches runs as a real nginx
(`network.emulation.cnfservice`), read every step from its exporter's counters.
`RealCNFLoop` is the run's `ClosedLoop` (`secmas.analytics.loop`) on it: the same MS →
AE → DE → ES, the DE's mitigations handed as goals to the agent of the CNF's PoP, which
auctions them like any other; the winner's VNF acts through the controller's `remedy` on
the real CNF, its packets and its processes. What differs is the detector: models
trained on the simulated CNF do not know nginx, so the loop learns the real CNF's
normal behaviour first (`DetectorChoice`, by default the robust z-score baseline) from
its metrics up to the first attack or incident, leaving the first `WARMUP_STEPS` out,
and watches it from then on. Remedies change the CNF for good (a replica's memory, a
fresh instance's): once every remedy is in effect and the windows made only of later
steps stay flagged with its traffic in line, the loop learns the CNF's new normal at once
(`NEW_NORMAL`), as the real-CNF loop of `002_…` re-baselined after an attack.

For every decision the report says, from real measurements: the condition under way
and when it began (the scenario's attack and incidents), when the loop alerted (the
detection delay), which agent won the goal's auction and when it acted, and when the
mitigation was in effect on the CNF's metrics (`cnfloop.first_in_effect`; the time to
mitigate counts from the alert).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from secmas.agents.ddos.agent import World
from secmas.agents.journal import Journal
from secmas.agents.outcome import goal_label
from secmas.analytics.cnfloop import (
    ACTS_ON,
    Condition,
    condition_at,
    first_in_effect,
    normal_bounds,
)
from secmas.analytics.decision import LATENCY_FEATURES, STRONG, TRAFFIC_FEATURES
from secmas.analytics.events import NORMAL
from secmas.analytics.loop import ClosedLoop, Decision, LoopSettings
from secmas.analytics.rebaseline import Rebaseline
from secmas.network.dataplane.cnf import METRICS, CNFPlacement
from secmas.network.emulation.cnfservice import RUNS_INSIDE, RealCNF
from secmas.network.emulation.controller import EmulatedController
from secmas.pipeline.cnf_emulated import PreparedDetector
from secmas.pipeline.errors import RunError
from secmas.scenario.model import Scenario

Say = Callable[[str], None]
WARMUP_STEPS = 2
"""Steps at the start of a run that the normal phase leaves out (clients ramping up)."""
MIN_NORMAL_STEPS = 10
"""Fewest steps of normal behaviour the detector learns from."""
SETTLE = 5.0
"""Seconds without alerts after a remedy changed the CNF: a real one shows in its counters
within a few steps (`LoopSettings.settle`)."""
REBASELINE_WINDOWS = 8
"""Windows of the new normal collected after a mitigation (`LoopSettings.rebaseline_windows`)."""
NEW_NORMAL = 2
"""Flagged windows in a row after the remedies took effect that make a new normal."""
CAP = 5.0
"""A new normal is refused when its detector's threshold would be more than this many times
the one before (`Rebaseline.cap`'s rule): what it learnt would hide attacks."""
SERVICE_FEATURES = TRAFFIC_FEATURES | LATENCY_FEATURES
"""What the CNF serves: strongly out of line, an attack is still under way."""
REMEDIES = {
    "cnfGuarded": "guard",
    "cnfIsolated": "isolate",
    "cnfMigrated": "migrate",
    "cnfScaledOut": "scale_out",
}
"""The remedy each CNF goal's plan carries out (`agents.ddos.cnf`)."""


def conditions(scenario: Scenario) -> list[Condition]:
    """The run's ground truth on its real CNF: the attack and the incidents the emulated
    engine runs inside it, each with its [start, stop) run seconds."""
    assert scenario.traffic is not None
    end = scenario.traffic.duration
    found = []
    if scenario.attack is not None:
        attack = scenario.attack
        found.append(Condition(attack.kind, attack.start, attack.stop or end))
    found += [
        Condition(i.kind, i.start, i.stop or end)
        for i in scenario.incidents
        if i.kind in RUNS_INSIDE
    ]
    return sorted(found, key=lambda c: c.start)


def normal_phase(scenario: Scenario) -> float:
    """When the normal phase ends (run seconds): at the first condition, else halfway."""
    assert scenario.traffic is not None
    found = conditions(scenario)
    return found[0].start if found else scenario.traffic.duration / 2


def check_normal_phase(scenario: Scenario) -> None:
    """RunError when the run leaves the detector too little normal behaviour."""
    assert scenario.traffic is not None
    step = scenario.traffic.step
    needed = (WARMUP_STEPS + MIN_NORMAL_STEPS) * step
    if normal_phase(scenario) < needed:
        raise RunError(
            f"the real CNF's detector learns its normal behaviour before the first attack or "
            f"incident, which starts at {normal_phase(scenario):g} s: start it at "
            f"{needed:g} s or later ({WARMUP_STEPS} + {MIN_NORMAL_STEPS} steps of "
            f"{step:g} s)"
        )


class CNFView:
    """The run's real CNFs as the closed loop reads a data plane (the calls of the
    simulator's `DataPlane` it makes); it remembers which steps the loop looked at, so
    that the ground truth it gives lines up with the loop's flags."""

    def __init__(self, controller: EmulatedController, truth: Sequence[Condition]) -> None:
        self.controller = controller
        self.truth = truth
        self.seen: dict[str, list[float]] = {cnf: [] for cnf in controller.cnfs}

    @property
    def cnf_ids(self) -> tuple[str, ...]:
        return tuple(self.controller.cnfs)

    @property
    def step_seconds(self) -> float:
        return self.controller.step_seconds

    @property
    def server_ip(self) -> str:
        return self.controller.server_ip

    def real(self, cnf: str) -> RealCNF:
        return self.controller.cnfs[cnf]

    def cnf_placement(self, cnf: str) -> CNFPlacement:
        return self.real(cnf).placement

    def cnf_metrics(self, cnf: str) -> dict[str, float]:
        """The metrics of the CNF's last step (the loop reads each step once)."""
        sample = self.real(cnf).samples[-1]
        self.seen[cnf].append(sample.t)
        return sample.metrics

    def cnf_truth(self, cnf: str) -> list[str]:
        """The ground truth of each step the loop looked at."""
        step = self.step_seconds
        found = (condition_at(self.truth, t, step) for t in self.seen[cnf])
        return [NORMAL if c is None else c.kind for c in found]

    def load(self, a: str, b: str) -> float:
        return self.controller.load_now(a, b)

    def normal(self, cnf: str, until: float) -> tuple[list[float], np.ndarray]:
        """The CNF's steps up to `until` but the first `WARMUP_STEPS`: times and rows [N, F]
        in METRICS order."""
        samples = [s for s in self.real(cnf).samples[WARMUP_STEPS:] if s.t <= until]
        rows = np.array([[s.metrics[name] for name in METRICS] for s in samples])
        return [s.t for s in samples], rows.reshape(len(samples), len(METRICS))


class RealCNFLoop(ClosedLoop):
    """The closed loop on the run's real CNF (module docstring)."""

    def __init__(
        self, detector: PreparedDetector, settings: LoopSettings, say: Say = lambda _: None
    ) -> None:
        super().__init__(None, None, settings)
        self.prepared = detector
        self.say = say
        self.view: CNFView | None = None
        self.bounds: dict[str, float] = {}
        self.training: dict[str, Any] = {}
        self.truth: list[Condition] = []
        self._until = 0.0
        self._waiting: tuple[str, ...] = ()
        self._normal = np.empty((0, len(METRICS)))
        self._learnt_after = -np.inf
        """When the remedies behind the last new normal took effect."""
        self._effective: dict[str, float] = {}
        """Goal label → when its remedy was in effect."""
        self._journal: Journal | None = None

    def attach(
        self, world: World, attestations: Callable[[], Sequence[Any]], layer: Any = None
    ) -> None:
        controller = world.controller
        if not isinstance(controller, EmulatedController) or not controller.cnfs:
            raise ValueError("the real CNF's closed loop needs the emulated engine's real CNF")
        self.truth = conditions(world.scenario)
        self._until = normal_phase(world.scenario)
        self.view = CNFView(controller, self.truth)
        seen = dataclasses.replace(world, plane=self.view)  # type: ignore[arg-type]
        super().attach(seen, attestations, layer)
        world.admits = seen.admits  # the trust manager's rule, for the agents made next
        self._journal = world.journal

    def _watch_cnfs(self, cnfs: Sequence[str]) -> None:
        """Watch the CNFs once their normal phase is over and the detector learnt it."""
        if self._detector is None:
            self._waiting = tuple(cnfs)
        else:
            super()._watch_cnfs(cnfs)

    async def after_step(self, now: float) -> None:
        if self._waiting and now >= self._until:
            await self._learn()
        for cnf in self._cnfs:  # on the windows up to the last step, before this one's
            await self._new_normal(now, cnf)
        await super().after_step(now)

    async def _learn(self) -> None:
        """Fit the detector on the normal phase of the (first) real CNF and start watching
        with its last window already in hand."""
        assert self.view is not None
        cnfs, self._waiting = self._waiting, ()
        times, self._normal = self.view.normal(cnfs[0], self._until)
        self.detector = await asyncio.to_thread(self.prepared.fit, self._normal)
        self.bounds = normal_bounds(self._normal, METRICS)
        seconds = times[-1] - times[0] + self.view.step_seconds if times else 0.0
        self.training = {
            "detector": self.prepared.choice.name,
            "trained_on": f"{seconds:.0f} s of normal behaviour ({len(times)} steps)",
            "normal_until": self._until,
            "recording": None
            if self.prepared.prior is None
            else {"file": str(self.prepared.choice.recording), "rows": len(self.prepared.prior)},
            "window": self.detector.window,
            "threshold": self.detector.threshold_value(self.settings.threshold),
            "new_normals": [],
        }
        self.say(
            f"real CNF {cnfs[0]}: {self.training['detector']} detector from "
            f"{self.training['trained_on']}; watching it from {self._until:g} s"
        )
        super()._watch_cnfs(cnfs)
        for state in self._cnfs.values():
            for row in self._normal[-self.detector.window :]:
                state.values.append(row[[METRICS.index(f) for f in self.detector.features]])

    async def _new_normal(self, now: float, cnf: str) -> None:
        """Learn the CNF's new normal at once when the agents' remedies changed it for
        good: every remedy carried out on it is in effect, and the last `NEW_NORMAL`
        windows, made only of steps after the last one took effect, are all flagged
        without its traffic or latency strongly out of line (`decision.STRONG`): a
        replica's memory, a reloaded worker's, what the remedies left behind (traffic
        strongly out of line is an attack still under way, never learnt). A model file's
        detector is used as it is, and a new normal whose threshold would exceed `CAP`
        times the one before is refused."""
        assert self.view is not None
        mine = [
            d
            for d in self.decisions
            if self.alerts[d.alert].cnf == cnf and d.mitigation.goal in REMEDIES
        ]
        acted = [e for e in map(self._effect, mine) if e is not None]
        if self.prepared.loaded is not None or not acted or any(e[1] is None for e in acted):
            return
        since = max(float(e[1]) for e in acted if e[1] is not None)
        state, seen = self._cnfs[cnf], self.view.seen[cnf]
        window = self.detector.window
        step, span = self.view.step_seconds, NEW_NORMAL + window - 1
        if since <= self._learnt_after or len(seen) < span or seen[-span] - step < since - 1e-6:
            return
        values = np.stack(list(state.values)[-span:])
        for end in range(window, span + 1):
            _, per_feature, flags = self.detector.score_window(values[end - window : end])
            strong = {n for n, ratio in self.detector.severity(per_feature) if ratio >= STRONG}
            if not flags[self.settings.threshold] or strong & SERVICE_FEATURES:
                return
        self._learnt_after = since
        after = [s for s in self.view.real(cnf).samples if s.t - step >= since - 1e-6]
        recent = np.array([[s.metrics[name] for name in METRICS] for s in after])
        data = np.concatenate([self._normal, recent])
        fitted = await asyncio.to_thread(self.prepared.fit, data)
        threshold = self.settings.threshold
        before, after = (d.threshold_value(threshold) for d in (self.detector, fitted))
        record = {"at": now, "since": since, "steps": len(recent), "threshold": after}
        accepted = after <= CAP * before
        self.training["new_normals"].append(record | {"accepted": accepted})
        if not accepted:  # what it would learn hides far more than the CNF's normal did
            self.say(f"real CNF {cnf}: new normal refused (threshold {before:.3g} → {after:.3g})")
            return
        self.detector = fitted
        self.bounds = normal_bounds(data, METRICS)
        state.baseline = Rebaseline(self.settings.rebaseline_windows)
        self.say(
            f"real CNF {cnf}: still out of line after its remedies took effect ({since:.0f} "
            f"s), its traffic in line: learnt its new normal from {len(recent)} more steps"
        )

    def _effect(self, decision: Decision) -> tuple[float, float | None] | None:
        """When the winner of the decision's goal acted and when its remedy was in effect
        (None: no winner acted yet)."""
        assert self.view is not None and self._journal is not None
        alert = self.alerts[decision.alert]
        mitigation = decision.mitigation
        label = goal_label(mitigation.goal, mitigation.args)
        acted = next(
            (
                e.time
                for e in self._journal.executions
                if e.goal == label and e.initiator == decision.agent and e.time >= alert.time
            ),
            None,
        )
        remedy = REMEDIES.get(mitigation.goal)
        if acted is None or remedy is None:
            return None if acted is None else (acted, None)
        if label not in self._effective:  # judged against the bounds of its time, once
            samples = self.view.real(alert.cnf).samples
            rows = np.array([[s.metrics[name] for name in METRICS] for s in samples])
            times = [s.t for s in samples]
            found = first_in_effect(times, rows, acted, remedy, METRICS, self.bounds)
            if found is None:
                return acted, None
            self._effective[label] = found
        return acted, self._effective[label]

    def report(self) -> dict[str, Any]:
        if self._detector is None:
            raise RunError(
                f"the run ended before the real CNF's normal phase did ({self._until:g} s)"
            )
        report = super().report()
        assert self.view is not None
        done = [r for cnf in self.view.cnf_ids for r in self.view.real(cnf).remedies]
        report["real_cnf"] = self.training | {
            "remedies": [{"remedy": r, "pop": pop, "done": what} for r, pop, what in done]
        }
        report["mitigations"] = [self._mitigation(d) for d in self.decisions]
        return report

    def _mitigation(self, decision: Decision) -> dict[str, Any]:
        """What one decision did, from real measurements (module docstring)."""
        assert self.view is not None and self._journal is not None
        alert = self.alerts[decision.alert]
        condition = condition_at(self.truth, alert.time, self.view.step_seconds)
        mitigation = decision.mitigation
        auction = next(
            (
                record
                for _, record in reversed(self._journal.auctions)
                if record.outcome.request.goal == mitigation.goal
                and record.outcome.request.args == mitigation.args
            ),
            None,
        )
        label = goal_label(mitigation.goal, mitigation.args)
        winner = next(
            (
                e.agent
                for e in self._journal.executions
                if e.goal == label and e.initiator == decision.agent
            ),
            None,
        )
        acted, effective = self._effect(decision) or (None, None)
        remedy = REMEDIES.get(mitigation.goal)
        return {
            "alert": decision.alert,
            "cnf": alert.cnf,
            "goal": mitigation.label,
            "remedy": remedy,
            "condition": None if condition is None else condition.kind,
            "condition_start": None if condition is None else condition.start,
            "detected_at": alert.time,
            "delay": None if condition is None else alert.time - condition.start,
            "auction": None if auction is None else auction.status,
            "bids": None if auction is None else len(auction.outcome.bids),
            "winner": winner,
            "acted_at": acted,
            "in_effect_at": effective,
            "time_to_mitigate": None if effective is None else effective - alert.time,
            "acts_on": list(ACTS_ON.get(remedy or "", ())),
        }

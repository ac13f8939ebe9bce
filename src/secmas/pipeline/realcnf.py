"""The agents' closed loop on a real CNF (`002_…` Section II.A on the emulated engine).

On the emulated engine the CNF a closed loop watches runs as a real nginx
(`network.emulation.cnfservice`), read every step from its exporter's counters.
`RealCNFLoop` is the run's `ClosedLoop` (`secmas.analytics.loop`) on it: the same MS →
AE → DE → ES, the DE's mitigations handed as goals to the agent of the CNF's PoP, which
auctions them like any other; the winner's VNF acts through the controller's `remedy` on
the real CNF, its packets and its processes. What differs is the detector: models
trained on the simulated CNF do not know nginx, so the loop learns the real CNF's
normal behaviour (`DetectorChoice`, by default the robust z-score baseline) from a
recording of its normal behaviour (by default the one the package ships,
`csvdata.shipped_normal_recording`: how the CNF varies) moved to the levels of the run's
fixed warm-up (`cnf_emulated.at_levels_of`: where this instance sits), and that warm-up
(its first `WARMUP` seconds, the testbed's bring-up, leaving the first `WARMUP_STEPS` out;
the attacker starts after it, and `score_against` refuses a run it attacked), and watches
it from then on, every step, whatever happens: it is never told when an attack begins.
Remedies change the CNF for good (a replica's memory, a fresh instance's): once every
remedy is in effect and the windows made only of later steps stay flagged with its traffic
in line, the loop learns the CNF's new normal at once (`NEW_NORMAL`), as the real-CNF loop
of `002_…` re-baselined after an attack. The cooldown after an alert and the settle after
a remedy keep the loop from handing out remedies for what it already answered, not from
seeing a new attack: a step with a family of metrics above its normal bounds that the last
alert did not have (`cnfloop.families`: a CPU hog while a guard settles, a flood after an
isolation) alerts at once.

For every decision the report says, from real measurements: when the loop alerted, how
sure it was and why (`persistence.confidence`, the top features), which agent won the
goal's auction and when it acted, and when the mitigation was in effect on the CNF's
metrics (`cnfloop.first_in_effect`; the time to mitigate counts from the alert). What
was under way comes only afterwards: `score_against` scores the alerts and mitigations
against the episodes the run's attacker wrote once it was stopped (`cnfloop.score_run`):
per attack the detection delay and time to mitigate, false alerts and needless
mitigations per hour.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from secmas.agents.ddos.world import World
from secmas.agents.journal import Journal
from secmas.agents.outcome import goal_label
from secmas.analytics.channels import ChannelRule, Channels, Firing, loop_channels
from secmas.analytics.cnfloop import (
    ACTS_ON,
    Condition,
    above,
    families,
    first_in_effect,
    mitigated_before,
    normal_bounds,
    score_run,
    showed,
)
from secmas.analytics.decision import LATENCY_FEATURES, STRONG, TRAFFIC_FEATURES, Alert
from secmas.analytics.loop import ClosedLoop, Decision, LoopSettings
from secmas.analytics.persistence import confidence
from secmas.analytics.rebaseline import Rebaseline
from secmas.network.dataplane.cnf import METRICS, CNFPlacement
from secmas.network.emulation.cnfservice import RealCNF
from secmas.network.emulation.controller import EmulatedController
from secmas.pipeline.cnf_emulated import PreparedDetector, train
from secmas.pipeline.errors import RunError
from secmas.scenario.model import Scenario

Say = Callable[[str], None]
WARMUP = 20.0
"""The run's warm-up (run seconds): the testbed's bring-up, while the agents deploy, in
which nothing attacks (the run's attacker starts after it, `HiddenAttacker.start`); the
detector learns its steps beside the recording's, then the loop watches."""
WARMUP_STEPS = 2
"""Steps at the start of a run that the warm-up leaves out (clients ramping up)."""
SETTLE = 8.0
"""Seconds without alerts after a remedy changed the CNF: a real one shows in its counters
within a few steps (`LoopSettings.settle`), and the new normal (`NEW_NORMAL` windows of
later steps) is judged before the next alert can hand out another remedy."""
REBASELINE_WINDOWS = 8
"""Windows of the new normal collected after a mitigation (`LoopSettings.rebaseline_windows`)."""
NEW_NORMAL = 2
"""Flagged windows in a row after the remedies took effect that make a new normal."""
PERSISTENCE = 2
"""Steps in a row a channel's condition holds before it fires: its `for:` of 1 s
(`channels.DEFAULT_FOR`, Prometheus' semantics, each rule its own) at the run's 1 s step.
One noisy step never pages; the score's grace and an alert's confidence count it."""
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


def check_warmup(scenario: Scenario) -> None:
    """RunError when the run ends before the loop's warm-up does."""
    assert scenario.traffic is not None
    if scenario.traffic.duration <= WARMUP:
        raise RunError(
            f"the real CNF's detector learns the run's first {WARMUP:g} s (its warm-up); "
            f"the run lasts {scenario.traffic.duration:g} s: make it longer"
        )


class CNFView:
    """The run's real CNFs as the closed loop reads a data plane (the calls of the
    simulator's `DataPlane` it makes; no ground truth: the loop is not told what happens);
    it remembers which steps the loop looked at."""

    def __init__(self, controller: EmulatedController) -> None:
        self.controller = controller
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
        super().__init__(None, None, dataclasses.replace(settings, persistence=1))
        self.prepared = detector
        self.say = say
        self.view: CNFView | None = None
        self.bounds: dict[str, float] = {}
        self.training: dict[str, Any] = {}
        self._watching_from: float | None = None
        self._last_step = 0.0
        self._waiting: tuple[str, ...] = ()
        self._normal = np.empty((0, len(METRICS)))
        self._learnt_after = -np.inf
        """When the remedies behind the last new normal took effect."""
        self._effective: dict[str, float] = {}
        """Goal label → when its remedy was in effect."""
        self._journal: Journal | None = None
        self._alerted: dict[str, frozenset[str]] = {}
        """CNF → the families of metrics out of their normal range at its last alert."""
        self.channels: dict[str, Channels] = {}
        """CNF → its detection channels (`analytics.channels`), fitted with the detector."""
        self._firing: dict[str, list[Firing]] = {}
        """CNF → the channels firing at its last step."""

    def attach(
        self, world: World, attestations: Callable[[], Sequence[Any]], layer: Any = None
    ) -> None:
        controller = world.controller
        if not isinstance(controller, EmulatedController) or not controller.cnfs:
            raise ValueError("the real CNF's closed loop needs the emulated engine's real CNF")
        self.view = CNFView(controller)
        seen = dataclasses.replace(world, plane=self.view)  # type: ignore[arg-type]
        super().attach(seen, attestations, layer)
        world.admits = seen.admits  # the trust manager's rule, for the agents made next
        self._journal = world.journal

    def _watch_cnfs(self, cnfs: Sequence[str]) -> None:
        """Watch the CNFs once the warm-up is over and the detector learnt it."""
        if self._detector is None:
            self._waiting = tuple(cnfs)
        else:
            super()._watch_cnfs(cnfs)

    async def after_step(self, now: float) -> None:
        self._last_step = now
        if self._waiting and now >= WARMUP:
            await self._learn(now)
        for cnf in self._cnfs:  # on the windows up to the last step, before this one's
            await self._new_normal(now, cnf)
        await super().after_step(now)

    async def _learn(self, now: float) -> None:
        """Fit the detector on the recording and the warm-up of the (first) real CNF and
        watch from `now` on, with the warm-up's last window already in hand."""
        assert self.view is not None
        cnfs, self._waiting = self._waiting, ()
        times, self._normal = self.view.normal(cnfs[0], WARMUP)
        self.detector = await asyncio.to_thread(self.prepared.fit, self._normal)
        self.bounds = normal_bounds(self.prepared.training(self._normal), METRICS)
        seconds = times[-1] - times[0] + self.view.step_seconds if times else 0.0
        self.training = {
            "detector": self.prepared.choice.name,
            "trained_on": f"{seconds:.0f} s of warm-up ({len(times)} steps)"
            + ("" if self.prepared.prior is None else f" and {len(self.prepared.prior)} recorded"),
            "warmup": WARMUP,
            "recording": None
            if self.prepared.prior is None
            else {"file": str(self.prepared.choice.recording), "rows": len(self.prepared.prior)},
            "window": self.detector.window,
            "threshold": self.detector.threshold_value(self.settings.threshold),
            "new_normals": [],
        }
        self._watching_from = now
        self.say(
            f"real CNF {cnfs[0]}: {self.training['detector']} detector from "
            f"{self.training['trained_on']} normal steps; watching it from {now:g} s on"
        )
        super()._watch_cnfs(cnfs)
        training = self.prepared.training(self._normal)
        for cnf, state in self._cnfs.items():
            for row in self._normal[-self.detector.window :]:
                state.values.append(row[[METRICS.index(f) for f in self.detector.features]])
            self.channels[cnf] = self._fit_channels(training, self._normal)
        self.training["channels"] = [r.to_json() for r in self.channels[cnfs[0]].all_rules]

    def _fit_channels(self, training: np.ndarray, recent: np.ndarray) -> Channels:
        """The CNF's channels (`DetectorChoice.channels`) learnt from `training` [N, F],
        their history primed with the `recent` steps they watch on from."""
        assert self.view is not None
        step = self.view.step_seconds
        chosen = self.prepared.choice.channels
        fitted = loop_channels(chosen, METRICS, step, self.detector).fit(training, METRICS)
        fitted.prime(recent)
        return fitted

    async def _new_normal(self, now: float, cnf: str) -> None:
        """Learn the CNF's new normal at once when the agents' remedies changed it for
        good: every remedy carried out on it is in effect, and the last `NEW_NORMAL`
        windows, made only of steps after the last one took effect, are all flagged
        without its traffic or latency strongly out of line (`decision.STRONG`): a
        replica's memory, a reloaded worker's, what the remedies left behind (traffic
        strongly out of line is an attack still under way, never learnt), and no channel
        holding on a family of metrics the last alert did not have (`_new_evidence`: a
        CPU hog starting while a guard's effect settles is an alert). The steps since
        say where the CNF sits now, the recording how much it varies: it is moved to their
        levels, as the warm-up's placed it at first (`PreparedDetector.relearning`). A model
        file's detector is used as it is, and a new normal whose threshold would exceed
        `CAP` times the one before is refused."""
        assert self.view is not None
        mine = [
            d
            for d in self.decisions
            if self.alerts[d.alert].cnf == cnf and d.mitigation.goal in REMEDIES
        ]
        acted = [e for e in map(self._effect, mine) if e is not None]
        if self.prepared.loaded is not None or not acted or any(e[1] is None for e in acted):
            return
        if self._new_evidence(cnf):  # something the remedies never answered: alert, not learn
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
        data = self.prepared.relearning(self._normal, recent)
        fitted = await asyncio.to_thread(train, data, self.prepared.choice)
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
        self.channels[cnf] = self._fit_channels(data, recent)
        state.baseline = Rebaseline(self.settings.rebaseline_windows)
        self.say(
            f"real CNF {cnf}: still out of line after its remedies took effect ({since:.0f} "
            f"s), its traffic in line: learnt its new normal from {len(recent)} more steps"
        )

    def _condition(
        self, now: float, cnf: str, state: Any, score: float, flags: dict[str, bool]
    ) -> bool:
        """Whether any of the CNF's channels fires at its last step (each its own `for:`;
        the model's only while the re-baselined limit since a mitigation agrees)."""
        assert self.view is not None
        metrics = self.view.real(cnf).samples[-1].metrics
        row = np.array([metrics[name] for name in METRICS])
        firing = self.channels[cnf].step(now, row)
        kept = [f for f in firing if f.rule.metric is not None or state.baseline.flags(score)]
        self._firing[cnf] = sorted(kept, key=lambda f: -f.ratio)
        return bool(kept)

    def _source(self, cnf: str) -> str:
        firing = self._firing.get(cnf, [])
        started = [f for f in firing if f.started] or firing
        return started[0].rule.channel if started else "model"

    def _fired(self, cnf: str) -> tuple[dict[str, Any], ...]:
        return tuple(f.to_json() for f in self._firing.get(cnf, []))

    def _moved(self, cnf: str) -> frozenset[str]:
        """The families of the metrics out of their normal range at the CNF's last step
        (`_ranged`). A rise alone does not move a family: the CPU nginx spends serving a
        flood rises too, and once read as a host anomaly of its own it broke the alert's
        cooldown with a needless isolation, after which a real CPU hog met an alert that
        already had its family."""
        return families([f.rule.metric for f in self._firing.get(cnf, []) if _ranged(f.rule)])

    def _breaks_quiet(self, cnf: str) -> bool:
        """A family firing that the last alert did not have (module docstring)."""
        return bool(self._moved(cnf) - self._alerted.get(cnf, frozenset()))

    def _new_evidence(self, cnf: str) -> bool:
        """Whether a channel's condition holds, firing or still pending its `for:`, on a
        family of metrics the CNF's last alert did not have: a new attack starting (a CPU
        hog while a guard's effect settles), never a new normal to learn."""
        channels = self.channels.get(cnf)
        if channels is None:
            return False
        names = [r.metric for r in channels.holding if _ranged(r)]
        return bool(families(names) - self._alerted.get(cnf, frozenset()))

    async def _decide(self, alert: Alert, replicas: int) -> bool:
        self._alerted[alert.cnf] = self._moved(alert.cnf)
        return await super()._decide(alert, replicas)

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
        if self._detector is None or self._watching_from is None:
            raise RunError(f"the run ended before the real CNF's warm-up did ({WARMUP:g} s)")
        report = super().report()
        assert self.view is not None
        done = [r for cnf in self.view.cnf_ids for r in self.view.real(cnf).remedies]
        report["real_cnf"] = self.training | {
            "remedies": [dataclasses.asdict(record) for record in done],
            "watched": [self._watching_from, self._last_step],
            "persistence": PERSISTENCE,
            "above_bounds": self._above_bounds(),
        }
        report["mitigations"] = [self._mitigation(d) for d in self.decisions]
        for alert, record in zip(self.alerts, report["alerts"], strict=True):
            record["confidence"] = round(confidence(alert.score, alert.threshold, PERSISTENCE), 3)
        return report

    def _above_bounds(self) -> list[tuple[float, list[str]]]:
        """The watched steps at which some metric of the first CNF was above its normal
        bound (`cnfloop.normal_bounds`, of the last normal learnt), with those metrics:
        what an attack left to see, for the scoring afterwards."""
        assert self.view is not None and self._watching_from is not None
        cnf = self.view.cnf_ids[0]
        steps = [s for s in self.view.real(cnf).samples if s.t >= self._watching_from]
        return [(s.t, names) for s in steps if (names := above(s.metrics, self.bounds))]

    def _detection(self) -> dict[str, Any]:
        """Per CNF, the steps whose windows the loop flagged (run seconds) and its
        re-baselinings; no ground truth (`score_against` scores the run afterwards)."""
        assert self.view is not None
        return {
            cnf: {
                "windows": len(state.flags),
                "flagged_at": [
                    t for t, flag in zip(self.view.seen[cnf], state.flags, strict=True) if flag
                ],
                "rebaselines": state.baseline.events,
            }
            for cnf, state in self._cnfs.items()
        }

    def _mitigation(self, decision: Decision) -> dict[str, Any]:
        """What one decision did, from real measurements (module docstring)."""
        assert self.view is not None and self._journal is not None
        alert = self.alerts[decision.alert]
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
            "detected_at": alert.time,
            "auction": None if auction is None else auction.status,
            "bids": None if auction is None else len(auction.outcome.bids),
            "winner": winner,
            "acted_at": acted,
            "in_effect_at": effective,
            "time_to_mitigate": None if effective is None else effective - alert.time,
            "confidence": round(confidence(alert.score, alert.threshold, PERSISTENCE), 3),
            "explanation": [name for name, _ in alert.severity[:3]],
            "acts_on": list(ACTS_ON.get(remedy or "", ())),
        }


def _ranged(rule: ChannelRule) -> bool:
    """Whether a firing rule says its metric is out of its normal range: a level rule (an
    onset says it rose, a model's score names no metric)."""
    return rule.metric is not None and rule.channel == "level"


def _detection_grace(analytics: dict[str, Any], step: float) -> float:
    """Seconds after an attack's stop in which an alert is still its own: the detector's
    window and the persistence still hold its steps."""
    window = int(analytics["real_cnf"]["window"])
    return (window + int(analytics["real_cnf"]["persistence"]) - 1) * step


def _check_warm_up_unattacked(truth: Sequence[Condition], warmup: float) -> None:
    """RunError when an attack began in the warm-up: the loop learnt the CNF's levels there
    (`cnf_emulated.at_levels_of`), so it would have learnt that attack as normal."""
    early = [c for c in truth if c.start < warmup]
    if early:
        raise RunError(
            f"the attacker began {early[0].kind} at {early[0].start:g} s, in the warm-up "
            f"(first {warmup:g} s) the loop learnt normal from: the run cannot be scored"
        )


def score_against(
    analytics: dict[str, Any], episodes: Sequence[dict[str, Any]], step: float
) -> dict[str, Any]:
    """After the run: the loop's report (`RealCNFLoop.report`) scored against the episodes
    its attacker wrote (`cnfloop.score_run`) as `run_score` (each attack also says whether
    it `showed`: some metric where it shows above its normal bound while it ran, and an
    undetected one whether it was `mitigated_before_detection`: a standing remedy already
    held it off, `cnfloop.mitigated_before`), and each mitigation with the attack it
    answered (`condition`: the newest under way; None: a needless one) and its delay."""
    truth = [Condition(str(e["kind"]), float(e["start"]), float(e["stop"])) for e in episodes]
    _check_warm_up_unattacked(truth, float(analytics["real_cnf"]["warmup"]))
    grace = _detection_grace(analytics, step)
    mitigations = analytics["mitigations"]
    begin, end = analytics["real_cnf"]["watched"]
    score = score_run(
        truth,
        [(float(a["time"]), [n for n, _ in a["severity"][:3]]) for a in analytics["alerts"]],
        [(float(m["detected_at"]), m["in_effect_at"]) for m in mitigations],
        (float(begin), float(end)),
        grace,
    )
    answered = []
    for row in mitigations:
        found = [c for c in truth if c.start < row["detected_at"] <= c.stop + grace]
        newest = max(found, key=lambda c: c.start) if found else None
        answered.append(
            row
            | {
                "condition": None if newest is None else newest.kind,
                "delay": None if newest is None else row["detected_at"] - newest.start,
            }
        )
    moved = [(float(t), names) for t, names in analytics["real_cnf"]["above_bounds"]]
    remedies = [(m["remedy"], float(m["in_effect_at"])) for m in mitigations if m["in_effect_at"]]
    for attack, condition in zip(score.attacks, truth, strict=True):
        attack["showed"] = showed(condition, moved, grace)
        attack["mitigated_before_detection"] = attack["delay"] is None and mitigated_before(
            condition, moved, remedies, grace
        )
    return {"run_score": score.to_json(), "mitigations": answered}

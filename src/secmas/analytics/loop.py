"""The security closed loop of a run: MS → AE → DE → ES, live, step by step (`002_…`, II.A).

After every data-plane step the loop samples each CNF (the Monitoring Service), scores the
last window with the LSTM autoencoder and, on a flagged window, asks the two-stage
profiler what kind of anomaly it is (the Analytics Engine). An alert goes to the Decision
Engine, whose goals the Enforcement Service hands to the agent of the PoP that runs the
CNF: a node-level loop inside that agent. The agents auction the goals like any other, so
every mitigation is placed by NFV-A. Alerts of several CNFs also feed the slice-level
loop, and attestation and detection history feed the Trust Manager, whose rule the
auction applies to every bidder.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from secmas.agents.bdi import Belief, Goal, GoalKind
from secmas.agents.ddos.facts import PROTECT, link_name
from secmas.agents.ddos.world import World
from secmas.agents.handle import AgentHandle, GoalTicket
from secmas.analytics.decision import Alert, Mitigation, SliceLoop, decide
from secmas.analytics.events import score_events, window_truth
from secmas.analytics.monitoring import Exporter, MetricsCollector
from secmas.analytics.persistence import Persistence
from secmas.analytics.rebaseline import Rebaseline
from secmas.analytics.trust import DEFAULT_THRESHOLD, TrustManager
from secmas.network.dataplane import DataPlane
from secmas.network.dataplane.cnf import CNFPlacement
from secmas.scenario.model import CNF, Monitor

if TYPE_CHECKING:  # the models need PyTorch (the `ml` extra): a run handed them does not
    from secmas.analytics.autoencoder import Detector
    from secmas.analytics.profiling import TwoStageProfiler


@dataclass(frozen=True)
class LoopSettings:
    """How the loop alerts and what it exposes."""

    cooldown: float = 30.0
    """Simulated seconds after an alert before the same CNF may alert again."""
    settle: float = 20.0
    """Simulated seconds without alerts after a remedy changed the CNF (a migrated
    instance starts cold, a new replica takes load): the loop judges its own actions
    only once they have taken effect."""
    profile_window: int = 30
    """Steps the profiler looks at (its windows' length)."""
    profile_every: float = 10.0
    """Simulated seconds between the profiler's own looks at each CNF."""
    threshold: str = "static"
    """The autoencoder's threshold: 'static' (99th percentile, `002_…`) or 'adaptive'."""
    trust_threshold: float = DEFAULT_THRESHOLD
    metrics_port: int | None = None
    """Serve Prometheus metrics on this port while the run is live (0: any free port)."""
    training: str = "central"
    """How the autoencoder was trained: 'central' or 'federated' (reported)."""
    rebaseline: bool = True
    """After each mitigation, re-baseline the CNF's alarm limit on its new normal
    (`secmas.analytics.rebaseline`)."""
    rebaseline_windows: int = 20
    """Windows of the new normal collected before its limit is set."""
    persistence: int = 1
    """Flagged windows in a row before the CNF alerts (Prometheus' `for:`,
    `secmas.analytics.persistence`; 1: at once)."""


@dataclass
class Decision:
    """One goal the DE handed to an agent, and what became of it."""

    alert: int
    mitigation: Mitigation
    agent: str
    goal: GoalTicket | None
    """The posted goal (its status as the agent reports it); None when the agent already
    pursued or achieved it."""

    def to_json(self) -> dict[str, Any]:
        status = "already in hand" if self.goal is None else str(self.goal.status)
        return {
            "alert": self.alert,
            "goal": self.mitigation.label,
            "reason": self.mitigation.reason,
            "agent": self.agent,
            "status": status,
        }


@dataclass
class ProfileWatch:
    """The profiler as a detector of its own (`004_…` Section 6.1.1: profiling finds
    anomalous resource use of any microservice at any moment). A known anomaly named on
    `confirm` consecutive looks is an alert, even when the autoencoder's short window
    sees nothing, as with a slow memory leak; "normal" or "unknown" starts over."""

    confirm: int = 2
    _label: str = ""
    _count: int = 0

    def look(self, label: str) -> str | None:
        """Take one verdict; the anomaly to alert on once it is confirmed."""
        if label in ("", "normal", "unknown"):
            self._label, self._count = "", 0
            return None
        self._count = self._count + 1 if label == self._label else 1
        self._label = label
        if self._count < self.confirm:
            return None
        self._label, self._count = "", 0
        return label


@dataclass
class _CNFState:
    values: deque[np.ndarray]
    flags: list[bool] = field(default_factory=list)
    quiet_until: float = 0.0
    placement: CNFPlacement | None = None
    recheck: float = 0.0
    """Seconds to the next look after a dismissed alert (doubles while dismissals go on)."""
    watch: ProfileWatch = field(default_factory=ProfileWatch)
    looked_at: float = -math.inf
    baseline: Rebaseline = field(default_factory=Rebaseline)
    mitigated_at: float | None = None
    """When the loop first handed a mitigation for this CNF to an agent."""
    persistence: Persistence = field(default_factory=Persistence)


class ClosedLoop:
    """Runs beside the agents (a `secmas.pipeline.runloop.StepLoop`)."""

    def __init__(
        self,
        detector: Detector | None,
        profiler: TwoStageProfiler | None = None,
        settings: LoopSettings | None = None,
    ) -> None:
        self._detector = detector
        self.profiler = profiler
        self.settings = settings or LoopSettings()
        self.collector = MetricsCollector()
        self.alerts: list[Alert] = []
        self.evidence: list[np.ndarray] = []
        """Per alert: the samples the loop held when it raised it (oldest first), so that
        explanations can look at exactly what the models saw."""
        self.decisions: list[Decision] = []
        self.exporter: Exporter | None = None
        self.trust = TrustManager(self.settings.trust_threshold)
        self._world: World | None = None
        self._attestations: Callable[[], Sequence[Any]] = list
        self._agents: dict[str, AgentHandle] = {}
        self._cnfs: dict[str, _CNFState] = {}
        self._slice: SliceLoop | None = None
        self._clean_since: dict[str, float] = {}
        self._done: dict[str, dict[str, int]] = {}
        """Per CNF: how many times each goal was handed to an agent."""

    @property
    def detector(self) -> Detector:
        """The autoencoder; a loop made without one (its detector trained by the run's
        agents after bring-up, `secmas.secagg.fedrun`) gets it before it attaches."""
        if self._detector is None:
            raise RuntimeError("the closed loop's autoencoder is not trained yet")
        return self._detector

    @detector.setter
    def detector(self, detector: Detector) -> None:
        self._detector = detector

    # -- StepLoop ----------------------------------------------------------------------------
    def attach(
        self, world: World, attestations: Callable[[], Sequence[Any]], _trust_layer: Any = None
    ) -> None:
        if world.plane is None:
            raise ValueError("the closed loop needs the data plane in this process")
        self._world = world
        self._attestations = attestations
        self.trust.base = world.admits
        world.admits = self.trust.admits
        self._watch_cnfs(world.plane.cnf_ids)
        if self.settings.metrics_port is not None:
            self.exporter = self.collector.serve(self.settings.metrics_port)

    def _watch_cnfs(self, cnfs: Sequence[str]) -> None:
        """Watch `cnfs` from the next step on (each keeps what the detector's window and
        the profiler's need)."""
        keep = max(self.detector.window, self.settings.profile_window)
        self._cnfs = {
            cnf: _CNFState(
                deque(maxlen=keep),
                baseline=Rebaseline(self.settings.rebaseline_windows),
                persistence=Persistence(self.settings.persistence),
            )
            for cnf in cnfs
        }
        if len(self._cnfs) >= 2:
            self._slice = SliceLoop(tuple(self._cnfs))

    async def start(self, agents: Sequence[AgentHandle]) -> None:
        self._agents = {agent.pop: agent for agent in agents}

    async def after_step(self, now: float) -> None:
        world = self._require_world()
        self.trust.attestations(self._attestations())
        for pop, state in world.infra.pops.items():
            self.collector.record_pop(pop, state.used, state.total)
        for cnf, state in self._cnfs.items():
            await self._observe(now, cnf, state)
        for pop in world.directory:
            self.collector.record_trust(pop, self.trust.score(pop))

    def report(self) -> dict[str, Any]:
        port = None
        if self.exporter is not None:
            port = self.exporter.port
            self.exporter.close()
            self.exporter = None
        return {
            "detector": {**self.detector.describe(), "training": self.settings.training},
            "profiler": None if self.profiler is None else _profiler_summary(self.profiler),
            "threshold": self.settings.threshold,
            "alerts": [alert.to_json() for alert in self.alerts],
            "decisions": [decision.to_json() for decision in self.decisions],
            "detection": self._detection(),
            "trust": self.trust.report(self._require_world().directory),
            "metrics_served": port,
        }

    def _detection(self) -> dict[str, Any]:
        """Per CNF, the loop's flags scored against the data plane's ground truth."""
        plane = self._plane()
        step = plane.step_seconds
        detection = {}
        for cnf, state in self._cnfs.items():
            truth = np.array(plane.cnf_truth(cnf), dtype=object)
            flags = np.array(state.flags + [False] * (len(truth) - len(state.flags)), dtype=bool)
            span = self.detector.window
            detection[cnf] = score_events(flags, truth, step, span=span).to_json()
            detection[cnf]["false_alarm_windows_after_mitigation"] = _false_alarms_after(
                flags,
                truth,
                span,
                None if state.mitigated_at is None else state.mitigated_at / step,
            )
            detection[cnf]["rebaselines"] = state.baseline.events
        return detection

    # -- MS → AE -----------------------------------------------------------------------------
    async def _observe(self, now: float, cnf: str, state: _CNFState) -> None:
        plane = self._plane()
        placement = plane.cnf_placement(cnf)
        if state.placement is not None and placement != state.placement:
            state.quiet_until = max(state.quiet_until, now + self.settings.settle)
        state.placement = placement
        sample = plane.cnf_metrics(cnf)
        self.collector.record_cnf(now, cnf, placement.pop, sample)
        state.values.append(np.array([sample[name] for name in self.detector.features]))
        if len(state.values) < self.detector.window:
            state.flags.append(False)
            return
        window = np.stack(list(state.values)[-self.detector.window :])
        score, per_feature, flags = self.detector.score_window(window)
        limit = self.detector.threshold_value(self.settings.threshold)
        state.baseline.observe(now, score, limit)
        flag = state.persistence.observe(self._condition(now, cnf, state, score, flags))
        state.flags.append(flag)
        quiet = now < state.quiet_until and not self._breaks_quiet(cnf)
        watched = None if flag or quiet else self._watch(now, state)
        if not (flag or watched):
            self._clean(now, placement.pop)
            return
        if quiet:
            return
        state.quiet_until = now + self.settings.cooldown
        state.flags[-1] = True  # the loop's detection: the autoencoder's or the profiler's
        ranked = sorted(
            zip(self.detector.features, per_feature.tolist(), strict=True), key=lambda fe: -fe[1]
        )
        alert = Alert(
            time=now,
            cnf=cnf,
            pop=placement.pop,
            score=float(score),
            threshold=max(limit, state.baseline.limit),
            features=tuple(ranked),
            profile=watched or self._profile(state),
            link_over=self._link_over(cnf),
            severity=self.detector.severity(per_feature),
            source="profiler" if watched else self._source(cnf),
            channels=self._fired(cnf),
        )
        self.evidence.append(np.stack(list(state.values)))
        if await self._decide(alert, len(placement.replicas)):
            state.recheck = 0.0
            if state.mitigated_at is None:
                state.mitigated_at = now
            if self.settings.rebaseline:
                state.baseline.arm(now, skip=self.detector.window, alert=float(score))
            return
        # dismissed: look again once the window holds more of whatever this is, backing
        # off while the profiler keeps calling it normal
        first = self.detector.window * plane.step_seconds
        state.recheck = min(self.settings.cooldown, 2 * state.recheck if state.recheck else first)
        state.quiet_until = now + state.recheck

    def _condition(
        self, now: float, cnf: str, state: _CNFState, score: float, flags: dict[str, bool]
    ) -> bool:
        """Whether the CNF's last window is out of line, before the `for:` persistence:
        the detector's flag, unless the re-baselined limit since a mitigation clears it. A
        loop with detection channels of its own decides this itself."""
        return bool(flags[self.settings.threshold]) and state.baseline.flags(score)

    def _source(self, cnf: str) -> str:
        """What raised the CNF's alert (a loop with channels names the one that fired)."""
        return "autoencoder"

    def _fired(self, cnf: str) -> tuple[dict[str, Any], ...]:
        """The channels firing at the CNF's alert, with how far out each is (none here)."""
        return ()

    def _breaks_quiet(self, cnf: str) -> bool:
        """Whether the CNF's last step shows a condition its cooldown or settle must not
        hide (a loop that can tell one condition from another; none here)."""
        return False

    def _watch(self, now: float, state: _CNFState) -> str | None:
        """Every `profile_every` seconds, the profiler's own look at the CNF."""
        if self.profiler is None or now - state.looked_at < self.settings.profile_every:
            return None
        state.looked_at = now
        return state.watch.look(self._profile(state))

    def _profile(self, state: _CNFState) -> str:
        length = self.settings.profile_window
        if self.profiler is None or len(state.values) < length:
            return ""
        window = np.stack(list(state.values)[-length:])[None]
        return self.profiler.predict(window)[0]

    def _clean(self, now: float, pop: str) -> None:
        """A cooldown period without an alert is good detection evidence for the PoP."""
        since = self._clean_since.setdefault(pop, now)
        if now - since >= self.settings.cooldown:
            self.trust.observe("detection", pop, True)
            self._clean_since[pop] = now

    def _link_over(self, cnf: str) -> bool:
        """Whether the Link Monitor's link towards the CNF's host is over its threshold."""
        monitor = self._monitor_for(cnf)
        return monitor is not None and self._plane().load(*monitor.link) > monitor.threshold

    def _monitor_for(self, cnf: str) -> Monitor | None:
        """The Link Monitor watching the link to the CNF's host, if there is one."""
        world = self._require_world()
        defence = world.scenario.defence
        host = self._cnf_spec(cnf).host
        if defence is None or host not in defence.monitor.link:
            return None
        return defence.monitor

    # -- DE → ES -----------------------------------------------------------------------------
    async def _decide(self, alert: Alert, replicas: int) -> bool:
        """Record the alert and enforce the DE's goals; False when it decided nothing."""
        number = len(self.alerts)
        self.alerts.append(alert)
        self.collector.record_alert(alert.cnf)
        self._clean_since.pop(alert.pop, None)
        monitor = self._monitor_for(alert.cnf)
        link = None if monitor is None else link_name(*monitor.link)
        done = self._done.setdefault(alert.cnf, {})
        mitigations = decide(alert, link, replicas, done)
        if any(m.goal == "cnfIsolated" for m in mitigations):
            self.trust.observe("detection", alert.pop, False)
        if self._slice is not None:
            plane = self._plane()
            replicas = {c: len(plane.cnf_placement(c).replicas) for c in self._cnfs}
            mitigations += self._slice.insight(alert, replicas)
        for mitigation in mitigations:
            self.decisions.append(await self._enforce(number, alert, mitigation))
        return bool(mitigations)

    async def _enforce(self, number: int, alert: Alert, mitigation: Mitigation) -> Decision:
        """Hand the goal to the agent of the CNF's PoP, unless the agent already pursues it
        (a CNF goal of the same kind still running, or a Link Monitor that posted the same
        DDoS goals) or already holds it."""
        agent = self._agents[alert.pop]
        predicate = Belief(mitigation.goal, mitigation.args)
        query = mitigation.kind == "query"
        if await agent.in_hand(predicate, query):
            return Decision(number, mitigation, agent.pop, None)
        goal = Goal(
            predicate,
            GoalKind.QUERY if query else GoalKind.ACHIEVE,
            priority=PROTECT,
            payload=self._payload(alert),
        )
        ticket = await agent.post(goal)
        done = self._done.setdefault(alert.cnf, {})
        done[mitigation.goal] = done.get(mitigation.goal, 0) + 1
        return Decision(number, mitigation, agent.pop, ticket)

    def _payload(self, alert: Alert) -> dict[str, Any]:
        """What the goals' plans need: the watched link (DDoS strategy) and the CNF's host."""
        spec = self._cnf_spec(alert.cnf)
        world = self._require_world()
        ips = {host.id: host.ip for host in world.scenario.hosts}
        plane = self._plane()
        payload: dict[str, Any] = {
            "cnf": alert.cnf,
            "host": spec.host,
            "ip": ips.get(spec.host) or plane.server_ip,
            "since": max(0.0, alert.time - self.detector.window * plane.step_seconds),
        }
        monitor = self._monitor_for(alert.cnf)
        if monitor is not None:
            a, b = monitor.link
            payload |= {"node": a, "link": [a, b]}
        return payload

    # -- helpers ------------------------------------------------------------------------------
    def _cnf_spec(self, cnf: str) -> CNF:
        for spec in self._require_world().scenario.cnfs:
            if spec.id == cnf:
                return spec
        raise KeyError(f"no CNF {cnf!r} in the scenario")

    def _require_world(self) -> World:
        if self._world is None:
            raise RuntimeError("the closed loop is not attached to a run")
        return self._world

    def _plane(self) -> DataPlane:
        plane = self._require_world().plane
        assert plane is not None
        return plane


def _false_alarms_after(
    flags: np.ndarray, truth: np.ndarray, span: int, step: float | None
) -> int | None:
    """False-alarm windows ending at or after step `step` (None: no mitigation)."""
    if step is None:
        return None
    ends = np.arange(len(flags))
    normal = ~window_truth(truth, ends, span)
    return int(np.sum(flags & normal & (ends >= step)))


def _profiler_summary(profiler: TwoStageProfiler) -> dict[str, Any]:
    return {
        "classes": list(profiler.classes),
        "confidence": profiler.confidence,
        "stage1_threshold": profiler.stage1_threshold,
    }

"""The Security Policy & SSLA Manager of a run (`002_…` Section II.B): assess every active
SSLA on the live streams, enforce the remediation of breaches, explain and audit everything.

It runs beside the agents as a `secmas.pipeline.runloop.StepLoop`. Before the run the
conflict check settles contradicting policies (`conflicts.py`); after every data-plane step
each slice's sources are read (`streams.py`), each term's period is assessed
(`assessment.py`), and a breach triggers its term's actions: each is an installed remedy
plug-in (`remediation.py`; secmas's own REJECT_PACKET, NOTIFY, LOG and REVOKE are in
`remedies.py`), which acts on the run through the manager (an `Enforcer`). The manager
audits every breach itself (at its start, when new offenders appear, and when the term is
met again).

Every assessed period is SSLA evidence for the Trust Manager: the PoPs where offending
packets entered (or the CNF's PoP, or the offending senders) count against, the others for.
Every decision, with its explanation, is appended to the hash-chained audit log, which the
closed loop's alerts and decisions join (with SHAP attributions, when an explainer is given).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from secmas.agents.ddos.agent import World
from secmas.agents.handle import AgentHandle
from secmas.analytics.decision import Alert
from secmas.analytics.trust import TrustManager
from secmas.ledger.connection import connect
from secmas.network.dataplane import DataPlane
from secmas.pipeline.mlfo import pipeline_name
from secmas.pipeline.orchestrator import vni_of
from secmas.pipeline.runloop import TrustLayer
from secmas.plugins import PluginError
from secmas.policy.assessment import Assessment, TermMonitor
from secmas.policy.audit import DEFAULT_ANCHOR_EVERY, Anchorer, AuditLog
from secmas.policy.conflicts import Resolution, check
from secmas.policy.notary import NotaryProcess
from secmas.policy.remediation import Breach, Remedy, remedy_class
from secmas.policy.ssla import SSLA, GuaranteeTerm
from secmas.policy.streams import SliceTap, SliceView, message_record, split_source
from secmas.scenario.model import Scenario

if TYPE_CHECKING:  # the closed loop needs the 'ml' extra; an SSLA alone does not
    from secmas.analytics.loop import ClosedLoop

ACTOR = "SSLAManager"
"""Who the audit log says acted on a breach."""

Explainer = Callable[[Alert, np.ndarray], dict[str, Any]]
"""Feature attributions (SHAP) of a closed-loop alert, given the samples the loop held when it
raised it (`secmas.policy.attribution.alert_explainer`)."""


@dataclass(frozen=True)
class Anchoring:
    """Where the audit log's head is anchored: the log's id on the AuditAnchor contract, how
    often (entries), the anchors file kept beside the log, and the key file of the audit
    notary that signs the anchors (`secmas.policy.notary`; None: unsigned)."""

    log_id: bytes
    path: Path | None = None
    every: int = DEFAULT_ANCHOR_EVERY
    notary: Path | None = None


class PolicyError(ValueError):
    """SSLAs that cannot be assessed on a scenario; the message names the SSLA and reason."""


def check_scenario(sslas: Sequence[SSLA], scenario: Scenario) -> list[str]:
    """Problems assessing `sslas` on `scenario`: unknown slices or sources."""
    slices = {s.id for s in scenario.slices}
    problems = []
    for ssla in sslas:
        if ssla.slice not in slices:
            known = ", ".join(sorted(slices)) or "none: add a slices section"
            problems.append(
                f"{ssla.id}: slice {ssla.slice!r} is not in the scenario ({known})"
                if ssla.slice
                else f"{ssla.id}: the SSLA names no slice: add <slice> ({known})"
            )
            continue
        for term in ssla.terms:
            problems.extend(
                f"{ssla.id}/{term.name}: the KPI formula uses the named set {name!r}, which "
                "the document does not define (add a <namedSet>)"
                for name in term.indicator.unbound_sets()
            )
            try:
                slice_id, _kind = split_source(term.indicator.source.name)
            except ValueError as exc:
                problems.append(f"{ssla.id}/{term.name}: {exc}")
                continue
            if slice_id != ssla.slice:
                problems.append(
                    f"{ssla.id}/{term.name}: source {term.indicator.source.name!r} is not "
                    f"about slice {ssla.slice!r}"
                )
    return problems


@dataclass
class Enforcement:
    """One remediation action carried out (or refused), for the report."""

    time: float
    ssla: str
    term: str
    action: str
    target: str
    outcome: str

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class _Episode:
    """A run of breached periods of one term."""

    since: float
    offenders: set[str] = field(default_factory=set)
    notified: bool = False


def remedies_of(sslas: Sequence[SSLA]) -> dict[str, Remedy]:
    """An instance of the installed remedy of every action word the SSLAs name; PolicyError
    naming the SSLA, the term and the plug-in when one is not installed or cannot be
    loaded."""
    found: dict[str, Remedy] = {}
    for ssla in sslas:
        for term in ssla.terms:
            for action in term.remediation:
                if action.kind in found:
                    continue
                try:
                    found[action.kind] = remedy_class(action.kind)()
                except PluginError as exc:
                    raise PolicyError(f"{ssla.id}/{term.name}: {exc}") from None
    return found


class SSLAManager:
    """Runs beside the agents (a `secmas.pipeline.runloop.StepLoop`), and lends the
    remedies of breached terms what they act with (`remediation.Enforcer`)."""

    def __init__(
        self,
        sslas: Sequence[SSLA],
        audit: AuditLog,
        *,
        closed_loop: ClosedLoop | None = None,
        explain: Explainer | None = None,
        anchoring: Anchoring | None = None,
    ) -> None:
        self.sslas = tuple(sslas)
        self.audit = audit
        self.anchoring = anchoring
        self.anchorer: Anchorer | None = None
        self.closed_loop = closed_loop
        self.explain = explain
        self.resolution: Resolution = check(self.sslas)
        self.remedies = remedies_of(self.sslas)
        self.monitors = [
            TermMonitor(ssla, term, self.resolution.named_sets((ssla.id, term.name), term))
            for ssla in self.sslas
            for term in ssla.terms
            if (ssla.id, term.name) not in self.resolution.suspended
        ]
        self.breaches: list[Assessment] = []
        self.attributions: list[dict[str, Any]] = []
        """SHAP attributions of the closed loop's alerts, by alert number."""
        self.enforcements: list[Enforcement] = []
        self.trust = closed_loop.trust if closed_loop is not None else TrustManager()
        self._world: World | None = None
        self.trust_layer: TrustLayer | None = None
        self.agents: dict[str, AgentHandle] = {}
        self._taps: dict[str, SliceTap] = {}
        self._messages: list[dict[str, Any]] = []
        self._episodes: dict[tuple[str, str], _Episode] = {}
        self.blocked: dict[tuple[str, str], int] = {}
        """Installed blockFlow rules by (source, destination) address."""
        self.revoked: set[str] = set()
        self._alerts_seen = 0
        self._decisions_seen = 0
        self._vni = 0

    # -- StepLoop ----------------------------------------------------------------------------
    def attach(
        self,
        world: World,
        attestations: Callable[[], Sequence[Any]],
        trust_layer: TrustLayer | None = None,
    ) -> None:
        if world.plane is None:
            raise ValueError("the SSLA manager needs the data plane in this process")
        problems = check_scenario(self.sslas, world.scenario)
        if problems:
            raise PolicyError("; ".join(problems))
        self._world = world
        self.trust_layer = trust_layer
        self._vni = vni_of(pipeline_name(world.scenario.id), world.scenario.security)
        slices = {s.id: s for s in world.scenario.slices}
        self._taps = {
            slice_id: SliceTap(world.plane, SliceView.of(world.scenario, slices[slice_id]))
            for slice_id in {m.slice_id for m in self.monitors}
        }
        if self.closed_loop is None:
            self.trust.base = world.admits
            world.admits = self.trust.admits
        if self.anchoring is not None:
            ledger = trust_layer.ledger if trust_layer is not None else connect(None)
            notary = self.anchoring.notary
            self.anchorer = Anchorer(
                self.audit,
                ledger.deploy_audit_anchor(),
                self.anchoring.log_id,
                every=self.anchoring.every,
                path=self.anchoring.path,
                notary=None if notary is None else NotaryProcess.start(notary),
            )
        for conflict in self.resolution.conflicts:
            self.audit.append(0.0, ACTOR, "conflict", conflict.explain(), conflict.to_json())
        for key in sorted(self.resolution.suspended):
            self.audit.append(
                0.0, ACTOR, "suspend", f"{key[0]}/{key[1]} is not enforced: it lost a conflict", {}
            )

    async def start(self, agents: Sequence[AgentHandle]) -> None:
        self.agents = {agent.pop: agent for agent in agents}
        if any(m.kind == "agent-bus" for m in self.monitors):
            world = self.world()
            await world.bus.subscribe(f"{world.space}.>", self._tap_message)

    async def after_step(self, now: float) -> None:
        streams = {slice_id: tap.step() for slice_id, tap in self._taps.items()}
        availability = {slice_id: tap.availability() for slice_id, tap in self._taps.items()}
        messages, self._messages = self._messages, []
        for monitor in self.monitors:
            slice_streams = dict(streams[monitor.slice_id])
            slice_streams["agent-bus"] = messages
            monitor.feed(slice_streams, {"availability": availability[monitor.slice_id]})
            if monitor.due(now):
                records = list(monitor.records)
                assessment = monitor.assess(now)
                self._evidence(monitor, assessment, records)
                await self._handle(monitor.term, assessment)
        self._audit_closed_loop()

    def report(self) -> dict[str, Any]:
        anchors = None
        if self.anchorer is not None:
            self.anchorer.close()
            found = self.anchorer.anchor_file()
            anchors = {
                "chain": found.chain,
                "contract": found.contract,
                "log_id": "0x" + found.log_id.hex(),
                "anchored": [[a.count, a.head] for a in found.anchors],
                "failures": list(self.anchorer.failures),
            }
        return {
            "policy": {
                "sslas": [
                    {"id": s.id, "intent": s.intent, "slice": s.slice, "priority": s.priority}
                    for s in self.sslas
                ],
                "conflicts": [c.to_json() for c in self.resolution.conflicts],
                "suspended": [list(k) for k in sorted(self.resolution.suspended)],
                "compliance": [m.compliance() for m in self.monitors],
                "breaches": [b.to_json() for b in self.breaches],
                "enforcements": [e.to_json() for e in self.enforcements],
                "rejected_packets": self._rejected(),
                "attributions": self.attributions,
                "audit": {"entries": len(self.audit), "head": self.audit.head, "anchors": anchors},
                "trust": self.trust.report(self.world().directory),
            }
        }

    # -- assessment → enforcement -----------------------------------------------------------
    async def _handle(self, term: GuaranteeTerm, assessment: Assessment) -> None:
        key = assessment.key
        episode = self._episodes.get(key)
        if assessment.status != "breached":
            if episode is not None and assessment.status == "met":
                del self._episodes[key]
                self.audit.append(
                    assessment.end,
                    ACTOR,
                    "restored",
                    f"{key[0]}/{key[1]} met again after a breach since {episode.since:g} s: "
                    + assessment.explain(),
                    assessment.to_json(),
                )
            return
        self.breaches.append(assessment)
        if episode is None:
            episode = self._episodes[key] = _Episode(assessment.start)
        offenders = {_offender(r) for r in assessment.offending} - {""}
        news = offenders - episode.offenders
        first = not episode.offenders and not episode.notified
        episode.offenders |= offenders
        if first or news:
            self.audit.append(
                assessment.end, ACTOR, "breach", assessment.explain(), assessment.to_json()
            )
        for action in term.remediation:
            remedy = self.remedies[action.kind]
            if remedy.once_per_episode and episode.notified:
                continue
            breach = Breach(assessment, action, frozenset(offenders), frozenset(news))
            await remedy.enforce(breach, self)
        episode.notified = True

    # -- what a remedy acts with (`remediation.Enforcer`) -----------------------------------
    def world(self) -> World:
        """The run's world; RuntimeError before `attach`."""
        if self._world is None:
            raise RuntimeError("the SSLA manager is not attached to a run")
        return self._world

    def tap(self, slice_id: str) -> SliceTap:
        return self._taps[slice_id]

    def enforced(self, assessment: Assessment, action: str, target: str, outcome: str) -> None:
        self.enforcements.append(
            Enforcement(assessment.end, assessment.ssla, assessment.term, action, target, outcome)
        )

    # -- evidence ---------------------------------------------------------------------------
    def _evidence(self, monitor: TermMonitor, assessment: Assessment, records: list) -> None:
        """SSLA compliance per agent for the Trust Manager (see the module docstring)."""
        if assessment.status == "not measured":
            return
        directory = set(self.world().directory)
        bad = {_subject(r) for r in assessment.offending} & directory
        if monitor.kind == "availability":
            view = self._taps[monitor.slice_id].view
            subjects = {self._plane().cnf_placement(c).pop for c in view.pop_of_cnf}
            bad = subjects if assessment.status == "breached" else set()
        else:
            subjects = {_subject(r) for r in records} & directory
        for subject in sorted(subjects | bad):
            self.trust.observe("ssla", subject, subject not in bad)

    def _audit_closed_loop(self) -> None:
        """Audit the closed loop's new alerts (with attributions) and decisions."""
        if self.closed_loop is None:
            return
        loop = self.closed_loop
        for index in range(self._alerts_seen, len(loop.alerts)):
            alert = loop.alerts[index]
            evidence = alert.to_json()
            attribution = None
            if self.explain is not None:
                attribution = self.explain(alert, loop.evidence[index])
                self.attributions.append({"alert": index, **attribution})
            text = (
                f"{alert.source} alert on CNF {alert.cnf} ({alert.pop}): score "
                f"{alert.score:.3g} vs threshold {alert.threshold:.3g}, profile "
                f"{alert.profile or 'n/a'}; largest errors "
                + ", ".join(name for name, _ in alert.features[:3])
            )
            if attribution is not None:
                evidence["attribution"] = attribution
                text += f"; SHAP: {attribution['text']}"
            self.audit.append(alert.time, "ClosedLoop", "alert", text, evidence)
        self._alerts_seen = len(self.closed_loop.alerts)
        for decision in self.closed_loop.decisions[self._decisions_seen :]:
            data = decision.to_json()
            alert = self.closed_loop.alerts[decision.alert]
            text = f"decision engine: {data.get('goal')} for alert {decision.alert} → "
            text += f"{data.get('status')} ({data.get('reason', '')})"
            self.audit.append(alert.time, "DecisionEngine", "goal", text, data)
        self._decisions_seen = len(self.closed_loop.decisions)

    def _rejected(self) -> list[dict[str, Any]]:
        plane = self._plane()
        return [
            {"source": src, "destination": dst, "rule": rule_id, "packets": plane.dropped(rule_id)}
            for (src, dst), rule_id in self.blocked.items()
        ]

    async def _tap_message(self, subject: str, data: bytes) -> None:
        world = self.world()
        record = message_record(subject, data, self._vni)
        if not record["encrypted"] and record["sender"] not in world.directory:
            record = {**record, "sender": "unknown"}  # a claim nobody vouches for
        self._messages.append(record)

    def _plane(self) -> DataPlane:
        plane = self.world().plane
        assert plane is not None
        return plane


def _offender(record: Any) -> str:
    return str(record.get("source_ip") or record.get("sender") or record.get("pop") or "")


def _subject(record: Any) -> str:
    """The agent (PoP) a record holds to account: where its packets entered, who sent it, or
    where it runs."""
    return str(record.get("ingress") or record.get("sender") or record.get("pop") or "")

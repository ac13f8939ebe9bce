"""Report data reshaped for the page: alerts from every source with their explanations,
agents with their attestation history, VNF instances over time.

Every function takes report.json-shaped data (plain dicts), so the live view, which
builds the same records as the run goes, shows them the same way as a finished run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from secmas.ui.models import AgentView, Alert, Instance, PlacementTimeline, Report

# What the agents' own detections mean (the DDoS capabilities of `secmas.agents.ddos`).
DETECTIONS: dict[str, tuple[str, str, str]] = {
    "overUsage": (
        "warning",
        "Link Monitor: link over-used",
        "the Link Monitor saw the load on {detail} above its threshold and auctioned "
        "linkRateLimited",
    ),
    "detectIntrusion": (
        "critical",
        "Anomaly Detector: target found",
        "the Anomaly Detector found the destination whose traffic deviates from its own "
        "history (robust z-score): {detail}",
    ),
    "classifyFlows": (
        "critical",
        "Classifier: malicious flows",
        "the Classifier marked flows as malicious by half-open ratio, SYN rate and packet "
        "size: {detail}",
    ),
    "normal": ("info", "Link Monitor: load back to normal", "{detail} is below the threshold"),
}

MITIGATIONS = frozenset(
    {
        "limitLink",
        "unlinkRateLimited",
        "limitIP",
        "unipRateLimited",
        "splitTrafficIP",
        "splitTrafficLink",
        "blockFlow",
        "guard",
        "scaleOut",
        "migrate",
        "isolate",
    }
)
"""Actions drawn on the traffic timeline as mitigations."""


def agent_alerts(actions: Iterable[Mapping[str, Any]]) -> list[Alert]:
    """The agents' detections (Link Monitor, Anomaly Detector, Classifier) and, for each,
    the mitigations the agents installed at the same simulated time."""
    actions = list(actions)
    alerts = []
    for action in actions:
        known = DETECTIONS.get(action["action"])
        if known is None:
            continue
        severity, title, text = known
        taken = [
            f"{a['agent']}: {a['action']} {a['detail']}"
            for a in actions
            if a["time"] == action["time"] and a["action"] in MITIGATIONS
        ]
        alerts.append(
            Alert(
                time=action["time"],
                source=f"agents ({action['agent']})",
                severity=severity,  # type: ignore[arg-type]
                title=title,
                explanation=text.format(detail=action["detail"]),
                actions=taken,
            )
        )
    return alerts


def attestation_alerts(attestations: Iterable[Mapping[str, Any]], at: float = 0.0) -> list[Alert]:
    """Failed attestations (what differed, and the revocation) and unmeasured ones (the
    host's measurer did not answer: withdrawn, not revoked); at the record's simulated
    `time`, or `at` for records without one (reports written before records had it)."""
    alerts = []
    for entry in attestations:
        if entry["result"] == "pass":
            continue
        why = "; ".join(entry.get("reasons") or []) or "evidence did not match the reference"
        differing = entry.get("differing") or []
        if differing:
            why += f"; modules that changed: {', '.join(differing)}"
        unmeasured = entry["result"] == "unmeasured"  # no verdict on the agent
        if unmeasured:
            why = "the host's measurer did not answer: " + why
            taken = ["withdrawn from auctions until a check passes, not revoked"]
        else:
            taken = [
                "revoked on chain" + (f" ({entry['revoke_tx']})" if entry.get("revoke_tx") else "")
            ]
        alerts.append(
            Alert(
                time=at if entry.get("time") is None else float(entry["time"]),
                source="attestation",
                severity="warning" if unmeasured else "critical",
                title=f"attestation step {entry['step']} "
                f"{'unmeasured' if unmeasured else 'failed'}: {entry['measured']}",
                explanation=f"{entry['verifier']} measured {entry['measured']}: {why}",
                actions=taken,
            )
        )
    return alerts


def loop_alerts(
    alerts: Sequence[Mapping[str, Any]], decisions: Iterable[Mapping[str, Any]]
) -> list[Alert]:
    """The closed loop's alerts: score against threshold, the features that drove it, the
    profile, and the goals the Decision Engine handed to the agents."""
    decided: dict[int, list[str]] = {}
    for decision in decisions:
        decided.setdefault(int(decision["alert"]), []).append(
            f"{decision['goal']} → {decision['agent']} ({decision['status']}): {decision['reason']}"
        )
    out = []
    for number, alert in enumerate(alerts):
        features = alert.get("severity") or alert.get("features") or []
        top = ", ".join(f"{name} ({value:g})" for name, value in features[:3])
        source = alert.get("source", "autoencoder")
        score, threshold = alert.get("score"), alert.get("threshold")
        measured = ""
        if isinstance(score, int | float) and isinstance(threshold, int | float):
            measured = f"score {score:.3g} against threshold {threshold:.3g}; "
        fired = alert.get("channels") or []
        if fired:  # the detection channels that fired: which, on what, by how much
            measured = (
                "fired: "
                + ", ".join(
                    f"{c['alert']} {c['value']:.3g} over {c['limit']:.3g} (×{c['ratio']:.1f})"
                    for c in fired[:3]
                )
                + "; "
            )
        out.append(
            Alert(
                time=alert["time"],
                source=f"closed loop ({source})",
                severity="critical" if alert.get("profile") != "normal" else "warning",
                title=f"CNF {alert['cnf']} at {alert['pop']}: {alert.get('profile') or 'anomaly'}",
                explanation=f"{measured}profile {alert.get('profile')}; most deviating: {top}",
                actions=decided.get(number, []),
            )
        )
    return out


def policy_alerts(policy: Mapping[str, Any]) -> list[Alert]:
    """SSLA conflicts, breaches with their explanations, and their enforcements."""
    out = [
        Alert(
            time=0.0,
            source="ssla conflict",
            severity="warning",
            title=f"policy conflict ({c.get('kind', 'conflict')}, {c.get('rule', '')})",
            explanation=c["explanation"],
        )
        for c in policy.get("conflicts", [])
    ]
    enforcements = policy.get("enforcements", [])
    for breach in policy.get("breaches", []):
        taken = [
            f"t={e['time']:g}s {e['action']} {e['target']}: {e['outcome']}"
            for e in enforcements
            if e["ssla"] == breach["ssla"]
            and e["term"] == breach["term"]
            and breach["start"] <= e["time"] <= breach["end"] + 1e-9
        ]
        out.append(
            Alert(
                time=breach["end"],
                source="ssla",
                severity="critical",
                title=f"SSLA breach: {breach['ssla']} / {breach['term']}",
                explanation=breach["explanation"],
                actions=taken,
            )
        )
    return out


def run_alerts(report: Report) -> list[Alert]:
    """Every alert of a run, in time order."""
    alerts = agent_alerts(a.model_dump() for a in report.actions)
    if report.trust is not None:
        alerts += attestation_alerts(a.model_dump() for a in report.trust.attestations)
        for name, agent in report.trust.agents.items():
            if agent.excluded:
                alerts.append(
                    Alert(
                        time=report.simulated_seconds,
                        source="trust",
                        severity="critical",
                        title=f"agent {name} excluded",
                        explanation=agent.excluded,
                    )
                )
        for name in report.trust.silent_agents:
            alerts.append(
                Alert(
                    time=report.simulated_seconds,
                    source="liveness",
                    severity="warning",
                    title=f"agent {name} silent",
                    explanation=f"no heartbeat from {name} in the last three periods",
                )
            )
    if report.analytics:
        alerts += loop_alerts(
            report.analytics.get("alerts", []), report.analytics.get("decisions", [])
        )
    if report.policy:
        alerts += policy_alerts(report.policy)
    return sorted(alerts, key=lambda a: a.time)


def agents(report: Report, names: Mapping[str, str] | None = None) -> list[AgentView]:
    """One view per agent: status, trust, attestation history, auctions won.

    `names` maps agent names to PoPs (the MLFO's pipeline); by default agent = PoP.
    """
    trust = report.trust
    pops = list(names.values()) if names else []
    if not pops and trust is not None:
        pops = list(trust.agents)
    if not pops:
        pops = sorted(
            {b.agent for a in report.auctions for b in a.bids}
            | {a.initiator for a in report.auctions}
        )
    mapping = dict(names) if names else {p: p for p in pops}
    scores = _trust_scores(report)
    peak = report.capacity.get("peak_use", {}) if isinstance(report.capacity, dict) else {}
    views = []
    for name, pop in mapping.items():
        won = sum(1 for a in report.auctions if a.winner == name and a.status == "done")
        view = AgentView(
            name=name,
            pop=pop,
            status="unattested",
            trust_score=scores.get(name),
            auctions_won=won,
            peak_use=peak.get(pop),
        )
        if trust is not None and name in trust.agents:
            member = trust.agents[name]
            view.trusted = member.trusted
            view.account = member.account
            view.key_epoch = member.key_epoch
            view.heartbeats = member.heartbeats
            if member.excluded:
                view.status = f"excluded: {member.excluded}"
            elif name in trust.silent_agents:
                view.status = "silent"
            else:
                view.status = "trusted" if member.trusted else "untrusted"
            view.attested = [e for e in trust.attestations if e.measured == name]
            view.verified = [e.step for e in trust.attestations if e.verifier == name]
        views.append(view)
    return views


def _trust_scores(report: Report) -> dict[str, float]:
    """The Trust Manager's scores (closed loop or SSLA manager), when one ran."""
    for section in (report.policy, report.analytics):
        if section and isinstance(section.get("trust"), dict):
            scores = section["trust"].get("scores", {})
            return {
                name: float(s["score"])
                for name, s in scores.items()
                if isinstance(s, dict) and isinstance(s.get("score"), int | float)
            }
    return {}


def pipeline_agents(report: Report) -> dict[str, str]:
    """Agent name → PoP from the MLFO's descriptor (workflow step 1), if recorded."""
    for step in report.workflow:
        agents_out = step.outputs.get("agents") if step.number == "1" else None
        if isinstance(agents_out, list):
            return {
                str(a["name"]): str(a["pop"])
                for a in agents_out
                if isinstance(a, dict) and "name" in a and "pop" in a
            }
    return {}


def placements(report: Report) -> PlacementTimeline:
    """The instances there from the start (started before the run, so without an event)
    and every placement event."""
    started = {p.instance for p in report.placements if p.kind == "start"}
    ended = {p.instance: p for p in report.placements if p.kind != "start"}
    initial = [i for i in report.final_instances if i.id not in started]
    initial += [
        Instance(id=e.instance, vnf=e.vnf, pop=e.pop, units=e.units)
        for name, e in ended.items()
        if name not in started and all(i.id != name for i in initial)
    ]
    return PlacementTimeline(
        initial=initial, events=report.placements, final=report.final_instances
    )

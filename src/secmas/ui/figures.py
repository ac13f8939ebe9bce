"""A run's key figures, the same for every run, so that two runs can be put side by side:
what ran, how the auctions went, how fast the attack was seen and mitigated, what got
through, the trust layer, the alerts. Each figure says its unit and which way is better.
"""

from __future__ import annotations

from collections.abc import Sequence

from secmas.ui.compliance import SslaView
from secmas.ui.models import Acceptance, Alert, Figure, Report
from secmas.ui.network import NetworkView
from secmas.ui.views import DETECTIONS, MITIGATIONS


def key_figures(
    report: Report, alerts: Sequence[Alert], network: NetworkView, ssla: SslaView | None
) -> list[Figure]:
    """The figures of one run (None where the run has nothing to measure them by)."""
    auctions = report.auctions
    statuses = [a.status for a in auctions]
    durations = [a.sim_end_s - a.sim_start_s for a in auctions]
    attack_start = _attack_start(report)
    detected = [a.time for a in report.actions if a.action in DETECTIONS and a.action != "normal"]
    mitigated = [a.time for a in report.actions if a.action in MITIGATIONS]
    telemetry = report.telemetry
    after = [p for p in telemetry if attack_start is not None and p.t >= attack_start]
    latency = [v for p in telemetry if isinstance(v := getattr(p, "latency", None), int | float)]
    monitored = [p.monitored for p in telemetry if p.monitored is not None]
    trust = report.trust
    acceptance = report.acceptance
    figures = [
        Figure(key="scenario", label="scenario", value=report.scenario),
        Figure(key="engine", label="engine", value=report.engine),
        Figure(key="seed", label="seed", value=str(report.seed)),
        Figure(key="pops", label="PoPs", value=report.pops),
        Figure(key="simulated", label="simulated time", value=report.simulated_seconds, unit="s"),
        Figure(key="wall", label="wall time", value=report.wall_seconds, unit="s", better="lower"),
        Figure(key="messages", label="bus messages", value=report.bus_messages, better="lower"),
        Figure(key="auctions", label="auctions", value=len(auctions)),
        Figure(
            key="auctions_done",
            label="auctions won (done)",
            value=statuses.count("done"),
            better="higher",
        ),
        Figure(
            key="auctions_unmet",
            label="auctions without a winner",
            value=sum(s != "done" for s in statuses),
            better="lower",
        ),
        Figure(
            key="auction_time",
            label="mean auction duration",
            value=_mean(durations),
            unit="s",
            better="lower",
        ),
        Figure(
            key="first_detection",
            label="first detection after the attack began",
            value=_since(detected, attack_start),
            unit="s",
            better="lower",
        ),
        Figure(
            key="first_mitigation",
            label="first mitigation after the attack began",
            value=_since(mitigated, attack_start),
            unit="s",
            better="lower",
        ),
        Figure(
            key="attack_reduction",
            label="attack traffic removed (last 20 s)",
            value=_measured(acceptance.attack_reduction, "attack reduction", acceptance),
            unit="%",
            better="higher",
        ),
        Figure(
            key="legit_ratio",
            label="legitimate traffic kept",
            value=_measured(acceptance.legit_ratio, "legitimate traffic", acceptance),
            unit="%",
            better="higher",
        ),
        Figure(key="passed", label="acceptance met", value=acceptance.passed),
        Figure(
            key="attack_peak",
            label="peak attack delivered to the server",
            value=max((p.attack for p in after if p.attack is not None), default=None),
            unit="MB/s",
            better="lower",
        ),
        Figure(
            key="legit_mean",
            label="mean legitimate delivered during the attack",
            value=_mean([p.legit for p in after if p.legit is not None]),
            unit="MB/s",
            better="higher",
        ),
        Figure(
            key="latency",
            label="mean latency of legitimate traffic",
            value=_mean(latency),
            unit="ms",
            better="lower",
        ),
        Figure(
            key="watched_peak",
            label="peak load on the watched link",
            value=max(monitored, default=None),
            unit="MB/s",
            better="lower",
        ),
        Figure(key="steerings", label="steered paths", value=len(network.steerings)),
        Figure(key="blocks", label="flows blocked", value=len(network.blocks)),
        Figure(
            key="instances", label="VNF instances at the end", value=len(report.final_instances)
        ),
        Figure(
            key="attestations",
            label="attestation records",
            value=len(trust.attestations) if trust else None,
        ),
        Figure(
            key="attestations_failed",
            label="failed attestations",
            value=sum(a.result != "pass" for a in trust.attestations) if trust else None,
            better="lower",
        ),
        Figure(key="alerts", label="alerts", value=len(alerts)),
        Figure(
            key="critical",
            label="critical alerts",
            value=sum(a.severity == "critical" for a in alerts),
        ),
    ]
    if ssla is not None and ssla.problem is None:
        figures += [
            Figure(
                key="ssla_breached",
                label="SSLA periods breached",
                value=sum(t.breached for t in ssla.terms),
                better="lower",
            ),
            Figure(
                key="ssla_unmeasured",
                label="SSLA periods not measured",
                value=sum(t.not_measured for t in ssla.terms),
                better="lower",
            ),
        ]
    return figures


def _attack_start(report: Report) -> float | None:
    """The attack's start: when attack traffic was first offered."""
    for point in report.telemetry:
        if point.offered_attack:
            return point.t
    return None


def _since(times: list[float], start: float | None) -> float | None:
    later = [t for t in times if start is not None and t >= start]
    return round(min(later) - start, 3) if later and start is not None else None


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _measured(share: float | None, figure: str, acceptance: Acceptance) -> float | None:
    """The figure in %, or None (shown as not measured) where the run could not measure it
    (its samples stopped short of the end: a number there would stand for nothing)."""
    if share is None or figure in acceptance.not_measured:
        return None
    return round(share * 100, 2)

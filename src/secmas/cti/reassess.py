"""The subscriber's own risk for each finding it receives (deliverable 004,
Section 4.1: hygiene scores "are calculated from the shared CTI data together with
severity scores").

A publisher shares, per finding, the risk `R` it computed (`secmas.cti.risk`), and with it
the inputs of `R` it chose to share. A subscriber does not take `R` on trust, or a domain
could raise its own hygiene by lowering its numbers:

- vector and publication date shared: `R = (B/10)·Ê·A(d)` is recomputed from them (B and
  Ê from the vector, `d` from the date to the scan), rounded to `RISK_DIGITS` as the
  publisher rounds it, so an honest claim and the recomputed value are equal;
- the date anonymised: `R` is bounded by `A(d)` ∈ [A₀, 1): the claim, clamped into
  [(B/10)·Ê·A₀, (B/10)·Ê];
- the vector anonymised: only the shared base score `B` is left: the claim, clamped into
  [(B/10)·Ê_min·A₀, B/10] (`secmas.cti.risk.risk_bounds`).

Where the data leave a range, the claim clamped into it is the conservative value: it is
never below what the shared data imply (so no domain lowers its risk past them), and an
honest claim, which always lies in the range, is used as sent; assuming the top of the
range instead would punish a domain for the privacy the sharing rule granted it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from secmas.cti.risk import RiskParams, cvss_risk, parse_cvss, risk_bounds
from secmas.cti.sharing import SharedFinding, SharedReport

RISK_DIGITS = 4
"""Digits a shared risk is rounded to (`secmas.cti.sharing`)."""


def finding_risk(
    finding: SharedFinding, scanned_at: datetime, params: RiskParams | None = None
) -> SharedFinding:
    """`finding` with the risk (and, from a shared vector, base score and severity) the
    subscriber works out; ValueError naming a shared vector or date that is not valid."""
    shared = {f: v for f, v in finding.fields.items() if f not in finding.anonymised}
    vector, published = shared.get("cvss_vector"), shared.get("published")
    if vector is None:
        low, high = risk_bounds(finding.base_score, None, params)
        return replace(finding, risk=_clamp(finding.risk, low, high))
    score = parse_cvss(vector)
    finding = replace(finding, base_score=score.base, severity=score.severity)
    if published is None:
        low, high = risk_bounds(score.base, score.exploitability, params)
        return replace(finding, risk=_clamp(finding.risk, low, high))
    age = (scanned_at.date() - _date(published)).days
    if age < 0:
        raise ValueError(f"published {published} is after the scan ({scanned_at:%Y-%m-%d})")
    return replace(finding, risk=round(cvss_risk(score, age, params), RISK_DIGITS))


def reassessed(report: SharedReport, params: RiskParams | None = None) -> SharedReport:
    """`report` with every finding's risk as the subscriber works it out."""
    findings = tuple(finding_risk(f, report.scanned_at, params) for f in report.findings)
    return replace(report, findings=findings)


def _clamp(claim: float, low: float, high: float) -> float:
    return min(high, max(low, claim))


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"published {text!r} is not a date (YYYY-MM-DD)") from None

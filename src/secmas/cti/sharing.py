"""The selective-sharing decision, per key-value pair of every vulnerability finding
(deliverable 004, Section 4.1).

"The CTI Agent then applies a decision-making algorithm that combines this risk score with
two maps: sensitivity and necessity. Based on these three values, the algorithm decides
whether each field should be shared or anonymised. [...] The risk score [...] acts as a
weighted factor in the decision process, giving more importance to high-risk
vulnerabilities." The rule used here:

    include  ⇔  n_f · w(R) ≥ s_f        with  w(R) = 1 + α · R

for field `f` of a finding with risk `R` ∈ [0, 1] (`secmas.cti.risk`), the subscriber's
necessity `n_f` and the publisher's sensitivity `s_f`, both in [0, 1]; otherwise the
value is anonymised (`secmas.cti.anonymise`). So:

- a field the subscriber needs at least as much as the publisher guards it is always
  shared (`n ≥ s`, whatever the risk);
- a field guarded a little more than it is needed is shared only for dangerous findings:
  the risk amplifies the need by up to `1 + α` (α = 1: doubles it at R = 1), so a
  subscriber sees more detail exactly where it matters most for its defence;
- a field nobody needs (`n = 0`) is shared only if it is not sensitive at all (`s = 0`).

The domain, a keyed host pseudonym (to group findings per host), the qualitative
severity, the CVSS base score and the risk are always shared: the hygiene scores of the
subscriber are computed from them ("the resulting CTI data, together with severity
values, feeds into the calculation of a cluster-wide hygiene score").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from secmas.cti.anonymise import METHODS, anonymise, pseudonym
from secmas.cti.maps import FieldMap
from secmas.cti.reports import Finding, Host, ScanReport
from secmas.cti.risk import RiskParams, cvss_risk

TOLERANCE = 1e-9
"""`n·w ≥ s` is checked with this slack, so hand-set boundary values behave as written."""

INCLUDE, ANONYMISE = "include", "anonymise"


@dataclass(frozen=True)
class SharingRule:
    """`include ⇔ necessity · (1 + risk_weight · R) ≥ sensitivity`; IP prefix lengths."""

    risk_weight: float = 1.0
    v4_prefix: int = 24
    v6_prefix: int = 48

    def __post_init__(self) -> None:
        if self.risk_weight < 0:
            raise ValueError(f"risk_weight must not be negative, got {self.risk_weight}")
        if not 0 <= self.v4_prefix <= 32 or not 0 <= self.v6_prefix <= 128:
            raise ValueError("IP prefix lengths must be within 0-32 (IPv4) and 0-128 (IPv6)")

    def weight(self, risk: float) -> float:
        """`w(R) = 1 + α·R`."""
        return 1.0 + self.risk_weight * risk

    def include(self, sensitivity: float, necessity: float, risk: float) -> bool:
        """Whether a field with these weights is shared as is."""
        return necessity * self.weight(risk) >= sensitivity - TOLERANCE


@dataclass(frozen=True)
class FieldDecision:
    """One row of the decision table: a key-value pair of a finding and what became of it.

    Publisher-side: `value` is the original value, `shared` what left the domain."""

    domain: str
    host: str
    cve: str
    field: str
    value: str
    shared: str
    sensitivity: float
    necessity: float
    risk: float
    weight: float
    score: float
    decision: str
    method: str

    def as_row(self) -> dict[str, str | float]:
        """A flat dict for tables and CSV files."""
        return {
            "domain": self.domain,
            "host": self.host,
            "cve": self.cve,
            "field": self.field,
            "value": self.value,
            "shared": self.shared,
            "sensitivity": self.sensitivity,
            "necessity": self.necessity,
            "risk": round(self.risk, 4),
            "weight": round(self.weight, 4),
            "necessity_x_weight": round(self.score, 4),
            "decision": self.decision,
            "method": self.method,
        }


DECISION_COLUMNS = tuple(FieldDecision("", "", "", "", "", "", 0, 0, 0, 0, 0, "", "").as_row())
"""Column names of `FieldDecision.as_row`, in order."""


@dataclass(frozen=True)
class SharedFinding:
    """A finding as shared: the fields that are present, as included or anonymised."""

    domain: str
    host_id: str
    severity: str
    base_score: float
    risk: float
    fields: dict[str, str]
    anonymised: dict[str, str]
    """Anonymised field → method (`METHODS`)."""

    @property
    def label(self) -> str:
        """The vulnerability as shared: its CVE id or its pseudonym."""
        return self.fields.get("cve", "")


@dataclass(frozen=True)
class SharedReport:
    """What a subscriber learns of one domain's scan."""

    domain: str
    scanner: str
    scanned_at: datetime
    host_ids: tuple[str, ...]
    findings: tuple[SharedFinding, ...]


def host_id(key: bytes, domain: str, host: Host) -> str:
    """The keyed pseudonym that groups a host's findings, whatever is anonymised."""
    return pseudonym(key, "host", f"{domain}\x00{host.ip}\x00{host.hostname}")


def share_finding(
    finding: Finding,
    domain: str,
    sensitivity: FieldMap,
    necessity: FieldMap,
    key: bytes,
    rule: SharingRule | None = None,
    params: RiskParams | None = None,
) -> tuple[SharedFinding, list[FieldDecision]]:
    """Decide every non-empty field of `finding`; the shared finding and the decisions."""
    rule = rule or SharingRule()
    risk = cvss_risk(finding.cvss, finding.age_days, params)
    weight = rule.weight(risk)
    hid = host_id(key, domain, finding.host)
    fields: dict[str, str] = {}
    anonymised: dict[str, str] = {}
    rows: list[FieldDecision] = []
    for name, value in finding.values().items():
        if not value:
            continue
        s, n = sensitivity.of(name), necessity.of(name)
        if rule.include(s, n, risk):
            shared, decision, method = value, INCLUDE, ""
        else:
            shared = anonymise(name, value, key, rule.v4_prefix, rule.v6_prefix)
            decision, method = ANONYMISE, METHODS[name]
            anonymised[name] = method
        fields[name] = shared
        row = FieldDecision(
            domain, hid, finding.cve, name, value, shared, s, n, risk, weight, n * weight,
            decision, method,
        )  # fmt: skip
        rows.append(row)
    shared_finding = SharedFinding(
        domain,
        hid,
        finding.cvss.severity,
        finding.cvss.base,
        round(risk, 4),
        fields,
        anonymised,
    )
    return shared_finding, rows


def share_report(
    report: ScanReport,
    sensitivity: FieldMap,
    necessity: FieldMap,
    key: bytes,
    rule: SharingRule | None = None,
    params: RiskParams | None = None,
) -> tuple[SharedReport, list[FieldDecision]]:
    """Apply the rule to every finding of a report."""
    findings: list[SharedFinding] = []
    rows: list[FieldDecision] = []
    for finding in report.findings:
        shared, decisions = share_finding(
            finding, report.domain, sensitivity, necessity, key, rule, params
        )
        findings.append(shared)
        rows.extend(decisions)
    hosts = tuple(host_id(key, report.domain, host) for host in report.hosts)
    shared_report = SharedReport(
        report.domain, report.scanner, report.scanned_at, hosts, tuple(findings)
    )
    return shared_report, rows

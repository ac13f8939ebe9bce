"""The selective-sharing decision, per attribute of an entity (deliverable 004, Section 4.1).

"The CTI Agent then applies a decision-making algorithm that combines this risk score with
two maps: sensitivity and necessity. Based on these three values, the algorithm decides
whether each field should be shared or anonymised. [...] The risk score [...] acts as a
weighted factor in the decision process, giving more importance to high-risk
vulnerabilities." The rule used here:

    include  ⇔  n_f · w(R) ≥ s_f        with  w(R) = 1 + α · R

for attribute `f` with risk `R` ∈ [0, 1] (`secmas.cti.risk`), the subscriber's necessity
`n_f` and the publisher's sensitivity `s_f`, both in [0, 1]; otherwise the value is
anonymised (`secmas.cti.anonymise`).

**What is decided.** A finding's fields describe three entities, and each field is an
attribute of one of them:

| entity | identified by | attributes |
| --- | --- | --- |
| host | domain, IP | `host_ip`, `hostname`, `os` |
| software (on a host) | domain, IP, CPE | `cpe` |
| service (on a host) | domain, IP, port | `port` |
| vulnerability | CVE id | `cve`, `cvss_vector`, `published`, `title` |
| scan | domain, report | `scanner`, `task` |

**Free text** (`title`, `scanner`, `task`) is decided like every other attribute, so a
map that does not list it drops it (`anonymise`: redaction). What a map lets through, and
the OS string, is still scrubbed of identifiers (host names, addresses, e-mail addresses,
credentials, paths, URLs; the scanned hosts' own names and IPs by name):
`secmas.cti.freetext`. A value changed by scrubbing is recorded as included with
method `scrubbed`, and listed among the object's anonymised properties.

An entity's risk is the highest risk of the findings it takes part in (0 for a host
without findings): its most dangerous vulnerability is what makes its attributes worth
sharing. Deciding per finding instead would anonymise a host's OS on a harmless finding
and share it on a dangerous sibling finding of the same host: the bundle then holds the
clear value, and anonymising it bought nothing.

**One decision per value.** The same value can describe several entities (two hosts run
`Ubuntu 22.04.4 LTS`; OpenSSL 1.1.1k is on a risky and on a clean host). If one shared it
and the other anonymised it, the clear string in the bundle would tell a subscriber what
the other's anonymised form stands for. So a value is included only where every entity it
describes may include it: it is decided once, with the lowest risk among those entities,
over everything shared together. Nothing anonymised then appears anywhere in the output
(tests/security/test_cti_leak.py greps for every such value).

The domain, a keyed host pseudonym (to group findings per host), the qualitative
severity, the CVSS base score and each finding's risk are always shared: the hygiene
scores of the subscriber are computed from them ("the resulting CTI data, together with
severity values, feeds into the calculation of a cluster-wide hygiene score").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from secmas.cti.anonymise import METHODS, anonymise, pseudonym
from secmas.cti.freetext import host_names, names_in, scrub
from secmas.cti.maps import FieldMap
from secmas.cti.reports import DEFAULT_QOD, Finding, Host, ScanReport
from secmas.cti.risk import CvssScore, RiskParams, cvss_risk

TOLERANCE = 1e-9
"""`n·w ≥ s` is checked with this slack, so hand-set boundary values behave as written."""

INCLUDE, ANONYMISE = "include", "anonymise"
SCRUBBED = "scrubbed"
"""The method of an included value whose identifiers were scrubbed."""
SCRUBBED_FIELDS = ("os", "title", "scanner", "task")
"""Fields holding free text, scrubbed whatever the decision (`secmas.cti.freetext`)."""

HOST_FIELDS = ("host_ip", "hostname", "os")
VULNERABILITY_FIELDS = ("cve", "cvss_vector", "published")
ENTITY_OF = {
    "host_ip": "host",
    "hostname": "host",
    "os": "host",
    "cpe": "software",
    "port": "service",
    "cve": "vulnerability",
    "cvss_vector": "vulnerability",
    "published": "vulnerability",
    "title": "vulnerability",
    "scanner": "scan",
    "task": "scan",
}
"""The entity each shareable field is an attribute of."""

EntityKey = tuple[str, ...]


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
        """Whether an attribute with these weights is shared as is."""
        return necessity * self.weight(risk) >= sensitivity - TOLERANCE


@dataclass(frozen=True)
class FieldDecision:
    """One row of the decision table: an attribute of an entity and what became of it.

    Publisher-side: `value` is the original value, `shared` what left the domain;
    `entity_risk` is the entity's own risk, `risk` the one the value was decided with
    (the lowest among the entities the value describes)."""

    domain: str
    entity: str
    entity_id: str
    field: str
    value: str
    shared: str
    sensitivity: float
    necessity: float
    entity_risk: float
    risk: float
    weight: float
    score: float
    decision: str
    method: str

    def as_row(self) -> dict[str, str | float]:
        """A flat dict for tables and CSV files."""
        return {
            "domain": self.domain,
            "entity": self.entity,
            "entity_id": self.entity_id,
            "field": self.field,
            "value": self.value,
            "shared": self.shared,
            "sensitivity": self.sensitivity,
            "necessity": self.necessity,
            "entity_risk": round(self.entity_risk, 4),
            "risk": round(self.risk, 4),
            "weight": round(self.weight, 4),
            "necessity_x_weight": round(self.score, 4),
            "decision": self.decision,
            "method": self.method,
        }


DECISION_COLUMNS = tuple(FieldDecision("", "", "", "", "", "", 0, 0, 0, 0, 0, 0, "", "").as_row())
"""Column names of `FieldDecision.as_row`, in order."""


@dataclass(frozen=True)
class SharedHost:
    """A scanned host as shared: its pseudonym and its attributes, included or anonymised."""

    host_id: str
    fields: dict[str, str]
    anonymised: dict[str, str]
    """Anonymised field → method (`METHODS`)."""


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
    """Anonymised field → method (`METHODS`, or `SCRUBBED`)."""
    confidence: int = DEFAULT_QOD
    """The scanner's quality of detection, 0-100."""
    observed: datetime | None = None
    """When the scan observed it."""

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
    hosts: tuple[SharedHost, ...]
    findings: tuple[SharedFinding, ...]
    task: str = ""
    anonymised: dict[str, str] = dataclasses.field(default_factory=dict)
    """The report's own anonymised fields (`scanner`, `task`) → method."""

    @property
    def host_ids(self) -> tuple[str, ...]:
        """The pseudonyms of the scanned hosts, findings or not."""
        return tuple(h.host_id for h in self.hosts)


def host_id(key: bytes, domain: str, host: Host) -> str:
    """The keyed pseudonym that groups a host's findings, whatever is anonymised."""
    return pseudonym(key, "host", f"{domain}\x00{host.ip}\x00{host.hostname}")


def entity_of(domain: str, finding: Finding, field: str) -> EntityKey:
    """The entity `field` of `finding` is an attribute of (see the module docstring)."""
    kind = ENTITY_OF[field]
    if kind == "host":
        return (kind, domain, finding.host.ip)
    if kind == "software":
        return (kind, domain, finding.host.ip, finding.cpe)
    if kind == "service":
        return (kind, domain, finding.host.ip, finding.port)
    if kind == "scan":
        return (kind, domain)
    return (kind, finding.cve)


@lru_cache(maxsize=65536)
def _risk(score: CvssScore, age_days: int, params: RiskParams | None) -> float:
    return cvss_risk(score, age_days, params)


def _known_identifiers(
    reports: Sequence[ScanReport], attributes: Sequence[_Attribute]
) -> tuple[list[str], list[str]]:
    """Host names (full and short) and addresses to scrub from free text by name: the
    scanned hosts', and every full name written in the free text itself."""
    hosts = [h for r in reports for h in r.hosts]
    full = [h.hostname for h in hosts if h.hostname]
    full += [n for a in attributes if a.field in SCRUBBED_FIELDS for n in names_in(a.value)]
    return [name for hostname in full for name in host_names(hostname)], [h.ip for h in hosts]


@dataclass(frozen=True)
class _Form:
    """What becomes of one value: its shared form (empty: left out), the method that
    changed it (empty: none), and the rule's decision."""

    shared: str
    method: str
    decision: str


@dataclass
class _Attribute:
    """One attribute of one entity, while deciding: its value and the entity's risk."""

    domain: str
    entity: EntityKey
    entity_id: str
    """The host pseudonym (host, software, service), the CVE id (vulnerability) or the
    domain (scan)."""
    field: str
    value: str
    risk: float = 0.0


def decide(
    reports: Sequence[ScanReport],
    sensitivity: FieldMap,
    necessity: FieldMap,
    key: bytes,
    rule: SharingRule | None = None,
    params: RiskParams | None = None,
) -> tuple[list[SharedReport], list[FieldDecision]]:
    """Decide every attribute of every entity of `reports`, shared together; the shared
    reports (one per input report, same order) and the decision table."""
    rule = rule or SharingRule()
    attributes, risks = _attributes(reports, key, params)
    value_risk: dict[tuple[str, str], float] = {}
    for attribute in attributes:
        slot = (attribute.field, attribute.value)
        value_risk[slot] = min(value_risk.get(slot, 1.0), attribute.risk)
    names, addresses = _known_identifiers(reports, attributes)
    shared_value: dict[tuple[str, str], _Form] = {}
    for (name, value), risk in value_risk.items():
        if rule.include(sensitivity.of(name), necessity.of(name), risk):
            form = _Form(value, "", INCLUDE)
        else:
            hidden = anonymise(name, value, key, rule.v4_prefix, rule.v6_prefix)
            form = _Form(hidden, METHODS[name], ANONYMISE)
        if name in SCRUBBED_FIELDS and form.shared:
            clean = scrub(form.shared, names, addresses)
            if clean != form.shared:
                form = _Form(clean, form.method or SCRUBBED, form.decision)
        shared_value[(name, value)] = form
    decisions = [
        _decision(a, value_risk, shared_value, sensitivity, necessity, rule) for a in attributes
    ]
    shared = [
        _shared_report(report, per_report, shared_value, key)
        for report, per_report in zip(reports, risks, strict=True)
    ]
    return shared, decisions


def _attributes(
    reports: Sequence[ScanReport], key: bytes, params: RiskParams | None
) -> tuple[list[_Attribute], list[list[float]]]:
    """Every attribute value of every entity, with the entity's risk (its riskiest
    finding's); and the risk of each finding, per report."""
    attributes: dict[tuple[EntityKey, str, str], _Attribute] = {}
    risks: list[list[float]] = []
    for report in reports:
        scan = ("scan", report.domain)
        for name, value in report.values().items():
            if value:
                attribute = _Attribute(report.domain, scan, report.domain, name, value)
                attributes.setdefault((scan, name, value), attribute)
        ids = {host.ip: host_id(key, report.domain, host) for host in report.hosts}
        for host in report.hosts:
            entity = ("host", report.domain, host.ip)
            for name, value in zip(HOST_FIELDS, (host.ip, host.hostname, host.os), strict=True):
                if value:
                    attribute = _Attribute(report.domain, entity, ids[host.ip], name, value)
                    attributes.setdefault((entity, name, value), attribute)
        per_report = []
        for finding in report.findings:
            risk = _risk(finding.cvss, finding.age_days, params)
            per_report.append(risk)
            hid = ids.get(finding.host.ip) or host_id(key, report.domain, finding.host)
            for name, value in finding.values().items():
                if not value:
                    continue
                entity = entity_of(report.domain, finding, name)
                label = finding.cve if entity[0] == "vulnerability" else hid
                attribute = attributes.setdefault(
                    (entity, name, value), _Attribute(report.domain, entity, label, name, value)
                )
                attribute.risk = max(attribute.risk, risk)
        for name, value in report.values().items():
            if value:
                own = attributes[(scan, name, value)]
                own.risk = max(own.risk, *per_report, 0.0)
        risks.append(per_report)
    return list(attributes.values()), risks


def _decision(
    attribute: _Attribute,
    value_risk: dict[tuple[str, str], float],
    shared_value: dict[tuple[str, str], _Form],
    sensitivity: FieldMap,
    necessity: FieldMap,
    rule: SharingRule,
) -> FieldDecision:
    slot = (attribute.field, attribute.value)
    risk = value_risk[slot]
    form = shared_value[slot]
    s, n = sensitivity.of(attribute.field), necessity.of(attribute.field)
    weight = rule.weight(risk)
    return FieldDecision(
        domain=attribute.domain,
        entity=attribute.entity[0],
        entity_id=attribute.entity_id,
        field=attribute.field,
        value=attribute.value,
        shared=form.shared,
        sensitivity=s,
        necessity=n,
        entity_risk=attribute.risk,
        risk=risk,
        weight=weight,
        score=n * weight,
        decision=form.decision,
        method=form.method,
    )


def _shared_report(
    report: ScanReport,
    risks: list[float],
    shared_value: dict[tuple[str, str], _Form],
    key: bytes,
) -> SharedReport:
    def form(pairs: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        fields: dict[str, str] = {}
        anonymised: dict[str, str] = {}
        for name, value in pairs.items():
            if not value:
                continue
            shown = shared_value[(name, value)]
            if shown.shared:
                fields[name] = shown.shared
            if shown.method:
                anonymised[name] = shown.method
        return fields, anonymised

    hosts = []
    for host in report.hosts:
        values = dict(zip(HOST_FIELDS, (host.ip, host.hostname, host.os), strict=True))
        hosts.append(SharedHost(host_id(key, report.domain, host), *form(values)))
    findings = []
    for finding, risk in zip(report.findings, risks, strict=True):
        fields, anonymised = form(finding.values())
        findings.append(
            SharedFinding(
                report.domain,
                host_id(key, report.domain, finding.host),
                finding.cvss.severity,
                finding.cvss.base,
                round(risk, 4),
                fields,
                anonymised,
                finding.qod,
                finding.observed,
            )
        )
    own, anonymised = form(report.values())
    return SharedReport(
        report.domain,
        own.get("scanner", ""),
        report.scanned_at,
        tuple(hosts),
        tuple(findings),
        own.get("task", ""),
        anonymised,
    )


def share_report(
    report: ScanReport,
    sensitivity: FieldMap,
    necessity: FieldMap,
    key: bytes,
    rule: SharingRule | None = None,
    params: RiskParams | None = None,
) -> tuple[SharedReport, list[FieldDecision]]:
    """`decide` for one report on its own."""
    [shared], decisions = decide([report], sensitivity, necessity, key, rule, params)
    return shared, decisions

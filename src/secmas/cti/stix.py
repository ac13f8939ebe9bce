"""Strict STIX 2.1 serialisation of the shared CTI (deliverable 004, Section 4.1: "the
filtered data is then serialised in STIX format and exchanged with peer clusters").

The bundle models the entities the sharing rule decides on (`secmas.cti.sharing`):

| entity | STIX object | what it carries |
| --- | --- | --- |
| the publishing CTI agent | `identity` (system) | `created_by_ref` of everything it shares |
| a domain | `identity` (organization) | where findings were sighted |
| a domain's scan | `report` (`vulnerability`) | `published` = scan time; domain, scanner, task |
| a scanned host | `infrastructure` (`unknown`) named by its pseudonym | IP, hostname, OS |
| software on it | `software` SCO (`version` only when the CPE is shared) | |
| a vulnerability | `vulnerability` named by its CVE id (or pseudonym) | vector, date, severity |
| host → software | `relationship` `consists-of` | |
| a finding | `relationship` `has` (infrastructure → vulnerability) | risk, port, software (1) |
| a vulnerability seen on a host | `sighting` of it, where: the domain | count, first, last (2) |
| vulnerable software (3) | `indicator` `[software:cpe = '…']`, `related-to` the vulnerability | |
| the mitigation it calls for | `course-of-action`, `mitigates` the vulnerability | |

(1) `software_ref`; its title as `description`, its observation time as `start_time`.
(2) `host_ref` names the infrastructure. (3) Only when its CPE is shared as is.

**What CTI tools expect**. A *sighting* says a vulnerability was seen on a host
of a domain at scan time: one per host and vulnerability in a report, `count` its findings
(one per port), `first_seen`/`last_seen` their observation times. An *indicator* is
written only where a finding allows a pattern that gives nothing away: the software's CPE
when the sharing rule shares it (never a generalised CPE, which would match what the
publisher hid, nor anything derived from an anonymised value). A *course of action* per
vulnerability and product says what the finding calls for: update the product to a
release that fixes the vulnerability (the reports name no fixed version, so none is
claimed). *Confidence* (0-100) is the scanner's quality of detection (QoD, see
`secmas.cti.reports`): a finding's and its sighting's own; a vulnerability's and its
indicator's the best QoD it was detected with; a report's the mean of its findings'
(none for a report without findings). *Markings* are TLP 2.0 (`secmas.cti.markings`).

Own properties travel in one property extension (STIX 2.1 §7.3): the `extension-definition`
`EXTENSION_ID` (created by the `secmas` project identity, fixed so that subscribers know it)
describes them, and each object holds them under `extensions[EXTENSION_ID]` with
`extension_type: property-extension`; nothing is a custom `x_` property, so the bundle
parses with `stix2.parse(allow_custom=False)` and passes `stix2-validator --strict`.
Each object's `anonymised` property maps the anonymised attributes to their method, and a
statement marking ("anonymised by the secmas CTI agent") is applied to exactly those
properties as a granular marking. Everything carries the TLP 2.0 marking chosen by the publisher.

Identifiers of SDOs, SROs and markings are UUIDv4 (§2.9) whose 122 random bits come from
HMAC-SHA256 under the publisher's key over what the object stands for: nobody without the
key can link an id to a value, and re-publishing the same scan gives the same ids (a TAXII
server then keeps one copy). `software` ids are UUIDv5 of their properties, as §6.1
requires for cyber-observables. External references to CVEs carry the `cve` source and id
only: with no `url`, §2.5 asks for no `hashes`.

Serialisation is `json.dumps` of plain dictionaries, linear in the bundle's size (the
`stix2` objects' `serialize(pretty=True)` re-sorts each object's properties by a list scan
and took 164 s for a 200 KB report; benchmarks/bench_cti.py). `parse_bundle` validates
what a subscriber receives with `stix2` and `read_bundle` recovers the shared reports
from it, which is what hygiene is computed from.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stix2
from stix2.exceptions import STIXError

from secmas.cti.anonymise import cpe_parts
from secmas.cti.errors import CTIInputError, Problem
from secmas.cti.markings import tlp_marking
from secmas.cti.reports import DEFAULT_QOD, REPORT_FIELDS
from secmas.cti.sharing import HOST_FIELDS, SharedFinding, SharedHost, SharedReport

EXTENSION_ID = "extension-definition--f9cccde3-4196-4b3e-b69c-e592b24cc2d7"
"""The `secmas` CTI property extension (a fixed UUIDv4, drawn once)."""
PROJECT_IDENTITY = "identity--063a320f-df51-4148-a446-33706b304664"
"""The `secmas` project, creator of the extension definition (a fixed UUIDv4)."""
DEFINED_AT = "2026-11-23T00:00:00.000Z"
"""When version 1.0.0 of the extension was defined."""
EXTENDED_AT = "2026-11-25T00:00:00.000Z"
"""When version 1.1.0 (free text, sightings) replaced it."""

PROPERTY = {
    "host_ip": "ip_address",
    "hostname": "hostname",
    "os": "operating_system",
    "cpe": "cpe",
    "port": "port",
    "cve": "name",
    "cvss_vector": "cvss_vector",
    "published": "published",
    "title": "description",
    "scanner": "scanner",
    "task": "task",
}
"""The STIX property that carries each shareable field (inside the extension, except the
vulnerability's `name` and the software's `cpe`)."""

EXTENSION_SCHEMA = (
    "secmas CTI selective sharing, property extension 1.1.0 (all properties optional). "
    "report: domain (string, the scanned domain), scanner (string, scrubbed free text), "
    "task (string, scrubbed free text). "
    "infrastructure (a scanned host): domain, host_id (keyed pseudonym of the host), "
    "ip_address (address, or a CIDR prefix when anonymised), hostname (name or keyed "
    "pseudonym), operating_system (name and version, or the family when anonymised). "
    "vulnerability: cvss_vector (CVSS 3.x/4.0 vector, or its version when anonymised), "
    "published (ISO date, or the year when anonymised), severity (None/Low/Medium/High/"
    "Critical), base_score (CVSS base score, 0-10). "
    "relationship 'has' (a finding: host has vulnerability): domain, risk (0-1, severity x "
    "exploitability x age), port (NUMBER/PROTO, or PROTO when anonymised), software_ref "
    "(the software SCO the finding is in). "
    "sighting (a vulnerability seen on a host): domain, host_ref (the infrastructure). "
    "Any object: anonymised (dictionary: property name -> anonymisation method, one of "
    "prefix-truncation, keyed-pseudonym, generalisation, redaction (left out), scrubbed "
    "(identifiers in free text replaced by [host], [ip], [email], [secret], [path], [url]))."
)

ANONYMISED_STATEMENT = (
    "Anonymised by the secmas CTI agent (keyed pseudonym, IP prefix truncation, "
    "generalisation, or identifiers scrubbed from free text): not the original value."
)


def stix_time(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds, as STIX timestamps are written."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def keyed_id(key: bytes, kind: str, *parts: str) -> str:
    """`kind--UUIDv4` with its random bits from HMAC-SHA256(key, kind and parts)."""
    mac = hmac.new(key, "\x00".join((kind, *parts)).encode(), hashlib.sha256).digest()
    return f"{kind}--{uuid.UUID(bytes=mac[:16], version=4)}"


@dataclass
class _Builder:
    """Collects the objects of the bundles, each once, in order of first use."""

    key: bytes
    identity: str
    marking: str
    statement: str
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    software: dict[tuple[str, bool], dict[str, Any]] = field(default_factory=dict)
    """(shared CPE, anonymised) → its `software` object, built once."""
    confidence: dict[str, int] = field(default_factory=dict)
    """Vulnerability id → the best QoD it was detected with, over everything shared."""

    def add(self, obj: dict[str, Any]) -> str:
        self.objects.setdefault(obj["id"], obj)
        return str(obj["id"])

    def sdo(self, kind: str, ident: str, at: str, **props: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "spec_version": "2.1",
            "id": ident,
            "created_by_ref": self.identity,
            "created": at,
            "modified": at,
            **props,
            "object_marking_refs": [self.marking],
        }

    def extended(
        self, obj: dict[str, Any], props: dict[str, Any], anonymised: dict[str, str]
    ) -> dict[str, Any]:
        """`obj` with the extension's properties (empty ones left out) and, when some are
        anonymised, their methods and the granular statement marking."""
        ext: dict[str, Any] = {"extension_type": "property-extension"}
        ext.update((name, value) for name, value in props.items() if value not in ("", None))
        if anonymised:
            ext["anonymised"] = anonymised
            selectors = [
                name if name in obj else f"extensions.{EXTENSION_ID}.{name}"
                for name in anonymised
                if name in obj or name in ext
            ]
            if selectors:
                obj["granular_markings"] = [{"marking_ref": self.statement, "selectors": selectors}]
        obj["extensions"] = {EXTENSION_ID: ext}
        return obj


def _anonymised(names: dict[str, str], fields: Iterable[str]) -> dict[str, str]:
    """Field → method restricted to `fields`, keyed by STIX property name."""
    return {PROPERTY[f]: names[f] for f in fields if f in names}


def common_objects(publisher: str, key: bytes, tlp: str, first: datetime) -> list[dict[str, Any]]:
    """The publisher, the project, the extension definition and the markings; ValueError
    for a TLP level `secmas.cti.markings` does not know."""
    marking = tlp_marking(tlp)
    at = stix_time(first)
    identity = keyed_id(key, "identity", publisher)
    return [
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": identity,
            "created": at,
            "modified": at,
            "name": publisher,
            "identity_class": "system",
            "object_marking_refs": [marking["id"]],
        },
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": PROJECT_IDENTITY,
            "created": DEFINED_AT,
            "modified": DEFINED_AT,
            "name": "secmas project",
            "identity_class": "organization",
        },
        {
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": EXTENSION_ID,
            "created_by_ref": PROJECT_IDENTITY,
            "created": DEFINED_AT,
            "modified": EXTENDED_AT,
            "name": "secmas CTI selective sharing",
            "description": "Properties of vulnerability scans shared selectively between "
            "domains (hosts, findings, risk, anonymisation).",
            "schema": EXTENSION_SCHEMA,
            "version": "1.1.0",
            "extension_types": ["property-extension"],
        },
        marking,
        {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": keyed_id(key, "marking-definition", "anonymised"),
            "created_by_ref": identity,
            "created": at,
            "definition_type": "statement",
            "definition": {"statement": ANONYMISED_STATEMENT},
        },
    ]


def build_bundles(
    reports: Sequence[SharedReport],
    key: bytes,
    publisher: str = "secmas CTI agent",
    tlp: str = "amber",
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The STIX 2.1 bundle of all `reports`, and one bundle per domain (what the domain
    publishes to its TAXII collection), as plain dictionaries. `tlp` names a TLP 2.0
    level, or a TLP 1.0 alias (`secmas.cti.markings`)."""
    if not reports:
        raise ValueError("nothing to share: no reports")
    common = common_objects(publisher, key, tlp, min(r.scanned_at for r in reports))
    builder = _Builder(key, common[0]["id"], common[3]["id"], common[4]["id"])
    for finding in (f for r in reports for f in r.findings):
        ident = vulnerability_id(key, finding)
        builder.confidence[ident] = max(builder.confidence.get(ident, 0), finding.confidence)
    for obj in common:
        builder.add(obj)
    members: dict[str, list[str]] = {}
    for number, report in enumerate(reports):
        refs = _report_objects(builder, report, str(number))
        members.setdefault(report.domain, []).extend(refs)
    combined = _bundle(key, "all", builder.objects.values())
    shared = [o["id"] for o in common]
    per_domain = {
        domain: _bundle(key, domain, (builder.objects[i] for i in dict.fromkeys([*shared, *refs])))
        for domain, refs in members.items()
    }
    return combined, per_domain


def _bundle(key: bytes, scope: str, objects: Iterable[dict[str, Any]]) -> dict[str, Any]:
    listed = list(objects)
    ident = keyed_id(key, "bundle", scope, *(o["id"] for o in listed))
    return {"type": "bundle", "id": ident, "objects": listed}


def _report_objects(b: _Builder, report: SharedReport, number: str) -> list[str]:
    """Add one report's objects; the ids of the report and all its members."""
    at = stix_time(report.scanned_at)
    domain = b.add(_domain(b, report.domain, at))
    refs: list[str] = [domain]
    hosts: dict[str, str] = {}
    for host in report.hosts:
        hosts[host.host_id] = b.add(_host(b, report.domain, host, at))
    software: dict[tuple[str, str], str] = {}
    seen: dict[tuple[str, str], list[SharedFinding]] = {}
    for index, finding in enumerate(report.findings):
        if finding.host_id not in hosts:
            raise ValueError(f"finding {index} of {report.domain} names an unknown host")
        vulnerability = b.add(_vulnerability(b, finding, at))
        seen.setdefault((finding.host_id, vulnerability), []).append(finding)
        cpe = finding.fields.get("cpe", "")
        soft = software.get((finding.host_id, cpe))
        if cpe and soft is None:
            soft = b.add(_software(b, cpe, "cpe" in finding.anonymised))
            consists = b.sdo(
                "relationship",
                keyed_id(b.key, "relationship", "consists-of", finding.host_id, soft),
                at,
                relationship_type="consists-of",
                source_ref=hosts[finding.host_id],
                target_ref=soft,
            )
            software[(finding.host_id, cpe)] = soft
            refs += [soft, b.add(consists)]
        refs += [vulnerability, b.add(_finding(b, finding, number, index, hosts, soft, at))]
        refs += _guidance(b, finding, vulnerability, at)
    for (host, vulnerability), findings in seen.items():
        refs.append(b.add(_sighting(b, number, hosts[host], domain, vulnerability, findings, at)))
    report_id = keyed_id(b.key, "report", number, report.domain, at)
    summary = b.sdo(
        "report",
        report_id,
        at,
        name=f"vulnerability scan of domain {report.domain}",
        report_types=["vulnerability"],
        published=at,
        object_refs=list(dict.fromkeys([*hosts.values(), *refs])),
    )
    if report.findings:
        qods = [f.confidence for f in report.findings]
        summary["confidence"] = round(sum(qods) / len(qods))
    own = {"domain": report.domain, "scanner": report.scanner, "task": report.task}
    b.add(b.extended(summary, own, _anonymised(report.anonymised, REPORT_FIELDS)))
    return [report_id, *summary["object_refs"]]


def _domain(b: _Builder, domain: str, at: str) -> dict[str, Any]:
    """The domain as an `identity`: where its findings were sighted."""
    ident = keyed_id(b.key, "identity", "domain", domain)
    return b.sdo("identity", ident, at, name=f"domain {domain}", identity_class="organization")


def _host(b: _Builder, domain: str, host: SharedHost, at: str) -> dict[str, Any]:
    obj = b.sdo(
        "infrastructure",
        keyed_id(b.key, "infrastructure", domain, host.host_id),
        at,
        name=host.host_id,
        infrastructure_types=["unknown"],
    )
    props = {"domain": domain, "host_id": host.host_id}
    props |= {PROPERTY[f]: host.fields.get(f, "") for f in HOST_FIELDS}
    return b.extended(obj, props, _anonymised(host.anonymised, HOST_FIELDS))


def _software(b: _Builder, cpe: str, anonymised: bool) -> dict[str, Any]:
    known = b.software.get((cpe, anonymised))
    if known is None:
        known = b.software[(cpe, anonymised)] = _new_software(b, cpe, anonymised)
    return known


def cpe_product(cpe: str) -> tuple[str, str, str]:
    """Vendor, product and version of a CPE 2.3 name or 2.2 URI (version may be empty)."""
    parts = cpe_parts(cpe)
    if cpe.startswith("cpe:/"):
        return parts[2], parts[3], parts[4] if len(parts) > 4 else ""
    return parts[3], parts[4], parts[5]


def _new_software(b: _Builder, cpe: str, anonymised: bool) -> dict[str, Any]:
    vendor, product, version = cpe_product(cpe)
    props = {"name": product, "vendor": vendor, "cpe": cpe}
    if not anonymised and version not in ("", "*", "-"):
        props["version"] = version
    obj = json.loads(stix2.Software(**props).serialize())
    obj["object_marking_refs"] = [b.marking]
    if anonymised:
        obj["granular_markings"] = [{"marking_ref": b.statement, "selectors": ["cpe"]}]
    return obj


def vulnerability_id(key: bytes, finding: SharedFinding) -> str:
    """The id of the `vulnerability` a finding is of: keyed on its CVE (or pseudonym),
    vector and date as shared."""
    shared = (finding.fields.get(f, "") for f in ("cve", "cvss_vector", "published"))
    return keyed_id(key, "vulnerability", *shared)


def _vulnerability(b: _Builder, finding: SharedFinding, at: str) -> dict[str, Any]:
    fields = finding.fields
    label, vector, published = (fields.get(f, "") for f in ("cve", "cvss_vector", "published"))
    ident = vulnerability_id(b.key, finding)
    obj = b.sdo("vulnerability", ident, at, name=label, confidence=b.confidence[ident])
    if "cve" not in finding.anonymised:
        obj["external_references"] = [{"source_name": "cve", "external_id": label}]
    props = {
        "cvss_vector": vector,
        "published": published,
        "severity": finding.severity,
        "base_score": finding.base_score,
    }
    fields_here = ("cve", "cvss_vector", "published")
    return b.extended(obj, props, _anonymised(finding.anonymised, fields_here))


def _finding(
    b: _Builder,
    finding: SharedFinding,
    number: str,
    index: int,
    hosts: dict[str, str],
    software: str | None,
    at: str,
) -> dict[str, Any]:
    obj = b.sdo(
        "relationship",
        keyed_id(b.key, "relationship", "has", number, finding.domain, str(index)),
        at,
        relationship_type="has",
        source_ref=hosts[finding.host_id],
        target_ref=vulnerability_id(b.key, finding),
        confidence=finding.confidence,
    )
    if "title" in finding.fields:
        obj["description"] = finding.fields["title"]
    if finding.observed is not None:
        obj["start_time"] = stix_time(finding.observed)
    props = {
        "domain": finding.domain,
        "risk": finding.risk,
        "port": finding.fields.get("port", ""),
        "software_ref": software,
    }
    return b.extended(obj, props, _anonymised(finding.anonymised, ("port", "title")))


def _sighting(
    b: _Builder,
    number: str,
    host: str,
    domain: str,
    vulnerability: str,
    findings: list[SharedFinding],
    at: str,
) -> dict[str, Any]:
    """A vulnerability seen on a host of a domain: how often, first and last."""
    times = [f.observed for f in findings if f.observed is not None]
    obj = b.sdo(
        "sighting",
        keyed_id(b.key, "sighting", number, host, vulnerability),
        at,
        sighting_of_ref=vulnerability,
        where_sighted_refs=[domain],
        count=len(findings),
        confidence=max(f.confidence for f in findings),
    )
    if times:
        obj["first_seen"], obj["last_seen"] = stix_time(min(times)), stix_time(max(times))
    return b.extended(obj, {"domain": findings[0].domain, "host_ref": host}, {})


def _guidance(b: _Builder, finding: SharedFinding, vulnerability: str, at: str) -> list[str]:
    """The indicator (when the CPE is shared) and the course of action for a finding,
    with their relationships to its vulnerability; their ids."""
    cpe, label = finding.fields.get("cpe", ""), finding.fields.get("cve", "")
    if not cpe:
        return []
    vendor, product, version = cpe_product(cpe)
    refs = []
    if "cpe" not in finding.anonymised:
        indicator = b.sdo(
            "indicator",
            keyed_id(b.key, "indicator", vulnerability, cpe),
            at,
            name=f"{product} {version} affected by {label}",
            description=f"Software matching this CPE was found affected by {label} in a "
            "vulnerability scan; in another inventory it points to the same exposure.",
            indicator_types=["unknown"],
            pattern=f"[software:cpe = '{pattern_string(cpe)}']",
            pattern_type="stix",
            valid_from=at,
            confidence=b.confidence[vulnerability],
        )
        refs += [
            b.add(indicator),
            b.add(_relation(b, "related-to", indicator["id"], vulnerability, at)),
        ]
    action = b.sdo(
        "course-of-action",
        keyed_id(b.key, "course-of-action", vulnerability, vendor, product),
        at,
        name=f"Update {vendor} {product}",
        description=f"Update {vendor} {product} to a release that fixes {label}, as its "
        "vendor advises; until then, limit who can reach the affected service.",
    )
    refs += [b.add(action), b.add(_relation(b, "mitigates", action["id"], vulnerability, at))]
    return refs


def _relation(b: _Builder, kind: str, source: str, target: str, at: str) -> dict[str, Any]:
    ident = keyed_id(b.key, "relationship", kind, source, target)
    return b.sdo(
        "relationship", ident, at, relationship_type=kind, source_ref=source, target_ref=target
    )


def pattern_string(text: str) -> str:
    """`text` as a STIX pattern string literal's content (`\\` and `'` escaped)."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def bundle_text(bundle: dict[str, Any]) -> str:
    """The bundle as JSON text, in time linear in its size."""
    return json.dumps(bundle, ensure_ascii=False)


def parse_bundle(text: str, source: str = "<bundle>") -> stix2.Bundle:
    """Parse and validate STIX 2.1 bundle JSON with `stix2`, custom content refused."""
    try:
        parsed = stix2.parse(text, allow_custom=False)
    except json.JSONDecodeError as exc:
        raise CTIInputError([Problem(source, "", f"JSON syntax: {exc.msg}", exc.lineno)]) from None
    except (STIXError, KeyError, ValueError, TypeError) as exc:
        raise CTIInputError([Problem(source, "", f"not valid STIX 2.1: {exc}")]) from None
    if not isinstance(parsed, stix2.Bundle):
        raise CTIInputError([Problem(source, "type", "expected a STIX bundle")])
    return parsed


def extension(obj: Any) -> dict[str, Any]:
    """The `secmas` extension properties of a parsed object (empty when it has none)."""
    extensions = obj.get("extensions") or {}
    return dict(extensions.get(EXTENSION_ID, {}))


def read_bundle(bundle: stix2.Bundle) -> list[SharedReport]:
    """The shared reports of a `secmas` bundle: the subscriber's view of each domain.
    Sightings, indicators and courses of action restate what the findings say, for CTI
    tools; they are not read back."""
    by_id = {o.id: o for o in bundle.objects}
    reports: list[SharedReport] = []
    for obj in bundle.objects:
        if obj.type != "report" or "domain" not in extension(obj):
            continue
        props = extension(obj)
        members = [by_id[ref] for ref in obj.object_refs if ref in by_id]
        hosts = {o.id: _shared_host(o) for o in members if o.type == "infrastructure"}
        findings = tuple(
            _shared_finding(o, hosts[o.source_ref], by_id)
            for o in members
            if o.type == "relationship" and o.relationship_type == "has"
        )
        scanned_at: datetime = obj.published
        _, anonymised = _fields_of(props, REPORT_FIELDS)
        reports.append(
            SharedReport(
                props["domain"], props.get("scanner", ""), scanned_at, tuple(hosts.values()),
                findings, props.get("task", ""), anonymised,
            )
        )  # fmt: skip
    return reports


def _fields_of(
    props: dict[str, Any], names: Iterable[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The fields `names` found in `props` and the methods of those anonymised."""
    methods = dict(props.get("anonymised", {}))
    fields = {f: str(props[PROPERTY[f]]) for f in names if PROPERTY[f] in props}
    anonymised = {f: methods[PROPERTY[f]] for f in names if PROPERTY[f] in methods}
    return fields, anonymised


def _shared_host(obj: Any) -> SharedHost:
    props = extension(obj)
    return SharedHost(props["host_id"], *_fields_of(props, HOST_FIELDS))


def _shared_finding(obj: Any, host: SharedHost, by_id: dict[str, Any]) -> SharedFinding:
    props = extension(obj)
    own = props | ({"description": obj.description} if "description" in obj else {})
    vulnerability = by_id[obj.target_ref]
    vprops = extension(vulnerability) | {"name": vulnerability.name}
    fields, anonymised = dict(host.fields), dict(host.anonymised)
    for part in (
        _fields_of(vprops, ("cve", "cvss_vector", "published")),
        _fields_of(own, ("port", "title")),
    ):
        fields |= part[0]
        anonymised |= part[1]
    software = by_id.get(props.get("software_ref", ""))
    if software is not None:
        fields["cpe"] = software.cpe
        if "granular_markings" in software:
            anonymised["cpe"] = "generalisation"
    order = list(PROPERTY)
    return SharedFinding(
        props["domain"],
        host.host_id,
        vprops["severity"],
        float(vprops["base_score"]),
        float(props["risk"]),
        {f: fields[f] for f in order if f in fields},
        {f: anonymised[f] for f in order if f in anonymised},
        obj.get("confidence", DEFAULT_QOD),
        obj.get("start_time"),
    )

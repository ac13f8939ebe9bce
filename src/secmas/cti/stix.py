"""STIX 2.1 serialisation of the shared CTI (deliverable 004, Section 4.1: "the filtered
data is then serialised in STIX format and exchanged with peer clusters").

One bundle holds, in this order:

- an `identity` for the publishing CTI agent (`created_by_ref` of everything else);
- the TLP marking (`object_marking_refs` of everything; TLP 1.0, the one built into the
  `stix2` package) and a statement `marking-definition` "anonymised by the secmas CTI
  agent", applied as a granular marking to exactly the anonymised properties;
- per domain a `report` (`x_secmas_domain`, `x_secmas_scanner`, `published` = scan time)
  whose `object_refs` are that domain's hosts, vulnerabilities and relationships;
- per scanned host an `infrastructure` named by its keyed host pseudonym;
- per finding a `vulnerability`: `name` the CVE id (or its pseudonym), an external
  reference `cve` when the CVE id is shared, and custom properties `x_secmas_domain`,
  `x_secmas_host_id`, `x_secmas_severity`, `x_secmas_base_score`, `x_secmas_risk`,
  `x_secmas_<field>` for each field (as included or anonymised),
  `x_secmas_anonymised` (the anonymised field names) and `x_secmas_anonymisation`
  (field → method);
- per finding a `relationship` infrastructure `has` vulnerability.

Identifiers are UUIDv5 of the content's position (report number, domain, host pseudonym,
finding index)
and timestamps are the scan times, so the same inputs and key give the same bundle.
`read_bundle` re-parses a bundle with `stix2` (validation) and recovers the shared
reports, which is what a subscriber computes hygiene scores from.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import stix2
from stix2.exceptions import STIXError

from secmas.cti.errors import CTIInputError, Problem
from secmas.cti.reports import FIELDS
from secmas.cti.sharing import SharedFinding, SharedReport

NAMESPACE = uuid.UUID("6f0c1d0e-5e3a-5b8e-9a57-3c1f2d7c5e01")
"""UUIDv5 namespace of the identifiers of `secmas` CTI objects."""

TLP = {
    "white": stix2.TLP_WHITE,
    "clear": stix2.TLP_WHITE,
    "green": stix2.TLP_GREEN,
    "amber": stix2.TLP_AMBER,
    "red": stix2.TLP_RED,
}
ANONYMISED_STATEMENT = (
    "Anonymised by the secmas CTI agent (keyed pseudonym, IP prefix truncation or "
    "generalisation): not the original value."
)


def stix_id(kind: str, *parts: str) -> str:
    """A deterministic STIX identifier of type `kind`."""
    return f"{kind}--{uuid.uuid5(NAMESPACE, '|'.join((kind, *parts)))}"


def property_of(field: str) -> str:
    """The vulnerability property that carries a shared field."""
    return f"x_secmas_{field}"


def build_bundle(
    reports: Sequence[SharedReport], publisher: str = "secmas CTI agent", tlp: str = "amber"
) -> stix2.Bundle:
    """The STIX 2.1 bundle of the shared reports (see the module docstring)."""
    if tlp not in TLP:
        raise ValueError(f"unknown TLP level {tlp!r}: expected one of {', '.join(TLP)}")
    if not reports:
        raise ValueError("nothing to share: no reports")
    marking = TLP[tlp]
    first = min(r.scanned_at for r in reports)
    identity = stix2.Identity(
        id=stix_id("identity", publisher),
        name=publisher,
        identity_class="system",
        created=first,
        modified=first,
        object_marking_refs=[marking.id],
    )
    statement = stix2.MarkingDefinition(
        id=stix_id("marking-definition", "secmas-anonymised"),
        created=first,
        created_by_ref=identity.id,
        definition_type="statement",
        definition=stix2.StatementMarking(ANONYMISED_STATEMENT),
    )
    objects: list[Any] = [identity, marking, statement]
    common = {"created_by_ref": identity.id, "object_marking_refs": [marking.id]}
    for number, report in enumerate(reports):
        objects.extend(_report_objects(report, str(number), statement.id, common))
    ids = sorted(o.id for o in objects)
    return stix2.Bundle(objects, id=stix_id("bundle", *ids), allow_custom=True)


def _report_objects(
    report: SharedReport, number: str, statement: str, common: dict[str, Any]
) -> list[Any]:
    at = {"created": report.scanned_at, "modified": report.scanned_at, **common}
    hosts = {
        hid: stix2.Infrastructure(
            id=stix_id("infrastructure", number, report.domain, hid),
            name=hid,
            infrastructure_types=["undefined"],
            x_secmas_domain=report.domain,
            x_secmas_host_id=hid,
            allow_custom=True,
            **at,
        )
        for hid in report.host_ids
    }
    objects: list[Any] = list(hosts.values())
    for index, finding in enumerate(report.findings):
        vulnerability = _vulnerability(finding, f"{number}|{index}", statement, at)
        host = hosts.get(finding.host_id)
        if host is None:
            raise ValueError(f"finding {index} of {report.domain} names an unknown host")
        relationship = stix2.Relationship(
            id=stix_id("relationship", number, report.domain, str(index)),
            source_ref=host.id,
            relationship_type="has",
            target_ref=vulnerability.id,
            **at,
        )
        objects += [vulnerability, relationship]
    summary = stix2.Report(
        id=stix_id("report", number, report.domain),
        name=f"vulnerability scan of domain {report.domain}",
        report_types=["vulnerability"],
        published=report.scanned_at,
        object_refs=[o.id for o in objects],
        x_secmas_domain=report.domain,
        x_secmas_scanner=report.scanner,
        allow_custom=True,
        **at,
    )
    return [summary, *objects]


def _vulnerability(
    finding: SharedFinding, index: str, statement: str, at: dict[str, Any]
) -> stix2.Vulnerability:
    props: dict[str, Any] = {
        property_of(name): finding.fields[name] for name in FIELDS if name in finding.fields
    }
    anonymised = [name for name in FIELDS if name in finding.anonymised]
    if anonymised:
        selectors = [property_of(name) for name in anonymised]
        if "cve" in finding.anonymised:
            selectors.append("name")
        props["granular_markings"] = [{"marking_ref": statement, "selectors": selectors}]
        props["x_secmas_anonymised"] = anonymised
        props["x_secmas_anonymisation"] = {name: finding.anonymised[name] for name in anonymised}
    cve = finding.fields.get("cve", "")
    if cve and "cve" not in finding.anonymised:
        props["external_references"] = [
            {
                "source_name": "cve",
                "external_id": cve,
                "url": f"https://nvd.nist.gov/vuln/detail/{cve}",
            }
        ]
    return stix2.Vulnerability(
        id=stix_id("vulnerability", finding.domain, finding.host_id, index),
        name=cve or f"finding {index}",
        x_secmas_domain=finding.domain,
        x_secmas_host_id=finding.host_id,
        x_secmas_severity=finding.severity,
        x_secmas_base_score=finding.base_score,
        x_secmas_risk=finding.risk,
        allow_custom=True,
        **props,
        **at,
    )


def bundle_json(bundle: stix2.Bundle) -> str:
    """The bundle as indented JSON text."""
    return bundle.serialize(pretty=True)


def parse_bundle(text: str, source: str = "<bundle>") -> stix2.Bundle:
    """Parse and validate STIX 2.1 bundle JSON with `stix2` (custom properties allowed)."""
    try:
        parsed = stix2.parse(text, allow_custom=True)
    except json.JSONDecodeError as exc:
        raise CTIInputError([Problem(source, "", f"JSON syntax: {exc.msg}", exc.lineno)]) from None
    except (STIXError, KeyError, ValueError, TypeError) as exc:
        raise CTIInputError([Problem(source, "", f"not valid STIX 2.1: {exc}")]) from None
    if not isinstance(parsed, stix2.Bundle):
        raise CTIInputError([Problem(source, "type", "expected a STIX bundle")])
    return parsed


def read_bundle(bundle: stix2.Bundle) -> list[SharedReport]:
    """The shared reports of a `secmas` bundle: the subscriber's view of each domain."""
    by_id = {o.id: o for o in bundle.objects}
    reports: list[SharedReport] = []
    for obj in bundle.objects:
        if obj.type != "report" or "x_secmas_domain" not in obj:
            continue
        members = [by_id[ref] for ref in obj.object_refs if ref in by_id]
        hosts = tuple(o.x_secmas_host_id for o in members if o.type == "infrastructure")
        findings = tuple(_shared_finding(o) for o in members if o.type == "vulnerability")
        scanned_at: datetime = obj.published
        reports.append(
            SharedReport(
                obj.x_secmas_domain, obj.get("x_secmas_scanner", ""), scanned_at, hosts, findings
            )
        )
    return reports


def _shared_finding(obj: Any) -> SharedFinding:
    fields = {name: obj[property_of(name)] for name in FIELDS if property_of(name) in obj}
    return SharedFinding(
        obj.x_secmas_domain,
        obj.x_secmas_host_id,
        obj.x_secmas_severity,
        float(obj.x_secmas_base_score),
        float(obj.x_secmas_risk),
        fields,
        dict(obj.get("x_secmas_anonymisation", {})),
    )

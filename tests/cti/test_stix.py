"""Strict STIX 2.1 bundles: entities as objects, own properties in a property extension,
validity (stix2 without custom content, the OASIS validator), TLP 2.0, the anonymised
marking; sightings, confidence, indicators and courses of action."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
import stix2
import stix2.markings
from stix2patterns.validator import run_validator
from stix2validator import ValidationOptions, validate_string

from secmas.cti.errors import CTIInputError
from secmas.cti.maps import FieldMap
from secmas.cti.markings import TLP2_EXTENSION, TLP2_IDS
from secmas.cti.reports import DEFAULT_QOD, Finding, Host, ScanReport
from secmas.cti.risk import parse_cvss
from secmas.cti.sharing import share_report
from secmas.cti.stix import (
    ANONYMISED_STATEMENT,
    EXTENSION_ID,
    build_bundles,
    bundle_text,
    extension,
    parse_bundle,
    pattern_string,
    read_bundle,
)

KEY = b"publisher key"
SCAN = datetime(2025, 9, 15, 2, tzinfo=UTC)
WEB = Host("10.20.1.17", "cdn-01.edge-a.example", "Ubuntu 20.04.6 LTS")


def scan(domain: str = "edge-a") -> ScanReport:
    findings = (
        Finding(
            WEB,
            "CVE-2014-0160",
            parse_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"),
            date(2014, 4, 7),
            SCAN,
            "cpe:2.3:a:openssl:openssl:1.0.1f:*:*:*:*:*:*:*",
            "443/tcp",
            "OpenSSL Heartbleed",
            97,
        ),
        Finding(
            WEB,
            "CVE-2024-7347",
            parse_cvss("CVSS:4.0/AV:L/AC:H/AT:N/PR:L/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N"),
            date(2024, 8, 14),
            SCAN,
            "cpe:2.3:a:f5:nginx:1.24.0:*:*:*:*:*:*:*",
            "443/tcp",
        ),
        Finding(
            WEB,
            "CVE-2014-0160",
            parse_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"),
            date(2014, 4, 7),
            SCAN.replace(minute=20),
            "cpe:2.3:a:openssl:openssl:1.0.1f:*:*:*:*:*:*:*",
            "8443/tcp",
            "OpenSSL Heartbleed",
            80,
        ),
    )
    return ScanReport("r.json", domain, "OpenVAS", SCAN, (WEB, Host("10.20.1.30")), findings)


SENSITIVITY = FieldMap(
    "sensitivity", {"host_ip": 0.9, "hostname": 0.8, "cpe": 0.6, "scanner": 1.0}, default=0.1
)
NECESSITY = FieldMap("necessity", {"cpe": 0.4}, default=0.5)


def shared(domain: str = "edge-a", key: bytes = KEY, sensitivity: FieldMap = SENSITIVITY):
    return share_report(scan(domain), sensitivity, NECESSITY, key)[0]


def text_of(reports, key: bytes = KEY, tlp: str = "amber") -> str:
    return bundle_text(build_bundles(reports, key, tlp=tlp)[0])


def parsed(reports=None, **kwargs) -> stix2.Bundle:
    return parse_bundle(text_of(reports or [shared()], **kwargs))


def test_bundle_holds_one_object_per_entity_and_finding() -> None:
    bundle = parsed()
    kinds = [o.type for o in bundle.objects]
    assert kinds.count("identity") == 3  # the publisher; the project; the scanned domain
    assert kinds.count("extension-definition") == kinds.count("report") == 1
    assert kinds.count("infrastructure") == 2  # both scanned hosts, one without findings
    assert kinds.count("vulnerability") == kinds.count("software") == 2
    assert kinds.count("sighting") == kinds.count("course-of-action") == 2
    assert kinds.count("indicator") == 1  # only OpenSSL's CPE is shared as is
    by_id = {o.id: o for o in bundle.objects}
    rels = [o for o in bundle.objects if o.type == "relationship"]
    has = [r for r in rels if r.relationship_type == "has"]
    consists = [r for r in rels if r.relationship_type == "consists-of"]
    assert len(has) == 3 and len(consists) == 2
    for rel in has:
        assert (by_id[rel.source_ref].type, by_id[rel.target_ref].type) == (
            "infrastructure",
            "vulnerability",
        )
        assert by_id[extension(rel)["software_ref"]].type == "software"
    assert {by_id[r.target_ref].type for r in consists} == {"software"}
    (report,) = (o for o in bundle.objects if o.type == "report")
    assert extension(report)["domain"] == "edge-a"
    members = ("infrastructure", "vulnerability", "relationship", "software", "sighting")
    members += ("indicator", "course-of-action")
    domain = next(o.id for o in bundle.objects if o.get("name") == "domain edge-a")
    expected = {o.id for o in bundle.objects if o.type in members} | {domain}
    assert set(report.object_refs) == expected


def test_the_bundle_is_strict_stix() -> None:
    text = text_of([shared("edge-a"), shared("edge-b")])
    results = validate_string(text, ValidationOptions(strict=True, version="2.1"))
    assert results.is_valid, [str(e) for r in results.object_results for e in r.errors]
    objects = json.loads(text)["objects"]
    assert not [k for o in objects for k in o if k.startswith("x_")]
    (definition,) = (o for o in objects if o["type"] == "extension-definition")
    assert definition["id"] == EXTENSION_ID
    assert definition["extension_types"] == ["property-extension"]
    for obj in objects:
        for ident, ext in obj.get("extensions", {}).items():
            own = TLP2_EXTENSION if obj["type"] == "marking-definition" else EXTENSION_ID
            assert (ident, ext["extension_type"]) == (own, "property-extension")
    assert all(
        o["infrastructure_types"] == ["unknown"] for o in objects if "infrastructure_types" in o
    )


def test_vulnerabilities_carry_cve_references_and_the_entities_attributes() -> None:
    bundle = parsed()
    by_id = {o.id: o for o in bundle.objects}
    heartbleed = next(o for o in bundle.objects if o.get("name") == "CVE-2014-0160")
    assert heartbleed.external_references[0].source_name == "cve"
    assert heartbleed.external_references[0].external_id == "CVE-2014-0160"
    assert "url" not in heartbleed.external_references[0]
    assert extension(heartbleed)["severity"] == "High"
    assert extension(heartbleed)["base_score"] == 7.5
    finding = next(
        o
        for o in bundle.objects
        if o.type == "relationship" and o.get("target_ref") == heartbleed.id
    )
    assert extension(finding)["risk"] == pytest.approx(0.7499)
    # R ≈ 0.75: cpe 0.4 · 1.75 = 0.7 ≥ 0.6 → the exact version is shared
    openssl = by_id[extension(finding)["software_ref"]]
    assert openssl.cpe == "cpe:2.3:a:openssl:openssl:1.0.1f:*:*:*:*:*:*:*"
    assert (openssl.vendor, openssl.name, openssl.version) == ("openssl", "openssl", "1.0.1f")
    host = by_id[finding.source_ref]
    assert extension(host)["ip_address"] == "10.20.1.0/24"
    # the host's riskiest finding is Heartbleed: hostname 0.5 · 1.75 ≥ 0.8
    assert extension(host)["hostname"] == WEB.hostname
    fresh = next(o for o in bundle.objects if o.get("name") == "CVE-2024-7347")
    assert extension(fresh)["cvss_vector"].startswith("CVSS:4.0/")
    nginx = next(o for o in bundle.objects if o.type == "software" and o.name == "nginx")
    assert nginx.cpe == "cpe:2.3:a:f5:nginx:*:*:*:*:*:*:*:*" and "version" not in nginx


def test_anonymised_attributes_are_listed_and_marked() -> None:
    bundle = parsed()
    (statement,) = (o for o in bundle.objects if o.get("definition_type") == "statement")
    assert statement.definition.statement == ANONYMISED_STATEMENT
    hosts = [o for o in bundle.objects if o.type == "infrastructure"]
    assert [extension(h)["anonymised"] for h in hosts] == [
        {"ip_address": "prefix-truncation"},
        {"ip_address": "prefix-truncation"},
    ]
    for host in hosts:
        for prop in ("ip_address", "hostname", "domain"):
            if prop not in extension(host):
                continue
            selector = f"extensions.{EXTENSION_ID}.{prop}"
            marked = stix2.markings.is_marked(host, [statement.id], selector)
            assert marked == (prop in extension(host)["anonymised"]), prop
    nginx = next(o for o in bundle.objects if o.type == "software" and o.name == "nginx")
    assert stix2.markings.is_marked(nginx, [statement.id], "cpe")


def test_an_anonymised_cve_leaves_no_cve_reference() -> None:
    secret_cve = FieldMap("sensitivity", {"cve": 1.0}, default=0.0)
    bundle = parsed([shared(sensitivity=secret_cve)])
    for vuln in (o for o in bundle.objects if o.type == "vulnerability"):
        assert vuln.name.startswith("vuln-")
        assert "external_references" not in vuln
        assert extension(vuln)["anonymised"] == {"name": "keyed-pseudonym"}
        assert "CVE-" not in json.dumps(json.loads(vuln.serialize()))
        marking = vuln.granular_markings[0].marking_ref
        assert stix2.markings.is_marked(vuln, [marking], "name")


def test_everything_carries_the_tlp_2_marking() -> None:
    bundle = parsed(tlp="red")
    unmarked = {"marking-definition", "extension-definition"}
    for obj in bundle.objects:
        if obj.type not in unmarked and obj.get("name") != "secmas project":
            assert obj.object_marking_refs == [TLP2_IDS["red"]], obj.type
    (tlp,) = (o for o in bundle.objects if o.id == TLP2_IDS["red"])
    assert tlp.name == "TLP:RED" and tlp.extensions[TLP2_EXTENSION]["tlp_2_0"] == "red"
    for name, level in (("white", "clear"), ("TLP:AMBER+STRICT", "amber+strict")):
        marked = parsed(tlp=name)
        assert {o.id for o in marked.objects if o.type == "marking-definition"} >= {TLP2_IDS[level]}
    with pytest.raises(ValueError, match="unknown TLP level 'purple'"):
        build_bundles([shared()], KEY, tlp="purple")
    with pytest.raises(ValueError, match="no reports"):
        build_bundles([], KEY)


def test_ids_are_uuid4_and_stable_per_key() -> None:
    assert text_of([shared()]) == text_of([shared()])
    assert text_of([shared(key=b"another key")], key=b"another key") != text_of([shared()])
    for obj in json.loads(text_of([shared()]))["objects"]:
        version = 5 if obj["type"] == "software" else 4
        assert uuid.UUID(obj["id"].split("--")[1]).version == version, obj["type"]


def test_each_domain_has_a_bundle_of_its_own() -> None:
    combined, per_domain = build_bundles([shared("edge-a"), shared("edge-b")], KEY)
    assert list(per_domain) == ["edge-a", "edge-b"]
    all_ids = {o["id"] for o in combined["objects"]}
    for domain, bundle in per_domain.items():
        ids = {o["id"] for o in bundle["objects"]}
        assert ids <= all_ids
        reports = [o for o in bundle["objects"] if o["type"] == "report"]
        assert [r["extensions"][EXTENSION_ID]["domain"] for r in reports] == [domain]
        assert set(reports[0]["object_refs"]) <= ids
        parse_bundle(bundle_text(bundle))


def test_read_bundle_recovers_what_was_shared() -> None:
    reports = [shared("edge-a"), shared("edge-b"), shared("edge-a")]
    back = read_bundle(parse_bundle(text_of(reports)))
    assert back == reports
    scrubbed = FieldMap("sensitivity", {"scanner": 0.0, "title": 0.0, "task": 0.0})
    report = replace(scan(), scanner="GVM on gvm-01.corp.internal", task="nightly run")
    free = share_report(report, scrubbed, NECESSITY, KEY)[0]
    assert free.scanner == "GVM on [host]" and free.anonymised == {"scanner": "scrubbed"}
    assert read_bundle(parse_bundle(text_of([free]))) == [free]
    assert {f.confidence for f in free.findings} == {97, DEFAULT_QOD, 80}


def test_invalid_bundles_are_refused() -> None:
    with pytest.raises(CTIInputError, match="JSON syntax"):
        parse_bundle("{", "peer.json")
    with pytest.raises(CTIInputError, match=r"not valid STIX 2\.1"):
        parse_bundle('{"type": "bundle", "id": "bundle--1"}')
    vuln = stix2.Vulnerability(name="CVE-2014-0160")
    with pytest.raises(CTIInputError, match="expected a STIX bundle"):
        parse_bundle(vuln.serialize())
    text = text_of([shared()])
    broken = text.replace('"modified": "2025-09-15T02:00:00.000Z"', '"modified": "soon"', 1)
    with pytest.raises(CTIInputError, match=r"not valid STIX 2\.1"):
        parse_bundle(broken)
    custom = text.replace('"name": "CVE-2014-0160"', '"name": "CVE-2014-0160", "x_note": "hi"')
    with pytest.raises(CTIInputError, match=r"not valid STIX 2\.1"):
        parse_bundle(custom)


def of_kind(bundle: stix2.Bundle, kind: str) -> list:
    return [o for o in bundle.objects if o.type == kind]


def test_sightings_say_where_when_and_how_often() -> None:
    bundle = parsed()
    by_id = {o.id: o for o in bundle.objects}
    (domain,) = (o for o in of_kind(bundle, "identity") if o.name == "domain edge-a")
    sightings = {by_id[s.sighting_of_ref].name: s for s in of_kind(bundle, "sighting")}
    heartbleed = sightings["CVE-2014-0160"]  # on 443/tcp at 02:00 and 8443/tcp at 02:20
    assert heartbleed.count == 2
    assert (heartbleed.first_seen, heartbleed.last_seen) == (SCAN, SCAN.replace(minute=20))
    assert heartbleed.where_sighted_refs == [domain.id]
    assert by_id[extension(heartbleed)["host_ref"]].name == shared().hosts[0].host_id
    assert sightings["CVE-2024-7347"].count == 1


def test_confidence_is_the_scanners_quality_of_detection() -> None:
    bundle = parsed()
    by_name = {o.name: o for o in of_kind(bundle, "vulnerability")}
    assert by_name["CVE-2014-0160"].confidence == 97  # the best of its QoD 97 and 80
    assert by_name["CVE-2024-7347"].confidence == DEFAULT_QOD  # no QoD: GVM's floor
    has = sorted(
        r.confidence for r in of_kind(bundle, "relationship") if r.relationship_type == "has"
    )
    assert has == [DEFAULT_QOD, 80, 97]
    (report,) = of_kind(bundle, "report")
    assert report.confidence == round((97 + 80 + DEFAULT_QOD) / 3)
    (indicator,) = of_kind(bundle, "indicator")
    assert indicator.confidence == 97


def test_indicators_pattern_only_a_shared_cpe() -> None:
    bundle = parsed()
    (indicator,) = of_kind(bundle, "indicator")
    assert indicator.pattern == "[software:cpe = 'cpe:2.3:a:openssl:openssl:1.0.1f:*:*:*:*:*:*:*']"
    assert run_validator(indicator.pattern, stix_version="2.1") == []
    (link,) = (r for r in of_kind(bundle, "relationship") if r.source_ref == indicator.id)
    assert link.relationship_type == "related-to"
    assert {o.id: o for o in bundle.objects}[link.target_ref].name == "CVE-2014-0160"
    # nginx's version is anonymised: its generalised CPE would match what was hidden
    assert "nginx" not in json.dumps(
        [json.loads(i.serialize()) for i in of_kind(bundle, "indicator")]
    )
    hidden_cpe = FieldMap("sensitivity", {"cpe": 1.0}, default=0.0)
    assert of_kind(parsed([shared(sensitivity=hidden_cpe)]), "indicator") == []


def test_pattern_strings_escape_quotes_and_backslashes() -> None:
    cpe = "cpe:2.3:a:o\\'reilly:site\\:web:1.0:*:*:*:*:*:*:*"
    pattern = f"[software:cpe = '{pattern_string(cpe)}']"
    assert run_validator(pattern, stix_version="2.1") == []


def test_courses_of_action_mitigate_each_vulnerability() -> None:
    bundle = parsed()
    by_id = {o.id: o for o in bundle.objects}
    mitigates = [r for r in of_kind(bundle, "relationship") if r.relationship_type == "mitigates"]
    pairs = {(by_id[r.source_ref].name, by_id[r.target_ref].name) for r in mitigates}
    assert pairs == {
        ("Update openssl openssl", "CVE-2014-0160"),
        ("Update f5 nginx", "CVE-2024-7347"),
    }
    for action in of_kind(bundle, "course-of-action"):
        assert "1.24.0" not in action.description  # nothing the sharing rule hid


def test_free_text_travels_scrubbed_or_not_at_all() -> None:
    open_title = FieldMap("sensitivity", {"title": 0.0, "scanner": 1.0}, default=0.1)
    bundle = parsed([shared(sensitivity=open_title)])
    (report,) = of_kind(bundle, "report")
    assert "scanner" not in extension(report)
    assert extension(report)["anonymised"] == {"scanner": "redaction"}
    titled = [r for r in of_kind(bundle, "relationship") if "description" in r]
    assert {r.description for r in titled} == {"OpenSSL Heartbleed"}
    assert all("granular_markings" not in r for r in titled)  # nothing was scrubbed

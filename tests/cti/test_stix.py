"""STIX 2.1 bundles: validity (re-parsed with stix2), TLP, the anonymised-field marking."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import stix2
import stix2.markings

from secmas.cti.errors import CTIInputError
from secmas.cti.maps import FieldMap
from secmas.cti.reports import Finding, Host, ScanReport
from secmas.cti.risk import parse_cvss
from secmas.cti.sharing import share_report
from secmas.cti.stix import (
    ANONYMISED_STATEMENT,
    build_bundle,
    bundle_json,
    parse_bundle,
    property_of,
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
    )
    return ScanReport("r.json", domain, "OpenVAS", SCAN, (WEB, Host("10.20.1.30")), findings)


SENSITIVITY = FieldMap("sensitivity", {"host_ip": 0.9, "hostname": 0.8, "cpe": 0.6}, default=0.1)
NECESSITY = FieldMap("necessity", {"cpe": 0.4}, default=0.5)


def shared(domain: str = "edge-a", key: bytes = KEY, sensitivity: FieldMap = SENSITIVITY):
    return share_report(scan(domain), sensitivity, NECESSITY, key)[0]


def test_bundle_reparses_with_stix2_and_holds_the_expected_objects() -> None:
    text = bundle_json(build_bundle([shared()]))
    bundle = parse_bundle(text)
    kinds = [o.type for o in bundle.objects]
    assert kinds.count("identity") == 1
    assert kinds.count("report") == 1
    assert kinds.count("infrastructure") == 2  # both scanned hosts, one without findings
    assert kinds.count("vulnerability") == kinds.count("relationship") == 2
    by_id = {o.id: o for o in bundle.objects}
    for rel in (o for o in bundle.objects if o.type == "relationship"):
        assert rel.relationship_type == "has"
        assert by_id[rel.source_ref].type == "infrastructure"
        assert by_id[rel.target_ref].type == "vulnerability"
    (report,) = (o for o in bundle.objects if o.type == "report")
    assert report.x_secmas_domain == "edge-a"
    members = ("infrastructure", "vulnerability", "relationship")
    assert set(report.object_refs) == {o.id for o in bundle.objects if o.type in members}


def test_vulnerabilities_carry_cve_references_and_the_shared_fields() -> None:
    bundle = parse_bundle(bundle_json(build_bundle([shared()])))
    heartbleed = next(o for o in bundle.objects if o.get("name") == "CVE-2014-0160")
    assert heartbleed.external_references[0].source_name == "cve"
    assert heartbleed.external_references[0].external_id == "CVE-2014-0160"
    assert heartbleed.x_secmas_severity == "High"
    assert heartbleed.x_secmas_base_score == 7.5
    assert heartbleed.x_secmas_risk == pytest.approx(0.7499)
    # R ≈ 0.75: cpe 0.4 · 1.75 = 0.7 ≥ 0.6 → the exact version is shared
    assert heartbleed.x_secmas_cpe == "cpe:2.3:a:openssl:openssl:1.0.1f:*:*:*:*:*:*:*"
    assert heartbleed.x_secmas_host_ip == "10.20.1.0/24"
    fresh = next(o for o in bundle.objects if o.get("name") == "CVE-2024-7347")
    assert fresh.x_secmas_cpe == "cpe:2.3:a:f5:nginx:*:*:*:*:*:*:*:*"
    assert fresh.x_secmas_cvss_vector.startswith("CVSS:4.0/")


def test_anonymised_fields_are_listed_and_marked() -> None:
    bundle = parse_bundle(bundle_json(build_bundle([shared()])))
    (statement,) = (
        o for o in bundle.objects if o.type == "marking-definition" and o.definition_type != "tlp"
    )
    assert statement.definition.statement == ANONYMISED_STATEMENT
    for vuln in (o for o in bundle.objects if o.type == "vulnerability"):
        anonymised = vuln.x_secmas_anonymised
        assert set(anonymised) == set(vuln.x_secmas_anonymisation)
        assert "host_ip" in anonymised
        for field in ("host_ip", "hostname", "os", "port", "cpe", "cve", "published"):
            marked = stix2.markings.is_marked(vuln, [statement.id], property_of(field))
            assert marked == (field in anonymised), field
    fresh = next(o for o in bundle.objects if o.get("name") == "CVE-2024-7347")
    assert fresh.x_secmas_anonymisation == {
        "host_ip": "prefix-truncation",
        "hostname": "keyed-pseudonym",  # 0.5 · 1.12 < 0.8
        "cpe": "generalisation",
    }
    heartbleed = next(o for o in bundle.objects if o.get("name") == "CVE-2014-0160")
    assert heartbleed.x_secmas_anonymised == ["host_ip"]  # hostname: 0.5 · 1.75 ≥ 0.8


def test_an_anonymised_cve_leaves_no_cve_reference() -> None:
    secret_cve = FieldMap("sensitivity", {"cve": 1.0}, default=0.0)
    bundle = parse_bundle(bundle_json(build_bundle([shared(sensitivity=secret_cve)])))
    for vuln in (o for o in bundle.objects if o.type == "vulnerability"):
        assert vuln.name.startswith("vuln-")
        assert "external_references" not in vuln
        assert vuln.x_secmas_anonymised == ["cve"]
        assert "CVE-" not in json.dumps(json.loads(vuln.serialize()))
        marking = vuln.granular_markings[0].marking_ref
        assert stix2.markings.is_marked(vuln, [marking], "name")


def test_everything_carries_the_tlp_marking() -> None:
    bundle = parse_bundle(bundle_json(build_bundle([shared()], tlp="red")))
    for obj in bundle.objects:
        if obj.type != "marking-definition":
            assert obj.object_marking_refs == [stix2.TLP_RED.id], obj.type
    assert any(o.id == stix2.TLP_RED.id for o in bundle.objects)
    with pytest.raises(ValueError, match="unknown TLP level"):
        build_bundle([shared()], tlp="purple")
    with pytest.raises(ValueError, match="no reports"):
        build_bundle([])


def test_bundles_are_deterministic_per_key() -> None:
    assert bundle_json(build_bundle([shared()])) == bundle_json(build_bundle([shared()]))
    other = bundle_json(build_bundle([shared(key=b"another key")]))
    assert other != bundle_json(build_bundle([shared()]))


def test_read_bundle_recovers_what_was_shared() -> None:
    reports = [shared("edge-a"), shared("edge-b"), shared("edge-a")]
    back = read_bundle(parse_bundle(bundle_json(build_bundle(reports))))
    assert back == reports


def test_invalid_bundles_are_refused() -> None:
    with pytest.raises(CTIInputError, match="JSON syntax"):
        parse_bundle("{", "peer.json")
    with pytest.raises(CTIInputError, match=r"not valid STIX 2\.1"):
        parse_bundle('{"type": "bundle", "id": "bundle--1"}')
    vuln = stix2.Vulnerability(name="CVE-2014-0160")
    with pytest.raises(CTIInputError, match="expected a STIX bundle"):
        parse_bundle(vuln.serialize())
    text = bundle_json(build_bundle([shared()]))
    broken = text.replace('"modified": "2025-09-15T02:00:00.000Z"', '"modified": "soon"', 1)
    with pytest.raises(CTIInputError, match=r"not valid STIX 2\.1"):
        parse_bundle(broken)

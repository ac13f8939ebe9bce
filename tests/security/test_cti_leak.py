"""Attacks on CTI selective sharing (004_… Section 4.1) by a subscriber who reads every
byte of what a publisher shares, and by a peer who sends it a huge scanner report.

The subscriber's aim: recover a value the publisher's rule anonymised (a host's exact OS,
its IP, its software versions) from anywhere in the STIX bundle, e.g. from a sibling
finding of the same host, or another host with the same software. The flooder's aim:
stall the CTI agent with a report too big to serialise. Each test must see them fail."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from secmas.cti.errors import CTIInputError
from secmas.cti.maps import FieldMap, load_field_map
from secmas.cti.reports import MAX_REPORT_BYTES, Finding, Host, ScanReport, load_report
from secmas.cti.risk import parse_cvss
from secmas.cti.share import ShareResult, share, share_reports
from secmas.cti.sharing import ANONYMISE

CTI = Path(__file__).resolve().parents[2] / "scenarios" / "cti"
REPORTS = [CTI / name for name in ("edge-a.json", "edge-b.csv", "core-c.json")]
MAPS = (CTI / "sensitivity.yaml", CTI / "necessity.yaml")
KEY = b"publisher key"


def leaks(result: ShareResult, text: str) -> list[str]:
    """Every anonymised original value that still appears in `text` as a whole token."""
    found = []
    for row in result.decisions:
        if row.decision != ANONYMISE or row.value == row.shared or row.value not in text:
            continue
        token = re.compile(rf"(?<![\w.]){re.escape(row.value)}(?![\w])")
        if token.search(text):
            found.append(f"{row.field}={row.value!r} ({row.entity} {row.entity_id})")
    return sorted(set(found))


@pytest.fixture(scope="module")
def example() -> ShareResult:
    return share(REPORTS, *MAPS, key=KEY)


def test_no_anonymised_value_appears_anywhere_in_the_examples_bundle(example) -> None:
    hidden = {r.field for r in example.decisions if r.decision == ANONYMISE}
    # the example maps hide IPs and hostnames always, OS and CPE for low-risk entities
    assert {"host_ip", "hostname", "os", "cpe"} <= hidden
    assert leaks(example, example.bundle_json) == []
    for domain, text in example.domain_bundles.items():
        assert leaks(example, text) == [], domain


def test_a_sibling_finding_of_the_same_host_does_not_reveal_its_os_or_software() -> None:
    """Issue 26's leak: one host, a dangerous and a harmless finding on the same software.
    Decided per finding, the harmless one anonymised the OS and CPE and the dangerous one
    shared them in clear; decided per attribute of the host and of the software, the
    bundle holds one form only."""
    scan = datetime(2025, 9, 15, tzinfo=UTC)
    host = Host("10.9.9.9", "db-01.secret.example", "Debian 11.7")
    cpe = "cpe:2.3:a:openssl:openssl:1.1.1k:*:*:*:*:*:*:*"
    critical = parse_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    harmless = parse_cvss("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N")
    findings = (
        Finding(host, "CVE-2021-3711", critical, date(2021, 8, 24), scan, cpe, "443/tcp"),
        Finding(host, "CVE-2021-3712", harmless, date(2021, 8, 24), scan, cpe, "443/tcp"),
    )
    other = Host("10.9.9.10", "db-02.secret.example", "Debian 11.7")
    quiet = (Finding(other, "CVE-2021-3712", harmless, date(2021, 8, 24), scan, cpe, "443/tcp"),)
    report = ScanReport("s.json", "secret", "t", scan, (host, other), findings + quiet)
    sensitivity = FieldMap("sensitivity", {"os": 0.5, "cpe": 0.5}, default=0.9)
    necessity = FieldMap("necessity", {"os": 0.3, "cpe": 0.3}, default=0.5)
    result = share_reports([report], sensitivity, necessity, key=KEY)
    assert leaks(result, result.bundle_json) == []
    # both hosts run the same OS and OpenSSL: the quiet host's risk keeps them hidden
    assert "Debian 11.7" not in result.bundle_json and "1.1.1k" not in result.bundle_json


def test_the_bundle_passes_the_oasis_validator_in_strict_mode(example, tmp_path) -> None:
    strict = ValidationOptions(strict=True, version="2.1")
    for text in (example.bundle_json, *example.domain_bundles.values()):
        results = validate_string(text, strict)
        assert results.is_valid, [str(e) for r in results.object_results for e in r.errors]
    bundle = tmp_path / "bundle.json"
    bundle.write_text(example.bundle_json, encoding="utf-8")
    validator = Path(sys.executable).with_name("stix2_validator")
    run = subprocess.run(
        [str(validator), "--strict", "--version", "2.1", str(bundle)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_bundle_parses_without_custom_content(example) -> None:
    parsed = stix2.parse(example.bundle_json, allow_custom=False)
    assert isinstance(parsed, stix2.Bundle)
    for domain, text in example.domain_bundles.items():
        assert stix2.parse(text, allow_custom=False).type == "bundle", domain
    objects = json.loads(example.bundle_json)["objects"]
    assert not [k for o in objects for k in o if k.startswith("x_")]
    versions = {o["id"].split("--")[1][14] for o in objects if o["type"] != "software"}
    assert versions == {"4"}  # UUIDv4 for every SDO, SRO and marking (SCOs: v5 by spec)


def huge_report(path: Path, size: int) -> Path:
    """A well-formed secmas-scan/1 report of at least `size` bytes."""
    finding = {
        "cve": "CVE-2023-44487",
        "cvss": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
        "published": "2023-10-10",
        "cpe": "cpe:2.3:a:f5:nginx:1.24.0:*:*:*:*:*:*:*",
        "port": "443/tcp",
    }
    host_bytes = len(json.dumps(finding)) * 4 + 80
    hosts = [
        {"ip": f"10.{i // 62500 + 1}.{i // 250 % 250}.{i % 250 + 1}", "findings": [finding] * 4}
        for i in range(size // host_bytes + 1)
    ]
    report = {"domain": "flood", "scanned_at": "2025-09-15T00:00:00Z", "hosts": hosts}
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


def test_a_20_mb_report_is_refused_with_the_size_limit_named(tmp_path) -> None:
    path = huge_report(tmp_path / "flood.json", 20_000_000)
    assert path.stat().st_size > MAX_REPORT_BYTES
    with pytest.raises(CTIInputError) as caught:
        load_report(path)
    message = str(caught.value)
    assert str(path) in message and "limit" in message


def test_a_200_kb_report_is_shared(tmp_path) -> None:
    """It took 164 s before serialisation became linear (bench_cti.py measures it)."""
    path = huge_report(tmp_path / "mid.json", 200_000)
    sensitivity = load_field_map(MAPS[0], "sensitivity")
    necessity = load_field_map(MAPS[1], "necessity")
    result = share_reports([load_report(path)], sensitivity, necessity, key=KEY)
    assert len(result.shared[0].findings) == 4 * len(result.shared[0].hosts)
    assert leaks(result, result.bundle_json) == []

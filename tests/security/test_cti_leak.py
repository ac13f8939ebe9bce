"""Attacks on CTI selective sharing (004_… Section 4.1) by a subscriber who reads every
byte of what a publisher shares, and by a peer who sends it a huge scanner report.

The subscriber's aim: recover a value the publisher's rule anonymised (a host's exact OS,
its IP, its software versions) from anywhere in the STIX bundle, e.g. from a sibling
finding of the same host, or another host with the same software; or read the scanner's
own free text (its banner, a CSV task name, a finding's title), where host names,
addresses, e-mail addresses, credentials and paths turn up. The flooder's aim:
stall the CTI agent with a report too big to serialise. Each test must see them fail."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import stix2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
    """A leak found before: one host, a dangerous and a harmless finding on the same software.
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


FINDING = {
    "cve": "CVE-2023-44487",
    "cvss": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
    "published": "2023-10-10",
    "cpe": "cpe:2.3:a:f5:nginx:1.24.0:*:*:*:*:*:*:*",
    "port": "443/tcp",
}
"""One HTTP/2 Rapid Reset finding on nginx, the reports' building block."""


def huge_report(path: Path, size: int) -> Path:
    """A well-formed secmas-scan/1 report of at least `size` bytes."""
    finding = FINDING
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


# ----------------------------------------------------------------------------- free text

SECRETS = (
    "gvm-master.corp.internal",
    "gvm-master",
    "10.99.0.5",
    "fd00:99::5",
    "alice@corp.example",
    "dave@branch7.example",
    "/opt/gvm/secret-token",
    "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "hunter2-Wq",
    "svc:Pa55w0rd@repo.corp.internal",
    "db-07.branch7.example",
    "10.30.9.77",
)
"""What the adversarial scanner output below carries inside its free text."""

BANNER = (
    "GVM 22.4 on gvm-master.corp.internal (10.99.0.5, fd00:99::5) run by alice@corp.example "
    "/opt/gvm/secret-token=9f8e7d6c5b4a39281706f5e4d3c2b1a0 password=hunter2-Wq"
)
TITLE = (
    "nginx on db-07.branch7.example (10.30.9.77) reachable from gvm-master; mirror "
    "https://svc:Pa55w0rd@repo.corp.internal/nginx"
)


def adversarial_reports(folder: Path) -> list[Path]:
    """A JSON report whose banner and titles, and an OpenVAS CSV whose task name and NVT
    names, are full of identifiers (`SECRETS`)."""
    finding = {**FINDING, "title": TITLE}
    report = {
        "domain": "branch7",
        "scanner": BANNER,
        "scanned_at": "2025-09-15T02:00:00Z",
        "hosts": [{"ip": "10.30.9.77", "hostname": "db-07.branch7.example", "findings": [finding]}],
    }
    scan = folder / "scan-a.json"
    scan.write_text(json.dumps(report), encoding="utf-8")
    header = "IP,Hostname,Port,Port Protocol,CVEs,CVSS Vector,Published,CPE,Timestamp,"
    row = (
        "10.30.9.78,web-08.branch7.example,443,tcp,CVE-2023-44487,"
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H,2023-10-10,"
        "cpe:2.3:a:f5:nginx:1.24.0:*:*:*:*:*:*:*,2025-09-15T03:00:00Z,"
    )
    task = "weekly scan for dave@branch7.example on gvm-master.corp.internal"
    export = folder / "scan-b.csv"
    export.write_text(f'{header}NVT Name,Task Name\n{row}"{TITLE}","{task}"\n', "utf-8")
    return [scan, export]


def secrets_in(text: str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    return [secret for secret in secrets if secret.lower() in text.lower()]


def test_scanner_free_text_is_not_published_under_the_example_maps(tmp_path) -> None:
    """The JSON `scanner` and the CSV `Task Name` used to go out verbatim. The example
    maps do not list them (nor does any map written before free text was a field), so
    their default (confidential) holds: they are left out."""
    result = share(adversarial_reports(tmp_path), *MAPS, key=KEY)
    for text in (result.bundle_json, *result.domain_bundles.values()):
        assert secrets_in(text) == []
    assert leaks(result, result.bundle_json) == []


def test_free_text_a_map_lets_through_is_scrubbed(tmp_path) -> None:
    """A publisher that shares free text gets it without the identifiers inside."""
    weights = {"scanner": 0.0, "task": 0.0, "title": 0.0, "os": 0.0}
    open_text = FieldMap("sensitivity", weights, default=0.9)
    reports = [load_report(path) for path in adversarial_reports(tmp_path)]
    result = share_reports(reports, open_text, FieldMap("necessity"), key=KEY)
    assert secrets_in(result.bundle_json) == []
    shared = json.loads(result.bundle_json)["objects"]
    assert any("[host]" in o.get("description", "") for o in shared)  # scrubbed, not dropped
    scrubbed = {r.field for r in result.decisions if r.method == "scrubbed"}
    assert scrubbed == {"scanner", "task", "title"}
    strict = validate_string(result.bundle_json, ValidationOptions(strict=True, version="2.1"))
    assert strict.is_valid, [str(e) for r in strict.object_results for e in r.errors]


LABEL = st.text("abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=8).map(lambda t: f"zq{t}")
HOSTNAMES = st.builds(lambda a, b, tld: f"{a}.{b}.{tld}", LABEL, LABEL, st.sampled_from(
    ["internal", "corp", "example", "lan", "io"]
))  # fmt: skip
IPV4 = st.builds(lambda a, b: f"172.16.{a}.{b}", st.integers(0, 255), st.integers(1, 254))
IPV6 = st.integers(1, 2**64).map(lambda n: str(ipaddress.IPv6Address((0x20010DB8 << 96) | n)))
EMAILS = st.builds(lambda user, host: f"{user}@{host}", LABEL, HOSTNAMES)
HEX = st.binary(min_size=16, max_size=32).map(bytes.hex)
PATHS = st.builds(lambda a, b: f"/srv/{a}/{b}.key", LABEL, LABEL)
CREDENTIALS = st.builds(
    lambda name, value: (f"{name}={value}", value),
    st.sampled_from(["token", "api_key", "password", "session_id", "secret"]),
    st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=8, max_size=16).map(lambda v: f"Q{v}"),
)
URLS = st.builds(
    lambda user, pw, host: (f"https://{user}:{pw}@{host}/x", pw), LABEL, LABEL, HOSTNAMES
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    host=HOSTNAMES,
    ipv4=IPV4,
    ipv6=IPV6,
    email=EMAILS,
    token=HEX,
    path=PATHS,
    credential=CREDENTIALS,
    url=URLS,
    where=st.sampled_from(["scanner", "task", "title"]),
)
def test_generated_identifiers_in_free_text_never_reach_the_bundle(
    host, ipv4, ipv6, email, token, path, credential, url, where
) -> None:
    (pair, value), (link, password) = credential, url
    text = f"{host} ({ipv4}, {ipv6}) mail {email} at {path} with {token}; {pair} via {link}."
    scan = datetime(2025, 9, 15, tzinfo=UTC)
    target = Host("10.9.9.9", "zz-web.example", "Debian 11.7")
    vector = parse_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    title = text if where == "title" else ""
    cpe = "cpe:2.3:a:openssl:openssl:1.1.1k:*:*:*:*:*:*:*"
    found = Finding(target, "CVE-2021-3711", vector, date(2021, 8, 24), scan, cpe, "", title)
    report = ScanReport(
        "g.json",
        "zone",
        text if where == "scanner" else "GVM",
        scan,
        (target,),
        (found,),
        text if where == "task" else "",
    )
    open_text = FieldMap("sensitivity", {"scanner": 0.0, "task": 0.0, "title": 0.0})
    result = share_reports([report], open_text, FieldMap("necessity"), key=KEY)
    secrets = (host, ipv4, ipv6, email, token, path, value, password, link.split("@")[1])
    assert secrets_in(result.bundle_json, secrets) == []
    (row,) = (r for r in result.decisions if r.field == where)
    assert (row.decision, row.method) == ("include", "scrubbed")

"""The sharing rule: include ⇔ n·(1 + α·R) ≥ s, else anonymise; per attribute of an
entity (host, software, service, vulnerability), one decision per value."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.cti.anonymise import pseudonym, truncate_ip
from secmas.cti.maps import FieldMap
from secmas.cti.reports import FIELDS, Finding, Host, ScanReport
from secmas.cti.risk import parse_cvss
from secmas.cti.sharing import (
    ANONYMISE,
    DECISION_COLUMNS,
    INCLUDE,
    SCRUBBED,
    SharedFinding,
    SharingRule,
    decide,
    host_id,
    share_report,
)

KEY = b"publisher key"
SCAN = datetime(2025, 9, 15, 2, tzinfo=UTC)


def finding(age_days: int = 0, vector: str = "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:L/A:H"):
    """CVE-2021-23017's vector: R = 0.77 · 4/7 · A(d); 0.22 on publication day."""
    published = date.fromordinal(SCAN.date().toordinal() - age_days)
    host = Host("10.20.1.17", "cdn-01.edge-a.example", "Ubuntu 20.04.6 LTS")
    cpe = "cpe:2.3:a:f5:nginx:1.18.0:*:*:*:*:*:*:*"
    return Finding(
        host, "CVE-2021-23017", parse_cvss(vector), published, SCAN, cpe, "443/tcp", "resolver"
    )


def share_finding(
    one: Finding, domain: str, sensitivity: FieldMap, necessity: FieldMap, key: bytes
) -> tuple[SharedFinding, list]:
    """Share a report holding `one` finding only."""
    report = ScanReport("r.json", domain, "t", SCAN, (one.host,), (one,))
    shared, rows = share_report(report, sensitivity, necessity, key)
    return shared.findings[0], rows


def test_need_at_least_the_sensitivity_always_includes() -> None:
    rule = SharingRule()
    assert rule.include(sensitivity=0.5, necessity=0.5, risk=0.0)
    assert rule.include(sensitivity=0.3, necessity=0.9, risk=0.0)


def test_risk_tips_a_field_into_inclusion() -> None:
    rule = SharingRule()
    # 0.5 · (1 + 0.6) = 0.8: exactly the sensitivity
    assert rule.include(sensitivity=0.8, necessity=0.5, risk=0.6)
    assert not rule.include(sensitivity=0.8, necessity=0.5, risk=0.59)
    assert rule.weight(0.6) == pytest.approx(1.6)


def test_too_sensitive_is_anonymised_even_at_maximum_risk() -> None:
    rule = SharingRule()
    assert not rule.include(sensitivity=0.9, necessity=0.3, risk=1.0)  # 0.6 < 0.9


def test_unneeded_fields_are_shared_only_when_not_sensitive() -> None:
    rule = SharingRule()
    assert rule.include(sensitivity=0.0, necessity=0.0, risk=0.0)
    assert not rule.include(sensitivity=0.1, necessity=0.0, risk=1.0)


def test_risk_weight_scales_the_effect_of_risk() -> None:
    assert not SharingRule(risk_weight=0).include(0.8, 0.5, 1.0)
    assert SharingRule(risk_weight=2).include(0.8, 0.5, 0.3)  # 0.5 · 1.6
    with pytest.raises(ValueError, match="risk_weight"):
        SharingRule(risk_weight=-1)
    with pytest.raises(ValueError, match="prefix"):
        SharingRule(v4_prefix=33)


def test_each_field_of_a_finding_is_decided() -> None:
    sensitivity = FieldMap(
        "sensitivity",
        {"host_ip": 0.9, "hostname": 0.8, "os": 0.5, "cpe": 0.3, "cve": 0.2, "port": 0.0},
        default=0.1,
    )
    necessity = FieldMap(
        "necessity", {"cve": 1.0, "cpe": 0.3, "os": 0.4, "host_ip": 0.5, "title": 0.2}
    )
    # R = 0.22 (fresh): w = 1.22. os: 0.4·1.22 = 0.488 < 0.5 → anonymise
    shared, rows = share_finding(finding(0), "edge-a", sensitivity, necessity, KEY)
    decisions = {row.field: row.decision for row in rows}
    assert decisions == {
        "host_ip": ANONYMISE,  # 0.5·1.22 = 0.61 < 0.9
        "hostname": ANONYMISE,  # 0 < 0.8
        "os": ANONYMISE,
        "port": INCLUDE,  # sensitivity 0
        "cpe": INCLUDE,  # need = sensitivity
        "cve": INCLUDE,
        "cvss_vector": ANONYMISE,  # unlisted: necessity 0 < default sensitivity 0.1
        "published": ANONYMISE,
        "title": INCLUDE,  # 0.2·1.22 ≥ 0.1
        "scanner": ANONYMISE,  # the report's own free text: unlisted
    }
    assert shared.risk == 0.22
    assert shared.fields == {
        "host_ip": "10.20.1.0/24",
        "hostname": pseudonym(KEY, "hostname", "cdn-01.edge-a.example"),
        "os": "Ubuntu",
        "port": "443/tcp",
        "cpe": "cpe:2.3:a:f5:nginx:1.18.0:*:*:*:*:*:*:*",
        "cve": "CVE-2021-23017",
        "cvss_vector": "CVSS:3.1",
        "published": "2025",
        "title": "resolver",
    }
    assert shared.anonymised == {
        "host_ip": "prefix-truncation",
        "hostname": "keyed-pseudonym",
        "os": "generalisation",
        "cvss_vector": "generalisation",
        "published": "generalisation",
    }
    os_row = next(row for row in rows if row.field == "os")
    assert (os_row.value, os_row.shared, os_row.method) == (
        "Ubuntu 20.04.6 LTS",
        "Ubuntu",
        "generalisation",
    )
    assert os_row.weight == pytest.approx(1.22)
    assert os_row.score == pytest.approx(0.488)
    assert tuple(os_row.as_row()) == DECISION_COLUMNS


def test_the_same_field_is_shared_for_an_older_riskier_finding() -> None:
    sensitivity = FieldMap("sensitivity", {"os": 0.5}, default=0.0)
    necessity = FieldMap("necessity", {"os": 0.4})
    # two half-lives: A = 0.875, R = 0.77 · 4/7 · 0.875 = 0.385; 0.4 · 1.385 = 0.554 ≥ 0.5
    shared, _ = share_finding(finding(730), "edge-a", sensitivity, necessity, KEY)
    assert shared.risk == pytest.approx(0.385, abs=1e-4)
    assert shared.fields["os"] == "Ubuntu 20.04.6 LTS"
    assert "os" not in shared.anonymised


def test_empty_fields_are_not_decided() -> None:
    bare = Finding(
        Host("10.0.0.1"),
        "CVE-2023-44487",
        parse_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"),
        date(2023, 10, 10),
        SCAN,
        "cpe:2.3:a:f5:nginx:1.24.0:*:*:*:*:*:*:*",
    )
    shared, rows = share_finding(bare, "d", FieldMap("sensitivity"), FieldMap("necessity"), KEY)
    assert {row.field for row in rows} == set(FIELDS) - {"hostname", "os", "port", "title"} | {
        "scanner"
    }
    assert all(row.decision == ANONYMISE for row in rows)
    assert shared.fields["cve"].startswith("vuln-")
    assert shared.label == shared.fields["cve"]


def test_share_report_groups_findings_by_a_keyed_host_id() -> None:
    report = ScanReport(
        "r.json", "edge-a", "OpenVAS", SCAN, (finding().host, Host("10.20.1.18")), (finding(),)
    )
    shared, rows = share_report(report, FieldMap("sensitivity"), FieldMap("necessity"), KEY)
    assert shared.host_ids == (
        host_id(KEY, "edge-a", finding().host),
        host_id(KEY, "edge-a", Host("10.20.1.18")),
    )
    assert shared.findings[0].host_id == shared.host_ids[0]
    assert shared.host_ids[0] != host_id(KEY, "edge-b", finding().host)
    assert shared.host_ids[0] != host_id(b"other", "edge-a", finding().host)
    assert len(rows) == len(FIELDS) + 2  # the clean host's IP; the scanner
    assert truncate_ip("10.20.1.17") == shared.findings[0].fields["host_ip"]


OS = ("Ubuntu 22.04.4 LTS", "Debian 12.5", "Rocky Linux 9.2")
CPES = tuple(f"cpe:2.3:a:f5:nginx:1.{v}.0:*:*:*:*:*:*:*" for v in (18, 22, 24))
VECTORS = (
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:L/A:H",
)


@st.composite
def scans(draw: st.DrawFn) -> ScanReport:
    """A domain's scan: hosts sharing OSes and software, findings of mixed risk."""
    hosts = [
        Host(f"10.1.0.{i + 1}", f"h{i}.example", draw(st.sampled_from(OS)))
        for i in range(draw(st.integers(1, 4)))
    ]
    findings = tuple(
        Finding(
            draw(st.sampled_from(hosts)),
            f"CVE-2024-{draw(st.integers(1000, 1003))}",
            parse_cvss(draw(st.sampled_from(VECTORS))),
            date(2024, 1, 1 + draw(st.integers(0, 2))),
            SCAN,
            draw(st.sampled_from(CPES)),
            draw(st.sampled_from(("443/tcp", "80/tcp"))),
        )
        for _ in range(draw(st.integers(0, 6)))
    )
    return ScanReport(
        "r.json", draw(st.sampled_from(("a", "b"))), "t", SCAN, tuple(hosts), findings
    )


weights = st.floats(0, 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(scans(), min_size=1, max_size=3), st.dictionaries(st.sampled_from(FIELDS), weights))
def test_a_value_is_either_shared_everywhere_or_nowhere(reports, sensitivity) -> None:
    necessity = FieldMap("necessity", {f: 0.45 for f in FIELDS})
    shared, rows = decide(reports, FieldMap("sensitivity", sensitivity), necessity, KEY)
    hidden = {(r.field, r.value) for r in rows if r.decision == ANONYMISE and r.value != r.shared}
    for report in shared:
        for entity in (*report.hosts, *report.findings):
            for name, value in entity.fields.items():
                assert (name, value) not in hidden
    for row in rows:
        assert row.risk <= row.entity_risk  # decided with the least risky carrier


def test_a_host_attribute_is_decided_once_with_the_hosts_riskiest_finding() -> None:
    sensitivity = FieldMap("sensitivity", {"os": 0.5}, default=0.0)
    necessity = FieldMap("necessity", {"os": 0.4}, default=1.0)
    old, fresh = finding(730), finding(0)  # R 0.385 (0.554 ≥ 0.5) and 0.22 (0.488 < 0.5)
    report = ScanReport("r.json", "edge-a", "t", SCAN, (old.host,), (fresh, old))
    shared, rows = share_report(report, sensitivity, necessity, KEY)
    assert {f.fields["os"] for f in shared.findings} == {"Ubuntu 20.04.6 LTS"}
    assert shared.hosts[0].fields["os"] == "Ubuntu 20.04.6 LTS"
    [os_row] = [r for r in rows if r.field == "os"]
    assert (os_row.entity, os_row.entity_id) == ("host", shared.hosts[0].host_id)
    assert os_row.entity_risk == pytest.approx(0.385, abs=1e-3)


def test_a_value_shared_by_a_clean_host_stays_anonymised_on_a_risky_one() -> None:
    sensitivity = FieldMap("sensitivity", {"os": 0.5}, default=0.0)
    necessity = FieldMap("necessity", {"os": 0.4}, default=1.0)
    risky = finding(730)
    clean = Host("10.20.1.99", "spare.edge-a.example", risky.host.os)
    report = ScanReport("r.json", "edge-a", "t", SCAN, (risky.host, clean), (risky,))
    shared, rows = share_report(report, sensitivity, necessity, KEY)
    assert {h.fields["os"] for h in shared.hosts} == {"Ubuntu"}
    assert {(r.entity_risk > 0, r.risk) for r in rows if r.field == "os"} == {
        (True, 0.0),
        (False, 0.0),
    }


def test_free_text_is_dropped_unless_the_map_lets_it_through() -> None:
    """The scanner banner and titles are fields like the others; unlisted, they
    take the publisher's default (confidential) and are left out."""
    banner = "GVM on gvm-01.corp.internal"
    report = ScanReport("r.json", "edge-a", banner, SCAN, (finding().host,), (finding(),), "t")
    shared, rows = share_report(report, FieldMap("sensitivity"), FieldMap("necessity"), KEY)
    assert (shared.scanner, shared.task) == ("", "")
    assert shared.anonymised == {"scanner": "redaction", "task": "redaction"}
    assert "title" not in shared.findings[0].fields
    assert shared.findings[0].anonymised["title"] == "redaction"
    free = {r.field: (r.entity, r.entity_id, r.decision, r.shared) for r in rows}
    assert free["scanner"] == ("scan", "edge-a", ANONYMISE, "")
    assert free["title"] == ("vulnerability", "CVE-2021-23017", ANONYMISE, "")


def test_free_text_let_through_is_scrubbed_and_recorded() -> None:
    host = Host("10.20.1.17", "cdn-01.edge-a.example", "Ubuntu 22.04 on cdn-01")
    title = "resolver on cdn-01 (10.20.1.17) reported to ops@edge-a.example"
    one = Finding(
        host,
        "CVE-2021-23017",
        finding().cvss,
        date(2021, 5, 25),
        SCAN,
        "cpe:/a:f5:nginx",
        "",
        title,
    )
    banner = "GVM 22.4 on gvm-01.corp.internal token=abc123def"
    report = ScanReport("r.json", "edge-a", banner, SCAN, (host,), (one,))
    open_text = FieldMap("sensitivity", {"title": 0.0, "scanner": 0.0, "os": 0.0}, default=1.0)
    shared, rows = share_report(report, open_text, FieldMap("necessity"), KEY)
    assert shared.findings[0].fields["title"] == "resolver on [host] ([ip]) reported to [email]"
    assert shared.scanner == "GVM 22.4 on [host] token=[secret]"
    assert shared.findings[0].fields["os"] == "Ubuntu 22.04 on [host]"
    assert shared.anonymised == {"scanner": SCRUBBED}
    assert shared.findings[0].anonymised["title"] == SCRUBBED
    scrubbed = {r.field: (r.decision, r.method, r.value) for r in rows if r.method == SCRUBBED}
    assert scrubbed["title"] == (INCLUDE, SCRUBBED, title)
    assert set(scrubbed) == {"title", "scanner", "os"}

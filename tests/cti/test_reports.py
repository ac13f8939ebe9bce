"""Scanner reports: the JSON and CSV forms, and errors naming file, line/row, field, reason."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from secmas.cti.errors import CTIInputError
from secmas.cti.reports import (
    CSV_REQUIRED,
    DEFAULT_QOD,
    load_report,
    parse_csv_report,
    parse_json_report,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "cti"

REPORT: dict[str, Any] = {
    "format": "secmas-scan/1",
    "domain": "edge-x",
    "scanner": "OpenVAS 22.4",
    "scanned_at": "2025-09-15T02:00:00Z",
    "hosts": [
        {
            "ip": "10.0.0.5",
            "hostname": "web-1.example",
            "os": "Ubuntu 22.04 LTS",
            "findings": [
                {
                    "cve": "CVE-2023-44487",
                    "cvss": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
                    "published": "2023-10-10",
                    "cpe": "cpe:2.3:a:f5:nginx:1.24.0:*:*:*:*:*:*:*",
                    "port": "443/tcp",
                }
            ],
        },
        {"ip": "10.0.0.6"},
    ],
}


def report(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(REPORT)
    data.update(changes)
    return data


def finding_with(**changes: Any) -> dict[str, Any]:
    data = report()
    data["hosts"][0]["findings"][0].update(changes)
    return data


def line_with(text: str, needle: str) -> int:
    """1-based line of the first line of `text` containing `needle`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def problems_of(text: str, source: str = "r.json") -> list[Any]:
    with pytest.raises(CTIInputError) as caught:
        parse_json_report(text, source)
    return caught.value.problems


# ------------------------------------------------------------------ JSON


def test_json_report_is_parsed() -> None:
    parsed = parse_json_report(json.dumps(REPORT), "r.json")
    assert parsed.domain == "edge-x"
    assert parsed.scanned_at == datetime(2025, 9, 15, 2, tzinfo=UTC)
    assert [h.ip for h in parsed.hosts] == ["10.0.0.5", "10.0.0.6"]
    (finding,) = parsed.findings
    assert finding.cve == "CVE-2023-44487"
    assert finding.cvss.base == 7.5
    assert finding.published == date(2023, 10, 10)
    assert finding.age_days == 706
    assert finding.host.hostname == "web-1.example"
    assert finding.values()["port"] == "443/tcp"


def test_example_json_reports_load() -> None:
    edge = load_report(SCENARIOS / "edge-a.json")
    core = load_report(SCENARIOS / "core-c.json")
    assert (edge.domain, len(edge.hosts), len(edge.findings)) == ("edge-a", 4, 3)
    assert (core.domain, len(core.hosts), len(core.findings)) == ("core-c", 3, 9)
    assert {f.cvss.version for f in edge.findings} == {"3.1", "4.0"}


def test_malformed_json_names_the_line() -> None:
    text = '{\n  "domain": "a",\n  "hosts": [\n    {"ip": "10.0.0.1",}\n  ]\n}\n'
    (problem,) = problems_of(text)
    assert problem.line == 4
    assert "JSON syntax" in problem.message
    assert str(problem).startswith("r.json:4: ")


def test_bad_cvss_vector_names_line_field_and_reason() -> None:
    text = json.dumps(finding_with(cvss="CVSS:3.1/AV:N/AC:L"), indent=2)
    (problem,) = problems_of(text)
    assert problem.field == "hosts[0].findings[0].cvss"
    assert problem.line == line_with(text, '"cvss"')
    assert "Missing mandatory metrics" in problem.message
    assert str(problem).startswith(f"r.json:{problem.line}: hosts[0].findings[0].cvss: bad CVSS")


def test_bad_date_names_line_and_field() -> None:
    text = json.dumps(finding_with(published="10/10/2023"), indent=2)
    (problem,) = problems_of(text)
    assert problem.field == "hosts[0].findings[0].published"
    assert problem.line == line_with(text, '"published"')
    assert "ISO 8601 date" in problem.message


def test_publication_after_the_scan_is_refused() -> None:
    text = json.dumps(finding_with(published="2026-01-01"), indent=2)
    (problem,) = problems_of(text)
    assert problem.field == "hosts[0].findings[0].published"
    assert "after the scan" in problem.message


def test_every_problem_is_reported_at_once() -> None:
    data = finding_with(cve="CVE-20-1", cpe="nginx 1.24", port="99999/tcp", colour="red")
    data["hosts"][1]["ip"] = "10.0.0.300"
    data["scanned_at"] = "yesterday"
    text = json.dumps(data, indent=2)
    problems = problems_of(text)
    by_field = {p.field: p for p in problems}
    assert set(by_field) == {
        "scanned_at",
        "hosts[0].findings[0].cve",
        "hosts[0].findings[0].cpe",
        "hosts[0].findings[0].port",
        "hosts[0].findings[0].colour",
        "hosts[1].ip",
    }
    assert by_field["hosts[1].ip"].line == line_with(text, "10.0.0.300")
    assert "unknown field" in by_field["hosts[0].findings[0].colour"].message
    assert "not a CVE id" in by_field["hosts[0].findings[0].cve"].message


def test_missing_fields_and_wrong_types() -> None:
    data = report()
    del data["domain"]
    del data["hosts"][0]["findings"][0]["cvss"]
    data["hosts"][0]["os"] = 22
    text = json.dumps(data, indent=2)
    messages = {(p.field, p.message) for p in problems_of(text)}
    assert ("", "missing field 'domain'") in messages
    assert ("hosts[0].findings[0]", "missing field 'cvss'") in messages
    assert ("hosts[0].os", "expected a string, got a number") in messages


def test_structure_errors() -> None:
    assert "expected an object" in problems_of("[1, 2]")[0].message
    assert "no hosts" in problems_of(json.dumps(report(hosts=[])))[0].message
    assert "expected a list of hosts" in problems_of(json.dumps(report(hosts={})))[0].message
    assert "unknown format" in problems_of(json.dumps(report(format="v2")))[0].message


def test_duplicate_hosts_are_refused() -> None:
    data = report()
    data["hosts"][1]["ip"] = "10.0.0.5"
    (problem,) = problems_of(json.dumps(data, indent=2))
    assert problem.field == "hosts[1].ip"
    assert "duplicate host 10.0.0.5" in problem.message


def test_several_cves_in_one_finding_are_refused() -> None:
    (problem,) = problems_of(json.dumps(finding_with(cve="CVE-2021-3449, CVE-2021-3450")))
    assert "one CVE per finding" in problem.message


def test_naive_times_are_utc_and_datetimes_are_cut_to_dates() -> None:
    data = finding_with(published="2023-10-10T14:15:10.280")
    data["scanned_at"] = "2025-09-15T02:00:00"
    parsed = parse_json_report(json.dumps(data))
    assert parsed.scanned_at.tzinfo is UTC
    assert parsed.findings[0].published == date(2023, 10, 10)


# ------------------------------------------------------------------ CSV

HEADER = (
    "IP,Hostname,Port,Port Protocol,CVSS,NVT Name,CVEs,Task Name,Timestamp,OS,CPE,"
    "CVSS Vector,Published"
)
ROW = (
    "10.1.0.5,vod-1.example,443,tcp,7.5,Rapid Reset,CVE-2023-44487,edge-y,"
    "2025-09-15T04:10:12Z,Rocky Linux 9.2,cpe:2.3:a:f5:nginx:1.22.0:*:*:*:*:*:*:*,"
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H,2023-10-10"
)


def csv_problems(text: str, **kwargs: Any) -> list[Any]:
    with pytest.raises(CTIInputError) as caught:
        parse_csv_report(text, "r.csv", **kwargs)
    return caught.value.problems


def test_csv_report_is_parsed() -> None:
    second = ROW.replace("10.1.0.5", "10.1.0.6").replace(",443,tcp,", ",,,")
    parsed = parse_csv_report(f"{HEADER}\n{ROW}\n\n{second}\n", "r.csv")
    assert parsed.domain == "edge-y"
    assert [h.ip for h in parsed.hosts] == ["10.1.0.5", "10.1.0.6"]
    assert [f.port for f in parsed.findings] == ["443/tcp", ""]
    assert parsed.findings[0].title == "Rapid Reset"
    assert parsed.findings[0].host.os == "Rocky Linux 9.2"
    assert parsed.scanned_at == datetime(2025, 9, 15, 4, 10, 12, tzinfo=UTC)


def test_csv_columns_are_matched_without_case_and_extra_columns_ignored() -> None:
    header = HEADER.lower().replace("cvss,", "Severity,")
    parsed = parse_csv_report(f"{header},Solution\n{ROW},upgrade\n", "r.csv", domain="zone-9")
    assert parsed.domain == "zone-9"
    assert parsed.findings[0].cvss.base == 7.5


def test_example_csv_report_loads_with_its_task_as_domain() -> None:
    parsed = load_report(SCENARIOS / "edge-b.csv")
    assert (parsed.domain, len(parsed.hosts), len(parsed.findings)) == ("edge-b", 3, 5)
    assert parsed.findings[-1].cpe == "cpe:2.3:a:openbsd:openssh:8.9:p1:*:*:*:*:*:*"


def test_csv_without_task_takes_the_file_stem(tmp_path: Path) -> None:
    header = HEADER.replace("Task Name", "Task")
    path = tmp_path / "metro-7.csv"
    path.write_text(f"{header}\n{ROW}\n")
    assert load_report(path).domain == "metro-7"


def test_missing_columns_are_named() -> None:
    header = HEADER.replace(",CVSS Vector", "").replace(",Published", "")
    row = ROW.rsplit(",", 2)[0]
    problems = csv_problems(f"{header}\n{row}\n")
    assert {p.field for p in problems} == {"CVSS Vector", "Published"}
    assert all(p.line == 1 and "missing column" in p.message for p in problems)
    assert all(name in problems[0].message for name in CSV_REQUIRED)


def test_bad_cvss_vector_in_csv_names_line_row_and_column() -> None:
    bad = ROW.replace("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "CVSS:3.1/AV:N/AC:Z")
    (problem,) = csv_problems(f"{HEADER}\n{ROW}\n{bad}\n")
    assert (problem.line, problem.row, problem.field) == (3, 2, "CVSS Vector")
    assert str(problem).startswith("r.csv:3 (row 2): CVSS Vector: bad CVSS 3.1 vector")


def test_quoted_multiline_cells_keep_line_numbers_right() -> None:
    multi = ROW.replace("Rapid Reset", '"Rapid\nReset"')
    bad = ROW.replace("2023-10-10", "2023-13-40")
    (problem,) = csv_problems(f"{HEADER}\n{multi}\n{bad}\n")
    assert (problem.line, problem.row, problem.field) == (4, 2, "Published")
    assert "ISO 8601 date" in problem.message


def test_csv_row_problems_are_all_reported() -> None:
    bad = (
        ROW.replace("10.1.0.5", "10.1.0")
        .replace("CVE-2023-44487", "CVE-2023-44487 CVE-2023-0286")
        .replace(",443,", ",http,")
        .replace("cpe:2.3:a:f5:nginx:1.22.0:*:*:*:*:*:*:*", "")
    )
    problems = csv_problems(f"{HEADER}\n{bad}\n")
    assert {p.field: p.message.split(":")[0] for p in problems} == {
        "IP": "not an IPv4 or IPv6 address",
        "CVEs": "one CVE per finding expected, got 'CVE-2023-44487 CVE-2023-0286'",
        "Port": "not a port (443/tcp or general/tcp)",
        "CPE": "must not be empty",
    }
    assert all((p.line, p.row) == (2, 1) for p in problems)


def test_short_rows_and_syntax_errors() -> None:
    (problem,) = csv_problems(f"{HEADER}\n10.1.0.5,host\n")
    assert (problem.line, problem.row) == (2, 1)
    assert "row has 2 cells, the header 13" in problem.message
    (problem,) = csv_problems(f'{HEADER}\n{ROW}\n10.1.0.6,"unterminated\n')
    assert problem.line == 3 and "CSV syntax" in problem.message


def test_empty_csv_files() -> None:
    assert "header" in csv_problems("")[0].message
    assert "no findings" in csv_problems(f"{HEADER}\n")[0].message


def test_one_domain_per_csv_file() -> None:
    other = ROW.replace("edge-y", "edge-z").replace("10.1.0.5", "10.1.0.9")
    (problem,) = csv_problems(f"{HEADER}\n{ROW}\n{other}\n")
    assert problem.field == "Task Name"
    assert "'edge-y' (line 2), 'edge-z' (line 3)" in problem.message
    parsed = parse_csv_report(f"{HEADER}\n{ROW}\n{other}\n", domain="both")
    assert parsed.domain == "both"


def test_a_free_text_task_name_is_not_taken_as_the_domain(tmp_path: Path) -> None:
    """The task name used to go out as the domain, e-mail address and all."""
    task = "weekly scan for dave@branch7.example"
    path = tmp_path / "branch-7.csv"
    path.write_text(f"{HEADER}\n{ROW.replace('edge-y', task)}\n")
    parsed = load_report(path)
    assert (parsed.domain, parsed.task) == ("branch-7", task)
    assert parsed.values() == {"scanner": "OpenVAS (CSV)", "task": task}
    labelled = parse_csv_report(f"{HEADER}\n{ROW}\n", "r.csv")
    assert (labelled.domain, labelled.task) == ("edge-y", "")
    named = parse_csv_report(f"{HEADER}\n{ROW}\n", "r.csv", domain="zone-9")
    assert (named.domain, named.task) == ("zone-9", "edge-y")


def test_quality_of_detection_in_csv_and_json() -> None:
    header = f"{HEADER},QoD"
    parsed = parse_csv_report(f"{header}\n{ROW},80%\n{ROW.replace('10.1.0.5', '10.1.0.6')},\n")
    assert [f.qod for f in parsed.findings] == [80, DEFAULT_QOD]
    (problem,) = csv_problems(f"{header}\n{ROW},high\n")
    assert (problem.field, problem.row) == ("QoD", 1)
    assert "not a quality of detection" in problem.message
    assert parse_json_report(json.dumps(finding_with(qod=97))).findings[0].qod == 97
    assert parse_json_report(json.dumps(report())).findings[0].qod == DEFAULT_QOD
    with pytest.raises(CTIInputError, match=r"hosts\[0\]\.findings\[0\]\.qod: a quality"):
        parse_json_report(json.dumps(finding_with(qod=120)))
    with pytest.raises(CTIInputError, match="qod: a quality of detection is 0-100"):
        parse_json_report(json.dumps(finding_with(qod=True)))


# ------------------------------------------------------------------ files


def test_unknown_suffix_and_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "scan.xml"
    path.write_text("<report/>")
    with pytest.raises(CTIInputError, match=r"scan.xml: \(top level\): unknown report format"):
        load_report(path)
    with pytest.raises(CTIInputError, match="cannot read file"):
        load_report(tmp_path / "absent.json")

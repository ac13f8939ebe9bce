"""The CTI agent end to end on the example scenarios: decisions, bundle, hygiene, exclusions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from secmas.cti.errors import CTIInputError
from secmas.cti.hygiene import exclusions
from secmas.cti.maps import FieldMap
from secmas.cti.reports import load_report
from secmas.cti.share import share, share_reports
from secmas.cti.sharing import DECISION_COLUMNS
from secmas.cti.stix import parse_bundle, read_bundle

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "cti"
REPORTS = [SCENARIOS / name for name in ("edge-a.json", "edge-b.csv", "core-c.json")]
MAPS = (SCENARIOS / "sensitivity.yaml", SCENARIOS / "necessity.yaml")


@pytest.fixture(scope="module")
def result():
    return share(REPORTS, *MAPS, key=b"example publisher key")


def test_hygiene_of_the_example_domains(result) -> None:
    # edge-a by hand (risks as shared, 4 decimals):
    #   cdn-edge-01: CVE-2023-44487 R = 0.75·1·(1 − 0.5·2^(−706/365)) = 0.6519,
    #                CVE-2024-7347  R = 0.57·0.2697·(1 − 0.5·2^(−397/365)) = 0.1176
    #                x = 1 − 0.3481·0.8824 = 0.69284
    #   transcoder:  CVE-2024-7055  R = 0.63·(0.62/0.85)·(1 − 0.5·2^(−419/365)) = 0.3558
    #   two clean hosts: H = 1 − (0.69284 + 0.3558) / 4 = 0.73784
    assert result.hygiene["edge-a"] == pytest.approx(0.73784, abs=1e-5)
    assert result.hygiene["edge-b"] == pytest.approx(0.361, abs=1e-3)
    assert result.hygiene["core-c"] == pytest.approx(0.011, abs=1e-3)
    assert list(result.hygiene) == ["edge-a", "edge-b", "core-c"]


def test_low_hygiene_domain_is_excluded(result) -> None:
    pops = {"pop1": "edge-a", "pop2": "edge-a", "pop3": "edge-b", "pop4": "core-c"}
    assert exclusions(result.hygiene, pops, 0.6) == {
        "pop3": "domain edge-b hygiene 0.361 is below the threshold 0.600",
        "pop4": "domain core-c hygiene 0.011 is below the threshold 0.600",
    }
    assert list(exclusions(result.hygiene, pops, 0.3)) == ["pop4"]


def test_decision_table_follows_the_example_maps(result) -> None:
    rows = result.rows
    assert all(tuple(row) == DECISION_COLUMNS for row in rows)
    # one row per attribute of an entity: 10 hosts × 3; software and services per host;
    # 16 CVEs (CVE-2023-44487 is in edge-a and edge-b) × 4 (with the title); 3 scanners
    entities = {(r["entity"], r["entity_id"], r["field"], r["value"]) for r in rows}
    assert len(entities) == len(rows) == 115
    assert sum(r["entity"] == "vulnerability" for r in rows) == 16 * 4
    assert sum(r["entity"] == "scan" for r in rows) == 3
    assert sum(r["entity"] == "host" for r in rows) == 10 * 3
    by_field: dict[str, set[str]] = {}
    for row in rows:
        by_field.setdefault(str(row["field"]), set()).add(str(row["decision"]))
    assert by_field["host_ip"] == by_field["hostname"] == {"anonymise"}
    assert by_field["cve"] == by_field["cvss_vector"] == by_field["published"] == {"include"}
    assert by_field["port"] == {"include"}
    assert by_field["os"] == by_field["cpe"] == {"include", "anonymise"}
    for row in rows:
        if row["field"] == "cpe":  # 0.4 · (1 + R) ≥ 0.6 ⇔ R ≥ 0.5
            assert (row["decision"] == "include") == (float(row["risk"]) >= 0.5)
        if row["field"] == "os":  # 0.4 · (1 + R) ≥ 0.5 ⇔ R ≥ 0.25
            assert (row["decision"] == "include") == (float(row["risk"]) >= 0.25)


def test_no_raw_address_or_hostname_leaves_in_the_bundle(result) -> None:
    text = result.bundle_json
    for path in (SCENARIOS / "edge-a.json", SCENARIOS / "core-c.json"):
        for host in json.loads(path.read_text())["hosts"]:
            assert host["ip"] not in text
            assert host["hostname"] not in text
    assert "10.30.2.5" not in text and "vod-origin-01" not in text
    assert "10.30.2.0/24" in text


def test_bundle_is_what_was_shared(result) -> None:
    received = read_bundle(parse_bundle(result.bundle_json))
    assert tuple(received) == result.shared
    vulns = [o for o in json.loads(result.bundle_json)["objects"] if o["type"] == "vulnerability"]
    assert len(vulns) == 16  # one per CVE
    has = [
        o for o in json.loads(result.bundle_json)["objects"] if o.get("relationship_type") == "has"
    ]
    assert len(has) == 17  # one per finding


def test_same_key_same_bundle_random_key_different_pseudonyms() -> None:
    first = share(REPORTS[:1], *MAPS, key="k")
    assert share(REPORTS[:1], *MAPS, key=b"k").bundle_json == first.bundle_json
    random = share(REPORTS[:1], *MAPS)
    assert random.bundle_json != first.bundle_json
    assert random.hygiene == first.hygiene


def test_problems_of_every_file_are_reported_together(tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"domain": "x", "scanned_at": "2025-01-01", "hosts": [{"ip": "1"}]}')
    bad_map = tmp_path / "necessity.yaml"
    bad_map.write_text("kind: necessity\nfields:\n  cve: 3\n")
    with pytest.raises(CTIInputError) as caught:
        share([REPORTS[0], bad_json], MAPS[0], bad_map)
    text = str(caught.value)
    assert "bad.json:1: hosts[0].ip: not an IPv4 or IPv6 address: '1'" in text
    assert "necessity.yaml:3: fields.cve: expected a number in [0, 1], got 3" in text
    with pytest.raises(CTIInputError, match="no scanner reports"):
        share([], *MAPS)


def test_maps_must_be_given_in_order() -> None:
    report = load_report(REPORTS[0])
    with pytest.raises(ValueError, match="sensitivity map, then a necessity map"):
        share_reports([report], FieldMap("necessity"), FieldMap("sensitivity"), key=b"k")


def test_a_report_is_shared_once(tmp_path: Path) -> None:
    again = SCENARIOS / ".." / "cti" / REPORTS[0].name
    with pytest.raises(CTIInputError, match=re.escape(f"{again} is {REPORTS[0]} again")):
        share([REPORTS[0], REPORTS[1], again], *MAPS)
    copy = tmp_path / "copy.json"
    copy.write_bytes(REPORTS[0].read_bytes())
    copied = f"{copy} holds the same report as {REPORTS[0]}"
    with pytest.raises(CTIInputError, match=re.escape(copied)):
        share([REPORTS[0], copy], *MAPS)
    other = tmp_path / "edge-b.csv"  # a CSV's domain is its file's stem: the same domain
    other.write_bytes(REPORTS[1].read_bytes())
    with pytest.raises(CTIInputError, match="holds the same report"):
        share([REPORTS[1], other], *MAPS)

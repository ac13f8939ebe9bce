"""Hygiene H = 1 − mean host exposure, x_h = 1 − Π(1 − R), and the PoP exclusions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from secmas.cti.hygiene import domain_hygiene, exclusions, host_exposure, hygiene_scores
from secmas.cti.sharing import SharedFinding, SharedHost, SharedReport

SCAN = datetime(2025, 9, 15, tzinfo=UTC)


def vuln(host: str, cve: str, risk: float, domain: str = "d") -> SharedFinding:
    return SharedFinding(domain, host, "High", 7.5, risk, {"cve": cve}, {})


def report(hosts: tuple[str, ...], *findings: SharedFinding, domain: str = "d") -> SharedReport:
    scanned = tuple(SharedHost(host, {}, {}) for host in hosts)
    return SharedReport(domain, "scanner", SCAN, scanned, findings)


def test_host_exposure_is_a_noisy_or() -> None:
    assert host_exposure([]) == 0.0
    assert host_exposure([0.3]) == pytest.approx(0.3)
    assert host_exposure([0.5, 0.5]) == pytest.approx(0.75)
    assert host_exposure([0.2, 0.5, 0.1]) == pytest.approx(1 - 0.8 * 0.5 * 0.9)
    assert host_exposure([1.0, 0.1]) == 1.0
    with pytest.raises(ValueError, match="risk"):
        host_exposure([1.2])


def test_domain_hygiene_by_hand() -> None:
    # host a: 1 − 0.5·0.5 = 0.75; host b: 0.2; host c clean: H = 1 − 0.95/3
    findings = (vuln("a", "CVE-1", 0.5), vuln("a", "CVE-2", 0.5), vuln("b", "X", 0.2))
    r = report(("a", "b", "c"), *findings)
    assert domain_hygiene([r]) == pytest.approx(1 - 0.95 / 3)


def test_clean_domain_is_one_and_fully_exposed_domain_is_zero() -> None:
    assert domain_hygiene([report(("a", "b"))]) == 1.0
    assert domain_hygiene([report(("a",), vuln("a", "CVE-1", 1.0))]) == 0.0


def test_same_cve_on_one_host_counts_once_with_its_highest_risk() -> None:
    r = report(("a",), vuln("a", "CVE-1", 0.4), vuln("a", "CVE-1", 0.6))
    assert domain_hygiene([r]) == pytest.approx(0.4)


def test_reports_of_one_domain_are_merged_by_host() -> None:
    first = report(("a", "b"), vuln("a", "CVE-1", 0.5))
    second = report(("b",), vuln("b", "CVE-2", 0.5), vuln("a", "CVE-3", 0.5))
    # a: 0.75, b: 0.5 → H = 1 − 1.25/2
    assert domain_hygiene([first, second]) == pytest.approx(0.375)


def test_hygiene_scores_per_domain() -> None:
    scores = hygiene_scores(
        [
            report(("a",), vuln("a", "CVE-1", 0.2, "x"), domain="x"),
            report(("p",), domain="y"),
            report(("b",), vuln("b", "CVE-1", 0.6, "x"), domain="x"),
        ]
    )
    assert list(scores) == ["x", "y"]
    assert scores["x"] == pytest.approx(1 - (0.2 + 0.6) / 2)
    assert scores["y"] == 1.0
    with pytest.raises(ValueError, match="no hosts"):
        domain_hygiene([report(())])


def test_exclusions_name_domain_score_and_threshold() -> None:
    hygiene = {"edge-a": 0.738, "edge-b": 0.361, "core-c": 0.011}
    pops = {1: "edge-a", 2: "edge-b", 3: "core-c", 4: "edge-a", 5: "metro"}
    assert exclusions(hygiene, pops, 0.6) == {
        2: "domain edge-b hygiene 0.361 is below the threshold 0.600",
        3: "domain core-c hygiene 0.011 is below the threshold 0.600",
        5: "domain metro has no hygiene score (no CTI shared for it)",
    }
    assert exclusions(hygiene, pops, 0.3, allow_unknown=True) == {
        3: "domain core-c hygiene 0.011 is below the threshold 0.300"
    }


def test_a_score_equal_to_the_threshold_may_bid() -> None:
    assert exclusions({"a": 0.5}, {"pop1": "a"}, 0.5) == {}
    assert exclusions({"a": 0.5}, {"pop1": "a"}, 0.0) == {}
    assert list(exclusions({"a": 0.99}, {"pop1": "a"}, 1.0)) == ["pop1"]


def test_threshold_must_be_a_hygiene_value() -> None:
    with pytest.raises(ValueError, match="threshold"):
        exclusions({}, {}, 1.5)

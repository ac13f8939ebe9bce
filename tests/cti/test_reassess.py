"""The subscriber's own risk per received finding: recomputed from a shared vector and
date, otherwise the publisher's claim bounded by what the shared data allow."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.cti.reassess import finding_risk
from secmas.cti.risk import EXPLOITABILITY_MIN, parse_cvss
from secmas.cti.sharing import SharedFinding

SCANNED = datetime(2025, 9, 15, 2, 0, tzinfo=UTC)
VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"
"""CVE-2023-44487 (base 7.5, Ê = 1), published 2023-10-10: 706 days before the scan."""


def _finding(risk: float, anonymised: tuple[str, ...] = (), base: float = 7.5) -> SharedFinding:
    fields = {"cve": "CVE-2023-44487", "cvss_vector": VECTOR, "published": "2023-10-10"}
    hidden = {f: "generalisation" for f in anonymised}
    fields |= {"cvss_vector": "CVSS:3.1"} if "cvss_vector" in hidden else {}
    fields |= {"published": "2023"} if "published" in hidden else {}
    return SharedFinding("edge-a", "host-1", "High", base, risk, fields, hidden)


@given(st.floats(0.0, 1.0))
def test_with_vector_and_date_shared_the_claim_does_not_matter(claim: float) -> None:
    # R = 0.75 · 1 · (1 − 0.5 · 2^(−706/365)) = 0.6519 (tests/cti/test_share.py)
    assert finding_risk(_finding(claim), SCANNED).risk == 0.6519


def test_with_the_date_anonymised_the_claim_is_kept_within_the_age_bounds() -> None:
    honest = finding_risk(_finding(0.6519, ("published",)), SCANNED)
    assert honest.risk == 0.6519
    assert finding_risk(_finding(0.0, ("published",)), SCANNED).risk == pytest.approx(0.375)
    assert finding_risk(_finding(1.0, ("published",)), SCANNED).risk == pytest.approx(0.75)


def test_with_the_vector_anonymised_only_the_base_score_bounds_the_claim() -> None:
    both = ("cvss_vector", "published")
    assert finding_risk(_finding(0.6519, both), SCANNED).risk == 0.6519
    low = finding_risk(_finding(0.0, both), SCANNED).risk
    assert low == pytest.approx(0.75 * EXPLOITABILITY_MIN * 0.5)
    assert finding_risk(_finding(1.0, both), SCANNED).risk == pytest.approx(0.75)


def test_a_shared_vector_also_fixes_the_base_score() -> None:
    lied = finding_risk(_finding(0.0, base=0.1), SCANNED)
    assert (lied.base_score, lied.severity) == (7.5, parse_cvss(VECTOR).severity)


def test_the_least_exploitable_vector_has_the_minimum_exploitability() -> None:
    score = parse_cvss("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:H")
    assert score.exploitability == pytest.approx(EXPLOITABILITY_MIN, abs=1e-6)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"cvss_vector": "CVSS:3.1/AV:X"}, "bad CVSS 3.1 vector"),
        ({"published": "last year"}, "'last year' is not a date"),
        ({"published": "2026-01-01"}, "after the scan"),
    ],
)
def test_shared_data_that_do_not_hold_are_named(fields: dict[str, str], reason: str) -> None:
    finding = _finding(0.5)
    bad = SharedFinding("edge-a", "h", "High", 7.5, 0.5, finding.fields | fields, {})
    with pytest.raises(ValueError, match=reason):
        finding_risk(bad, SCANNED)

"""Risk score R = (B/10) · Ê · A(d), against values computed by hand."""

from __future__ import annotations

import pytest

from secmas.cti.risk import (
    RiskParams,
    age_factor,
    cvss_risk,
    parse_cvss,
    risk_score,
)


def test_most_exploitable_cvss31_vector_has_exploitability_one() -> None:
    score = parse_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    assert (score.version, score.base, score.severity) == ("3.1", 9.8, "Critical")
    assert score.exploitability == 1.0


def test_high_complexity_scales_exploitability_by_the_ac_weights() -> None:
    # AC:H instead of AC:L: 0.44 / 0.77 = 4/7
    score = parse_cvss("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:L/A:H")
    assert score.base == 7.7
    assert score.exploitability == pytest.approx(4 / 7, abs=1e-9)


def test_local_vector_with_user_interaction() -> None:
    # CVE-2022-41741: AV:L (0.55) and UI:R (0.62): 0.55·0.62 / (0.85·0.85) = 0.341 / 0.7225
    score = parse_cvss("CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H")
    assert score.base == 7.8
    assert score.exploitability == pytest.approx(0.471972, abs=1e-6)


def test_scope_changed_uses_the_scope_changed_privilege_weight() -> None:
    # PR:L with S:C weighs 0.68: Ê = 0.68 / 0.85 = 0.8
    score = parse_cvss("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H")
    assert (score.version, score.base) == ("3.0", 9.9)
    assert score.exploitability == pytest.approx(0.8, abs=1e-9)


def test_cvss40_vector_uses_the_31_weights_on_its_exploitability_metrics() -> None:
    # CVE-2024-7347 as F5 scores it: AV:L 0.55, AC:H 0.44, PR:L 0.62, UI:N 0.85
    # Ê = 0.55·0.44·0.62 / (0.85·0.77·0.85) = 0.15004 / 0.556325
    score = parse_cvss("CVSS:4.0/AV:L/AC:H/AT:N/PR:L/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N")
    assert (score.version, score.base, score.severity) == ("4.0", 5.7, "Medium")
    assert score.exploitability == pytest.approx(0.269699, abs=1e-6)


def test_cvss40_attack_requirements_count_as_high_complexity_and_ui_active_as_required() -> None:
    # AC:L but AT:P → 0.44 (EQ2); UI:A → 0.62: Ê = 0.44·0.62 / (0.77·0.85)
    score = parse_cvss("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:A/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
    assert score.exploitability == pytest.approx(0.2728 / 0.6545, abs=1e-9)
    easy = parse_cvss("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
    assert easy.exploitability == 1.0


@pytest.mark.parametrize(
    ("vector", "reason"),
    [
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", "CVSS 2.0 vector"),
        ("CVSS:3.1/AV:N/AC:L", "Missing mandatory metrics"),
        ("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "bad CVSS 3.1 vector"),
        ("CVSS:4.0/AV:Q", "bad CVSS 4.0 vector"),
        ("CVSS:5.0/AV:N", "expected one starting with CVSS:3.0/"),
        ("high", "not a CVSS vector"),
    ],
)
def test_bad_vectors_are_refused_with_the_reason(vector: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_cvss(vector)


def test_age_factor_is_half_at_publication_and_rises_by_half_lives() -> None:
    assert age_factor(0) == 0.5
    assert age_factor(365) == pytest.approx(0.75)
    assert age_factor(730) == pytest.approx(0.875)
    assert age_factor(100 * 365) == pytest.approx(1.0)
    assert age_factor(30, RiskParams(fresh=1.0)) == 1.0
    assert age_factor(10, RiskParams(fresh=0.2, half_life_days=10)) == pytest.approx(0.6)


def test_risk_of_fresh_nginx_resolver_bug() -> None:
    # CVE-2021-23017 on the day it was published: 0.77 · 4/7 · 0.5 = 0.22
    score = parse_cvss("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:L/A:H")
    assert cvss_risk(score, 0) == pytest.approx(0.22, abs=1e-9)


def test_risk_one_half_life_old_local_bug() -> None:
    # CVE-2022-41741 a year old: 0.78 · 0.471972 · 0.75 = 0.276104
    score = parse_cvss("CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H")
    assert cvss_risk(score, 365) == pytest.approx(0.276104, abs=1e-6)


def test_risk_of_heartbleed_at_the_example_scan() -> None:
    # CVE-2014-0160, published 2014-04-07, scanned 2025-09-15: 4179 days,
    # A = 1 − 0.5 · 2^(−11.449) = 0.99982, R = 0.75 · 1 · 0.99982 = 0.74987
    score = parse_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N")
    assert cvss_risk(score, 4179) == pytest.approx(0.74987, abs=1e-5)


def test_risk_of_a_cvss40_vector_two_years_old() -> None:
    # CVE-2024-7347: 0.57 · 0.269699 · 0.875 = 0.134512
    score = parse_cvss("CVSS:4.0/AV:L/AC:H/AT:N/PR:L/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N")
    assert cvss_risk(score, 730) == pytest.approx(0.134512, abs=1e-6)


def test_no_impact_means_no_risk() -> None:
    score = parse_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N")
    assert (score.base, score.severity) == (0.0, "None")
    assert cvss_risk(score, 1000) == 0.0


def test_risk_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="base score"):
        risk_score(11, 0.5, 0)
    with pytest.raises(ValueError, match="exploitability"):
        risk_score(5, 1.5, 0)
    with pytest.raises(ValueError, match="negative"):
        risk_score(5, 0.5, -1)
    with pytest.raises(ValueError, match="fresh"):
        RiskParams(fresh=0)
    with pytest.raises(ValueError, match="half_life"):
        RiskParams(half_life_days=0)

"""Attack success probability from CVSS scores."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.mtd.attack import (
    V3_EXPLOITABILITY_MAX,
    AttackModel,
    Vulnerability,
    asp,
    asp_limit,
    mean_asp,
)

HOUR = 3600.0
vulns = st.lists(
    st.builds(Vulnerability, base=st.floats(0, 10), exploitability=st.floats(0, 3.887)),
    max_size=5,
)


def test_one_vulnerability_by_hand() -> None:
    v = Vulnerability(base=10.0, exploitability=V3_EXPLOITABILITY_MAX)
    model = AttackModel(rate_per_hour=0.05)
    assert asp([v], 0.0, model) == 0.0
    assert asp([v], HOUR, model) == pytest.approx(1 - math.exp(-0.05))
    half = Vulnerability(base=5.0, exploitability=V3_EXPLOITABILITY_MAX / 2)
    assert asp([half], 10 * HOUR, model) == pytest.approx(0.5 * (1 - math.exp(-0.25)))
    assert asp_limit([v, half]) == pytest.approx(1.0)
    assert asp_limit([half, half]) == pytest.approx(0.75)


def test_mean_asp_by_hand() -> None:
    v = Vulnerability(base=10.0, exploitability=V3_EXPLOITABILITY_MAX)
    lam = 0.05 / HOUR
    t = 4 * HOUR
    exact = 1 - (1 - math.exp(-lam * t)) / (lam * t)  # mean of 1 − e^(−λτ) over [0, t]
    assert mean_asp([v], 0.0, t) == pytest.approx(exact, rel=1e-9)
    assert mean_asp([v], t, t) == asp([v], t)


@given(vulns, st.floats(0, 1e6), st.floats(0, 1e6))
def test_asp_grows_with_time_and_stays_below_its_limit(vs, a, b) -> None:
    early, late = sorted((a, b))
    assert 0.0 <= asp(vs, early) <= asp(vs, late) + 1e-12 <= asp_limit(vs) + 2e-12
    assert asp(vs, early) - 1e-12 <= mean_asp(vs, early, late) <= asp(vs, late) + 1e-12


@given(vulns, st.floats(0, 1e6))
def test_more_vulnerabilities_never_lower_the_asp(vs, t) -> None:
    extra = Vulnerability(base=7.5, exploitability=2.8)
    assert asp([*vs, extra], t) >= asp(vs, t) - 1e-12


def test_bad_scores_are_rejected() -> None:
    with pytest.raises(ValueError):
        Vulnerability(base=11.0, exploitability=1.0)
    with pytest.raises(ValueError):
        Vulnerability(base=5.0, exploitability=5.0)
    with pytest.raises(ValueError):
        asp([], -1.0)
    assert Vulnerability(base=5.0, exploitability=8.0, version="2").ease == pytest.approx(0.8)


def test_from_cvss_vectors() -> None:
    pytest.importorskip("cvss")
    v3 = Vulnerability.from_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVE-x")
    assert v3.base == 9.8 and v3.exploitability == pytest.approx(3.887, abs=1e-3)
    assert v3.ease == pytest.approx(1.0)
    local = Vulnerability.from_vector("CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N")
    assert local.ease < 0.3
    v2 = Vulnerability.from_vector("AV:N/AC:L/Au:N/C:P/I:P/A:P")
    assert v2.version == "2" and v2.base == 7.5
    assert v2.exploitability == pytest.approx(10.0, abs=0.01)

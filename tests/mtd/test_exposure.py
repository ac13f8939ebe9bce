"""A CNF's vulnerabilities from the CTI it runs software of, and its exposure per PoP."""

from __future__ import annotations

import pytest

from secmas.mtd.attack import AttackModel, Vulnerability, asp
from secmas.mtd.exposure import CTIFinding, Residence, applies, cnf_vulnerabilities

NGINX = "cpe:2.3:a:f5:nginx:1.22.0:*:*:*:*:*:*:*"
RAPID_RESET = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"


def test_a_finding_applies_on_the_same_product_and_version_or_a_hidden_version() -> None:
    assert applies(NGINX, NGINX)
    assert applies(NGINX, "cpe:2.3:a:f5:nginx:*:*:*:*:*:*:*:*")  # generalised: cannot rule out
    assert not applies(NGINX, "cpe:2.3:a:f5:nginx:1.24.0:*:*:*:*:*:*:*")
    assert not applies(NGINX, "cpe:2.3:a:nginx:nginx:1.22.0:*:*:*:*:*:*:*")
    with pytest.raises(ValueError, match=r"not a CPE 2\.3 name"):
        applies("nginx 1.22", NGINX)


def test_each_cve_counts_once_and_a_cvss4_vector_is_listed_unscored() -> None:
    findings = [
        CTIFinding("CVE-2023-44487", NGINX, RAPID_RESET, "edge-b"),
        CTIFinding("CVE-2023-44487", "cpe:2.3:a:f5:nginx:*:*:*:*:*:*:*:*", RAPID_RESET, "edge-a"),
        CTIFinding("CVE-2024-7347", NGINX, "CVSS:4.0/AV:L/AC:H/AT:N/PR:L/UI:N/VC:N/VI:N/VA:H", ""),
        CTIFinding("CVE-2014-0160", "cpe:2.3:a:openssl:openssl:1.0.1f:*:*:*:*:*:*:*", RAPID_RESET),
    ]
    matched = cnf_vulnerabilities([NGINX], findings)
    [rapid] = matched.vulnerabilities
    assert (rapid.id, rapid.base, round(rapid.exploitability, 1)) == ("CVE-2023-44487", 7.5, 3.9)
    assert matched.unscored == ("CVE-2024-7347",)


def test_back_on_a_pop_it_left_the_attacker_resumes_where_it_stopped() -> None:
    vulns = [Vulnerability(7.5, 3.887, "CVE-2023-44487")]
    attack = AttackModel(30.0)
    stay = Residence("pop6")
    stay.move("pop4", 100.0)  # 100 s exposed on pop6
    assert stay.asp("pop4", 100.0, vulns, attack) == 0.0  # a PoP it never ran on
    stay.move("pop6", 130.0)  # back after 30 s on pop4
    assert stay.exposure("pop6", 130.0) == 100.0
    assert stay.asp("pop6", 140.0, vulns, attack) == pytest.approx(asp(vulns, 110.0, attack))
    assert stay.exposure("pop4", 140.0) == 30.0

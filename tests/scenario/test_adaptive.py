"""The cti and mtd sections: every bad reference or vector is named with its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from secmas.scenario.loader import ScenarioError, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "scenarios" / "adaptive-defence.yaml").read_text()


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    return [str(p) for p in info.value.problems]


def test_the_adaptive_scenario_loads() -> None:
    scenario = parse_scenario(TEXT)
    assert scenario.cti is not None and scenario.mtd is not None
    assert {p.id: p.domain for p in scenario.pops}["pop5"] == "core-c"
    assert [t.cnf for t in scenario.mtd.targets] == ["web", "api"]


def test_unknown_sensitive_goal() -> None:
    [msg] = problems(TEXT.replace("sensitive_goals: [cnfMoved,", "sensitive_goals: [cnfFlown,"))
    assert "cti.sensitive_goals[0]" in msg and "unknown goal 'cnfFlown'" in msg


def test_unknown_and_repeated_targets() -> None:
    found = problems(TEXT.replace("    - cnf: api\n", "    - cnf: web\n"))
    assert any("mtd.targets[1].cnf" in m and "already a target" in m for m in found)
    found = problems(TEXT.replace("    - cnf: api\n", "    - cnf: db\n"))
    assert any("mtd.targets[1].cnf" in m and "unknown CNF 'db'" in m for m in found)


API_SOFTWARE = '      software:\n        - "cpe:2.3:a:f5:nginx:1.24.0:*:*:*:*:*:*:*"\n'


def test_a_malformed_cvss_vector_of_the_fallback_is_named() -> None:
    typed = '      vulnerabilities:\n        - {id: CVE-2023-44487, cvss: "AV:Q/AC:L"}\n'
    assert API_SOFTWARE in TEXT
    [msg] = problems(TEXT.replace(API_SOFTWARE, typed))
    assert "mtd.targets[1].vulnerabilities[0].cvss" in msg and "not a CVSS" in msg


def test_a_malformed_cpe_and_a_target_without_threat_are_named() -> None:
    [msg] = problems(TEXT.replace('"cpe:2.3:a:f5:nginx:1.24.0:*', '"nginx:1.24.0:*'))
    assert "mtd.targets[1].software[0]" in msg and "not a CPE 2.3 name" in msg
    [msg] = problems(TEXT.replace(API_SOFTWARE, ""))
    assert "mtd.targets[1]" in msg and "give the CNF's software" in msg


def test_cti_needs_pop_domains_and_mtd_the_move_goal() -> None:
    text = TEXT.replace(", domain: edge-b}", "}").replace(", domain: edge-a}", "}")
    [msg] = problems(text.replace(", domain: core-c}", "}"))
    assert "no PoP has a domain" in msg
    found = problems(TEXT.replace("  - name: cnfMoved\n", "  - name: cnfShifted\n"))
    assert any("mtd" in m and "'cnfMoved'" in m for m in found)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("availability: 0.98", "availability: 1.5", "mtd.availability"),
        ("threshold: 0.3", "threshold: -1", "cti.threshold"),
        ("{cpu: 0.1, memory: 180", "{cpu: 3, memory: 180", "mtd.targets[0].load.cpu"),
        ("  step: 15\n", "  step: 0\n", "mtd.step"),
    ],
)
def test_out_of_range_values(old: str, new: str, field: str) -> None:
    assert old in TEXT
    [msg] = problems(TEXT.replace(old, new))
    assert field in msg

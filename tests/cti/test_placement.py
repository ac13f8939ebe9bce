"""CTI in a run: the hygiene a subscriber computes from the bundles it polled over TAXII
keeps low-hygiene PoPs out of sensitive goals, with the reason in the REFUSE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secmas.agents.bidding import GoalRequest
from secmas.cti.errors import CTIInputError
from secmas.cti.placement import HygieneFilter
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Preferences

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
SCENARIO = load_scenario(SCENARIOS / "adaptive-defence.yaml")
assert SCENARIO.cti is not None
SETTINGS = SCENARIO.cti


def request(goal: str) -> GoalRequest:
    return GoalRequest(goal, "pop6", Preferences(T=0.4, C=0.6, D=0.0), args=("web", "1"))


def test_low_hygiene_pops_refuse_sensitive_goals_only() -> None:
    cti = HygieneFilter.prepare(SCENARIO, SCENARIOS, SETTINGS)
    assert cti.exchanged.hygiene["core-c"] == pytest.approx(0.0111, abs=1e-4)
    assert [r.title for r in cti.exchanged.received] == ["edge-a", "edge-b", "core-c"]
    assert set(cti.excluded) == {"pop5"}
    reason = cti.decline("pop5", request("cnfMoved"))
    assert reason is not None and "core-c hygiene 0.011 is below the threshold 0.300" in reason
    assert cti.decline("pop5", request("linkRateLimited")) is None
    assert cti.decline("pop4", request("cnfMoved")) is None
    assert cti.report()["cti"]["refusals"] == [{"pop": "pop5", "goal": "cnfMoved", "count": 1}]


def test_the_threshold_decides_which_domains_stay_out() -> None:
    strict = SETTINGS.model_copy(update={"threshold": 0.6})
    cti = HygieneFilter.prepare(SCENARIO, SCENARIOS, strict)
    # edge-b (0.361) joins core-c; edge-a (0.738) stays in
    assert set(cti.excluded) == {"pop1", "pop2", "pop5"}


def test_pops_without_a_domain_stay_out_unless_allowed() -> None:
    pops = tuple(
        p.model_copy(update={"domain": None}) if p.id == "pop3" else p for p in SCENARIO.pops
    )
    scenario = SCENARIO.model_copy(update={"pops": pops})
    cti = HygieneFilter.prepare(scenario, SCENARIOS, SETTINGS)
    assert "no domain" in cti.excluded["pop3"]
    lenient = SETTINGS.model_copy(update={"allow_unknown": True})
    assert "pop3" not in HygieneFilter.prepare(scenario, SCENARIOS, lenient).excluded


def test_bundle_and_decisions_are_written(tmp_path: Path) -> None:
    cti = HygieneFilter.prepare(SCENARIO, SCENARIOS, SETTINGS)
    bundle, table, record, config = cti.write(tmp_path)
    exchanged = json.loads(record.read_text())
    assert exchanged["server"].startswith("http://127.0.0.1:")
    assert [p["failed"] for p in exchanged["published"]] == [0, 0, 0]
    assert json.loads(config.read_text())["backend"]["module_class"] == "DomainWriteBackend"
    objects = json.loads(bundle.read_text())["objects"]
    assert any(o["type"] == "vulnerability" for o in objects)
    text = bundle.read_text()
    # host addresses leave a domain generalised to their /24 at most
    assert "10.20.1.11" not in text and "10.20.1.0/24" in text
    assert "anonymise" in table.read_text()


def test_a_missing_report_is_named(tmp_path: Path) -> None:
    broken = SETTINGS.model_copy(update={"reports": ("cti/edge-a.json", "cti/nowhere.json")})
    with pytest.raises(CTIInputError) as info:
        HygieneFilter.prepare(SCENARIO, SCENARIOS, broken)
    assert "nowhere.json" in str(info.value)

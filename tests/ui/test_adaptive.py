"""CTI and MTD views (`secmas.ui.adaptive`) from report.json-shaped sections."""

from __future__ import annotations

from typing import Any

from secmas.ui.adaptive import cti_view, mtd_view

CTI: dict[str, Any] = {
    "reports": ["a.json", "b.csv"],
    "hygiene": {"edge": 0.7, "core": 0.01},
    "threshold": 0.3,
    "sensitive_goals": ["cnfMoved"],
    "domains": {"pop1": "edge", "pop2": "core", "pop3": "core"},
    "excluded": {"pop2": "core below", "pop3": "core below"},
    "refusals": [{"pop": "pop2", "goal": "cnfMoved", "count": 2}],
    "findings": 3,
    "decisions": [
        {"field": "host_ip", "decision": "anonymise", "count": 2},
        {"field": "cve", "decision": "include", "count": 3},
        {"field": "host_ip", "decision": "include", "count": 1},
    ],
}
ROW = {
    "domain": "edge",
    "entity": "host",
    "field": "host_ip",
    "value": "10.20.1.11",
    "shared": "10.20.1.0/24",
    "sensitivity": "0.9",
    "necessity": "0.3",
    "risk": "n/a",
    "decision": "anonymise",
    "method": "prefix-truncation",
}
MOVE: dict[str, Any] = {
    "k": 1,
    "cnf": "web",
    "method": "hybrid",
    "migration": "pre-copy",
    "planned_at": 150.0,
    "predicted_total_s": 13.8,
    "predicted_downtime_s": 1.5,
    "source": "pop6",
    "destination": "pop2",
    "posted_at": 90.0,
    "arrived_at": 165.0,
    "outcome": "moved",
    "reason": "",
    "measured_downtime_s": 2.1,
    "measured_total_s": None,
    "within_quota": True,
}


def test_cti_domains_pops_and_decisions_without_the_original_values() -> None:
    view = cti_view(CTI, [ROW, {"field": "", "decision": ""}])
    core, edge = view.domains
    assert (core.domain, core.pops, core.sensitive_goals) == ("core", ["pop2", "pop3"], False)
    assert core.reason == "core below" and edge.sensitive_goals and edge.reason is None
    assert {f.field: f.counts for f in view.fields} == {
        "cve": {"include": 3},
        "host_ip": {"anonymise": 2, "include": 1},
    }
    [decision] = view.decisions
    assert decision.shared == "10.20.1.0/24" and decision.risk is None
    assert "10.20.1.11" not in decision.model_dump_json()
    assert view.refusals[0].count == 2


def test_moves_carry_prediction_and_measurement_and_null_stays_null() -> None:
    simulated = MOVE | {"measured_downtime_s": None, "migration": None}
    section = {"units": [{"name": "shop", "members": ["web"], "budget_s": 4.8}]}
    emulated = {"moves": [MOVE, simulated], "engine": "emulated", "quota_judged_on": "measured"}
    view = mtd_view(section | emulated)
    assert view.quota_judged_on == "measured"
    measured, predicted = view.moves
    assert measured.measured_downtime_s == 2.1 and measured.predicted_downtime_s == 1.5
    assert measured.measured_total_s is None and measured.migration == "pre-copy"
    assert predicted.measured_downtime_s is None and view.measured
    assert not mtd_view({"moves": [simulated]}).measured


def test_sections_that_do_not_fit_say_where_instead_of_failing() -> None:
    assert cti_view({"hygiene": {}}).problem == "report.json: cti.threshold: Field required"
    broken = mtd_view({"moves": [MOVE | {"k": "first"}]})
    assert broken.problem is not None and broken.problem.startswith("report.json: mtd.moves.0.k")
    assert broken.moves == []

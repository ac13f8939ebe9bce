"""Intents → SSLAs: every kind compiles to a term whose formulas parse and mean the intent."""

from __future__ import annotations

import pytest

from secmas.policy.intents import KINDS, Intent, parse_intents
from secmas.policy.kpi import parse
from secmas.policy.ssla import SourceKind, from_xml, to_xml
from secmas.policy.translate import SUPPORTED, ssla_for

INTENTS = {
    intent.kind: intent
    for intent in parse_intents(
        """\
intents:
  - {id: iso, slice: web, kind: isolation, whitelist: [10.1.0.0/16, 10.0.0.5]}
  - {id: acc, slice: web, kind: access, sources: [192.0.2.0/24], priority: 5}
  - {id: res, slice: web, kind: residency, region: eu-west}
  - {id: pat, slice: web, kind: patching, within_hours: 24}
  - {id: ava, slice: web, kind: availability, percent: 99.95}
  - {id: enc, slice: web, kind: encryption}
"""
    ).intents
}


def test_every_kind_is_documented_and_translated() -> None:
    assert list(SUPPORTED) == list(KINDS) == list(INTENTS)


@pytest.mark.parametrize("kind", KINDS)
def test_translation_is_valid_and_round_trips(kind: str) -> None:
    intent: Intent = INTENTS[kind]
    ssla = ssla_for(intent)
    assert (ssla.id, ssla.intent, ssla.slice) == (f"ssla-{intent.id}", intent.id, "web")
    [term] = ssla.terms
    parse(term.indicator.formula)
    breach = parse(term.breach)
    assert breach.aggregate == "METRIC" and breach.field == term.indicator.kpi
    assert term.indicator.period > 0 and term.remediation
    assert "LOG" in {a.kind for a in term.remediation}
    assert from_xml(to_xml(ssla)) == ssla


def test_isolation_counts_packets_outside_the_whitelist() -> None:
    [term] = ssla_for(INTENTS["isolation"]).terms
    assert term.indicator.formula == "COUNT(packets WHERE source_ip NOT IN whitelist) == 0"
    assert term.indicator.source.kind is SourceKind.STREAM
    assert term.indicator.source.name == "web.ingress"
    assert [a.kind for a in term.remediation] == [
        "REJECT_PACKET",
        "NOTIFY",
        "LOG",
    ]
    assert "10.1.0.0/16, 10.0.0.5/32" in term.objective
    formula = parse(term.indicator.formula)
    assert formula.set_names() == {"whitelist"}
    packets = [
        {"source_ip": "10.1.4.2", "packets": 3},
        {"source_ip": "10.66.0.9", "packets": 2.5},
        {"source_ip": "10.0.0.5", "packets": 1},
        {"source_ip": "spoofed?", "packets": 4},
    ]
    sets = term.indicator.set_members()
    result = formula.evaluate(packets, sets=sets, weight="packets")
    assert (result.value, result.holds, result.matched) == (6.5, False, 2)
    assert formula.evaluate(packets, sets=sets).value == 2.0
    assert parse(term.breach).evaluate([], metrics={term.indicator.kpi: result.value}).holds


def test_access_counts_dropped_packets_of_allowed_sources() -> None:
    ssla = ssla_for(INTENTS["access"])
    [term] = ssla.terms
    assert ssla.priority == 5
    assert term.indicator.source.name == "web.rejected"
    dropped = [{"source_ip": "192.0.2.9", "packets": 4}, {"source_ip": "10.66.0.1", "packets": 9}]
    formula = parse(term.indicator.formula)
    result = formula.evaluate(dropped, sets=term.indicator.set_members(), weight="packets")
    assert (result.value, result.holds) == (4.0, False)


def test_availability_compares_the_metric() -> None:
    [term] = ssla_for(INTENTS["availability"]).terms
    assert term.indicator.formula == "availability >= 99.95"
    assert term.breach == "Availability < 99.95"
    assert term.indicator.source.kind is SourceKind.METRIC
    ok = parse(term.indicator.formula).evaluate([], metrics={"availability": 99.99})
    assert ok.holds is True


def test_encryption_revokes_the_sender() -> None:
    [term] = ssla_for(INTENTS["encryption"]).terms
    assert term.indicator.formula == "COUNT(messages WHERE encrypted == FALSE) == 0"
    assert [a.kind for a in term.remediation] == ["REVOKE", "LOG"]
    messages = [{"encrypted": True}, {"encrypted": False}]
    assert parse(term.indicator.formula).evaluate(messages).value == 1.0


def test_residency_and_patching_carry_their_parameters() -> None:
    [residency] = ssla_for(INTENTS["residency"]).terms
    assert "region != 'eu-west'" in residency.indicator.formula
    placements = [{"region": "eu-west"}, {"region": "us-east"}]
    assert parse(residency.indicator.formula).evaluate(placements).value == 1.0
    [patching] = ssla_for(INTENTS["patching"]).terms
    assert "delay_hours > 24)" in patching.indicator.formula
    patches = [
        {"severity": "critical", "delay_hours": 30},
        {"severity": "critical", "delay_hours": 2},
        {"severity": "low", "delay_hours": 300},
    ]
    assert parse(patching.indicator.formula).evaluate(patches).value == 1.0


def test_not_an_intent() -> None:
    with pytest.raises(TypeError):
        ssla_for("isolation")  # type: ignore[arg-type]

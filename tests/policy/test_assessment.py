"""The assessment function: a period in which nothing was measured is "not measured", never
"met", and compliance counts only the periods that were measured."""

from __future__ import annotations

import math

from secmas.policy.assessment import TermMonitor
from secmas.policy.intents import parse_intents
from secmas.policy.ssla import SSLA
from secmas.policy.translate import ssla_for


def monitor(intent: str) -> TermMonitor:
    [ssla] = [ssla_for(i) for i in parse_intents("intents:\n  - " + intent + "\n").intents]
    assert isinstance(ssla, SSLA)
    [term] = ssla.terms
    return TermMonitor(ssla, term, term.indicator.sets)


ENCRYPTION = "{id: enc, slice: web, kind: encryption}"
SEALED = {"subject": "p.pop1", "sender": "pop2", "encrypted": True, "bytes": 90}


def test_an_encryption_term_with_no_frame_is_not_measured() -> None:
    term = monitor(ENCRYPTION)
    assert term.measured  # the run has an agents' bus tap …
    silent = term.assess(1.0)  # … that saw no message in the period
    assert (silent.status, silent.value) == ("not measured", None)
    assert "no record from web.agent-bus: nothing to check" in silent.explain()
    assert term.compliance()["compliance"] is None  # not 100 %
    assert term.compliance()["not_measured"] == 1


def test_compliance_counts_the_measured_periods_only() -> None:
    term = monitor(ENCRYPTION)
    term.feed({"agent-bus": [SEALED]}, {})
    assert term.assess(1.0).status == "met"
    term.assess(2.0)  # silent
    term.feed({"agent-bus": [SEALED | {"encrypted": False}]}, {})
    assert term.assess(3.0).status == "breached"
    record = term.compliance()
    assert (record["periods"], record["breached"], record["not_measured"]) == (3, 1, 1)
    assert record["compliance"] == 0.5


def test_records_none_of_which_match_are_a_measurement() -> None:
    """Messages were seen and none was in clear: a real "met" with KPI 0."""
    term = monitor(ENCRYPTION)
    term.feed({"agent-bus": [SEALED, SEALED]}, {})
    met = term.assess(1.0)
    assert (met.status, met.value) == ("met", 0.0)


def test_a_metric_without_a_number_is_not_measured() -> None:
    term = monitor("{id: ava, slice: s, kind: availability, percent: 99.5}")
    assert term.assess(10.0).status == "not measured"  # no value at all
    term.feed({}, {"availability": math.nan})  # NaN < 99.5 is False: it must not read as met
    nan = term.assess(20.0)
    assert nan.status == "not measured" and "has no value" in nan.explain()
    assert term.compliance()["compliance"] is None


def test_the_periods_not_measured_are_reported_as_intervals() -> None:
    """Which periods were not measured, consecutive ones merged, so that a timeline shows
    them where they were (and draws the others as met or breached)."""
    term = monitor(ENCRYPTION)
    term.assess(1.0)  # silent
    term.assess(2.0)  # silent
    term.feed({"agent-bus": [SEALED]}, {})
    assert term.assess(3.0).status == "met"
    term.assess(4.0)  # silent
    record = term.compliance()
    assert record["not_measured"] == 3
    assert record["not_measured_intervals"] == [
        {"start": 0.0, "end": 2.0, "periods": 2},
        {"start": 3.0, "end": 4.0, "periods": 1},
    ]
    assert sum(gap["periods"] for gap in record["not_measured_intervals"]) == 3

"""Synchronised parallel migration: start_i = max_j d_j − d_i."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.mtd.schedule import align, arrivals, report, spread


def test_align_by_hand() -> None:
    slots = align({"amf": 10.0, "smf": 4.0, "upf": 7.5})
    assert {c: s.start_s for c, s in slots.items()} == {"amf": 0.0, "smf": 6.0, "upf": 2.5}
    assert {s.predicted_arrival_s for s in slots.values()} == {10.0}
    got = arrivals(slots, {"amf": 11.0, "smf": 3.0, "upf": 7.5})
    assert got == {"amf": 11.0, "smf": 9.0, "upf": 10.0}
    assert spread(got) == 2.0


def test_report_by_hand() -> None:
    r = report({"a": 10.0, "b": 4.0}, {"a": 11.0, "b": 4.5})
    assert r.predicted_spread_s == 0.0
    assert r.aligned_spread_s == pytest.approx(0.5)  # arrivals 11.0 and 10.5
    assert r.simultaneous_spread_s == pytest.approx(6.5)
    assert r.max_abs_error_s == pytest.approx(1.0)
    assert r.makespan_s == pytest.approx(11.0)


durations = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=3), st.floats(0.0, 1e4), min_size=1, max_size=8
)


@given(durations, st.data())
def test_arrivals_align_within_the_prediction_errors(predicted, data) -> None:
    errors = {c: data.draw(st.floats(-0.5, 0.5)) * d for c, d in predicted.items()}
    actual = {c: d + errors[c] for c, d in predicted.items()}
    slots = align(predicted)
    assert min(s.start_s for s in slots.values()) == 0.0
    assert spread({c: s.predicted_arrival_s for c, s in slots.items()}) == 0.0
    got = spread(arrivals(slots, actual))
    err = list(errors.values())
    assert got == pytest.approx(max(err) - min(err), abs=1e-6 * (1 + max(predicted.values())))
    assert got <= 2 * max(abs(e) for e in err) + 1e-6 * (1 + max(predicted.values()))


def test_edge_cases() -> None:
    assert align({}) == {}
    assert spread({"a": 3.0}) == 0.0
    with pytest.raises(ValueError):
        align({"a": -1.0})

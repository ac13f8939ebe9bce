"""SSLA terms over time (`secmas.ui.compliance`): episodes, states, bad sections."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from secmas.ui.compliance import ssla_view


def term(name: str, **record: Any) -> dict[str, Any]:
    base = {"ssla": "s1", "term": name, "kpi": "K", "period": 1.0, "periods": 10}
    return base | {"breached": 0, "not_measured": 0, "compliance": 1.0} | record


def breach(name: str, start: float, value: float | None, offending: int = 1) -> dict[str, Any]:
    return {
        "ssla": "s1",
        "term": name,
        "value": value,
        "start": start,
        "end": start + 1,
        "offending": offending,
        "explanation": f"breached at {start}",
    }


def test_adjacent_breached_periods_form_one_episode_with_its_peak_and_enforcements() -> None:
    policy = {
        "compliance": [term("A", breached=3, compliance=0.7), term("B")],
        "breaches": [breach("A", 5, 2.0), breach("A", 3, 1.0, 2), breach("A", 4, None)],
        "enforcements": [
            {"time": 4.0, "ssla": "s1", "term": "A", "action": "REJECT_PACKET", "target": "x"},
            {"time": 4.0, "ssla": "s1", "term": "B", "action": "LOG"},
        ],
        "suspended": [["s1", "B"]],
    }
    view = ssla_view(policy, 10.0)
    a, b = view.terms
    assert a.state == "breached" and not a.suspended
    [episode] = a.episodes
    assert (episode.start, episode.end, episode.periods) == (3, 6, 3)
    assert episode.peak == 2.0 and episode.offending == 4
    assert episode.explanation == "breached at 3"
    assert [e.action for e in a.enforcements] == ["REJECT_PACKET"]
    assert b.state == "compliant" and b.suspended and b.episodes == []


def test_a_term_with_nothing_measured_is_not_measured_never_compliant() -> None:
    policy = {
        "compliance": [
            term("none", not_measured=10, compliance=None),
            term("claimed", not_measured=10, compliance=1.0),
        ]
    }
    for view in ssla_view(policy, 10.0).terms:
        assert view.state == "not measured" and view.compliance is None


def test_the_periods_not_measured_are_carried_where_the_report_says_which() -> None:
    gaps = [{"start": 0.0, "end": 3.0, "periods": 3}, {"start": 7.0, "end": 8.0, "periods": 1}]
    policy = {
        "compliance": [
            term("known", not_measured=4, compliance=1.0, not_measured_intervals=gaps),
            term("older report", not_measured=4, compliance=1.0),
        ]
    }
    known, older = ssla_view(policy, 10.0).terms
    assert known.state == older.state == "compliant"
    assert known.not_measured_intervals is not None
    assert [(g.start, g.end, g.periods) for g in known.not_measured_intervals] == [
        (0.0, 3.0, 3),
        (7.0, 8.0, 1),
    ]
    assert older.not_measured_intervals is None  # which ones is unknown


def test_a_section_that_does_not_fit_says_where() -> None:
    view = ssla_view({"compliance": [{"ssla": "s1"}]}, 10.0)
    assert view.problem == "report.json: policy.compliance.0.term: Field required"
    assert view.terms == []


@given(st.lists(st.tuples(st.integers(0, 50), st.none() | st.floats(0, 1e6)), max_size=30))
def test_episodes_cover_every_breached_period_once(periods: list[tuple[int, float | None]]) -> None:
    starts = {start for start, _ in periods}
    policy = {
        "compliance": [term("A", periods=60, breached=len(starts))],
        "breaches": [breach("A", float(s), v) for s, v in periods],
    }
    episodes = ssla_view(policy, 60.0).terms[0].episodes
    covered = [t for e in episodes for t in range(int(e.start), int(e.end))]
    assert sorted(covered) == sorted(starts)
    assert all(a.end < b.start for a, b in pairwise(episodes))

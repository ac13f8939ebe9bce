"""Event-to-rule episodes from a journal's actions, step walls and attestations, against
hand-computed figures."""

from __future__ import annotations

import pytest

from secmas.agents.journal import ActionEvent
from secmas.report.looplatency import episodes, loop_report, step_wall

WALLS = {22.0: 99.0, 23.0: 100.0, 24.0: 101.0, 27.0: 104.0}


def act(time: float, agent: str, action: str, wall: float) -> ActionEvent:
    return ActionEvent(time, agent, action, "", wall=wall)


def test_the_stages_are_the_step_the_detection_and_the_rule() -> None:
    actions = [
        act(23.0, "pop6", "overUsage", 100.010),
        act(23.0, "pop5", "steer", 100.020),
        act(23.0, "pop5", "limitLink", 100.025),
    ]
    [episode] = episodes(actions, WALLS)
    assert (episode.detector, episode.enforcer, episode.rule) == ("pop6", "pop5", "limitLink")
    data = episode.as_dict()
    assert data["detect_ms"] == pytest.approx(10.0)
    assert data["enforce_ms"] == pytest.approx(15.0)
    assert data["total_ms"] == pytest.approx(25.0)


@pytest.mark.parametrize("noted", [103.990, 104.0])
def test_a_detection_on_a_timer_is_its_own_event(noted: float) -> None:
    """The Anomaly Detector's analysis ends on the clock's timer, not on a step: before
    or after the step's wall time was noted, the step is not its event."""
    actions = [
        act(27.2, "pop5", "detectIntrusion", noted),
        act(27.2, "pop5", "limitIP", noted + 0.005),
    ]
    [episode] = episodes(actions, WALLS)
    assert episode.event_wall == noted
    assert episode.as_dict()["detect_ms"] == 0.0
    assert episode.as_dict()["total_ms"] == pytest.approx(5.0)


def test_the_step_is_the_last_at_or_before_the_detection() -> None:
    assert step_wall(WALLS, 23.5) == 100.0
    assert step_wall(WALLS, 23.0 + 1e-9) == 100.0
    assert step_wall(WALLS, 21.0) is None


def test_a_rule_is_claimed_once_and_never_one_from_before_the_detection() -> None:
    actions = [
        act(23.0, "pop5", "blockFlow", 100.001),  # an earlier episode's
        act(133.0, "pop3", "classifyFlows", 100.010),
        act(133.0, "pop4", "classifyFlows", 100.012),  # the same step: one episode
        act(133.0, "pop5", "blockFlow", 100.030),
        act(140.0, "pop3", "classifyFlows", 100.500),
    ]
    first, second = episodes(actions, WALLS)
    assert (first.detector, first.enforced_wall) == ("pop3", 100.030)
    assert second.enforcer is None and second.total_ms is None
    report = loop_report([first, second])
    assert (report["count"], report["unenforced"]) == (1, 1)
    assert report["p50_ms"] == report["p99_ms"] == pytest.approx(20.0)


def test_attested_names_the_deciding_agents_measured_from_the_step_to_the_next() -> None:
    actions = [act(23.0, "pop6", "overUsage", 100.010), act(23.0, "pop5", "limitLink", 100.02)]
    attestations = [
        {"time": 22.0, "measured": "pop6", "verifier": "pop5"},  # the step before
        {"time": 23.0, "measured": "pop1", "verifier": "pop6"},
        {"time": 23.4, "measured": "pop5", "verifier": "secaas"},
        {"time": 24.0, "measured": "pop2", "verifier": "pop5"},  # the step after the rule's
        {"time": 23.0, "measured": "pop3", "verifier": "pop2"},  # not deciding
    ]
    [episode] = episodes(actions, WALLS, attestations, step=1.0)
    assert episode.attested == ("pop5", "pop6")
    [alone] = episodes(actions, WALLS, attestations[:1] + attestations[3:], step=1.0)
    assert alone.attested == ()


def test_a_detection_on_a_step_before_any_step_has_no_event() -> None:
    [episode] = episodes(
        [act(5.0, "pop6", "overUsage", 1.0), act(5.0, "pop5", "limitLink", 1.1)], WALLS
    )
    assert episode.event_wall is None and episode.total_ms is None
    assert loop_report([episode])["count"] == 0


def test_no_detection_no_episode() -> None:
    report = loop_report(episodes([act(23.0, "pop5", "steer", 1.0)], WALLS))
    assert report == {
        "episodes": [],
        "unenforced": 0,
        "count": 0,
        "p50_ms": None,
        "p99_ms": None,
        "max_ms": None,
    }

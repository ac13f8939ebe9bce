"""Re-baselining after a mitigation (secmas.analytics.rebaseline), on hand-made scores."""

from __future__ import annotations

import numpy as np
import pytest

from secmas.analytics.rebaseline import Rebaseline

LIMIT = 1.0


def feed(rule: Rebaseline, scores: list[float], start: float = 0.0) -> list[dict]:
    decided = []
    for i, score in enumerate(scores):
        event = rule.observe(start + i, score, LIMIT)
        if event is not None:
            decided.append(event)
    return decided


def test_a_new_normal_after_a_mitigation_stops_the_alarms_but_not_a_new_attack() -> None:
    rng = np.random.default_rng(0)
    new_normal = list(1.6 + 0.05 * rng.standard_normal(40))  # above the old limit of 1.0
    rule = Rebaseline(windows=20)
    assert all(rule.flags(s) for s in new_normal)  # before: every window is an alarm
    rule.arm(now=50.0, skip=10)
    tail = [60.0] * 10  # windows still holding the attack: skipped
    decided = feed(rule, tail + new_normal[:20], start=50.0)
    assert len(decided) == 1 and decided[0]["accepted"]
    assert 1.6 < rule.limit < 2.5
    assert not any(rule.flags(s) for s in new_normal[20:])  # after: the new normal is quiet
    assert rule.flags(10.0)  # an attack scoring like the first one is still flagged


def test_a_few_attack_windows_in_the_collection_do_not_set_the_limit() -> None:
    rule = Rebaseline(windows=20)
    rule.arm(now=0.0, skip=0)
    feed(rule, [80.0, 70.0, 40.0] + [1.5] * 17)
    assert rule.limit == pytest.approx(1.25 * 1.5)  # median-based, not the largest score


def test_a_cnf_still_under_attack_is_not_learned_as_normal() -> None:
    rule = Rebaseline(windows=5, cap=5.0)
    rule.arm(now=0.0, skip=2)
    decided = feed(rule, [90.0] * 7)
    assert decided[0]["accepted"] is False and decided[0]["limit"] is None
    assert rule.limit == 0.0 and rule.flags(6.0) and not rule.collecting


def test_every_mitigation_starts_over_from_the_detector_limit() -> None:
    rule = Rebaseline(windows=3)
    rule.arm(now=0.0, skip=0)
    feed(rule, [2.0, 2.0, 2.0])
    assert rule.limit == pytest.approx(2.5)
    rule.arm(now=10.0, skip=0)
    assert rule.limit == 0.0 and rule.collecting and rule.flags(1.5)
    assert rule.observe(11.0, 1.0, LIMIT) is None  # nothing decided before `windows` scores


def test_not_armed_it_changes_nothing() -> None:
    rule = Rebaseline()
    assert rule.observe(0.0, 5.0, LIMIT) is None and rule.events == []
    assert rule.flags(0.1)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"windows": 2}, "at least 3 windows"), ({"cap": 1.0}, "cap > 1"), ({"margin": -1}, "margin")],
)
def test_bad_settings(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rebaseline(**options)

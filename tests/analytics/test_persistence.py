"""The `for:` rule and the alert confidence (secmas.analytics.persistence)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.analytics.persistence import Persistence, confidence


def test_an_alert_fires_only_once_its_condition_held_for_hold_windows() -> None:
    rule = Persistence(hold=3)
    fired = [rule.observe(c) for c in (True, True, False, True, True, True, True)]
    assert fired == [False, False, False, False, False, True, True]
    assert not rule.pending and rule.held == 4


def test_a_single_noisy_window_stays_pending_and_is_forgotten() -> None:
    rule = Persistence(hold=2)
    assert not rule.observe(True) and rule.pending
    assert not rule.observe(False) and not rule.pending and rule.held == 0


@given(st.lists(st.booleans(), max_size=60), st.integers(min_value=1, max_value=6))
def test_it_fires_exactly_when_the_last_hold_windows_all_held(
    conditions: list[bool], hold: int
) -> None:
    rule = Persistence(hold=hold)
    for i, condition in enumerate(conditions):
        window = conditions[max(0, i - hold + 1) : i + 1]
        assert rule.observe(condition) == (len(window) == hold and all(window))


def test_hold_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="hold ≥ 1"):
        Persistence(hold=0)


def test_confidence_grows_with_margin_and_persistence() -> None:
    assert confidence(1.0, 1.0, 3) == 0.0 and confidence(0.5, 1.0, 3) == 0.0
    assert confidence(2.0, 1.0, 1) == pytest.approx(0.5)
    assert confidence(2.0, 1.0, 2) == pytest.approx(0.75)
    assert confidence(2.0, 1.0, 1) < confidence(4.0, 1.0, 1) < 1.0
    assert confidence(3.0, 0.0, 2) == 0.0

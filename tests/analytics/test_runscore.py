"""Scoring a continuous run against the attacker's episodes, afterwards
(secmas.analytics.cnfloop.score_run)."""

from __future__ import annotations

import pytest

from secmas.analytics.cnfloop import Condition, mitigated_before, score_run, showed

EPISODES = [Condition("http_flood", 20.0, 30.0), Condition("high_cpu", 25.0, 200.0)]
BOTH = ("connections", "cpu")


def test_per_attack_delay_and_time_to_mitigate() -> None:
    score = score_run(
        EPISODES,
        [(21.5, BOTH), (27.0, BOTH), (50.0, BOTH)],
        [(21.5, 24.0), (27.0, None)],
        (10.0, 100.0),
        grace=2.0,
    )
    flood, hog = score.attacks
    assert flood["delay"] == pytest.approx(1.5) and flood["time_to_mitigate"] == pytest.approx(2.5)
    # the hog outlived the run: its span is cut at the run's end, its alerts are not false
    assert hog["delay"] == pytest.approx(2.0) and hog["time_to_mitigate"] is None
    assert score.false_alerts == 0 and score.needless_mitigations == 0
    assert score.normal_seconds == pytest.approx(10.0)  # 10–20 s: before the first attack


def test_alerts_and_mitigations_outside_attacks_are_false_and_needless() -> None:
    episodes = [Condition("slowloris", 40.0, 50.0)]
    alerts = [(t, ("connections",)) for t in (15.0, 41.0, 51.0, 90.0)]
    score = score_run(episodes, alerts, [(90.0, 93.0)], (0.0, 100.0), grace=2.0)
    assert score.false_alerts == 2  # 15 and 90; 51 is inside the grace of the attack
    assert score.needless_mitigations == 1
    assert score.normal_seconds == pytest.approx(88.0)
    assert score.false_alerts_per_hour == pytest.approx(3600 * 2 / 88.0)
    report = score.to_json()
    assert report["detected"] == "1/1" and report["median_delay"] == pytest.approx(1.0)


def test_an_attack_never_alerted_is_missed() -> None:
    score = score_run([Condition("syn_flood", 5.0, 9.0)], [], [], (0.0, 60.0), grace=1.0)
    assert score.attacks[0]["delay"] is None and score.to_json()["detected"] == "0/1"
    assert score.false_alerts_per_hour == 0.0


def test_an_alert_counts_only_for_the_attacks_its_explanation_names() -> None:
    """During overlapping attacks a memory leak's alert is not the flood's detection; the
    flood is detected by the later alert on its traffic."""
    episodes = [Condition("high_memory", 30.0, 40.0), Condition("syn_flood", 31.0, 45.0)]
    alerts = [(32.0, ("memory_rss", "cpu")), (36.0, ("connections", "net_rx"))]
    score = score_run(episodes, alerts, [(32.0, 34.0), (36.0, 37.0)], (20.0, 60.0), grace=2.0)
    leak, flood = score.attacks
    assert leak["delay"] == pytest.approx(2.0) and leak["time_to_mitigate"] == pytest.approx(2.0)
    assert flood["delay"] == pytest.approx(5.0) and flood["time_to_mitigate"] == pytest.approx(1.0)
    assert score.false_alerts == 0


def test_an_attack_a_standing_remedy_held_off_was_mitigated_before_detection() -> None:
    flood = Condition("http_flood", 50.0, 56.0)
    moved = [(52.0, ["cpu"]), (30.0, ["connections"])]  # its traffic never moved
    assert not showed(flood, moved, grace=2.0)
    assert mitigated_before(flood, moved, [("guard", 29.0)], grace=2.0)
    # no guard in effect before it, or one against another family: a plain miss
    assert not mitigated_before(flood, moved, [("guard", 51.0)], grace=2.0)
    assert not mitigated_before(flood, moved, [("isolate", 29.0)], grace=2.0)
    # its traffic above its bounds: it showed, and the miss is the loop's
    loud = [(53.0, ["throughput"])]
    assert showed(flood, loud, grace=2.0)
    assert not mitigated_before(flood, loud, [("guard", 29.0)], grace=2.0)

"""Table 5.8's story read from a run's auctions: told, and each way a run left it."""

from __future__ import annotations

from typing import Any

from secmas.report.story import departures, sequence

IP = "10.0.0.100"


def auction(goal: str, status: str, winner: str | None, at: float) -> dict[str, Any]:
    return {
        "goal": goal,
        "goal_name": goal.split("(")[0],
        "status": status,
        "winner": winner,
        "sim_start_s": at,
    }


def told() -> list[dict[str, Any]]:
    """An emulated demo's auctions that told the story (its report.json, abridged)."""
    return [
        auction("linkRateLimited(pop6~server)", "done", "pop5", 13.1),
        auction("anomalousUsage(pop6~server)", "done", "pop5", 15.6),
        auction(f"ipRateLimited({IP})", "done", "pop5", 18.7),
        auction(f"flowRecord({IP})", "no-bids", None, 21.3),
        auction(f"splitTrafficTowardsIp({IP})", "done", "pop5", 22.3),
        auction(f"flowRecord({IP}, 0)", "done", "pop3", 23.3),
        auction(f"flowRecord({IP}, 1)", "done", "pop4", 23.3),
        auction(f"flowRateLimited(10.66.0.1>{IP})", "done", "pop5", 38.7),
    ]


def test_the_reference_sequence_tells_the_story_in_any_listed_order() -> None:
    assert departures(told()) == []
    assert departures(told()[::-1]) == []


def test_a_detector_sized_for_the_unlimited_link_elsewhere_and_no_split_are_named() -> None:
    """An emulated demo before the limits were measured once they bit: the detector at
    3 units fitted only pop1, and the Classifier's retry found room without the split."""
    run = told()
    run[1] = auction("anomalousUsage(pop6~server)", "done", "pop1", 14.1)
    run[4:7] = [auction(f"flowRecord({IP})", "done", "pop4", 25.7)]
    assert departures(run) == [
        "anomalousUsage(pop6~server) went to pop1, not pop5",
        "no splitTrafficTowardsIp auction was won",
        "a Classifier was placed for the whole traffic, without the split",
        "the parts' Classifiers went to no PoP, not ['pop3', 'pop4']",
    ]


def test_both_parts_classifiers_on_one_pop_and_no_flow_limits_are_named() -> None:
    run = [a for a in told() if not a["goal"].startswith("flowRateLimited")]
    run[6] = auction(f"flowRecord({IP}, 1)", "done", "pop3", 23.3)
    assert departures(run) == [
        "the parts' Classifiers went to ['pop3', 'pop3'], not ['pop3', 'pop4']",
        "no malicious flow was limited",
    ]


def test_a_later_episodes_classifier_leaves_the_story_told() -> None:
    """The attack came back after the scale-in (a second over-usage): the Classifier
    auctioned again for the whole traffic found room then. The story is the first
    episode's (a run's whole-traffic Classifier once counted against it)."""
    run = [
        *told(),
        auction(f"flowRecord({IP})", "done", "pop4", 36.2),
        auction(f"flowRecord({IP}, 0)", "done", "pop2", 37.0),
    ]
    assert departures(run) == []


def test_steps_out_of_order_are_named() -> None:
    run = told()
    run[2] = auction(f"ipRateLimited({IP})", "done", "pop5", 12.0)
    assert departures(run) == ["the link limit, detector, IP limit and split came out of order"]


def test_an_empty_run_tells_nothing() -> None:
    found = departures([])
    assert "no linkRateLimited auction was won" in found
    assert "no Classifier was auctioned for the whole traffic before the split" in found


def test_a_sequence_keeps_what_the_story_is_read_from() -> None:
    run = told()
    kept = sequence(run)
    assert kept[0] == ["linkRateLimited(pop6~server)", "done", "pop5", 13.1]
    rebuilt = [auction(goal, status, winner, at) for goal, status, winner, at in kept]
    assert departures(rebuilt) == departures(run) == []

"""The bring-up wait sized from N and the measured start cost (`secmas.pipeline.bringup`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.pipeline.bringup import BringUp

TWO_CORES = BringUp(cores=2)


def test_the_budget_grows_with_the_agents_sharing_the_cores() -> None:
    assert TWO_CORES.budget(100) == pytest.approx(30.0 + 100 * 5.0 / 2)
    assert BringUp(cores=16).budget(100) < TWO_CORES.budget(100)


def test_before_any_arrival_the_wait_lasts_the_budget() -> None:
    wait = TWO_CORES.arrivals(50, now=100.0)
    assert wait.deadline() == pytest.approx(100.0 + TWO_CORES.budget(50))


@given(
    agents=st.integers(2, 300),
    gap=st.floats(0.01, 20.0),
    first=st.floats(0.0, 150.0),
)
def test_agents_that_keep_arriving_never_time_out(agents: int, gap: float, first: float) -> None:
    """Beyond any fixed deadline (the old 120 s for joins): a stream at a steady pace,
    its first arrival within the budget, is waited for to the last agent."""
    wait = TWO_CORES.arrivals(agents, now=0.0)
    now = min(first, TWO_CORES.budget(agents))
    for count in range(1, agents + 1):
        assert now <= wait.deadline()
        wait.seen(count, now)
        now += gap


def test_a_stall_fails_once_the_measured_pace_is_exceeded() -> None:
    wait = TWO_CORES.arrivals(10, now=0.0)
    for count, at in enumerate((40.0, 41.0, 42.0, 43.0), start=1):
        wait.seen(count, at)
    assert wait.interval() == pytest.approx(1.0)
    # six missing at 1 s each, thrice: 18 s, but never less than `first` (30 s)
    assert wait.deadline() == pytest.approx(max(TWO_CORES.budget(10), 43.0 + 30.0))
    slow = TWO_CORES.arrivals(10, now=0.0)
    for count, at in enumerate((40.0, 50.0, 60.0), start=1):
        slow.seen(count, at)
    assert slow.deadline() == pytest.approx(60.0 + 3.0 * 10.0 * 7)


def test_a_count_that_does_not_grow_is_no_arrival() -> None:
    wait = TWO_CORES.arrivals(6, now=0.0, count=4)
    wait.seen(4, 50.0)
    assert wait.last is None
    wait.seen(5, 51.0)
    assert (wait.last, wait.interval()) == (51.0, None)


@pytest.mark.parametrize(
    "settings",
    [{"first": 0.0}, {"start_cost": -1.0}, {"slack": 0.0}, {"cores": 0}, {"cpu_allowance": 0}],
)
def test_settings_out_of_range_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="bring-up settings out of range"):
        BringUp(**settings)


def test_agents_slow_to_start_are_waited_for_while_they_work() -> None:
    """On a starved host none of six agents has joined after the 45 s budget; each still
    gains CPU (imports, its self-measurement), so the wait goes on, `first` s past the
    last sign of work, and fails once they stop working."""
    wait = TWO_CORES.arrivals(6, now=0.0)
    agents = [f"pop{i}" for i in range(1, 7)]
    for second in range(0, 121, 5):
        wait.worked({a: 0.02 * second for a in agents}, agents, float(second))
        assert second <= wait.deadline()
    assert wait.deadline() == pytest.approx(120.0 + TWO_CORES.first)
    wait.worked({a: 2.4 for a in agents}, agents, 125.0)  # nobody gained CPU: no work
    assert wait.deadline() == pytest.approx(150.0)


def test_work_of_agents_already_in_or_beyond_the_allowance_is_no_progress() -> None:
    wait = TWO_CORES.arrivals(2, now=0.0)
    wait.worked({"pop1": 1.0, "pop2": 0.0}, ["pop2"], 50.0)  # pop1 is in: its work is not
    assert wait.busy is None
    allowance = TWO_CORES.cpu_allowance * TWO_CORES.start_cost
    wait.worked({"pop2": allowance + 1.0}, ["pop2"], 60.0)  # spinning past its allowance
    wait.worked({"pop2": allowance + 5.0}, ["pop2"], 70.0)
    assert wait.busy is None and wait.deadline() == pytest.approx(TWO_CORES.budget(2))


def test_the_ceiling_is_far_beyond_any_wait_that_follows_progress() -> None:
    assert TWO_CORES.ceiling(6) == pytest.approx(
        TWO_CORES.budget(6) * TWO_CORES.cpu_allowance * TWO_CORES.slack
    )

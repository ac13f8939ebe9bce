"""The timetable of measurements: periodic steps as before, unannounced checks between
them at the arrivals of a Poisson process, reproducible for a seed on the virtual clock
and drawn from a secret of the MLFO's process in real time."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.scenario.model import Attestation, RandomMeasurements
from secmas.trust.schedule import Draws, Due, Timetable, run_secret

AGENTS = ("a1", "a2", "a3", "a4", "a5", "a6")


def arrivals(timetable: Timetable, horizon: float) -> list[Due]:
    """Every due up to `horizon`, each taking no time (as on the virtual clock)."""
    dues = []
    while (due := timetable.next()).at < horizon:
        dues.append(due)
        timetable.done(due, due.at)
    return dues


def unannounced(seed: int, *, simulated: bool = True, horizon: float = 3600.0) -> list[Due]:
    timetable = Timetable.for_run(Attestation(), "pipe", seed, simulated)
    return [d for d in arrivals(timetable, horizon) if d.unannounced]


def test_a_seed_gives_the_same_checks_on_the_virtual_clock_and_another_seed_others() -> None:
    assert unannounced(7) == unannounced(7)
    assert unannounced(7) != unannounced(8)
    assert Draws.of(run_secret(7, True), "pipe", 7) != Draws.of(run_secret(7, True), "other", 7)


def test_in_real_time_the_checks_come_from_a_secret_nobody_can_recompute() -> None:
    """The seed (in the scenario, so known to every agent) does not give the schedule."""
    assert run_secret(7, False) != run_secret(7, False)
    assert unannounced(7, simulated=False) != unannounced(7, simulated=False)
    assert unannounced(7, simulated=False) != unannounced(7)


def test_draws_are_uniform_in_the_unit_interval() -> None:
    draws = Draws.of(b"k" * 32, "pipe", 0)
    values = [draws.uniform() for _ in range(20_000)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert len(set(values)) == len(values)
    deciles = [sum(int(v * 10) == k for v in values) for k in range(10)]
    assert all(1800 < n < 2200 for n in deciles), deciles


def test_checks_arrive_at_the_scenarios_rate_with_exponential_gaps() -> None:
    """The mean gap is the scenario's interval, and the gap left after waiting 60 s has
    the same mean again (memoryless: watching checks go by says nothing of the next)."""
    dues = unannounced(1, horizon=60 * 20_000)
    gaps = [b.at - a.at for a, b in itertools.pairwise(dues)]
    assert statistics.fmean(gaps) == pytest.approx(60.0, rel=0.03)
    assert statistics.median(gaps) == pytest.approx(60.0 * math.log(2), rel=0.05)
    left = [g - 60.0 for g in gaps if g > 60.0]
    assert statistics.fmean(left) == pytest.approx(60.0, rel=0.05)


def test_each_agent_is_picked_alike() -> None:
    dues = unannounced(2, horizon=60 * 12_000)
    counts = [sum(d.pick(AGENTS) == a for d in dues) for a in AGENTS]
    assert all(abs(n - len(dues) / 6) < 0.1 * len(dues) / 6 for n in counts), counts


def test_a_pick_is_among_the_agents_trusted_then() -> None:
    due = Due(1.0, 0.99)
    assert due.pick(["a1", "a2"]) == "a2"
    assert due.pick(["a1"]) == "a1"
    with pytest.raises(ValueError, match="periodic"):
        Due(1.0).pick(["a1"])


def test_periodic_steps_keep_their_period_after_the_previous_one_ended() -> None:
    timetable = Timetable.for_run(Attestation(period=10, random=None), "pipe", 0, True, now=5.0)
    assert timetable.next() == Due(15.0)
    timetable.done(Due(15.0), 17.5)  # the step took 2.5 s
    assert timetable.next() == Due(27.5)
    assert not any(d.unannounced for d in arrivals(timetable, 10_000))


def test_with_an_interval_the_groups_step_on_a_grid_spread_over_the_first_period() -> None:
    """The groups were sized for the interval at one step a period: a step that took
    2.5 s does not push the next one back, and one that overran runs the next at once."""
    sized = Attestation(period=10, interval=30, random=None)
    first, last = (Timetable.for_run(sized, "pipe", 0, True, now=5.0, group=(g, 4)) for g in (0, 3))
    assert (first.next(), last.next()) == (Due(7.5), Due(15.0, group=3))
    first.done(Due(7.5), 10.0)
    assert first.next() == Due(17.5)
    first.done(Due(17.5), 31.0)  # it overran the next one's time
    assert first.next() == Due(31.0)


def test_checks_do_not_wait_for_the_steps() -> None:
    """A check due while a step runs runs after it, and the next arrival counts from
    when it was due, so slow steps do not thin the Poisson process out."""
    on_time = unannounced(4, horizon=1000.0)
    slow = Timetable.for_run(Attestation(), "pipe", 4, True)
    late: list[Due] = []
    while len(late) < len(on_time):
        due = slow.next()
        late += [due] if due.unannounced else []
        slow.done(due, due.at + 5.0)  # every step and check ends 5 s after it was due
    assert late == on_time


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    period=st.floats(1.0, 60.0),
    rate=st.floats(0.001, 2.0),
)
def test_dues_come_in_time_order_and_steps_a_period_apart(
    seed: int, period: float, rate: float
) -> None:
    attestation = Attestation(period=period, random=RandomMeasurements(rate=rate))
    dues = arrivals(Timetable.for_run(attestation, "pipe", seed, True), 20 * period)
    assert [d.at for d in dues] == sorted(d.at for d in dues)
    steps = [d.at for d in dues if not d.unannounced]
    assert steps == pytest.approx([period * k for k in range(1, len(steps) + 1)])
    assert all(0.0 <= d.draw < 1.0 for d in dues if d.draw is not None)

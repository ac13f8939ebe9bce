"""Attestation groups sized from the longest gap the scenario allows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from secmas.scenario.model import Attestation
from secmas.trust.groups import attestation_groups, group_size, round_steps


def test_one_chain_without_an_interval_or_when_its_round_fits() -> None:
    assert group_size(1000, 10.0, None) == 1000
    assert group_size(6, 10.0, 60.0) == 6  # six steps of 10 s: one round of the chain
    assert attestation_groups(["a", "b", "c"], 10.0, 30.0) == (("a", "b", "c"),)


def test_groups_of_interval_over_period_less_one_for_the_guest_step() -> None:
    """30 s at 10 s a step: three steps a round, two members and the guest."""
    assert group_size(1000, 10.0, 30.0) == 2
    assert group_size(1000, 10.0, 60.0) == 5
    groups = attestation_groups([f"a{i}" for i in range(1000)], 10.0, 30.0)
    assert len(groups) == 500 and {len(g) for g in groups} == {2}
    assert round_steps(2, 500) * 10.0 == 30.0
    assert round_steps(6, 1) == 6


def test_sizes_are_balanced_and_keep_plan_order() -> None:
    plan = [f"p{i}" for i in range(7)]
    groups = attestation_groups(plan, 10.0, 40.0)  # at most 3 each
    assert groups == (("p0", "p1", "p2"), ("p3", "p4"), ("p5", "p6"))


def test_an_interval_shorter_than_three_steps_is_refused() -> None:
    with pytest.raises(ValueError, match="a group needs 3"):
        group_size(10, 10.0, 25.0)
    with pytest.raises(ValidationError, match="shorter than 3 periods"):
        Attestation(period=10.0, interval=25.0)


@given(
    st.integers(min_value=1, max_value=400),
    st.floats(min_value=0.5, max_value=20.0),
    st.integers(min_value=3, max_value=40),
)
def test_every_agent_lands_in_one_group_whose_round_fits_the_interval(
    agents: int, period: float, steps: int
) -> None:
    interval = period * steps
    plan = [f"a{i}" for i in range(agents)]
    groups = attestation_groups(plan, period, interval)
    assert [a for g in groups for a in g] == plan
    assert max(len(g) for g in groups) - min(len(g) for g in groups) <= 1
    for group in groups:
        assert round_steps(len(group), len(groups)) * period <= interval * (1 + 1e-9)

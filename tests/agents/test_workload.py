"""Synthetic goals (003 Figure 5.5) in real runs of the reference scenario: on the agent
that holds linkRateLimited they delay it, on the agent that wins its auction they do not."""

from __future__ import annotations

import asyncio
import random

import pytest

from secmas.agents.workload import ACTION, synthetic_goals
from secmas.api import embedded_path
from secmas.pipeline.operate import operate
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Load, Scenario


def reference(load: dict[str, object] | None) -> Scenario:
    data = load_scenario(embedded_path("ddos-6pop")).model_dump()
    data["security"]["enabled"] = False
    data["load"] = load
    return Scenario.model_validate(data)


def throttled(scenario: Scenario) -> tuple[float, float]:
    """When the synthetic goals were posted and when linkRateLimited was achieved."""
    result = asyncio.run(operate(scenario))
    (posted,) = [a.time for a in result.journal.actions if a.action == ACTION]
    done = min(
        record.ended
        for _, record in result.journal.auctions
        if record.outcome.request.goal == "linkRateLimited" and record.achieved
    )
    return posted, done


@pytest.mark.parametrize(("pop", "delayed"), [("pop6", True), ("pop5", False)])
def test_goals_delay_the_strategy_only_on_the_agent_that_holds_it(pop: str, delayed: bool) -> None:
    posted, done = throttled(reference({"pop": pop, "synthetic_goals": 100}))
    assert posted == 23.0  # the step the Link Monitor perceives the over-usage
    assert (done - posted > 0) is delayed
    assert done - posted < 1.0  # 100 plans of at most 0.1 s on 32 slots


def test_prioritised_goals_do_not_delay_it() -> None:
    posted, done = throttled(reference({"pop": "pop6", "synthetic_goals": 100, "priority": 0}))
    assert done == posted


def test_plan_durations_are_drawn_within_the_bound() -> None:
    load = Load(pop="pop6", synthetic_goals=50, plan_seconds=0.2)
    goals = synthetic_goals(load, random.Random(1))
    assert len({g.predicate for g in goals}) == 50
    assert all(0 <= g.payload["seconds"] <= 0.2 and g.priority == 10.0 for g in goals)


def test_a_load_needs_a_known_pop_and_the_monitor() -> None:
    with pytest.raises(ValueError, match="unknown PoP 'pop9'"):
        reference({"pop": "pop9"})
    data = reference(None).model_dump()
    data["defence"] = None
    data["load"] = {"pop": "pop6"}
    with pytest.raises(ValueError, match="synthetic goals start with the Link Monitor"):
        Scenario.model_validate(data)

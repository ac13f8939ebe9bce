"""An agent's mind recorded as changes and rebuilt at any time (`secmas.agents.mind`)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict

import pytest

from secmas.agents.bdi import Agent, Belief, Capability, Goal, Plan, PlanContext
from secmas.agents.journal import Journal, RelayJournal, apply_json, journal_subject
from secmas.agents.mind import GoalState, Mind, MindChange, MindRecorder, replay
from secmas.network.clock import VirtualClock, drive_clock
from secmas.transport.memory import MemoryBus

SEEN = Belief("overUsage", ("l1",))
LIMITED = Belief("linkRateLimited", ("l1",))


def limiter(clock: VirtualClock) -> Capability:
    """Limits the link in 5 s: the plan runs from t = 0 to t = 5."""

    async def limit(ctx: PlanContext) -> None:
        await clock.sleep(5)
        ctx.believe(LIMITED)
        ctx.forget(SEEN)

    return Capability("RL", plans=[Plan("LimitLink", LIMITED, limit)])


async def reason(journal: Journal) -> VirtualClock:
    """One agent sees over-usage at t = 0 and limits the link by t = 5."""
    clock = VirtualClock()
    agent = Agent("pop1", [limiter(clock)])
    MindRecorder(agent, clock, journal.mind)
    agent.start()
    agent.perceive(SEEN)
    agent.post_goal(Goal(LIMITED))
    await drive_clock(clock, 10)
    await agent.wait_idle()
    await agent.stop()
    return clock


def test_the_mind_at_any_time_is_what_the_agent_believed_wanted_and_did():
    journal = Journal()
    asyncio.run(reason(journal))

    before = replay(journal.minds, "pop1", 0.0)
    assert before.beliefs == {str(SEEN)}
    assert [(g.goal, g.status, g.plan) for g in before.intentions] == [
        ("g(linkRateLimited(l1))", "intended", "LimitLink")
    ]
    after = replay(journal.minds, "pop1", 5.0)
    assert after.beliefs == {str(LIMITED)}
    assert after.goals == {} and after.intentions == []
    ended = [g for change in journal.minds for g in change.goals if g.status == "achieved"]
    assert [(g.goal, g.reason) for g in ended] == [("g(linkRateLimited(l1))", "plan LimitLink")]


def test_each_record_holds_only_what_changed_since_the_last():
    journal = Journal()
    asyncio.run(reason(journal))

    goal = "g(linkRateLimited(l1))"
    assert journal.minds == [
        MindChange(0.0, "pop1", True, goals=(GoalState(0, goal, "pending"),)),
        MindChange(
            0.0, "pop1", False, (str(SEEN),), (), (GoalState(0, goal, "intended", "LimitLink"),)
        ),
        MindChange(
            5.0,
            "pop1",
            False,
            (str(LIMITED),),
            (str(SEEN),),
            (GoalState(0, goal, "achieved", reason="plan LimitLink"),),
        ),
    ]


def test_a_belief_replaced_within_a_burst_is_one_change_and_one_undone_is_none():
    async def burst() -> list[MindChange]:
        journal = Journal()
        agent = Agent("pop1", beliefs=[SEEN])
        recorder = MindRecorder(agent, VirtualClock(), journal.mind)
        recorder.flush()
        agent.beliefs.add(~SEEN)
        agent.beliefs.add(LIMITED)
        agent.beliefs.remove(LIMITED)
        await asyncio.sleep(0)
        return journal.minds

    first, second = asyncio.run(burst())
    assert first.believed == (str(SEEN),) and first.fresh
    assert second.believed == (str(~SEEN),) and second.forgotten == (str(SEEN),)


def test_a_fresh_change_starts_the_mind_again():
    mind = Mind()
    mind.apply(MindChange(0.0, "pop1", True, ("a()",), (), (GoalState(0, "g(b())", "pending"),)))
    mind.apply(MindChange(3.0, "pop1", True, ("c()",)))
    assert mind.beliefs == {"c()"} and mind.goals == {}


def test_replay_keeps_to_one_agent_and_to_changes_up_to_the_time():
    changes = [
        MindChange(0.0, "pop1", True, ("a()",)),
        MindChange(0.0, "pop2", True, ("b()",)),
        MindChange(2.0, "pop1", False, ("c()",), ("a()",)),
    ]
    assert replay(changes, "pop1", 1.9).beliefs == {"a()"}
    assert replay(changes, "pop1", 2.0).beliefs == {"c()"}
    assert replay(changes, "pop2", 2.0).beliefs == {"b()"}


def test_a_change_relayed_from_another_process_arrives_as_it_was_recorded():
    async def relay() -> tuple[list[MindChange], list[bytes]]:
        bus = MemoryBus()
        heard: list[bytes] = []

        async def hear(subject: str, data: bytes) -> None:
            heard.append(data)

        await bus.subscribe(journal_subject("p"), hear)
        journal = RelayJournal(bus, "p")
        journal.start()
        await reason(journal)
        await journal.stop()
        await asyncio.sleep(0)
        return journal.minds, heard

    recorded, heard = asyncio.run(relay())
    merged = Journal()
    for data in heard:
        apply_json(merged, json.loads(data))
    assert merged.minds == recorded and recorded


def test_a_malformed_mind_change_is_refused():
    good = asdict(MindChange(0.0, "pop1", True, ("a()",), (), (GoalState(0, "g(b())", "pending"),)))
    with pytest.raises(ValueError, match="malformed"):
        apply_json(Journal(), {"event": "mind", **good, "goals": [{"goal": "g(b())"}]})
    with pytest.raises(ValueError, match="malformed"):
        apply_json(Journal(), {"event": "mind", **good, "goals": ["g(b())"]})

"""The agents' minds as the page shows them: one agent's beliefs, goals and intentions at
any time of a run, rebuilt from the changes report.json records (`minds`), or the mind
now of each agent of the live run."""

from __future__ import annotations

import math

from secmas.agents import mind as minds
from secmas.ui.models import MindChange, MindGoal, MindIndex, MindView, Report


class UnknownAgent(LookupError):
    """The run recorded no mind of that agent."""


class OutOfRun(ValueError):
    """A time that is no time of the run."""


def index(report: Report) -> MindIndex:
    """The agents whose minds the run recorded, and the run's last second."""
    agents = sorted({change.agent for change in report.minds})
    return MindIndex(agents=agents, end=_end(report))


def mind_at(report: Report, agent: str, time: float) -> MindView:
    """The mind of `agent` at `time`; UnknownAgent or OutOfRun when there is none."""
    known = index(report)
    if agent not in known.agents:
        raise UnknownAgent(f"no agent {agent!r} in this run; its agents: {', '.join(known.agents)}")
    if not (math.isfinite(time) and 0.0 <= time <= known.end):
        raise OutOfRun(f"time {time} s is not in the run: from 0 to {known.end:g} s")
    mind = minds.replay((_recorded(item) for item in report.minds), agent, time)
    return view(mind, agent, time)


def view(mind: minds.Mind, agent: str, time: float) -> MindView:
    """A mind as the API answers it."""
    goals = [_goal(goal) for goal in sorted(mind.goals.values(), key=lambda g: g.id)]
    return MindView(
        agent=agent,
        time=time,
        beliefs=sorted(mind.beliefs),
        goals=goals,
        intentions=[goal for goal in goals if goal.status == "intended"],
    )


def _recorded(data: MindChange) -> minds.MindChange:
    """A change as report.json holds it, as the agents recorded it."""
    return minds.MindChange(
        data.time,
        data.agent,
        data.fresh,
        tuple(data.believed),
        tuple(data.forgotten),
        tuple(minds.GoalState(g.id, g.goal, g.status, g.plan, g.reason) for g in data.goals),
    )


def _goal(goal: minds.GoalState) -> MindGoal:
    return MindGoal(id=goal.id, goal=goal.goal, status=goal.status, plan=goal.plan)


def _end(report: Report) -> float:
    last = max((change.time for change in report.minds), default=0.0)
    return max(report.simulated_seconds, last)

"""The BDI engine: belief semantics, goals, plans and the reasoning cycle (003, Sec. 3.2)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from secmas.agents.bdi import (
    ANY,
    REST,
    Agent,
    Belief,
    BeliefBase,
    BeliefChange,
    Capability,
    Drop,
    Forget,
    Goal,
    GoalKind,
    GoalStatus,
    Plan,
    PlanContext,
    Var,
)
from secmas.scenario.model import Constraint, Measure, Operator, Preferences

L = Var("link")


def lit(name: str, *args: object, positive: bool = True) -> Belief:
    return Belief(name, tuple(args), positive)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 300))


async def noop(ctx: PlanContext) -> None:
    return None


# ---------------------------------------------------------------- beliefs


def test_adding_a_literal_replaces_its_negation_and_remove_forgets_both():
    base = BeliefBase()
    changes: list[BeliefChange] = []
    base.subscribe(changes.append)
    b = lit("linkRateLimited", "l1")

    assert base.add(b)
    assert base.holds(b) and not base.holds(~b) and base.known(b) and b in base
    assert not base.add(b)  # no change, no event
    assert base.add(~b)
    assert base.holds(~b) and not base.holds(b) and len(base) == 1
    assert base.remove(b)  # "not b": the sign given does not matter
    assert not base.known(b) and not base.known(~b) and len(base) == 0
    assert not base.remove(b)
    assert changes == [BeliefChange(None, b), BeliefChange(b, ~b), BeliefChange(~b, None)]


def test_apply_handles_forget_and_only_ground_literals_are_believed():
    base = BeliefBase([lit("overUsage", "l1")])
    assert base.apply(Forget("overUsage", ("l1",)))
    assert base.apply(lit("overUsage", "l1").forget()) is False
    with pytest.raises(ValueError, match="variables"):
        base.add(lit("overUsage", L))
    with pytest.raises(TypeError, match="tuple"):
        Belief("overUsage", "l1")  # type: ignore[arg-type]


def test_query_by_name_and_by_pattern_with_bindings():
    base = BeliefBase(
        [
            lit("linkIP", "l1", "10.0.0.1"),
            lit("linkIP", "l2", "10.0.0.1"),
            lit("linkIP", "l3", "10.0.0.2"),
            lit("linkIP", "l4", "10.0.0.1", positive=False),
            lit("linkRateLimited", "l2"),
        ]
    )
    assert len(base.query("linkIP")) == 4
    assert base.query(lit("linkIP", ANY, "10.0.0.1")) == [
        lit("linkIP", "l1", "10.0.0.1"),
        lit("linkIP", "l2", "10.0.0.1"),
    ]
    assert base.query(lit("linkIP", ANY, ANY, positive=False)) == [
        lit("linkIP", "l4", "10.0.0.1", positive=False)
    ]
    # ∀link.(linkRateLimited(link) ∧ linkIP(link, ip)) of Table 5.1, one pattern at a time
    hits = [
        found
        for bound in base.match(lit("linkRateLimited", L))
        for found in base.match(lit("linkIP", L, "10.0.0.1"), bound)
    ]
    assert hits == [{"link": "l2"}]
    same = Var("x")
    base.add(lit("edge", "a", "a"))
    base.add(lit("edge", "a", "b"))
    assert base.query(lit("edge", same, same)) == [lit("edge", "a", "a")]
    assert base.query(lit("unknownName", ANY)) == []


# ---------------------------------------------------------------- goals and plans


def test_goal_forms_and_when_they_are_satisfied():
    b = lit("anomalousUsage", "l1")
    achieve, negated, query = Goal(b), Goal(~b), Goal(~b, GoalKind.QUERY)
    assert (str(achieve), str(negated), str(query)) == (
        "g(anomalousUsage(l1))",
        "g(¬anomalousUsage(l1))",
        "g(?anomalousUsage(l1))",
    )
    base = BeliefBase()
    assert not any(g.satisfied_by(base) for g in (achieve, negated, query))
    base.add(~b)
    assert [g.satisfied_by(base) for g in (achieve, negated, query)] == [False, True, True]
    base.add(b)
    assert [g.satisfied_by(base) for g in (achieve, negated, query)] == [True, False, True]
    with pytest.raises(ValueError, match="variables"):
        Goal(lit("x", L))


def test_goal_copy_keeps_constraints_preferences_priority_and_payload():
    goal = Goal(
        lit("isTrafficMalicious", "l1"),
        constraints=(Constraint(measure=Measure.BANDWIDTH, op=Operator.GE, value=500),),
        preferences=Preferences(T=0.2, C=0.5, D=0.3),
        priority=3,
        payload={"traffic": 500.0},
    )
    goal.status = GoalStatus.FAILED
    twin = goal.copy()
    assert twin is not goal and twin.status is GoalStatus.PENDING
    assert (twin.predicate, twin.constraints, twin.preferences, twin.priority) == (
        goal.predicate,
        goal.constraints,
        goal.preferences,
        goal.priority,
    )
    assert twin.payload == goal.payload and twin.payload is not goal.payload


def test_plan_relevance_follows_name_sign_kind_and_arity():
    unlimit = Plan("UL", lit("linkRateLimited", L, positive=False), noop)
    assert unlimit.relevant(Goal(lit("linkRateLimited", "l1", positive=False))) == {"link": "l1"}
    assert unlimit.relevant(Goal(lit("linkRateLimited", "l1"))) is None
    assert unlimit.relevant(Goal(lit("linkRateLimited", "l1", "x", positive=False))) is None
    assert unlimit.relevant(Goal(lit("linkRateLimited", "l1"), GoalKind.QUERY)) is None
    als = Plan("ALS", lit("anomalousUsage", L), noop, kind=GoalKind.QUERY)
    assert als.relevant(Goal(lit("anomalousUsage", "l1"), GoalKind.QUERY)) == {"link": "l1"}


def test_preconditions_as_patterns_conjunctions_and_callables():
    base = BeliefBase([lit("linkRateLimited", "l1"), lit("linkIP", "l1", "10.0.0.9")])
    goal_l1 = Goal(lit("linkRateLimited", "l1", positive=False))
    goal_l2 = Goal(lit("linkRateLimited", "l2", positive=False))
    # Table 5.1, UnlimitLink: precondition linkRateLimited(link) for the goal's link
    unlimit = Plan("UL", ~lit("linkRateLimited", L), noop, precondition=lit("linkRateLimited", L))
    assert unlimit.applicable(base, goal_l1) == {"link": "l1"}
    assert unlimit.applicable(base, goal_l2) is None
    both = Plan(
        "both",
        ~lit("linkRateLimited", L),
        noop,
        precondition=(lit("linkRateLimited", L), lit("linkIP", L, Var("ip"))),
    )
    assert both.applicable(base, goal_l1) == {"link": "l1", "ip": "10.0.0.9"}
    test = Plan("cb", ~lit("linkRateLimited", L), noop, precondition=lambda b, g: len(b) > 5)
    assert test.applicable(base, goal_l1) is None


# ---------------------------------------------------------------- the reasoning cycle


class RateLimiterVNF:
    """A stand-in VNF that records the primitive actions it is asked to perform."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def limit_link(self, link: str) -> None:
        self.calls.append(("limitLink", link))


def rate_limiter(vnf: RateLimiterVNF) -> Capability:
    async def limit_link(ctx: PlanContext) -> None:
        await ctx.vnf.limit_link(ctx.bindings["link"])
        ctx.believe(lit("linkRateLimited", ctx.bindings["link"]))

    return Capability("RateLimiter", vnf, plans=[Plan("LL", lit("linkRateLimited", L), limit_link)])


def test_plan_performs_vnf_and_belief_actions_and_achieves_the_goal():
    async def scenario():
        vnf = RateLimiterVNF()
        agent = Agent("pop1", [rate_limiter(vnf)])
        agent.start()
        goal = Goal(lit("linkRateLimited", "l1"))
        assert await agent.achieve(goal)
        await agent.stop()
        return vnf.calls, goal, agent

    calls, goal, agent = run(scenario())
    assert calls == [("limitLink", "l1")]
    assert goal.status is GoalStatus.ACHIEVED and goal.reason == "plan LL"
    assert agent.beliefs.holds(lit("linkRateLimited", "l1"))


def test_query_goal_is_achieved_once_the_belief_is_known_either_way():
    async def scenario():
        agent = Agent("pop1")
        agent.start()
        agent.beliefs.add(lit("anomalousUsage", "l1", positive=False))
        known = Goal(lit("anomalousUsage", "l1"), GoalKind.QUERY)
        unknown = Goal(lit("anomalousUsage", "l2"), GoalKind.QUERY)
        results = (await agent.achieve(known), await agent.achieve(unknown))
        await agent.stop()
        return results, known, unknown

    (first, second), known, unknown = run(scenario())
    assert first and known.status is GoalStatus.ACHIEVED and known.reason == "already believed"
    assert not second and unknown.status is GoalStatus.FAILED


def test_query_goal_answered_by_a_plan_that_finds_the_negation():
    async def analyse(ctx: PlanContext) -> None:
        ctx.believe(lit("anomalousUsage", ctx.bindings["link"], positive=False))

    async def scenario():
        detector = Capability(
            "AnomalyDetector",
            plans=[Plan("ALS", lit("anomalousUsage", L), analyse, kind=GoalKind.QUERY)],
        )
        agent = Agent("pop1", [detector])
        agent.start()
        goal = Goal(lit("anomalousUsage", "l1"), GoalKind.QUERY)
        ok = await agent.achieve(goal)
        await agent.stop()
        return ok, agent

    ok, agent = run(scenario())
    assert ok and agent.beliefs.holds(lit("anomalousUsage", "l1", positive=False))


def test_plan_selection_prefers_the_plan_needing_least_time():
    ran: list[str] = []

    def plan(name: str, time: float, cost: float = 0.0) -> Plan:
        async def body(ctx: PlanContext) -> None:
            ran.append(ctx.plan.name)

        return Plan(name, lit("flowRecord", Var("ip")), body, time=time, cost=cost)

    async def scenario():
        slow = Capability("slow", plans=[plan("slow", 5.0), plan("slower", 9.0)])
        fast = Capability("fast", plans=[plan("fast-dear", 1.0, 3.0), plan("fast-cheap", 1.0)])
        agent = Agent("pop1", [slow, fast])
        agent.start()
        await agent.achieve(Goal(lit("flowRecord", "10.0.0.1")))
        picked = agent.plan_for(Goal(lit("flowRecord", "10.0.0.2")))
        await agent.stop()
        return picked

    picked = run(scenario())
    assert ran == ["fast-cheap"]
    assert picked is not None and picked.plan.name == "fast-cheap"


def test_a_failed_plan_falls_back_to_the_next_applicable_plan():
    ran: list[str] = []
    delegated: list[Goal] = []

    async def broken(ctx: PlanContext) -> None:
        ran.append("broken")
        raise RuntimeError("VNF unreachable")

    async def refuses(ctx: PlanContext) -> bool:
        ran.append("refuses")
        return False

    async def works(ctx: PlanContext) -> None:
        ran.append("works")

    async def delegate(agent: Agent, goal: Goal) -> bool:
        delegated.append(goal)
        return True

    async def scenario():
        pattern = lit("ipRateLimited", Var("ip"))
        capability = Capability(
            "RateLimiter",
            plans=[
                Plan("works", pattern, works, time=3),
                Plan("broken", pattern, broken, time=1),
                Plan("refuses", pattern, refuses, time=2),
            ],
        )
        agent = Agent("pop1", [capability], delegate=delegate)
        agent.start()
        first = Goal(lit("ipRateLimited", "10.0.0.1"))
        await agent.achieve(first)
        lonely = Capability("RateLimiter", plans=[Plan("broken", pattern, broken)])
        agent.remove_capability("RateLimiter")
        agent.add_capability(lonely)
        second = Goal(lit("ipRateLimited", "10.0.0.2"))
        await agent.achieve(second)
        await agent.stop()
        return first, second

    first, second = run(scenario())
    assert ran == ["broken", "refuses", "works", "broken"]
    assert first.status is GoalStatus.ACHIEVED and first.reason == "plan works"
    # local plans existed and all failed: the goal fails, it is not auctioned
    assert second.status is GoalStatus.FAILED
    assert second.reason == "plan broken raised RuntimeError('VNF unreachable')"
    assert delegated == []


def test_goal_without_applicable_plan_goes_to_the_delegate_hook():
    seen: list[str] = []

    async def auction(agent: Agent, goal: Goal) -> bool:
        seen.append(str(goal))
        await asyncio.sleep(0)
        return goal.payload.get("winner", False)

    async def scenario():
        guarded = Capability(
            "LoadBalancer",
            plans=[
                Plan(
                    "LBL",
                    lit("splitTrafficLink", L),
                    noop,
                    precondition=lit("anomalousUsage", L),
                )
            ],
        )
        agent = Agent("pop1", [guarded], delegate=auction)
        agent.start()
        won = Goal(lit("splitTrafficLink", "l1"), payload={"winner": True})
        lost = Goal(lit("classified", "10.0.0.1"))
        results = (await agent.achieve(won), await agent.achieve(lost))
        await agent.stop()
        return results, won, lost

    (won_ok, lost_ok), won, lost = run(scenario())
    assert seen == ["g(splitTrafficLink(l1))", "g(classified(10.0.0.1))"]
    assert won_ok and won.status is GoalStatus.DELEGATED and won.succeeded
    assert not lost_ok and lost.status is GoalStatus.FAILED and lost.reason == "delegation failed"


def test_without_plan_or_delegate_a_goal_fails():
    async def scenario():
        agent = Agent("pop1")
        agent.start()
        goal = Goal(lit("linkRateLimited", "l1"))
        ok = await agent.achieve(goal)
        await agent.stop()
        return ok, goal

    ok, goal = run(scenario())
    assert not ok and goal.reason == "no applicable plan"


def link_monitor(filtering=None) -> Capability:
    """Table 5.2: belief revision and goal generation of the Link Monitor."""

    def revise(event: object, beliefs: BeliefBase):
        if isinstance(event, Belief) and event.name == "overUsage":
            if event.positive:
                return [event, lit("anomalousUsage", *event.args).forget()]
            return [event.forget()]
        return []

    def options(beliefs: BeliefBase, goals):
        for found in beliefs.match(lit("overUsage", L)):
            link = found["link"]
            if not beliefs.known(lit("anomalousUsage", link)):
                # generated diagnose-first on purpose: deliberation must reorder them
                yield Goal(lit("anomalousUsage", link), GoalKind.QUERY, priority=1)
                yield Goal(lit("linkRateLimited", link), priority=2)

    return Capability(
        "LinkMonitor", belief_revision=revise, option_generation=options, filtering=filtering
    )


def test_goal_deliberation_protects_the_network_before_diagnosing():
    started: list[str] = []

    async def limit(ctx: PlanContext) -> None:
        started.append("protect")
        ctx.believe(lit("linkRateLimited", ctx.bindings["link"]))

    async def detect(ctx: PlanContext) -> None:
        started.append("diagnose")
        ctx.believe(lit("anomalousUsage", ctx.bindings["link"]))

    async def scenario():
        agent = Agent(
            "pop1",
            [
                link_monitor(),
                Capability("RateLimiter", plans=[Plan("LL", lit("linkRateLimited", L), limit)]),
                Capability(
                    "AnomalyDetector",
                    plans=[Plan("ALS", lit("anomalousUsage", L), detect, kind=GoalKind.QUERY)],
                ),
            ],
            max_intentions=1,
        )
        agent.start()
        agent.perceive(lit("overUsage", "l1"))
        await agent.wait_idle()
        await agent.stop()
        return agent

    agent = run(scenario())
    assert started == ["protect", "diagnose"]
    assert agent.beliefs.holds(lit("anomalousUsage", "l1"))
    assert agent.goals == ()


def test_a_filter_can_hold_diagnosis_back_until_the_link_is_protected():
    order: list[str] = []

    def protect_first(goals):
        protecting = any(g.predicate.name == "linkRateLimited" for g in goals)
        return [g for g in goals if not (protecting and g.kind is GoalKind.QUERY)]

    async def scenario():
        gate = asyncio.Event()

        async def limit(ctx: PlanContext) -> None:
            order.append("protect:start")
            await gate.wait()
            ctx.believe(lit("linkRateLimited", ctx.bindings["link"]))
            order.append("protect:done")

        async def detect(ctx: PlanContext) -> None:
            order.append("diagnose")
            ctx.believe(lit("anomalousUsage", ctx.bindings["link"], positive=False))

        agent = Agent(
            "pop1",
            [
                link_monitor(filtering=protect_first),
                Capability("RateLimiter", plans=[Plan("LL", lit("linkRateLimited", L), limit)]),
                Capability(
                    "AnomalyDetector",
                    plans=[Plan("ALS", lit("anomalousUsage", L), detect, kind=GoalKind.QUERY)],
                ),
            ],
        )
        agent.start()
        agent.perceive(lit("overUsage", "l1"))
        await asyncio.sleep(0.01)
        order.append("released")
        gate.set()
        await agent.wait_idle()
        await agent.stop()

    run(scenario())
    assert order == ["protect:start", "released", "protect:done", "diagnose"]


def test_capabilities_added_at_run_time_are_used_and_removed_ones_are_not():
    async def scenario():
        agent = Agent("pop1")
        agent.start()
        before = Goal(lit("linkRateLimited", "l1"))
        await agent.achieve(before)
        vnf = RateLimiterVNF()
        capability = rate_limiter(vnf)
        agent.add_capability(capability)  # the Rate Limiter VNF was instantiated
        during = Goal(lit("linkRateLimited", "l2"))
        await agent.achieve(during)
        with pytest.raises(ValueError, match="already has"):
            agent.add_capability(rate_limiter(vnf))
        assert agent.remove_capability("RateLimiter") is capability
        with pytest.raises(KeyError):
            agent.remove_capability("RateLimiter")
        after = Goal(lit("linkRateLimited", "l3"))
        await agent.achieve(after)
        await agent.stop()
        return [g.status for g in (before, during, after)], vnf.calls

    statuses, calls = run(scenario())
    assert statuses == [GoalStatus.FAILED, GoalStatus.ACHIEVED, GoalStatus.FAILED]
    assert calls == [("limitLink", "l2")]


def test_capability_beliefs_and_goal_templates_join_the_agent():
    async def scenario():
        template = Goal(lit("monitored", "l1"))
        capability = Capability(
            "LinkMonitor",
            beliefs=[lit("monitors", "l1")],
            goals=[template],
            plans=[Plan("watch", lit("monitored", L), noop, precondition=lit("monitors", L))],
        )
        agent = Agent("pop1")
        agent.start()
        agent.add_capability(capability)
        await agent.wait_idle()
        await agent.stop()
        return agent, template

    agent, template = run(scenario())
    assert agent.beliefs.holds(lit("monitors", "l1"))
    assert template.status is GoalStatus.PENDING  # the template itself is never adopted


def test_hundred_goals_complete_within_the_intention_limit():
    live = 0
    peak = 0

    async def work(ctx: PlanContext) -> None:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0)
        ctx.believe(lit("done", ctx.bindings["n"]))
        live -= 1

    async def scenario():
        capability = Capability("worker", plans=[Plan("work", lit("done", Var("n")), work)])
        agent = Agent("pop1", [capability], max_intentions=8)
        agent.start()
        goals = [agent.post_goal(Goal(lit("done", n), priority=n % 3)) for n in range(100)]
        await agent.wait_idle()
        await agent.stop()
        return agent, goals

    agent, goals = run(scenario())
    assert all(goal.status is GoalStatus.ACHIEVED for goal in goals)
    assert len(agent.beliefs) == 100 and agent.goals == () and agent.intentions == {}
    assert peak == 8


def test_priority_decides_start_order_and_ties_keep_post_order():
    started: list[int] = []

    async def work(ctx: PlanContext) -> None:
        started.append(ctx.bindings["n"])

    async def scenario():
        capability = Capability("worker", plans=[Plan("work", lit("done", Var("n")), work)])
        agent = Agent("pop1", [capability], max_intentions=1)
        for n, priority in enumerate([0, 5, 0, 5, 9]):
            agent.post_goal(Goal(lit("done", n), priority=priority))
        agent.start()
        await agent.wait_idle()
        await agent.stop()

    run(scenario())
    assert started == [4, 1, 3, 0, 2]


def test_option_generation_does_not_duplicate_active_goals():
    async def scenario():
        gate = asyncio.Event()

        async def slow(ctx: PlanContext) -> None:
            await gate.wait()
            ctx.believe(lit("handled"))

        def options(beliefs, goals):
            if beliefs.holds(lit("alarm")):
                yield Goal(lit("handled"))

        capability = Capability(
            "c", option_generation=options, plans=[Plan("slow", lit("handled"), slow)]
        )
        agent = Agent("pop1", [capability])
        agent.start()
        agent.perceive(lit("alarm"))
        for n in range(5):
            agent.perceive(lit("noise", n))
            await asyncio.sleep(0)
        count = len(agent.goals)
        gate.set()
        await agent.wait_idle()
        await agent.stop()
        return count

    assert run(scenario()) == 1


def test_plan_awaiting_a_subgoal_lends_its_slot():
    async def parent(ctx: PlanContext) -> bool:
        return await ctx.achieve(Goal(lit("child")))

    async def scenario():
        capability = Capability(
            "c", plans=[Plan("parent", lit("parent"), parent), Plan("child", lit("child"), noop)]
        )
        agent = Agent("pop1", [capability], max_intentions=1)
        agent.start()
        ok = await agent.achieve(Goal(lit("parent")))
        await agent.stop()
        return ok

    assert run(scenario())


def test_faulty_capability_functions_are_isolated(caplog):
    def bad_revision(event, beliefs):
        raise RuntimeError("bug in revision")

    async def scenario():
        agent = Agent("pop1", [Capability("bad", belief_revision=bad_revision), Capability("ok")])
        agent.start()
        agent.perceive(lit("overUsage", "l1"))
        await agent.wait_idle()
        await agent.stop()
        return agent

    with caplog.at_level(logging.ERROR, logger="secmas.agents.bdi"):
        agent = run(scenario())
    assert agent.beliefs.holds(lit("overUsage", "l1"))
    assert "belief revision of bad failed" in caplog.text


def test_reasoning_is_deterministic_for_a_given_event_order():
    def trace_run() -> list[str]:
        trace: list[str] = []

        async def work(ctx: PlanContext) -> None:
            trace.append(f"start {ctx.goal}")
            for _ in range(ctx.bindings["n"] % 3):
                await asyncio.sleep(0)
            ctx.believe(lit("done", ctx.bindings["n"]))
            trace.append(f"end {ctx.goal}")

        async def scenario():
            capability = Capability("w", plans=[Plan("work", lit("done", Var("n")), work)])
            agent = Agent("pop1", [capability], max_intentions=4)
            agent.start()
            for n in range(30):
                agent.post_goal(Goal(lit("done", n), priority=n % 4))
                if n % 7 == 0:
                    await asyncio.sleep(0)
            await agent.wait_idle()
            await agent.stop()

        run(scenario())
        return trace

    assert trace_run() == trace_run()


def test_lifecycle_errors_and_stop_fails_open_goals():
    async def scenario():
        gate = asyncio.Event()

        async def stuck(ctx: PlanContext) -> None:
            await gate.wait()

        capability = Capability("c", plans=[Plan("stuck", lit("x"), stuck)])
        agent = Agent("pop1", [capability], max_intentions=1)
        with pytest.raises(RuntimeError, match="not running"):
            await agent.wait_idle()
        agent.start()
        with pytest.raises(RuntimeError, match="already running"):
            agent.start()
        goal = agent.post_goal(Goal(lit("x")))
        with pytest.raises(ValueError, match="not a new pending goal"):
            agent.post_goal(goal)
        waiter = asyncio.ensure_future(agent.wait_goal(goal))
        await asyncio.sleep(0.01)
        assert goal.status is GoalStatus.INTENDED and agent.intentions[goal].plan.name == "stuck"
        await agent.stop()
        result = await waiter
        gate.set()
        agent.start()  # a stopped agent can start again with all its slots
        again = Goal(lit("x"))
        assert await agent.achieve(again)
        await agent.stop()
        return goal, result

    goal, result = run(scenario())
    assert goal.status is GoalStatus.FAILED and "stopped" in goal.reason and result is False
    with pytest.raises(ValueError):
        Agent("x", max_intentions=0)


def test_a_halted_agent_takes_no_goal_and_runs_no_plan():
    """Revoked: its open goals fail for the reason, later ones fail at once (posted, or a
    won goal performed), no plan body runs, and it cannot be started again."""

    async def scenario():
        vnf = RateLimiterVNF()
        gate = asyncio.Event()

        async def stuck(ctx: PlanContext) -> None:
            await gate.wait()

        stuck_plans = Capability("c", plans=[Plan("stuck", lit("x"), stuck)])
        agent = Agent("pop1", [rate_limiter(vnf), stuck_plans])
        agent.start()
        open_goal = agent.post_goal(Goal(lit("x")))
        await asyncio.sleep(0.01)
        await agent.halt("revoked: test")
        posted = agent.post_goal(Goal(lit("linkRateLimited", "l1")))
        performed = await agent.perform(Goal(lit("linkRateLimited", "l2")), "RateLimiter")
        with pytest.raises(RuntimeError, match="halted: revoked: test"):
            agent.start()
        await agent.stop()  # the run's teardown stops it again: nothing to do
        return agent, vnf, open_goal, posted, performed

    agent, vnf, open_goal, posted, performed = run(scenario())
    assert agent.halted == "revoked: test" and not agent.running
    assert (open_goal.status, open_goal.reason) == (GoalStatus.FAILED, "revoked: test")
    assert (posted.status, posted.reason) == (GoalStatus.FAILED, "revoked: test")
    assert performed is False and not agent.goals
    assert vnf.calls == []


def test_capability_functions_can_be_overridden_by_subclassing():
    ran: list[str] = []

    async def body(ctx: PlanContext) -> None:
        ran.append(f"{ctx.plan.name} {ctx.bindings['n']}")
        ctx.believe(ctx.goal.predicate)

    class Picky(Capability):
        """Generates its own goals, commits to even ones only, picks the costliest plan."""

        def options(self, beliefs, goals):
            if beliefs.holds(lit("start")):
                yield from (Goal(lit("job", n)) for n in range(4))

        def filter(self, goals):
            return [g for g in goals if g.predicate.args[0] % 2 == 0]

        def select(self, beliefs, candidates):
            return max(candidates, key=lambda c: c.plan.cost)

    async def scenario():
        pattern = lit("job", Var("n"))
        plans = [Plan("cheap", pattern, body), Plan("dear", pattern, body, cost=9)]
        picky = Picky("picky", plans=plans)
        agent = Agent("pop1", [picky], max_intentions=1)
        agent.start()
        agent.perceive(lit("start"))
        await agent.wait_idle()
        pending = [str(g) for g in agent.goals]
        await agent.stop()
        return pending

    pending = run(scenario())
    assert ran == ["dear 0", "dear 2"]
    assert pending == ["g(job(1))", "g(job(3))"]  # held back by the filter, still pending


# ---------------------------------------------------------------- reconsideration, drop, suspend


class Gate:
    """A plan body that waits until opened, recording when it starts, ends or is cancelled."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.opened = asyncio.Event()

    async def body(self, ctx: PlanContext) -> bool:
        self.log.append(f"start {ctx.goal.predicate}")
        try:
            await self.opened.wait()
        except asyncio.CancelledError:
            self.log.append(f"cancelled {ctx.goal.predicate}")
            raise
        self.log.append(f"end {ctx.goal.predicate}")
        return True

    def agent(self) -> Agent:
        """A started agent whose one plan, `wait`, runs this gate for any done(_) goal."""
        agent = Agent("pop1", [Capability("c", plans=[Plan("wait", lit("done", ANY), self.body)])])
        agent.start()
        return agent

    async def running(self) -> tuple[Agent, Goal]:
        """`agent` with goal done(x) posted and its plan started (two loop turns)."""
        agent = self.agent()
        goal = agent.post_goal(Goal(lit("done", "x")))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return agent, goal


def test_a_rest_pattern_is_relevant_to_a_goal_of_any_longer_arity():
    plan = Plan("auction", lit("flowRecord", Var("ip"), REST), noop)
    assert plan.relevant(Goal(lit("flowRecord", "10.0.0.1"))) == {"ip": "10.0.0.1"}
    assert plan.relevant(Goal(lit("flowRecord", "10.0.0.1", "0"))) == {"ip": "10.0.0.1"}
    assert plan.relevant(Goal(lit("flowRecord"))) is None
    assert Plan("any", lit("flowRecord", REST), noop).relevant(Goal(lit("flowRecord"))) == {}


def test_a_precondition_mixes_belief_patterns_and_tests():
    ip = Var("ip")
    plan = Plan(
        "LBIP",
        lit("split", ip),
        noop,
        precondition=(lit("unplaced", ip), lambda beliefs, goal: "parts" not in goal.payload),
    )
    beliefs = BeliefBase([lit("unplaced", "a")])
    assert plan.applicable(beliefs, Goal(lit("split", "a"))) == {"ip": "a"}
    assert plan.applicable(beliefs, Goal(lit("split", "b"))) is None
    assert plan.applicable(beliefs, Goal(lit("split", "a"), payload={"parts": 2})) is None


def test_an_intention_believed_achieved_is_dropped_and_its_plan_cancelled():
    gate = Gate()

    async def scenario():
        agent, goal = await gate.running()
        assert goal.status is GoalStatus.INTENDED and gate.log == ["start done(x)"]
        agent.perceive(lit("done", "x"))  # someone else achieved it
        await agent.wait_idle()
        await agent.stop()
        return goal

    goal = run(scenario())
    assert goal.status is GoalStatus.ACHIEVED and goal.reason == "believed achieved"
    assert gate.log == ["start done(x)", "cancelled done(x)"]


def test_a_plan_that_may_not_be_cancelled_is_not_reconsidered_and_runs_to_its_end():
    gate = Gate()

    async def scenario():
        plan = Plan("auction", lit("done", ANY), gate.body, cancellable=False, slot=False)
        agent = Agent("pop1", [Capability("c", plans=[plan])], max_intentions=1)
        agent.start()
        goal = agent.post_goal(Goal(lit("done", "x")))
        other = agent.post_goal(Goal(lit("done", "y")))  # no slot taken: both run
        later = agent.post_goal(Goal(lit("done", "z"), after=goal))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        agent.perceive(lit("done", "x"))  # the auction's winner told it early
        for _ in range(5):
            await asyncio.sleep(0)
        assert goal.status is GoalStatus.INTENDED and later.status is GoalStatus.PENDING
        with pytest.raises(ValueError, match="cannot be suspended"):
            agent.suspend_goal(other)
        agent.drop_goal(other)  # over at once; its plan runs on
        assert other.status is GoalStatus.DROPPED
        gate.opened.set()
        await agent.wait_idle()
        await agent.stop()
        return goal, later

    goal, later = run(scenario())
    assert goal.status is GoalStatus.ACHIEVED and goal.reason == "plan auction"
    assert later.status is GoalStatus.ACHIEVED  # it waited for the whole of the plan
    assert gate.log[:4] == ["start done(x)", "start done(y)", "end done(x)", "end done(y)"]
    assert gate.log[4:] == ["start done(z)", "end done(z)"]


def test_an_intention_left_without_a_relevant_plan_is_impossible_and_dropped():
    gate = Gate()

    async def scenario():
        agent, goal = await gate.running()
        agent.remove_capability("c")  # the VNF went away while its plan ran
        await agent.wait_idle()
        await agent.stop()
        return goal

    goal = run(scenario())
    assert goal.status is GoalStatus.FAILED
    assert goal.reason == "impossible: no relevant plan left (c)"
    assert gate.log == ["start done(x)", "cancelled done(x)"]


def test_suspended_goals_keep_their_place_and_resume_where_they_were():
    gate = Gate()
    order: list[str] = []

    async def quick(ctx: PlanContext) -> None:
        order.append(str(ctx.goal.predicate))

    async def scenario():
        capability = Capability(
            "c", plans=[Plan("wait", lit("slow", ANY), gate.body), Plan("q", lit("q", ANY), quick)]
        )
        agent = Agent("pop1", [capability], max_intentions=1)
        first = agent.post_goal(Goal(lit("q", "1")))
        agent.suspend_goal(first)
        slow = agent.post_goal(Goal(lit("slow", "s")))
        second = agent.post_goal(Goal(lit("q", "2")))
        agent.start()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert gate.log == ["start slow(s)"] and first.status is GoalStatus.SUSPENDED
        agent.suspend_goal(slow)  # its plan is cancelled, its slot freed
        await agent.wait_idle()
        assert order == ["q(2)"] and slow.status is GoalStatus.SUSPENDED
        assert set(agent.goals) == {first, slow}
        agent.resume_goal(first)
        agent.resume_goal(slow)
        gate.opened.set()
        await agent.wait_idle()
        with pytest.raises(ValueError, match="not suspended"):
            agent.resume_goal(first)
        await agent.stop()
        return first, slow, second

    first, slow, second = run(scenario())
    # resumed in their places: q(1) was posted first, before slow(s)
    assert order == ["q(2)", "q(1)"]
    assert gate.log == ["start slow(s)", "cancelled slow(s)", "start slow(s)", "end slow(s)"]
    assert all(g.status is GoalStatus.ACHIEVED for g in (first, slow, second))


def test_a_watcher_hears_each_change_of_a_goal_and_of_the_plan_pursuing_it():
    async def fails(ctx: PlanContext) -> bool:
        return False

    goal = Goal(lit("q", "1"))
    heard: list[tuple[str, str]] = []

    def listen() -> None:
        candidate = agent.intentions.get(goal)
        state = (str(goal.status), candidate.plan.name if candidate else "")
        if not heard or heard[-1] != state:
            heard.append(state)

    capability = Capability(
        "c", plans=[Plan("slow", lit("q", ANY), noop, time=2), Plan("fast", lit("q", ANY), fails)]
    )
    agent = Agent("pop1", [capability])
    agent.watch(listen)

    async def scenario() -> None:
        agent.post_goal(goal)
        agent.suspend_goal(goal)
        agent.resume_goal(goal)
        agent.start()
        await agent.wait_idle()
        await agent.stop()

    run(scenario())
    assert heard == [
        ("pending", ""),
        ("suspended", ""),
        ("pending", ""),
        ("intended", "fast"),
        ("intended", "slow"),
        ("achieved", "slow"),
    ]


def test_drop_goal_ends_a_pending_or_intended_goal_and_wakes_its_waiters():
    gate = Gate()

    async def scenario():
        agent = gate.agent()
        intended = agent.post_goal(Goal(lit("done", "x")))
        waiter = asyncio.ensure_future(agent.wait_goal(intended))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        agent.drop_goal(intended, "the attack stopped")
        pending = Goal(lit("done", "y"))
        agent.post_goal(pending)
        agent.drop_goal(pending)
        with pytest.raises(ValueError, match="not a current goal"):
            agent.drop_goal(pending)
        await agent.wait_idle()
        await agent.stop()
        return intended, pending, await waiter

    intended, pending, waited = run(scenario())
    assert intended.status is GoalStatus.DROPPED and intended.reason == "the attack stopped"
    assert pending.status is GoalStatus.DROPPED and not waited
    assert gate.log == ["start done(x)", "cancelled done(x)"]


def test_goals_a_capability_posts_are_its_own_and_go_with_it():
    gate = Gate()

    async def follow_up(ctx: PlanContext) -> None:
        ctx.post_goal(Goal(lit("slow", "from-plan")))

    def options(beliefs: BeliefBase, goals):
        if beliefs.holds(lit("over")):
            return [Goal(lit("slow", "from-options"))]
        return ()

    async def scenario():
        monitor = Capability(
            "monitor",
            goals=[Goal(lit("slow", "template"))],
            plans=[Plan("f", lit("follow"), follow_up)],
            option_generation=options,
        )
        worker = Capability("worker", plans=[Plan("wait", lit("slow", ANY), gate.body)])
        agent = Agent("pop1", [worker, monitor])
        agent.start()
        own = agent.post_goal(Goal(lit("slow", "agent's")))
        await agent.achieve(Goal(lit("follow")))
        agent.perceive(lit("over"))
        for _ in range(5):
            await asyncio.sleep(0)
        owned = [g for g in agent.goals if agent.owner(g) == "monitor"]
        agent.remove_capability("monitor")
        await asyncio.sleep(0)
        remaining = agent.goals
        await agent.stop()
        return owned, own, remaining

    owned, own, remaining = run(scenario())
    assert sorted(g.predicate.args[0] for g in owned) == ["from-options", "from-plan", "template"]
    assert all(g.status is GoalStatus.DROPPED for g in owned)
    assert all(g.reason == "capability monitor removed" for g in owned)
    assert remaining == (own,)


def test_option_generation_can_drop_a_goal():
    gate = Gate()

    def options(beliefs: BeliefBase, goals):
        if beliefs.holds(lit("normal")):
            return [Drop(g, "link normal again") for g in goals if g.predicate.name == "slow"]
        return ()

    async def scenario():
        agent = Agent(
            "pop1",
            [
                Capability("worker", plans=[Plan("wait", lit("slow", ANY), gate.body)]),
                Capability("monitor", option_generation=options),
            ],
        )
        agent.start()
        goal = agent.post_goal(Goal(lit("slow", "x")))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        agent.perceive(lit("normal"))
        await agent.wait_idle()
        await agent.stop()
        return goal

    goal = run(scenario())
    assert goal.status is GoalStatus.DROPPED and goal.reason == "link normal again"


def test_a_goal_posted_after_another_waits_until_that_one_is_over():
    gate = Gate()
    order: list[str] = []

    async def quick(ctx: PlanContext) -> bool:
        order.append(str(ctx.goal.predicate))
        return ctx.goal.predicate.args[0] != "fails"

    async def scenario():
        capability = Capability(
            "c", plans=[Plan("wait", lit("slow", ANY), gate.body), Plan("q", lit("q", ANY), quick)]
        )
        agent = Agent("pop1", [capability])
        agent.start()
        limit = agent.post_goal(Goal(lit("slow", "limit"), priority=10))
        record = agent.post_goal(Goal(lit("q", "fails"), after=limit))
        last = agent.post_goal(Goal(lit("q", "last"), after=record))
        for _ in range(5):
            await asyncio.sleep(0)
        assert order == [] and record.status is GoalStatus.PENDING
        gate.opened.set()
        await agent.wait_idle()
        await agent.stop()
        return record, last

    record, last = run(scenario())
    assert order == ["q(fails)", "q(last)"]  # in sequence, whatever the outcome before
    assert record.status is GoalStatus.FAILED and last.status is GoalStatus.ACHIEVED


def test_perform_runs_one_capabilitys_plans_now_falling_back_to_the_next():
    ran: list[str] = []

    def body(name: str, ok: bool):
        async def run_it(ctx: PlanContext) -> bool:
            ran.append(name)
            if ok:
                ctx.believe(ctx.goal.predicate)
            return ok

        return run_it

    async def scenario():
        pattern = lit("linkRateLimited", L)
        won = Capability(
            "rate_limiter",
            plans=[
                Plan("broken", pattern, body("broken", False)),
                Plan("LL", pattern, body("LL", True), time=1),
            ],
        )
        elsewhere = Capability("auction", plans=[Plan("request", pattern, body("request", True))])
        agent = Agent("pop1", [elsewhere, won])  # the reasoning cycle is not running
        goal = Goal(lit("linkRateLimited", "l1"))
        ok = await agent.perform(goal, "rate_limiter")
        with pytest.raises(ValueError, match="no capability 'classifier'"):
            await agent.perform(Goal(lit("linkRateLimited", "l2")), "classifier")
        return ok, goal, agent

    ok, goal, agent = run(scenario())
    assert ok and ran == ["broken", "LL"] and goal.reason == "plan LL"
    assert agent.goals == () and agent.beliefs.holds(lit("linkRateLimited", "l1"))

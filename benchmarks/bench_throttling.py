"""Time to apply the throttling strategy with unrelated goals on the Rate Limiter's agent.

Section 5.4.3 of `003_…`, test 1 (Figure 5.5): on the reference scenario
(`scenarios/ddos-6pop.yaml`) the agent that plays the Rate Limiter (pop5) also holds
0, 5, …, 100 synthetic BDI goals whose plans take a random 0–100 ms (on the run's virtual
clock). The clock starts when the goals are added and stops when the throttling strategy
is applied: the linkRateLimited(pop6~server) auction is done (INFORM-DONE received) and
the LinkRateLimit rule is installed. Three ways of adding the goals are measured:

- `scenario`: the real story. The Link Monitor's agent (pop6) perceives the over-usage and
  auctions linkRateLimited; the synthetic goals are posted on pop5 in that same step.
- `colocated`: as 003 words it, linkRateLimited is posted on pop5 itself together with
  the synthetic goals, at a random place among them and at the same priority (003 used no
  goal filtering or prioritisation); pop5 auctions it (and wins it, the repository being
  at its switch).
- `prioritised`: as `colocated`, but the synthetic goals have priority 0 and
  linkRateLimited keeps the strategy's PROTECT priority.

Both the delay on the virtual clock and the wall time are reported (mean and standard
deviation over the repetitions).

    python benchmarks/bench_throttling.py [--quick] [--repeat 20]

Writes benchmarks/results/throttling.json and throttling.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from secmas.agents.bdi import Belief, Capability, Goal, GoalStatus, Plan, PlanContext, Var
from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.facts import PROTECT, link_name
from secmas.agents.ddos.world import World
from secmas.agents.journal import ActionEvent, Journal
from secmas.agents.nfva.records import AuctionRecord
from secmas.network.clock import VirtualClock, drive_clock, settle
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "ddos-6pop.yaml"
RESULTS = Path(__file__).parent / "results"
LIMITER = "pop5"  # the agent that plays the Rate Limiter in Section 5.4.1
GOAL = "linkRateLimited"
MODES = ("scenario", "colocated", "prioritised")
COLOCATED_AT = 23.0  # the step at which pop6 detects the over-usage in the scenario
MAX_PLAN_SECONDS = 0.1


class TimedJournal(Journal):
    """A journal that notes when the throttling rule is installed and its auction done."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock
        self.installed: tuple[float, float] | None = None
        self.done: tuple[float, float] | None = None
        self.winner: str | None = None
        self.auctioneer: str | None = None

    def action(self, event: ActionEvent) -> None:
        super().action(event)
        if event.action == "limitLink" and self.installed is None:
            self.installed = (self.clock.now(), time.perf_counter())

    def auction(self, initiator: str, record: AuctionRecord) -> None:
        super().auction(initiator, record)
        if record.outcome.request.goal == GOAL and record.achieved and self.done is None:
            self.done = (self.clock.now(), time.perf_counter())
            self.auctioneer = initiator
            self.winner = record.outcome.winner.bidder if record.outcome.winner else None


def synthetic_capability(clock: VirtualClock) -> Capability:
    """One plan for every synthetic(i) goal: sleep the goal's drawn time, then believe it."""

    async def body(ctx: PlanContext) -> bool:
        await clock.sleep(ctx.goal.payload["seconds"])
        ctx.believe(ctx.goal.predicate)
        return True

    return Capability(
        "synthetic", plans=(Plan("SYN", Belief("synthetic", (Var("i"),)), body, time=0.05),)
    )


@dataclass
class Sample:
    """One repetition of one configuration."""

    virtual_s: float
    wall_ms: float
    installed_virtual_s: float
    installed_wall_ms: float
    synthetic_done: int
    auctioneer: str
    winner: str


async def run_once(scenario: Scenario, mode: str, goals: int, seed: int) -> Sample:
    """One run until the throttling strategy is applied; times from when goals are added."""
    rng = random.Random(f"{seed}:{mode}:{goals}")
    assert scenario.defence is not None and scenario.traffic is not None
    world = World.simulated(scenario)
    clock, bus = world.clock, world.bus
    assert isinstance(clock, VirtualClock)
    journal = world.journal = TimedJournal(clock)
    agents = [PoPAgent(pop, world, seed=scenario.seed) for pop in world.directory]
    for agent in agents:
        await agent.start()
    limiter = next(a for a in agents if a.pop == LIMITER)
    limiter.bdi.add_capability(synthetic_capability(clock))
    synthetic: list[Goal] = []

    def post_goals() -> None:
        """Add the synthetic goals (and, unless in `scenario` mode, linkRateLimited)."""
        priority = 0.0 if mode == "prioritised" else PROTECT
        batch = [
            Goal(
                Belief("synthetic", (str(i),)),
                priority=priority,
                payload={"seconds": rng.uniform(0.0, MAX_PLAN_SECONDS)},
            )
            for i in range(goals)
        ]
        synthetic.extend(batch)
        if mode != "scenario":
            monitor = scenario.defence.monitor  # type: ignore[union-attr]
            a, b = monitor.link
            payload = {"node": a, "link": [a, b], "since": world.plane.now}
            limit = Goal(Belief(GOAL, (link_name(a, b),)), priority=PROTECT, payload=payload)
            batch.insert(rng.randint(0, goals), limit)
        for goal in batch:
            limiter.bdi.post_goal(goal)

    started: tuple[float, float] | None = None
    try:
        while started is None and world.plane.now < scenario.traffic.duration:
            world.plane.step()
            await drive_clock(clock, world.plane.now)
            if mode == "scenario":
                for agent in agents:
                    await agent.observe()
                trigger = any(e.action == "overUsage" for e in journal.actions)
            else:
                trigger = world.plane.now >= COLOCATED_AT
            if trigger:
                post_goals()
                started = (clock.now(), time.perf_counter())
            await settle()
        if started is None:
            raise RuntimeError("the over-usage was never detected")
        # Drive the clock timer by timer (no data-plane step) until the strategy is applied.
        while journal.done is None:
            await settle()
            if journal.done is not None:
                break
            due = clock.next_timer()
            if due is None:
                raise RuntimeError(f"{GOAL} was never achieved")
            clock.advance(due)
        finished = sum(1 for g in synthetic if g.status is GoalStatus.ACHIEVED)
    finally:
        for agent in agents:
            await agent.stop()
        await bus.close()
        await asyncio.sleep(0)
    assert journal.installed is not None
    return Sample(
        virtual_s=journal.done[0] - started[0],
        wall_ms=(journal.done[1] - started[1]) * 1000,
        installed_virtual_s=journal.installed[0] - started[0],
        installed_wall_ms=(journal.installed[1] - started[1]) * 1000,
        synthetic_done=finished,
        auctioneer=str(journal.auctioneer),
        winner=str(journal.winner),
    )


def summarise(samples: list[Sample], pick: Callable[[Sample], float]) -> tuple[float, float]:
    values = [pick(s) for s in samples]
    return statistics.fmean(values), statistics.pstdev(values)


def measure(scenario: Scenario, mode: str, goals: int, repeat: int) -> dict[str, object]:
    samples = [asyncio.run(run_once(scenario, mode, goals, seed)) for seed in range(repeat)]
    v_mean, v_std = summarise(samples, lambda s: s.virtual_s)
    w_mean, w_std = summarise(samples, lambda s: s.wall_ms)
    iv_mean, _ = summarise(samples, lambda s: s.installed_virtual_s)
    iw_mean, _ = summarise(samples, lambda s: s.installed_wall_ms)
    return {
        "mode": mode,
        "synthetic_goals": goals,
        "repeat": repeat,
        "virtual_s_mean": v_mean,
        "virtual_s_std": v_std,
        "wall_ms_mean": w_mean,
        "wall_ms_std": w_std,
        "rule_installed_virtual_s_mean": iv_mean,
        "rule_installed_wall_ms_mean": iw_mean,
        "synthetic_finished_before_done_mean": statistics.fmean(s.synthetic_done for s in samples),
        "auctioneers": sorted({s.auctioneer for s in samples}),
        "winners": sorted({s.winner for s in samples}),
        "virtual_s_samples": [s.virtual_s for s in samples],
        "wall_ms_samples": [s.wall_ms for s in samples],
    }


def plot(rows: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {"scenario": "tab:green", "colocated": "tab:blue", "prioritised": "tab:orange"}
    for mode in MODES:
        mine = [r for r in rows if r["mode"] == mode]
        if not mine:
            continue
        xs = [float(r["synthetic_goals"]) for r in mine]  # type: ignore[arg-type]
        for axis, key, scale in ((left, "virtual_s", 1000.0), (right, "wall_ms", 1.0)):
            means = [float(r[f"{key}_mean"]) * scale for r in mine]  # type: ignore[arg-type]
            stds = [float(r[f"{key}_std"]) * scale for r in mine]  # type: ignore[arg-type]
            axis.errorbar(
                xs, means, yerr=stds, fmt="o-", capsize=3, color=colours[mode], label=mode
            )
    left.set_title("delay on the virtual clock")
    left.set_ylabel("ms until the throttling strategy is applied")
    right.set_title("wall time")
    right.set_ylabel("ms (wall)")
    for axis in (left, right):
        axis.set_xlabel(f"synthetic goals on the Rate Limiter's agent ({LIMITER})")
        axis.legend()
        axis.grid(alpha=0.3)
    fig.suptitle("Time to apply the throttling strategy (003 Figure 5.5), mean ± std")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="0, 50, 100 goals, 3 repetitions")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions per configuration")
    args = parser.parse_args()
    counts = [0, 50, 100] if args.quick else list(range(0, 101, 5))
    repeat = args.repeat or (3 if args.quick else 20)
    scenario = load_scenario(SCENARIO)
    rows = []
    began = time.perf_counter()
    print(f"{'mode':12} {'goals':>5}  {'virtual ms':>18}  {'wall ms':>16}")
    for mode in MODES:
        for goals in counts:
            row = measure(scenario, mode, goals, repeat)
            rows.append(row)
            print(
                f"{mode:12} {goals:5}  "
                f"{row['virtual_s_mean'] * 1000:8.1f} ± {row['virtual_s_std'] * 1000:7.1f}  "  # type: ignore[operator]
                f"{row['wall_ms_mean']:7.2f} ± {row['wall_ms_std']:6.2f}"
            )
    result = {
        "benchmark": "throttling",
        "what": (
            "Section 5.4.3 test 1 of 003: time from adding N synthetic goals (plans sleep "
            "U(0, 100 ms) on the virtual clock) to the Rate Limiter's agent until the "
            "linkRateLimited auction is done and its LinkRateLimit rule installed"
        ),
        "scenario": str(SCENARIO.relative_to(ROOT)),
        "rate_limiter_agent": LIMITER,
        "modes": {
            "scenario": "pop6 (Link Monitor) auctions linkRateLimited as in the run; "
            "synthetic goals posted on pop5 in the step the over-usage is perceived",
            "colocated": "linkRateLimited posted on pop5 with the synthetic goals, at a "
            "random place among them, all at priority PROTECT (no prioritisation, as 003)",
            "prioritised": "as colocated, synthetic goals at priority 0, linkRateLimited "
            "at PROTECT",
        },
        "max_intentions": 32,
        "quick": args.quick,
        "python": platform.python_version(),
        "total_wall_s": time.perf_counter() - began,
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "throttling.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, RESULTS / "throttling.png")


if __name__ == "__main__":
    main()

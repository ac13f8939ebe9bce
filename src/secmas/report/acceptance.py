"""The run's acceptance figures, computed from its own telemetry (issue: DDoS scenario).

- attack reduction: 1 − attack delivered to the server / attack offered, over the attack's
  end window (the last 20 s before it stops, or before the run ends if it never does; a
  hidden attacker's attacks of seconds: each of them after its first `ALLOWANCE_S`): at
  least 90 %;
- legitimate traffic: delivered over the run's end window / delivered before the attack:
  at least 90 %;
- capacity: no PoP and no link allocated beyond capacity at any step.

A figure is only met when it was measured. The telemetry must reach the scenario's end
(an emulated run whose sampling fell behind stops short of it, and its last sample would
stand for a window it never saw), and a figure with nothing to measure (no legitimate
traffic before the attack, no attack offered in its window) is `not measured`, which fails
the run as a missed figure does: a verdict nobody could check is not a pass.

A run that misses them says why where its telemetry and auctions show it
(`failure_reasons`): a Link Monitor that never perceived the attack, a goal no agent
could bid for and the constraint no path met.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from secmas.network.dataplane import LinkOverUsage, Telemetry, UsageEvent
from secmas.scenario.caveats import (
    PATH_MEASURES,
    best_path_text,
    constraint_text,
    least_values,
    never_met,
)
from secmas.scenario.model import Constraint, Scenario

END_WINDOW_S = 20.0
REQUIRED = 0.9
ALLOWANCE_S = 5.0
"""Seconds of a hidden attacker's attack in which the defence may still be detecting and
acting: its traffic counts against the defence after them (the real-CNF demo's loop
alerts 1–4 s after an attack starts and its remedy is in effect within 2 s)."""
ATTACK_REDUCTION = "attack reduction"
LEGIT_RATIO = "legitimate traffic"


@dataclass(frozen=True)
class Timeline:
    """What the scenario says the telemetry must show: whether there is traffic to judge
    (a scenario of synthetic load has none), when the attack runs, where the run ends and
    how long a step is. `end` None checks no coverage (telemetry made by hand for one
    figure); `legit_clients` False when the scenario has none."""

    attack_start: float | None = None
    attack_stop: float | None = None
    judged: tuple[tuple[float, float], ...] | None = None
    """Where attack reduction is judged instead of the attack's end window: the parts of
    a hidden attacker's attacks after `ALLOWANCE_S` (`Timeline.of`)."""
    end: float | None = None
    step: float = 1.0
    traffic: bool = True
    legit_clients: bool = True

    @classmethod
    def of(
        cls, scenario: Scenario, attacked: Sequence[tuple[float, float]] | None = None
    ) -> Timeline:
        """The scenario's own timeline; with `attacked`, the (start, stop) of the network
        attacks a hidden attacker really ran instead of the scenario's attack section (the
        run never knew them; its schedule is the attacker's, read after the run). Its
        attacks last seconds, not the run, so reduction is judged over each of them after
        the first `ALLOWANCE_S` (`judged`: a defence cannot have acted before it saw the
        attack); the legitimate traffic before the first one."""
        traffic = scenario.traffic
        if traffic is None:
            return cls(traffic=False)
        attack = scenario.attack
        start = None if attack is None else attack.start
        stop = None if attack is None else attack.stop
        judged = None
        if attacked is not None:
            start = min((a for a, _ in attacked), default=None)
            last = max((b for _, b in attacked), default=None)
            stop = None if last is None or last >= traffic.duration - traffic.step else last
            judged = tuple((a + ALLOWANCE_S, b) for a, b in attacked if b > a + ALLOWANCE_S)
        return cls(
            attack_start=start,
            attack_stop=stop,
            judged=judged,
            end=traffic.duration,
            step=traffic.step,
            legit_clients=traffic.background.hosts > 0,
        )


@dataclass(frozen=True)
class Acceptance:
    """The figures and whether each holds."""

    attack_reduction: float | None
    legit_ratio: float | None
    capacity_ok: bool
    end_window_s: float
    pre_attack_legit: float
    end_legit: float
    end_attack: float
    end_offered_attack: float
    telemetry_until: float | None = None
    """Where the run's samples end (the last one's start plus a step), simulated s."""
    not_measured: dict[str, str] = field(default_factory=dict)
    """Each figure the run had to meet but could not measure, with why."""
    reasons: tuple[str, ...] = ()
    """Why the figures were missed, where the run shows it (`failure_reasons`)."""

    @property
    def passed(self) -> bool:
        """Every figure that applies was measured and holds (a run without an attack
        only needs capacity and legitimate traffic)."""
        attack_ok = self.attack_reduction is None or self.attack_reduction >= REQUIRED
        legit_ok = self.legit_ratio is None or self.legit_ratio >= REQUIRED
        return attack_ok and legit_ok and self.capacity_ok and not self.not_measured

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, with `passed`."""
        return asdict(self) | {"passed": self.passed, "required": REQUIRED}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def acceptance(telemetry: Sequence[Telemetry], timeline: Timeline, capacity_ok: bool) -> Acceptance:
    """Compute the figures from per-step telemetry (t is each step's start)."""
    if not telemetry:
        missing = _unmeasurable_without_telemetry(timeline)
        return Acceptance(None, None, capacity_ok, END_WINDOW_S, 0.0, 0.0, 0.0, 0.0, None, missing)
    until = telemetry[-1].t + timeline.step
    end = telemetry[-1].t + 1e-9 - END_WINDOW_S
    tail = [x for x in telemetry if x.t > end] or list(telemetry[-1:])
    start = timeline.attack_start if timeline.attack_start is not None else float("inf")
    before = [x.legit for x in telemetry if x.t < start]
    attacked = _attack_window(telemetry, timeline, tail)
    end_attack = _mean([x.attack for x in attacked])
    end_offered = _mean([x.offered_attack for x in attacked])
    end_legit = _mean([x.legit for x in tail])
    pre = _mean(before)
    reduction = None if end_offered <= 0 else 1.0 - end_attack / end_offered
    ratio = None if pre <= 0 else end_legit / pre
    return Acceptance(
        attack_reduction=reduction,
        legit_ratio=ratio,
        capacity_ok=capacity_ok,
        end_window_s=END_WINDOW_S,
        pre_attack_legit=pre,
        end_legit=end_legit,
        end_attack=end_attack,
        end_offered_attack=end_offered,
        telemetry_until=until,
        not_measured=_not_measured(telemetry, timeline, reduction, ratio),
    )


def _attack_window(
    telemetry: Sequence[Telemetry], timeline: Timeline, tail: list[Telemetry]
) -> list[Telemetry]:
    """The samples of the attack's end window: the run's own end window for an attack
    that lasts to the end (or telemetry made without a timeline), else the last
    END_WINDOW_S seconds before the attack stops, where a mitigation shows."""
    if timeline.judged is not None:
        return [x for x in telemetry if any(a - 1e-9 <= x.t < b for a, b in timeline.judged)]
    stop = timeline.attack_stop
    if stop is None or timeline.end is None or stop >= timeline.end:
        return tail
    return [x for x in telemetry if stop - END_WINDOW_S - 1e-9 <= x.t < stop]


def _unmeasurable_without_telemetry(timeline: Timeline) -> dict[str, str]:
    """Each figure a run without a single sample could not measure."""
    if not timeline.traffic:
        return {}
    missing = {LEGIT_RATIO: "the run recorded no telemetry"}
    if timeline.attack_start is not None:
        missing[ATTACK_REDUCTION] = "the run recorded no telemetry"
    return missing


def _not_measured(
    telemetry: Sequence[Telemetry],
    timeline: Timeline,
    reduction: float | None,
    ratio: float | None,
) -> dict[str, str]:
    """Each figure the run had to meet and could not measure, with why: samples that
    stop short of the scenario's end spoil both; otherwise a figure with nothing to
    divide by (no legitimate traffic before the attack, no attack offered in its
    window)."""
    short = _short_of_the_end(telemetry, timeline)
    missing: dict[str, str] = {}
    if timeline.attack_start is not None and (short or reduction is None):
        missing[ATTACK_REDUCTION] = short or (
            "no attack traffic was offered in the attack's end window"
        )
    if timeline.traffic and (short or ratio is None):
        missing[LEGIT_RATIO] = short or (
            "no legitimate traffic was delivered before the attack"
            if timeline.legit_clients
            else "the scenario has no legitimate clients (traffic.background.hosts is 0)"
        )
    return missing


def _short_of_the_end(telemetry: Sequence[Telemetry], timeline: Timeline) -> str:
    """Why the samples do not stand for the scenario's end, or "": the last one starts
    more than a step before the last step, or the end window holds fewer than half the
    samples it should (sampling fell behind, and a late sample averages over a window
    it mostly did not see)."""
    if timeline.end is None:
        return ""
    step = timeline.step
    last = telemetry[-1].t
    if last + 2 * step < timeline.end - 1e-9:
        return (
            f"the telemetry stops at {last + step:g} s of the scenario's {timeline.end:g} s "
            "(sampling fell behind or the run ended early)"
        )
    window = min(END_WINDOW_S, timeline.end)
    expected = max(1, round(window / step))
    held = sum(1 for x in telemetry if x.t > timeline.end - window - 1e-9)
    if held * 2 < expected:
        return (
            f"the last {window:g} s hold {held} samples of the {expected} expected "
            f"(one every {step:g} s): sampling fell behind"
        )
    return ""


def failure_reasons(
    accepted: Acceptance,
    scenario: Scenario,
    telemetry: Sequence[Telemetry],
    auctions: Sequence[Mapping[str, Any]],
) -> tuple[str, ...]:
    """Why a run missed its figures, from its telemetry and its auctions (as report.json
    records them): none for a run that passed."""
    if accepted.passed:
        return ()
    unmeasured = tuple(
        f"{figure} not measured: {why}" for figure, why in accepted.not_measured.items()
    )
    return (
        *unmeasured,
        *_unperceived(accepted, scenario, telemetry),
        *_unmet_goals(scenario, auctions),
    )


def _unperceived(
    accepted: Acceptance, scenario: Scenario, telemetry: Sequence[Telemetry]
) -> tuple[str, ...]:
    """An attack left unmitigated because the Link Monitor, fed the run's own loads of its
    link, never perceived over-usage: the DDoS strategy never started."""
    reduction = accepted.attack_reduction
    if scenario.defence is None or reduction is None or reduction >= REQUIRED:
        return ()
    loads = [x.monitored for x in telemetry if x.monitored is not None]
    detector = LinkOverUsage.for_monitor(scenario.defence.monitor)
    if not loads or any(detector.update(load) is UsageEvent.OVER for load in loads):
        return ()
    a, b = scenario.defence.monitor.link
    peak = max(loads)
    threshold = f"its {detector.threshold:g} MB/s threshold"
    side = (
        f"below {threshold}"
        if peak <= detector.threshold
        else f"above {threshold} for fewer than {detector.consecutive} steps in a row"
    )
    return (
        f"the Link Monitor never perceived over-usage of {a}–{b}: the link carried at most "
        f"{peak:.3g} MB/s, {side} (defence.monitor.threshold), so the DDoS strategy started "
        "no auction",
    )


def _unmet_goals(scenario: Scenario, auctions: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """Each goal no auction of the run got done, told by its last auction."""
    met = {auction["goal"] for auction in auctions if auction["status"] == "done"}
    last = {auction["goal"]: auction for auction in auctions if auction["goal"] not in met}
    return tuple(_unmet(scenario, auction) for auction in last.values())


def _unmet(scenario: Scenario, auction: Mapping[str, Any]) -> str:
    """Why an auction left its goal unmet: its status, or for one without bids each
    agent's refusal, with the goal constraint no path of a bidder's could meet."""
    when = f"t={auction['sim_start_s']:g} s"
    if auction["status"] != "no-bids":
        status = f"{auction['status']} in attempt {auction['attempt']}"
        return f"{auction['goal']} was not met: {status} ({when})"
    return f"{auction['goal']} got no bid ({when}): " + "; ".join(_refusals(scenario, auction))


def _refusals(scenario: Scenario, auction: Mapping[str, Any]) -> list[str]:
    """The agents' refusals; those whose every path to the auctioneer breaks one of the
    goal's constraints are told together, by that constraint and the best they have."""
    auctioneer = auction["initiator"]
    constraints = [Constraint.model_validate(c) for c in auction["constraints"]]
    least = {
        measure: least_values(scenario, measure, auctioneer)
        for measure in {c.measure for c in constraints} & PATH_MEASURES
    }
    blocked: dict[int, list[str]] = {}
    told: list[str] = []
    for refusal in auction["refusals"]:
        bidder = refusal["agent"]
        broken = next(
            (
                index
                for index, c in enumerate(constraints)
                if bidder != auctioneer
                and bidder in least.get(c.measure, {})
                and never_met(c, least[c.measure][bidder])
            ),
            None,
        )
        if broken is None:
            told.append(f"{bidder}: {refusal['reason']}")
        else:
            blocked.setdefault(broken, []).append(bidder)
    return [
        _no_path(scenario, auction, constraints[index], bidders, least[constraints[index].measure])
        for index, bidders in blocked.items()
    ] + told


def _no_path(
    scenario: Scenario,
    auction: Mapping[str, Any],
    constraint: Constraint,
    bidders: list[str],
    least: Mapping[str, float],
) -> str:
    """`no path from pop1, pop2 to pop6 meets goals[1].constraints[0] P <= 0 (…)`."""
    best = min((least[bidder] for bidder in bidders), default=math.inf)
    return (
        f"no path from {', '.join(bidders)} to {auction['initiator']} meets "
        f"{_where(scenario, auction['goal_name'], constraint)}{constraint_text(constraint)} "
        f"({best_path_text(constraint.measure, best)})"
    )


def _where(scenario: Scenario, goal_name: str, constraint: Constraint) -> str:
    """`goals[1].constraints[0] `: where the scenario sets the constraint, if it does
    (the Link Monitor's own goal is set in code)."""
    for g, goal in enumerate(scenario.goals):
        for c, own in enumerate(goal.constraints):
            if goal.name == goal_name and own == constraint:
                return f"goals[{g}].constraints[{c}] "
    return ""

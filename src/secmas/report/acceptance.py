"""The run's acceptance figures, computed from its own telemetry (issue: DDoS scenario).

- attack reduction: 1 − attack delivered to the server / attack offered, over the end
  window (the last 20 s): at least 90 %;
- legitimate traffic: delivered over the end window / delivered before the attack: at
  least 90 %;
- capacity: no PoP and no link allocated beyond capacity at any step.

A run that misses them says why where its telemetry and auctions show it
(`failure_reasons`): a Link Monitor that never perceived the attack, a goal no agent
could bid for and the constraint no path met.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
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
    reasons: tuple[str, ...] = ()
    """Why the figures were missed, where the run shows it (`failure_reasons`)."""

    @property
    def passed(self) -> bool:
        """All three hold (a run without an attack only needs capacity and legit)."""
        attack_ok = self.attack_reduction is None or self.attack_reduction >= REQUIRED
        legit_ok = self.legit_ratio is None or self.legit_ratio >= REQUIRED
        return attack_ok and legit_ok and self.capacity_ok

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, with `passed`."""
        return asdict(self) | {"passed": self.passed, "required": REQUIRED}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def acceptance(
    telemetry: Sequence[Telemetry], attack_start: float | None, capacity_ok: bool
) -> Acceptance:
    """Compute the figures from per-step telemetry (t is each step's start)."""
    if not telemetry:
        return Acceptance(None, None, capacity_ok, END_WINDOW_S, 0.0, 0.0, 0.0, 0.0)
    end = telemetry[-1].t + 1e-9 - END_WINDOW_S
    tail = [x for x in telemetry if x.t > end] or list(telemetry[-1:])
    start = attack_start if attack_start is not None else float("inf")
    before = [x.legit for x in telemetry if x.t < start]
    end_attack = _mean([x.attack for x in tail])
    end_offered = _mean([x.offered_attack for x in tail])
    end_legit = _mean([x.legit for x in tail])
    pre = _mean(before)
    return Acceptance(
        attack_reduction=None if end_offered <= 0 else 1.0 - end_attack / end_offered,
        legit_ratio=None if pre <= 0 else end_legit / pre,
        capacity_ok=capacity_ok,
        end_window_s=END_WINDOW_S,
        pre_attack_legit=pre,
        end_legit=end_legit,
        end_attack=end_attack,
        end_offered_attack=end_offered,
    )


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
    return (*_unperceived(accepted, scenario, telemetry), *_unmet_goals(scenario, auctions))


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

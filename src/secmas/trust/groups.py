"""Attestation groups: the agents split into chains small enough that each agent is
re-attested within the scenario's `interval`, whatever the number of agents.

`001_…` builds the mutual attestation as one chain along one plan, one step per period,
so an agent waits agents × period seconds between two measurements (1,000 agents at the
reference 10 s: 2.8 hours). Split into groups, each with its own plan and rotating root
of trust on the registry contract, the chains step side by side: a group of n agents
among several takes n + 1 steps a round (its n members and one guest from another
group, the contract's cross-check), so n = ⌊interval / period⌋ − 1 keeps every agent
within the interval. With no interval, or few enough agents for one chain's round, the
agents form one group: the seed's single chain, with no guest steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from secmas.scenario.model import MIN_ROUND_PERIODS


def group_size(agents: int, period: float, interval: float | None) -> int:
    """The most agents a group may hold for each to be re-attested every `interval`
    seconds at one step per `period`: all of them when one chain's round fits."""
    if interval is None:
        return agents
    steps = math.floor(interval / period + 1e-9)
    if steps < MIN_ROUND_PERIODS:
        raise ValueError(
            f"an interval of {interval:g} s holds {steps} steps of {period:g} s; "
            f"a group needs {MIN_ROUND_PERIODS}"
        )
    return agents if agents <= steps else steps - 1


def attestation_groups(
    plan: Sequence[str], period: float, interval: float | None
) -> tuple[tuple[str, ...], ...]:
    """`plan` cut into consecutive groups of balanced sizes (they differ by one at most),
    none larger than `group_size`: neighbours in the plan (in PoP order by default, so
    often neighbours in the network) share a group."""
    if not plan:
        return ()
    most = group_size(len(plan), period, interval)
    count = math.ceil(len(plan) / most)
    base, extra = divmod(len(plan), count)
    groups, start = [], 0
    for index in range(count):
        size = base + (1 if index < extra else 0)
        groups.append(tuple(plan[start : start + size]))
        start += size
    return tuple(groups)


def round_steps(size: int, groups: int) -> int:
    """Steps in one round of a group of `size` among `groups`: its members, and one guest
    step when there are other groups."""
    return size + 1 if groups > 1 else size

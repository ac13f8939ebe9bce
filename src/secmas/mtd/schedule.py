"""Synchronised parallel migration of a network service's CNFs (004_… Section 2.1).

"Migrating a NS requires the parallel migration of its microservices. This scheduling is made to
have the interdependent migrating CNFs reach their destination at the same time, minimizing the
disruption of the NS migrated." With the regressor's predicted durations d_i, CNF i starts at

    start_i = max_j d_j − d_i

so every predicted arrival (start_i + d_i) is max_j d_j: the longest migration starts first, at
0. The actual arrivals are start_i + a_i with the actual durations a_i; their spread
(max − min) is the misalignment the service sees, and equals the spread of the prediction
errors a_i − d_i (so it is bounded by max_i |a_i − d_i| − min_i … ≤ 2·max_i |a_i − d_i|).
Starting every migration at once would leave the spread of the durations themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    """One CNF's place in a synchronised migration."""

    cnf: str
    start_s: float  # offset from the service's migration start
    predicted_s: float  # predicted duration
    predicted_arrival_s: float


def align(predicted: Mapping[str, float]) -> dict[str, Slot]:
    """Start offsets that make every predicted arrival coincide (start_i = max d − d_i)."""
    for cnf, d in predicted.items():
        if not d >= 0:
            raise ValueError(f"predicted duration of {cnf!r} must be ≥ 0, got {d!r}")
    if not predicted:
        return {}
    longest = max(predicted.values())
    return {cnf: Slot(cnf, longest - d, d, longest) for cnf, d in predicted.items()}


def arrivals(slots: Mapping[str, Slot], actual: Mapping[str, float]) -> dict[str, float]:
    """Actual arrival offsets: each CNF's start plus its actual duration."""
    return {cnf: slot.start_s + actual[cnf] for cnf, slot in slots.items()}


def spread(times: Mapping[str, float]) -> float:
    """max − min of arrival times (0 for fewer than two)."""
    values = list(times.values())
    return max(values) - min(values) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class SpreadReport:
    """Arrival spread of one service migration: synchronised vs all starting at once."""

    predicted_spread_s: float  # 0 by construction
    aligned_spread_s: float  # actual arrivals with the aligned starts
    simultaneous_spread_s: float  # actual arrivals if every CNF started at 0
    max_abs_error_s: float  # max_i |a_i − d_i|
    makespan_s: float  # last actual arrival (aligned)


def report(predicted: Mapping[str, float], actual: Mapping[str, float]) -> SpreadReport:
    slots = align(predicted)
    got = arrivals(slots, actual)
    return SpreadReport(
        predicted_spread_s=spread({c: s.predicted_arrival_s for c, s in slots.items()}),
        aligned_spread_s=spread(got),
        simultaneous_spread_s=spread(dict(actual)),
        max_abs_error_s=max((abs(actual[c] - predicted[c]) for c in predicted), default=0.0),
        makespan_s=max(got.values(), default=0.0),
    )

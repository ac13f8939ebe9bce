"""The real CNF's closed loop, its pure parts: ground truth, normal bounds, and when a
mitigation is in effect (`002_…` Section II.A, IV).

A mitigation is *in effect* at the first step after the winner of its auction acted at
which the metrics it acts on are back under their normal bounds (the largest value of
the CNF's normal phase plus half of it), read from the real counters like everything
else: a guard brings back the requests served and the connections held, an isolation
or a fresh instance the CPU and memory an intruder used, a replica the latency of a
CNF that had too few.

Scoring a run afterwards (`score_run`) counts an alert as an attack's detection only when
its explanation names a metric where that kind of attack shows (`SHOWS_ON`: a network
attack on the traffic, one inside the CNF on its CPU and memory): during overlapping
attacks, a memory leak's alert is not the flood's detection. An attack no alert explains
that moved none of its metrics above their bounds while a remedy against its family was
already in effect (a standing guard holding off a flood from the same sources) was
*mitigated before detection* (`mitigated_before`), not missed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from secmas.analytics.events import NORMAL

ACTS_ON = {
    "guard": ("throughput", "connections"),
    "isolate": ("cpu", "memory_rss"),
    "migrate": ("cpu", "memory_rss"),
    "scale_out": ("latency_p90",),
}
"""The metrics each remedy brings back (the test of it being in effect)."""


SHOWS_ON = {
    "network": frozenset({"net_rx", "net_tx", "connections", "throughput", "error_rate"}),
    "host": frozenset({"cpu", "memory_rss", "memory_vsize"}),
}
"""Where each family of attacks shows on the CNF's metrics (the machine's `load` and the
disk are left out: the host's other tenants move them)."""
FAMILY = {
    "http_flood": "network",
    "slowloris": "network",
    "syn_flood": "network",
    "high_cpu": "host",
    "high_memory": "host",
}
"""The family of each attack of the emulated CNF (`cnfattacks.ATTACKS`)."""
STOPS = {"network": frozenset({"guard"}), "host": frozenset({"isolate", "migrate"})}
"""The remedies that hold off each family of attacks."""


def families(names: Collection[str]) -> frozenset[str]:
    """The families of attacks that show on any of the metrics `names`."""
    return frozenset(f for f, shown in SHOWS_ON.items() if shown & set(names))


def above(row: Mapping[str, float], bounds: Mapping[str, float]) -> list[str]:
    """The metrics of one step above their normal bounds."""
    return [name for name, bound in bounds.items() if row[name] > bound]


def explains(kind: str, names: Collection[str]) -> bool:
    """Whether an alert explained by the metrics `names` is one of an attack of `kind`
    (any alert, for a kind of unknown family)."""
    family = FAMILY.get(kind)
    return family is None or bool(SHOWS_ON[family] & set(names))


def normal_bounds(values: np.ndarray, features: Sequence[str]) -> dict[str, float]:
    """Per metric, the highest level still normal: the training maximum plus half its
    size (and a hair, for metrics that were always 0)."""
    top = np.asarray(values, dtype=float).max(axis=0)
    return {name: float(v + 0.5 * abs(v) + 1e-3) for name, v in zip(features, top, strict=True)}


def in_effect(
    remedy: str, row: np.ndarray, features: Sequence[str], bounds: dict[str, float]
) -> bool:
    """Whether one step's metrics show the remedy working."""
    return all(row[features.index(name)] <= bounds[name] for name in ACTS_ON[remedy])


def first_in_effect(
    times: Sequence[float],
    rows: np.ndarray,
    after: float,
    remedy: str,
    features: Sequence[str],
    bounds: dict[str, float],
) -> float | None:
    """The first step time after `after` at which `remedy` is in effect (None: never)."""
    for t, row in zip(times, rows, strict=True):
        if t > after and in_effect(remedy, row, features, bounds):
            return float(t)
    return None


@dataclass(frozen=True)
class Condition:
    """An attack or incident of the ground truth: its kind and [start, stop) times."""

    kind: str
    start: float
    stop: float


def condition_at(conditions: Sequence[Condition], t: float, step: float) -> Condition | None:
    """The condition under way in the step that ends at `t` (it covers (t − step, t])."""
    for condition in conditions:
        if condition.start < t and t - step < condition.stop:
            return condition
    return None


def step_labels(times: np.ndarray, episodes: Sequence[tuple[str, float, float]]) -> np.ndarray:
    """The ground-truth label of each step: the attack under way at its time, else normal."""
    labels = np.full(len(times), NORMAL, dtype=object)
    for kind, start, stop in episodes:
        labels[(times >= start) & (times < stop)] = kind
    return labels


@dataclass(frozen=True)
class RunScore:
    """The loop's alerts and mitigations scored against the attacker's episodes."""

    attacks: list[dict[str, object]]
    """Per attack: kind, start, stop, detection delay and time to mitigate (None: not)."""
    normal_seconds: float
    false_alerts: int
    needless_mitigations: int

    @property
    def false_alerts_per_hour(self) -> float:
        return 3600.0 * self.false_alerts / self.normal_seconds if self.normal_seconds else 0.0

    @property
    def needless_per_hour(self) -> float:
        return (
            3600.0 * self.needless_mitigations / self.normal_seconds if self.normal_seconds else 0.0
        )

    def to_json(self) -> dict[str, object]:
        delays = [a["delay"] for a in self.attacks if a["delay"] is not None]
        before = sum(bool(a.get("mitigated_before_detection")) for a in self.attacks)
        return {
            "attacks": self.attacks,
            "detected": f"{len(delays)}/{len(self.attacks)}",
            "mitigated_before_detection": before,
            "handled": f"{len(delays) + before}/{len(self.attacks)}",
            "median_delay": float(np.median(delays)) if delays else None,
            "normal_seconds": round(self.normal_seconds, 1),
            "false_alerts": self.false_alerts,
            "false_alerts_per_hour": round(self.false_alerts_per_hour, 1),
            "needless_mitigations": self.needless_mitigations,
            "needless_mitigations_per_hour": round(self.needless_per_hour, 1),
        }


def score_run(
    episodes: Sequence[Condition],
    alerts: Sequence[tuple[float, Collection[str]]],
    mitigations: Sequence[tuple[float, float | None]],
    watched: tuple[float, float],
    grace: float,
) -> RunScore:
    """Score a continuous run afterwards: `alerts` are the loop's alerts (time, the metrics
    that explain it), `mitigations` (alert time, in effect time or None) its enforced
    decisions, `watched` the [from, to) seconds it watched. An alert under way of an attack
    or less than `grace` after its stop (its windows still hold the attack's steps) is that
    attack's detection when it `explains` it; an alert outside every attack is a false
    alert, and a mitigation on one is needless. Normal seconds are the watched ones outside
    every attack and its grace."""
    begin, end = watched
    spans = [(max(begin, e.start), min(end, e.stop + grace)) for e in episodes]

    def attack_of(t: float) -> bool:
        return any(a < t <= b for a, b in spans)

    attacks = []
    for episode, (a, b) in zip(episodes, spans, strict=True):
        mine = [t for t, names in alerts if a < t <= b and explains(episode.kind, names)]
        effects = [e for t, e in mitigations if t in mine and e is not None]
        attacks.append(
            {
                "kind": episode.kind,
                "start": episode.start,
                "stop": episode.stop,
                "delay": None if not mine else min(mine) - episode.start,
                "time_to_mitigate": None if not (mine and effects) else min(effects) - min(mine),
            }
        )
    normal = (end - begin) - _covered(spans)
    false = sum(not attack_of(t) for t, _ in alerts if begin < t <= end)
    needless = sum(not attack_of(t) for t, _ in mitigations if begin < t <= end)
    return RunScore(attacks, max(0.0, normal), false, needless)


def showed(attack: Condition, moved: Sequence[tuple[float, Collection[str]]], grace: float) -> bool:
    """Whether an attack moved a metric where it shows above its bound from its start to
    `grace` after its stop (`moved`: each watched step's time and its metrics above their
    bounds; any metric, for a kind of unknown family)."""
    return any(
        attack.start < t <= attack.stop + grace and explains(attack.kind, names)
        for t, names in moved
        if names
    )


def mitigated_before(
    attack: Condition,
    moved: Sequence[tuple[float, Collection[str]]],
    remedies: Sequence[tuple[str, float]],
    grace: float,
) -> bool:
    """Whether an attack was held off before any detection (module docstring): it never
    `showed`, and a remedy that stops its family (`remedies`: each remedy and when it was in
    effect) was in effect at its start."""
    family = FAMILY.get(attack.kind)
    if family is None or showed(attack, moved, grace):
        return False
    return any(r in STOPS[family] and at <= attack.start for r, at in remedies)


def _covered(spans: Sequence[tuple[float, float]]) -> float:
    """Seconds the union of [a, b) spans covers."""
    total, reach = 0.0, -np.inf
    for a, b in sorted(spans):
        if b > max(a, reach):
            total += b - max(a, reach)
            reach = b
    return total

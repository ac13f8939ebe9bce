"""Prometheus alerting rules on the CNF's metrics: the baseline an operator would write.

The loop's detectors are measured against what a Prometheus user has without any model:
one rule per metric, `expr: metric > threshold` with a `for:` duration, the threshold read
off a recording of normal behaviour (its maximum times `factor`). The rules run on the
same telemetry as the detectors (`cnftelemetry.METRICS` columns).

Evaluation follows Prometheus' alerting rules (`rules/alerting.go`, "Alerting rules" in its
documentation): at each evaluation time t a rule whose expression holds is *pending* since
the first evaluation of the unbroken run it belongs to (`activeAt`), and *firing* once
t − activeAt ≥ `for` (at once with `for: 0`); one evaluation where it does not hold makes
it inactive again. The rule set is *alerting* while any of its rules fires; each start of
an alerting stretch is one alert (what Alertmanager would send as one group).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_FACTOR = 1.5
"""Threshold = the metric's largest normal value × this."""
DEFAULT_FOR = 1.0
"""Seconds a condition must hold before its rule fires (`for: 1s`)."""
DEFAULT_METRICS = (
    "cpu",
    "memory_rss",
    "net_rx",
    "throughput",
    "error_rate",
    "connections",
    "latency_p90",
)
"""The seven metrics an operator alerts on: CPU, memory, traffic in, requests served,
errors, open connections and slow requests (one of each kind the CNF exports)."""


@dataclass(frozen=True)
class AlertRule:
    """`metric > threshold` held for `hold` seconds (`for:` in a rule file)."""

    metric: str
    threshold: float
    hold: float = DEFAULT_FOR

    def __post_init__(self) -> None:
        if not np.isfinite(self.threshold):
            raise ValueError(f"rule on {self.metric!r}: threshold {self.threshold} is not finite")
        if not (np.isfinite(self.hold) and self.hold >= 0):
            raise ValueError(f"rule on {self.metric!r}: for {self.hold} s is not ≥ 0")

    @property
    def expr(self) -> str:
        return f"{self.metric} > {self.threshold:.6g}"

    def to_json(self) -> dict[str, Any]:
        return {"alert": self.metric, "expr": self.expr, "for": f"{self.hold:g}s"}


def rules_from_normal(
    values: np.ndarray,
    features: Sequence[str],
    metrics: Sequence[str] = DEFAULT_METRICS,
    factor: float = DEFAULT_FACTOR,
    hold: float = DEFAULT_FOR,
) -> tuple[AlertRule, ...]:
    """One rule per metric of `metrics`: its largest value in the normal series [T, F]
    (columns `features`) × `factor`, held `hold` seconds. ValueError on an empty series,
    a factor ≤ 0 or a metric the series lacks."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != len(features):
        raise ValueError(
            f"normal series of shape {array.shape} for {len(features)} named columns: "
            "expected [steps ≥ 1, columns]"
        )
    if not factor > 0:
        raise ValueError(f"threshold factor {factor} is not > 0")
    names = list(features)
    missing = [m for m in metrics if m not in names]
    if missing:
        raise ValueError(f"the normal series has no column {', '.join(map(repr, missing))}")
    top = array.max(axis=0)
    return tuple(AlertRule(m, float(top[names.index(m)]) * factor, hold) for m in metrics)


@dataclass
class RuleEvaluator:
    """The rules evaluated step by step, as a Prometheus rule group is (module docstring)."""

    rules: tuple[AlertRule, ...]
    features: tuple[str, ...]
    columns: list[int] = field(init=False)
    _active_at: list[float | None] = field(init=False)

    def __post_init__(self) -> None:
        missing = [r.metric for r in self.rules if r.metric not in self.features]
        if missing:
            raise ValueError(f"rules on metrics the data lacks: {', '.join(missing)}")
        self.columns = [self.features.index(r.metric) for r in self.rules]
        self._active_at = [None] * len(self.rules)

    def step(self, time: float, row: np.ndarray) -> np.ndarray:
        """Evaluate every rule at `time` on one row of metrics [F]; which fire [R] (bool)."""
        firing = np.zeros(len(self.rules), dtype=bool)
        for r, (rule, column) in enumerate(zip(self.rules, self.columns, strict=True)):
            if not row[column] > rule.threshold:
                self._active_at[r] = None
                continue
            since = self._active_at[r]
            if since is None:
                since = self._active_at[r] = time
            firing[r] = time - since >= rule.hold - 1e-9
        return firing


@dataclass(frozen=True, eq=False)
class RuleVerdict:
    """The rules over a series: which fire at each step [T, R] and the values seen."""

    rules: tuple[AlertRule, ...]
    times: np.ndarray
    firing: np.ndarray
    levels: np.ndarray
    """Each rule's metric over its threshold at each step [T, R] (how far out it is; the
    metric itself where the threshold is 0)."""

    @property
    def alerting(self) -> np.ndarray:
        """Whether any rule fires at each step [T]."""
        return self.firing.any(axis=1)

    @property
    def onsets(self) -> np.ndarray:
        """Indices of the steps at which an alerting stretch starts: one alert each."""
        alerting = self.alerting
        return np.flatnonzero(alerting & ~np.concatenate(([False], alerting[:-1])))

    def explain(self, index: int) -> list[tuple[str, float]]:
        """The rules firing at step `index`: metric and value over threshold, largest first."""
        fired = np.flatnonzero(self.firing[index])
        named = [(self.rules[r].metric, float(self.levels[index, r])) for r in fired]
        return sorted(named, key=lambda pair: -pair[1])


def evaluate_rules(
    rules: Sequence[AlertRule], times: np.ndarray, values: np.ndarray, features: Sequence[str]
) -> RuleVerdict:
    """Evaluate the rules at every row of a series [T, F] taken at `times` (seconds)."""
    array = np.asarray(values, dtype=float)
    stamps = np.asarray(times, dtype=float)
    if array.ndim != 2 or stamps.shape != (array.shape[0],):
        raise ValueError(f"{stamps.shape} times for a series of shape {array.shape}")
    evaluator = RuleEvaluator(tuple(rules), tuple(features))
    firing = np.array([evaluator.step(t, row) for t, row in zip(stamps, array, strict=True)])
    firing = firing.reshape(len(stamps), len(evaluator.rules))
    thresholds = np.array([r.threshold for r in evaluator.rules])
    seen = array[:, evaluator.columns] if evaluator.rules else np.zeros((len(stamps), 0))
    levels = seen / np.where(thresholds > 0, thresholds, 1.0)
    return RuleVerdict(evaluator.rules, stamps, firing, levels)

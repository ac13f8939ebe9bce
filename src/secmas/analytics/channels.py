"""Detection as channels: every (channel, metric) its own alert with its own `for:`.

Why. One detector whose flags on every metric are OR'd into one alert has two faults on a
real CNF (measured on the recorded nginx, benchmarks/results/cnf_loop.md): a standing
alert hides every later episode (nothing new can start while the OR holds), and a
z-score whose robust scale is smaller than the metric's own granularity (nginx' resident
memory moves by whole pages; its normal spread was 0.002 MB) alerts forever after the
first step. Prometheus avoids both by evaluating each rule on its own; the channels do
the same, with three kinds of evidence:

- `LevelChannel`: a metric above its normal range: limit = max(normal maximum × factor,
  normal median + floor), the floor at least the metric's granularity (a page of memory,
  one connection, one request a second) and a share of its level, so that a metric that
  never moved in training does not alert on its first tick;
- `OnsetChannel`: a metric rising: the mean of the last `recent_s` minus the median of the
  `before_s` before them, upward only, against the largest such rise in training ×
  factor (and the same floor). It sees a new attack on top of the residue of the last
  one (memory left higher, connections still held), which a level cannot;
- `ModelChannel`: a learned multivariate detector (`scoring.WindowDetector`: the robust
  z-score, PCA, IsolationForest or the seed's LSTM autoencoder) scored on its window
  against its threshold, one alert for all metrics.

Each rule follows Prometheus' alerting semantics (`alertrules.RuleEvaluator`): pending
while its condition holds, firing once it held `for:` seconds, inactive at the first step
it does not hold. An alert is the start of one rule's firing stretch.

Pure computation: rows in, alerts out; the loop and the benchmark do the reading.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from secmas.analytics.scoring import WindowDetector

PAGE_MB = 4096 / 2**20
"""One memory page in MB: resident memory moves by whole pages."""
GRANULARITY: dict[str, float] = {
    "memory_rss": PAGE_MB,
    "memory_vsize": PAGE_MB,
    "connections": 1.0,
    "load": 1.0,
    "throughput": 1.0,
    "error_rate": 0.01,
    "latency_p50": 1.0,
    "latency_p90": 1.0,
    "latency_p99": 1.0,
}
"""The smallest step each metric can take, in its unit: a page of memory, one connection,
one request a second, 1 % of requests failing, the first bucket (1 ms) of the request
duration histogram the latency quantiles are read from (within it they are interpolated:
0.5, 0.9, 0.99 ms); 0 where it is continuous."""
LEVEL_SHARE = 0.1
"""A limit lies at least this share of the metric's normal level above it."""
DEFAULT_FACTOR = 1.5
"""Limits = the largest normal value (level, rise or score) × this."""
DEFAULT_FOR = 1.0
"""Seconds a channel's condition must hold before it fires (`for: 1s`)."""
DEFAULT_RECENT_S = 2.0
"""Seconds the onset channel averages (the rise's level)."""
DEFAULT_BEFORE_S = 20.0
"""Seconds before them whose median the rise is measured from. With 1 s over 10 s the
weak floods of a 10 % attack recording hid in the bursts of realistic traffic (16 of 20
episodes found); 2 s over 20 s found 19 at no more false alerts on the last 40 % of the
training recording. Chosen there; the benchmark's own 10 % and 3 % recordings and its
2-hour normal one were made or first read afterwards (benchmarks/recordings/README.md)."""
MIN_BEFORE = 2
"""Steps before the recent ones the onset channel needs at least (fewer at the start of a
run: it measures from what it has)."""


def floors(normal: np.ndarray, features: Sequence[str]) -> np.ndarray:
    """The smallest distance between a metric's normal level and its limit [F]: its
    granularity, and `LEVEL_SHARE` of its median level (pure)."""
    levels = np.abs(np.median(normal, axis=0))
    grain = np.array([GRANULARITY.get(name, 0.0) for name in features])
    return np.maximum(grain, LEVEL_SHARE * levels)


@dataclass(frozen=True)
class ChannelRule:
    """One alert the channels can raise: `channel` on `metric` (None: every metric, a
    model's) above `limit`, held `hold` seconds."""

    channel: str
    metric: str | None
    limit: float
    hold: float = DEFAULT_FOR

    @property
    def name(self) -> str:
        return self.channel if self.metric is None else f"{self.channel}:{self.metric}"

    def to_json(self) -> dict[str, Any]:
        return {"alert": self.name, "limit": self.limit, "for": f"{self.hold:g}s"}


class Channel(Protocol):
    """What a channel computes: one signal per rule from the rows seen so far."""

    name: str

    def fit(self, normal: np.ndarray, features: Sequence[str]) -> tuple[ChannelRule, ...]:
        """Learn the limits from a normal series [N, F]; the rules, in signal order."""
        ...

    @property
    def memory(self) -> int:
        """Rows of history the signal needs."""
        ...

    def signal(self, history: np.ndarray) -> np.ndarray:
        """The signal of each rule [R] after the last row of `history` [≤ memory, F]."""
        ...


@dataclass
class LevelChannel:
    """A metric above its normal range (module docstring)."""

    metrics: tuple[str, ...]
    factor: float = DEFAULT_FACTOR
    hold: float = DEFAULT_FOR
    name: str = "level"
    _columns: list[int] = field(default_factory=list, init=False)

    @property
    def memory(self) -> int:
        return 1

    def fit(self, normal: np.ndarray, features: Sequence[str]) -> tuple[ChannelRule, ...]:
        self._columns = columns(features, self.metrics)
        data = normal[:, self._columns]
        top, middle = data.max(axis=0), np.median(data, axis=0)
        floor = floors(normal, features)[self._columns]
        limits = np.maximum(top * self.factor, middle + floor)
        return tuple(
            ChannelRule(self.name, m, float(limit), self.hold)
            for m, limit in zip(self.metrics, limits, strict=True)
        )

    def signal(self, history: np.ndarray) -> np.ndarray:
        return history[-1, self._columns]


@dataclass
class OnsetChannel:
    """A metric rising faster than it ever did in training (module docstring): the mean
    of the last `recent` steps minus the median of the `before` steps before them."""

    metrics: tuple[str, ...]
    step: float
    recent_s: float = DEFAULT_RECENT_S
    before_s: float = DEFAULT_BEFORE_S
    factor: float = DEFAULT_FACTOR
    hold: float = DEFAULT_FOR
    name: str = "onset"
    _columns: list[int] = field(default_factory=list, init=False)

    @property
    def recent(self) -> int:
        return max(1, round(self.recent_s / self.step))

    @property
    def before(self) -> int:
        return max(1, round(self.before_s / self.step))

    @property
    def memory(self) -> int:
        return self.recent + self.before

    def fit(self, normal: np.ndarray, features: Sequence[str]) -> tuple[ChannelRule, ...]:
        self._columns = columns(features, self.metrics)
        rises = onsets(normal[:, self._columns], self.recent, self.before)
        top = rises.max(axis=0) if len(rises) else np.zeros(len(self._columns))
        floor = floors(normal, features)[self._columns]
        limits = np.maximum(np.maximum(top, 0.0) * self.factor, floor)
        return tuple(
            ChannelRule(self.name, m, float(limit), self.hold)
            for m, limit in zip(self.metrics, limits, strict=True)
        )

    def signal(self, history: np.ndarray) -> np.ndarray:
        """The rise at the last row; from a shorter past while the history is short."""
        if len(history) < self.recent + MIN_BEFORE:
            return np.zeros(len(self._columns))
        data = history[-self.memory :, self._columns]
        return data[-self.recent :].mean(axis=0) - np.median(data[: -self.recent], axis=0)


def onsets(values: np.ndarray, recent: int, before: int) -> np.ndarray:
    """Every rise of a series [T, F]: mean of `recent` steps − median of the `before`
    steps before them, for each step with enough history [T − recent − before + 1, F]
    (pure)."""
    span = recent + before
    if len(values) < span:
        return np.empty((0, values.shape[1]))
    windows = np.lib.stride_tricks.sliding_window_view(values, span, axis=0)  # [W, F, span]
    return windows[:, :, before:].mean(axis=2) - np.median(windows[:, :, :before], axis=2)


@dataclass
class ModelChannel:
    """A learned detector's window score against its threshold × `factor`: one alert for
    every metric (module docstring). The detector comes fitted on the normal series."""

    detector: WindowDetector
    threshold: str = "static"
    factor: float = 1.0
    hold: float = DEFAULT_FOR
    name: str = "model"
    _columns: list[int] = field(default_factory=list, init=False)

    @property
    def memory(self) -> int:
        return self.detector.window

    def fit(self, normal: np.ndarray, features: Sequence[str]) -> tuple[ChannelRule, ...]:
        self._columns = columns(features, self.detector.features)
        limit = self.detector.threshold_value(self.threshold) * self.factor
        return (ChannelRule(self.name, None, float(limit), self.hold),)

    def signal(self, history: np.ndarray) -> np.ndarray:
        if len(history) < self.memory:
            return np.zeros(1)
        score, _, _ = self.detector.score_window(history[-self.memory :, self._columns])
        return np.array([float(score)])


def columns(features: Sequence[str], metrics: Sequence[str]) -> list[int]:
    """The columns of `metrics` among `features`; ValueError naming what is missing."""
    names = list(features)
    missing = [m for m in metrics if m not in names]
    if missing:
        raise ValueError(f"the series has no column {', '.join(map(repr, missing))}")
    return [names.index(m) for m in metrics]


@dataclass(frozen=True)
class Firing:
    """A rule firing at a step: how far out it is (signal / limit) and whether its alert
    starts now."""

    rule: ChannelRule
    signal: float
    started: bool

    @property
    def ratio(self) -> float:
        return self.signal / self.rule.limit if self.rule.limit > 0 else float("inf")

    def to_json(self) -> dict[str, Any]:
        return {
            "alert": self.rule.name,
            "value": round(self.signal, 6),
            "limit": round(self.rule.limit, 6),
            "ratio": round(self.ratio, 3),
        }


@dataclass
class Channels:
    """The channels fitted on one normal series, evaluated step by step: what fires, and
    which alerts start (module docstring)."""

    channels: Sequence[Channel]
    rules: list[tuple[Channel, tuple[ChannelRule, ...]]] = field(default_factory=list, init=False)
    _history: deque[np.ndarray] = field(default_factory=deque, init=False)
    _active_at: dict[str, float] = field(default_factory=dict, init=False)
    _firing: set[str] = field(default_factory=set, init=False)

    def fit(self, normal: np.ndarray, features: Sequence[str]) -> Channels:
        """Learn every channel's limits from the normal series [N, F]; self."""
        array = np.asarray(normal, dtype=float)
        if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] != len(features):
            raise ValueError(
                f"normal series of shape {array.shape} for {len(features)} named columns: "
                "expected [steps ≥ 2, columns]"
            )
        self.rules = [(c, c.fit(array, features)) for c in self.channels]
        self._history = deque(maxlen=max(c.memory for c in self.channels))
        self._active_at.clear()
        self._firing.clear()
        return self

    @property
    def all_rules(self) -> list[ChannelRule]:
        return [rule for _, rules in self.rules for rule in rules]

    @property
    def holding(self) -> list[ChannelRule]:
        """The rules whose condition holds at the last step, firing or still pending."""
        return [rule for rule in self.all_rules if rule.name in self._active_at]

    def prime(self, rows: np.ndarray) -> None:
        """Take rows as history without evaluating (the warm-up the channels start from)."""
        for row in rows:
            self._history.append(np.asarray(row, dtype=float))

    def step(self, time: float, row: np.ndarray) -> list[Firing]:
        """Evaluate every rule at `time` (s) on one more row [F]: the rules firing."""
        self._history.append(np.asarray(row, dtype=float))
        history = np.stack(self._history)
        firing = []
        for channel, rules in self.rules:
            values = channel.signal(history)
            for rule, value in zip(rules, values, strict=True):
                started = self._holds(rule, time, float(value))
                if started is not None:
                    firing.append(Firing(rule, float(value), started))
        return firing

    def _holds(self, rule: ChannelRule, time: float, value: float) -> bool | None:
        """None: the rule does not fire; else whether its alert starts now."""
        name = rule.name
        if not value > rule.limit:
            self._active_at.pop(name, None)
            self._firing.discard(name)
            return None
        since = self._active_at.setdefault(name, time)
        if time - since < rule.hold - 1e-9:
            return None
        started = name not in self._firing
        self._firing.add(name)
        return started


CHANNELS = ("level", "onset", "model")
"""The channels a loop can watch with (module docstring)."""
DEFAULT_CHANNELS = ("level",)
"""The loop's channels unless told otherwise: what won on the recordings of realistic
traffic (benchmarks/results/cnf_loop.md): of the choices that find at least as many
attacks as Prometheus rules at every attack size, the one with the fewest false alerts on
the 2 held-out hours (level: 1.5 an hour, all on p99 latency; with onset 9.5, its rises of
CPU, disk writes and p99 latency)."""


def check_channels(names: Sequence[str]) -> tuple[str, ...]:
    """The channel names, checked: ValueError naming an unknown one or an empty choice."""
    unknown = [n for n in names if n not in CHANNELS]
    if unknown:
        raise ValueError(
            f"unknown detection channel {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(CHANNELS)}"
        )
    if not names:
        raise ValueError(f"no detection channel chosen; choose from {', '.join(CHANNELS)}")
    return tuple(dict.fromkeys(names))


def loop_channels(
    names: Sequence[str], features: Sequence[str], step: float, model: WindowDetector | None
) -> Channels:
    """The channels `names` over every metric of `features` (the model's over its own
    features; ValueError when it is chosen and none is given), not yet fitted."""
    metrics = tuple(features)
    chosen: list[Channel] = []
    for name in check_channels(names):
        if name == "level":
            chosen.append(LevelChannel(metrics))
        elif name == "onset":
            chosen.append(OnsetChannel(metrics, step))
        elif model is None:
            raise ValueError("the model channel needs a fitted detector")
        else:
            chosen.append(ModelChannel(model))
    return Channels(chosen)

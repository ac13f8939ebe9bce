"""The detection algorithms of the Link Monitor, Anomaly Detector and Classifier VNFs.

They read only what a switch exports (rates and `FlowStats`), never the simulator or its
ground truth, so they would run unchanged on counters from a real network.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from secmas.network.dataplane.stats import Counters, FlowStats
from secmas.scenario.model import Monitor

MAD_TO_SIGMA = 1.4826  # MAD × this estimates the standard deviation of normal data


class UsageEvent(StrEnum):
    """The Link Monitor's events: event(overUsage(link)) and event(¬overUsage(link))."""

    OVER = "over"
    NORMAL = "normal"


@dataclass(slots=True)
class LinkOverUsage:
    """Threshold detector with hysteresis, so that jitter around the threshold is one event.

    Over-usage starts after `consecutive` steps above `threshold` and ends after as many
    steps below `threshold × hysteresis`.
    """

    threshold: float
    hysteresis: float = 0.8
    consecutive: int = 3
    over: bool = field(default=False, init=False)
    _streak: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.threshold <= 0 or not 0 < self.hysteresis <= 1 or self.consecutive < 1:
            raise ValueError(
                f"need threshold > 0, 0 < hysteresis <= 1, consecutive >= 1; got "
                f"{self.threshold}, {self.hysteresis}, {self.consecutive}"
            )

    @classmethod
    def for_monitor(cls, monitor: Monitor, consecutive: int = 3) -> LinkOverUsage:
        """The detector a scenario's Defence monitor describes."""
        return cls(monitor.threshold, monitor.hysteresis, consecutive)

    def update(self, rate: float) -> UsageEvent | None:
        """Feed one step's link rate (MB/s); returns an event when the state flips."""
        crossing = rate < self.threshold * self.hysteresis if self.over else rate > self.threshold
        self._streak = self._streak + 1 if crossing else 0
        if self._streak < self.consecutive:
            return None
        self._streak = 0
        self.over = not self.over
        return UsageEvent.OVER if self.over else UsageEvent.NORMAL


def robust_z(value: float, sample: Sequence[float], *, floor: float, relative: float) -> float:
    """How many robust standard deviations `value` lies above the median of `sample`.

    The scale is 1.4826 × MAD, but at least `relative` × |median| and `floor`: a steady
    series has a MAD near zero, and without the floors any wobble would be an outlier.
    """
    data = np.asarray(sample, dtype=float)
    median = float(np.median(data))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(data - median)))
    return (value - median) / max(spread, relative * abs(median), floor)


def detect_intrusion(
    current: Mapping[str, float],
    baseline: Mapping[str, Sequence[float]],
    *,
    threshold: float = 5.0,
    min_history: int = 5,
    min_peers: int = 5,
    floor: float = 0.05,
    relative: float = 0.05,
) -> list[str]:
    """detectIntrusion(link): destination IPs whose traffic is an outlier, worst first.

    `current` is each destination's rate now (MB/s, best averaged over a few steps);
    `baseline` its per-step rates before the over-usage. A destination is an outlier when
    its rate is more than `threshold` robust z-scores above its own baseline median.
    Comparing destinations with each other is weak when a link carries traffic to only a
    few of them (here: one server) and flags popular servers under normal load, so it is
    the fallback only, for destinations with fewer than `min_history` baseline samples,
    and only among at least `min_peers` destinations. Only rises count: a flood adds.
    """
    rates = list(current.values())
    scores: dict[str, float] = {}
    for dst, rate in current.items():
        history = baseline.get(dst, ())
        if len(history) >= min_history:
            scores[dst] = robust_z(rate, history, floor=floor, relative=relative)
        elif len(rates) >= min_peers:
            scores[dst] = robust_z(rate, rates, floor=floor, relative=relative)
    outliers = [dst for dst, score in scores.items() if score > threshold]
    return sorted(outliers, key=lambda dst: (-scores[dst], dst))


def normal_steps(
    rates: Sequence[float], step: float, since: float, over: Sequence[Sequence[float]] = ()
) -> list[float]:
    """The per-step `rates` (step i covers run time [i·step, (i+1)·step)) before `since`,
    without the steps that touch an over-usage episode of `over`."""
    keep = [True] * min(len(rates), max(0, int(since / step)))
    for start, end in over:
        for i in range(max(0, int(start / step)), min(len(keep), math.ceil(end / step))):
            keep[i] = False
    return [rate for rate, kept in zip(rates, keep, strict=False) if kept]


def is_syn_flood(
    counters: Counters,
    *,
    min_half_open_ratio: float = 0.5,
    min_syn_rate: float = 10.0,
    max_packet_size: float = 200.0,
) -> bool:
    """A flow that opens many connections a second, completes few, and sends tiny packets.

    Legitimate TCP completes its handshakes (half-open ratio near 0) and opens at most a
    few connections a second with full-size data packets; a SYN flood is all bare SYNs.
    Requiring all three keeps a slow or lossy legitimate client from being blocked.
    """
    return (
        counters.half_open_ratio >= min_half_open_ratio
        and counters.syn_rate >= min_syn_rate
        and 0 < counters.packet_size <= max_packet_size
    )


def classify_flows(
    flows: Iterable[FlowStats],
    *,
    min_half_open_ratio: float = 0.5,
    min_syn_rate: float = 10.0,
    max_packet_size: float = 200.0,
) -> list[FlowStats]:
    """classifyFlows(ip): the flows whose windowed counters look like a SYN flood."""
    return [
        flow
        for flow in flows
        if is_syn_flood(
            flow.window,
            min_half_open_ratio=min_half_open_ratio,
            min_syn_rate=min_syn_rate,
            max_packet_size=max_packet_size,
        )
    ]


def abusive_sources(
    flows: Iterable[FlowStats],
    *,
    threshold: float = 5.0,
    min_request_rate: float = 2.0,
    max_bytes_per_connection: float = 1000.0,
    min_slow_rate: float = 0.5,
) -> list[FlowStats]:
    """What a reverse proxy in front of a CNF would cut off, from the window's counters.

    - a SYN flood (`is_syn_flood`);
    - an HTTP flood: a source completing connections (requests) at a rate more than
      `threshold` robust z-scores above its peers' and at least `min_request_rate` per
      second (a browsing client opens about one a second at most);
    - slow connections: a source opening connections at `min_slow_rate` or more per second
      while sending under `max_bytes_per_connection` bytes on each, as Slowloris does to
      hold the server's connection slots with partial requests.

    A connection counts as completed once it was both attempted and acknowledged (the
    smaller of the two counts): real counters see a bare ACK for every few segments a
    client receives, so a client that downloads a video is not taken for a flood.
    """
    stats = [flow for flow in flows if flow.window.seconds > 0]
    if not stats:
        return []
    completed = [min(flow.window.syn, flow.window.ack) for flow in stats]
    rates = [count / flow.window.seconds for count, flow in zip(completed, stats, strict=True)]
    abusive = []
    for flow, rate, count in zip(stats, rates, completed, strict=True):
        counters = flow.window
        per_connection = counters.bytes / count if count > 0 else float("inf")
        flood = rate >= min_request_rate and (
            robust_z(rate, rates, floor=0.5, relative=0.05) > threshold
        )
        slow = rate >= min_slow_rate and per_connection < max_bytes_per_connection
        if is_syn_flood(counters) or flood or slow:
            abusive.append(flow)
    return abusive

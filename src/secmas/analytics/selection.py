"""The default detector, and `auto`: choosing one of the installed detectors per CNF.

`DEFAULT_DETECTOR` (`options`) is `auto`, and the detectors' standings
(`WindowDetector.standing`, the order `secmas.analytics.registry.benchmark_order` sorts the
installed ones in) are what the
side-by-side evaluation of `benchmarks/bench_detection.py --detectors`
(benchmarks/results/detectors.md: public labelled series from three packages' wheels, a
synthetic one, the simulated and the recorded emulated CNF) found. The robust z-score of
levels and first differences has the best mean rank by window F1 and is at least as good
as the better of the two trivial references (itself and the matrix-profile discord) on
most series, by window F1 and by the UCR rule, so it is tried first. The discord comes
next, though its mean rank is the worst: it is the z-score's complement, blind to level
(z-normalised), and wins where the normal level drifts (Yahoo S5), which is what makes the
z-score flag held-out normal data. PCA, IsolationForest and the LSTM autoencoder follow by
mean rank (the autoencoder last: it costs the most); each beats both references somewhere
(Shuttle, the synthetic ECG, the recorded CNF) but none on most series.

Why the default is `auto` rather than the z-score: the z-score fails on two kinds of
series, and both show on normal data alone, before any labelled attack. Where the normal
level drifts, it flags much held-out normal data (step 4's budget); where the normal range
is wide for the metric's typical variation (an ECG's beats, a table of unrelated rows), it
cannot tell spikes, shifts and drifts of a few σ from normal windows (step 4's ROC-AUC
floor). Everywhere else `auto` keeps the z-score, so that on the public series it is at
least as good as the z-score on every one, by window F1 and by the UCR rule
(benchmarks/results/detectors.md), and at the z-score's cost, twice over, where that
passes.

`choose_detector` (`--model auto`) combines that order with validation on the CNF's own
held-out normal data, without any labelled attack:

1. the normal series is split in time: the last 30 % (held-out normal behaviour), and at
   least 17·window rows so that one event of each kind fits, is the validation series;
   the rest (at least 10·window rows) fits the candidates. A series too short for both
   (under 27·window rows) is not validated: the first candidate in the benchmark's order
   is fitted on it, and the reason says so;
2. synthetic anomalies are injected into a copy of the validation series, one metric at a
   time, in turn, with gaps of normal behaviour between them (`inject_anomalies`), sized in
   the metric's own robust scale σ (1.4826·MAD of the fitting part, its std where that is 0):
   * spike: one step moved by 6σ;
   * level shift: 3·window steps moved by 3σ;
   * drift: a ramp from 0 to 5σ over 3·window steps, then back;
   each with a random sign (seeded);
3. the candidates (by default every installed detector) are tried in the benchmark's
   order, the detectors it did not rank after, by name; each scores the validation series:
   its false alarms on the held-out normal windows, its ROC-AUC of the injected events'
   windows against the normal ones, and (reported, not deciding) its window F1 and event
   recall on them (`secmas.analytics.events`);
4. the first candidate that passes both tests wins:
   * it flags at most `FALSE_ALARM_BUDGET` of the held-out normal windows — a
     99th-percentile threshold should flag about 1 %, and a detector that flags many more
     on normal data it did not fit (a z-score on a series that drifts) would do so in
     service;
   * it ranks the injected events' windows above the normal ones with a ROC-AUC of at
     least `SEEN_AUC` — 0.5 is chance: a detector near it does not see anomalies of a few
     σ on this series at all (a z-score on an ECG, whose beats are many MADs from its
     median, scores an injected spike like a beat), however few false alarms it raises.
   Only the ranking decides, not the injections' F1 or which candidate ranks them best: on
   the real series those picked the autoencoder or PCA where the z-score won by far.
   When none passes, the fewest false alarms win (ties: the benchmark's order).
   The winner is fitted again on the whole normal series.

The `Selection` keeps every tried candidate's figures and says why the winner won.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from secmas.analytics.events import NORMAL, rank_windows, score_events
from secmas.analytics.registry import benchmark_order, detector_names, fit_detector
from secmas.analytics.scoring import Fitting, WindowDetector, check_features, check_series

__all__ = [
    "FALSE_ALARM_BUDGET",
    "INJECTIONS",
    "SEEN_AUC",
    "Candidate",
    "Selection",
    "choose_detector",
    "inject_anomalies",
]

INJECTIONS = ("spike", "level_shift", "drift")
SPIKE_SIGMA, SHIFT_SIGMA, DRIFT_SIGMA = 6.0, 3.0, 5.0
VALIDATION_SHARE = 0.3
VALIDATION_WINDOWS = 17
"""Validation rows per window length: 2·window of normal lead-in, then three events of
3·window with 2·window of normal after each (one spike, one level shift, one drift)."""
FIT_WINDOWS = 10
FALSE_ALARM_BUDGET = 0.03
"""The share of held-out normal windows a candidate may flag and still be chosen."""
SEEN_AUC = 0.6
"""The ROC-AUC of the injected events' windows against the held-out normal ones that a
candidate must reach to be chosen: nearer chance (0.5), it does not see them."""


def _sigma(values: np.ndarray) -> np.ndarray:
    median = np.median(values, axis=0)
    sigma = 1.4826 * np.median(np.abs(values - median), axis=0)
    std = values.std(axis=0)
    return np.where(sigma > 1e-12, sigma, np.where(std > 1e-12, std, 1.0))


def inject_anomalies(
    series: np.ndarray, sigma: np.ndarray, window: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A copy of `series` [T, F] with spikes, level shifts and drifts (module docstring)
    injected in turn, and the label of every step ("normal" or the injection's kind).

    Events are 3·window steps long (a spike: one step inside such a slot) and separated by
    2·window normal steps; they cycle through the kinds and the metrics."""
    data = np.array(series, dtype=np.float64)
    labels = np.full(len(data), NORMAL, dtype=object)
    rng = np.random.default_rng(seed)
    length, gap = 3 * window, 2 * window
    start, turn = gap, 0
    while start + length + gap <= len(data):
        kind = INJECTIONS[turn % len(INJECTIONS)]
        metric = (turn // len(INJECTIONS)) % data.shape[1]
        sign = rng.choice((-1.0, 1.0))
        size = sign * sigma[metric]
        if kind == "spike":
            at = start + length // 2
            data[at, metric] += SPIKE_SIGMA * size
            labels[at] = kind
        elif kind == "level_shift":
            data[start : start + length, metric] += SHIFT_SIGMA * size
            labels[start : start + length] = kind
        else:
            data[start : start + length, metric] += DRIFT_SIGMA * size * np.linspace(0, 1, length)
            labels[start : start + length] = kind
        start += length + gap
        turn += 1
    return data, labels


@dataclass(frozen=True)
class Candidate:
    """One detector's figures on the validation series (None: it could not be fitted)."""

    name: str
    f1: float
    event_recall: float
    false_alarm_windows: int
    normal_windows: int
    roc_auc: float | None
    seconds: float
    error: str | None = None

    @property
    def false_alarm_share(self) -> float:
        """Flagged held-out normal windows over all of them (1 when it could not be fitted)."""
        if self.error is not None or not self.normal_windows:
            return 1.0
        return self.false_alarm_windows / self.normal_windows

    @property
    def within_budget(self) -> bool:
        return self.error is None and self.false_alarm_share <= FALSE_ALARM_BUDGET

    @property
    def sees_injections(self) -> bool:
        """Whether it ranks the injected events above the normal windows at least
        `SEEN_AUC` (an undefined ROC-AUC judges nothing)."""
        return self.error is None and (self.roc_auc is None or self.roc_auc >= SEEN_AUC)

    @property
    def passes(self) -> bool:
        """Both tests of the module docstring's step 4."""
        return self.within_budget and self.sees_injections

    def to_json(self) -> dict[str, Any]:
        return {
            "detector": self.name,
            "window_f1": self.f1,
            "event_recall": self.event_recall,
            "false_alarm_windows": self.false_alarm_windows,
            "normal_windows": self.normal_windows,
            "false_alarm_share": self.false_alarm_share,
            "within_budget": self.within_budget,
            "roc_auc": self.roc_auc,
            "sees_injections": self.sees_injections,
            "seconds": self.seconds,
            "error": self.error,
        }


@dataclass(frozen=True)
class Selection:
    """The outcome of `choose_detector`: every candidate's figures and the winner."""

    chosen: str
    candidates: tuple[Candidate, ...]
    validation_steps: int
    events: int
    order: tuple[str, ...]
    """The installed detectors in the benchmark's order (`benchmark_order`)."""
    unvalidated: str | None = None
    """Why no candidate was validated (a series too short), when none was."""

    @property
    def reason(self) -> str:
        """One sentence: who won, on what, against whom."""
        order = ", ".join(self.order)
        if self.unvalidated is not None:
            return (
                f"{self.chosen}: the first in the benchmark's order ({order}); {self.unvalidated}"
            )
        best = next(c for c in self.candidates if c.name == self.chosen)
        passed = [c for c in self.candidates if c.name != best.name]
        before = "; ".join(f"{c.name} {_figures(c)}" for c in passed)
        why = (
            f"the first in the benchmark's order ({order}) to flag at most "
            f"{FALSE_ALARM_BUDGET:.0%} of {best.normal_windows} held-out normal windows and see "
            f"the injected events (ROC-AUC ≥ {SEEN_AUC:g})"
            if best.passes
            else f"none flagged at most {FALSE_ALARM_BUDGET:.0%} of {best.normal_windows} "
            f"held-out normal windows and saw the injected events; the fewest false alarms"
        )
        return (
            f"{best.name}: {why} ({best.false_alarm_windows} flagged, "
            f"{best.false_alarm_share:.1%}; ROC-AUC {_auc(best)}, window F1 {best.f1:.3f} on "
            f"{self.events} injected spikes, level shifts and drifts in "
            f"{self.validation_steps} steps)" + (f"; tried before: {before}" if before else "")
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "reason": self.reason,
            "validation_steps": self.validation_steps,
            "injected_events": self.events,
            "false_alarm_budget": FALSE_ALARM_BUDGET,
            "seen_auc": SEEN_AUC,
            "unvalidated": self.unvalidated,
            "order": list(self.order),
            "injections": {
                "spike_sigma": SPIKE_SIGMA,
                "level_shift_sigma": SHIFT_SIGMA,
                "drift_sigma": DRIFT_SIGMA,
            },
            "candidates": [c.to_json() for c in self.candidates],
        }


def _auc(candidate: Candidate) -> str:
    return "undefined" if candidate.roc_auc is None else f"{candidate.roc_auc:.2f}"


def _figures(candidate: Candidate) -> str:
    """A passed-over candidate's share of false alarms and ROC-AUC, in a few words."""
    if candidate.error is not None:
        return "not fitted"
    return f"{candidate.false_alarm_share:.0%} flagged, ROC-AUC {_auc(candidate)}"


def _try(
    name: str,
    fit_part: np.ndarray,
    features: tuple[str, ...],
    validation: tuple[np.ndarray, np.ndarray],
    fitting: Fitting,
) -> Candidate:
    began = time.perf_counter()
    try:
        detector = fit_detector(name, fit_part, features, fitting)
        scores = detector.score(validation[0])
    except ValueError as exc:
        return Candidate(name, 0.0, 0.0, 0, 0, None, time.perf_counter() - began, str(exc))
    result = score_events(scores.flags, validation[1], ends=scores.end, span=detector.window)
    normal = result.windows - result.anomalous_windows
    ranking = rank_windows(scores.score, validation[1], scores.end, detector.window)
    auc = None if np.isnan(ranking.roc_auc) else ranking.roc_auc
    recall = 0.0 if np.isnan(result.event_recall) else result.event_recall
    seconds = time.perf_counter() - began
    return Candidate(name, result.f1, recall, result.false_alarm_windows, normal, auc, seconds)


def choose_detector(
    values: np.ndarray,
    features: Sequence[str],
    *,
    candidates: Sequence[str] | None = None,
    fitting: Fitting | None = None,
) -> tuple[WindowDetector, Selection]:
    """Choose a detector for a normal series [T, F] among `candidates` (default: every
    installed detector; module docstring) and fit it on the whole series as `fitting`
    says; ValueError when a candidate is not installed or none can be fitted."""
    names = check_features(features)
    fitting = fitting or Fitting()
    window = fitting.window
    installed = detector_names()
    wanted = installed if candidates is None else tuple(candidates)
    unknown = [c for c in wanted if c not in installed]
    if unknown or not wanted:
        raise ValueError(
            f"unknown candidates {unknown}; choose from {', '.join(installed)} (the installed "
            "detectors)"
        )
    series = check_series(values, len(names), window)
    held = max(int(np.ceil(len(series) * VALIDATION_SHARE)), VALIDATION_WINDOWS * window)
    split = len(series) - held
    order = benchmark_order()
    if split < FIT_WINDOWS * window:
        needed = (VALIDATION_WINDOWS + FIT_WINDOWS) * window
        short = (
            f"{len(series)} normal rows are too few to validate on (auto needs {needed} for "
            f"window {window}: {VALIDATION_WINDOWS}·window to validate on, {FIT_WINDOWS}·window "
            "to fit)"
        )
        return _unvalidated(series, names, benchmark_order(wanted), order, short, fitting)
    fit_part = series[:split]
    validation = inject_anomalies(series[split:], _sigma(fit_part), window, fitting.seed)
    events = int(np.sum(validation[1][1:] != validation[1][:-1]) + 1) // 2
    quiet = replace(fitting, note=None, progress=None)
    tell = fitting.note or (lambda _text: None)
    results: list[Candidate] = []
    for name in benchmark_order(wanted):
        tell(f"auto: validating {name}")
        results.append(_try(name, fit_part, names, validation, quiet))
        found = results[-1]
        tell(f"auto: {name}: {_figures(found)} on held-out normal windows")
        if found.passes:
            break
    usable = [c for c in results if c.error is None]
    if not usable:
        problems = "; ".join(f"{c.name}: {c.error}" for c in results)
        raise ValueError(f"no candidate detector could be fitted ({problems})")
    best = (
        results[-1]
        if results[-1].passes
        else min(usable, key=lambda c: (c.false_alarm_share, order.index(c.name)))
    )
    selection = Selection(best.name, tuple(results), len(series) - split, events, order)
    tell(f"auto: fitting {best.name} on all {len(series)} normal rows")
    return fit_detector(best.name, series, names, fitting), selection


def _unvalidated(
    series: np.ndarray,
    names: tuple[str, ...],
    wanted: tuple[str, ...],
    order: tuple[str, ...],
    short: str,
    fitting: Fitting,
) -> tuple[WindowDetector, Selection]:
    """The first of `wanted` that can be fitted on a series too short to validate on."""
    problems = []
    for name in wanted:
        try:
            detector = fit_detector(name, series, names, fitting)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            continue
        return detector, Selection(name, (), 0, 0, order, short)
    raise ValueError(f"{short}, and no candidate detector could be fitted ({'; '.join(problems)})")

"""Detection quality and cost of the CNF analytics, on the CNF of scenarios/cnf-attack.yaml.

Every model is trained on a simulated run of the scenario's network with a seed the test
runs never use, and evaluated on held-out runs (other seeds) of the same network:

(1) LSTM autoencoder (002_… Section IV). `Detector.fit` with the paper's settings (2 361
windows of 10 steps of normal behaviour, routine operations included: `normal_series`,
20 % validation, 30 epochs, batch 50, MAE, static threshold = 99th percentile of the
training errors; the adaptive threshold beside it). Test: held-out runs of 900 s with
episodes of the three attacks (`episode_series(..., ATTACK_CONDITIONS, seed)`), runs with
episodes of the five microservice anomalies of 004_… Section 6.2, and a pure normal run
(operations included). `Detector.score` per window (stride 1), both thresholds;
`events.score_events` gives window-level precision/recall/F1 (no point adjustment), event
recall, detection delays in simulated seconds and the false-alarm rate on normal windows.
Three readings of the window labels: "strict", `score_events` as is (a window's label is
that of its last step); "span", `score_events(span=window)` (a window is anomalous when any
step it holds is); "grace", computed here: last-step labels, but normal-labelled windows
ending within `grace` steps after an episode (the window − 1 steps whose windows still hold
steps of the episode, plus a few while its effects drain) are left out of the window
counts, and `score_events(grace=grace)` for detection (it only widens detection). Figures
are pooled over the seeds (window counts summed, events and delays concatenated).

(2) Profiling (004_… Tables 2 and 3). Training windows exactly as
`secmas.analytics.reference.train_profiler` makes them (3 000 s of episodes of the five
anomalies and `disk_storm`, operations on, windows of 30 steps every 2, disk_storm →
"unknown"); test windows the same way from held-out seeds. `baselines.compare` trains the
two-stage 1D-CNN and the MLP / Random Forest / SVM baselines for the binary task (scores
of the "anomalous" class) and the 7-class task (macro average; the weighted average as
well, for a like-for-like look at Table 3, whose baseline rows have recall = accuracy).
The CNN, MLP and Random Forest are trained again with model seeds 0–4 on the same windows:
F1 mean ± sd, so a gap can be told from seed noise.
Open set: windows of the three attacks, which no model saw in training: what share each
model calls "unknown", "normal" or a (wrong) known anomaly.

(2b) Profiling on recorded emulated telemetry (real nginx, real packets): the attack
recording of benchmarks/recordings (`--attack-recording`; 4 episodes of each of syn_flood,
slowloris, http_flood, high_memory, high_cpu), windows of 10 steps (5 s) every step,
4-fold cross-validation by episode (fold f tests the f-th episode of each kind with the
normal rows after it; no window spans two segments): the same four models, 7 classes (the
five kinds, normal, unknown), F1 mean ± sd over the model seeds; the multiclass macro F1
both as Table 3's (an "unknown" answer adds a class of F1 0) and over the six true classes,
and the CNN with its open-set rejection off. `--profiler-only` runs this part alone.

(3) Forecaster (004_… Section 6.3). `Forecaster.fit` for cpu and memory_rss, horizon 10,
window 10, 30 epochs, on a run with episodes of the five anomalies (operations on): one
network per target, as the paper trained them, and one joint network for both; R², MAE,
RMSE per step ahead on a held-out run of the same kind (and on a held-out normal run),
beside the naive last-value forecast, and the longest horizon with R² > 0.9 (paper: 10 s
CPU, 3 s RSS).

(4) Cost, with torch.set_num_threads(2): training time of each model at these sizes
(bar: under 2 minutes on 2 cores) and live inference of one window (bar: under 1 ms):
`Detector.score_window`, `TwoStageProfiler.predict` of one window, `Forecaster.forecast`
of one window, and each baseline's predict of one window; median of `repeat` calls after
a warm-up, once with 2 torch threads and once with 1 (taking turns): on 2 shared cores,
2 OpenMP threads per tiny forward pass can stall behind other processes.

(5) Detectors side by side (`--detectors`, a run of its own): the LSTM autoencoder and the
baselines of `secmas detect fit --model` (robust z-score, PCA, IsolationForest,
matrix-profile discords) with one setting each, and `--model auto`, fitted on normal data
and scored on labelled data: public labelled series shipped inside installable packages
(their data files read without importing the packages; ./scripts/setup --bench installs
them with --no-deps): KDD-TSAD 135 of the UCR anomaly archive and the synthetic GutenTAG ECG
(aeon 1.6.0), a Yahoo S5 series and an MIT-BIH ECG (sktime 1.2.0), the Shuttle outlier set
and three TCPD change-point series with their annotators' agreed changes (river 0.26.1); the
project's simulated CNF under the three attacks, and, with `--recorded FOLDER`, recorded
emulated telemetry. Per detector and dataset: window F1 (static threshold), the UCR rule
(top-scoring window within 100 steps of the labelled anomaly), event recall, false alarms
(runs of flagged normal windows) per 1 000 steps, ROC-AUC of the window scores, fit and
score time; whether it is at least as good as the better trivial reference (zscore,
discord) and where it beats both, and as the z-score by both measures (the bar of `auto`,
the default of `detect fit`); each detector's standing over the series (the order
`--model auto` follows, each detector's `WindowDetector.standing`), and on how many
series `auto` chose the best detector by window F1.

    python benchmarks/bench_detection.py [--quick] [--attack-recording CSV]
    python benchmarks/bench_detection.py --profiler-only [--quick] [--attack-recording CSV]
    python benchmarks/bench_detection.py --detectors [--quick] [--recorded FOLDER]

Writes benchmarks/results/detection.json, detection.md and detection.png; with
--detectors, detectors.json, detectors.md and detectors.png.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from machine import describe
from secmas.analytics import datasets
from secmas.analytics.autoencoder import Detector, Scores
from secmas.analytics.baselines import (
    BINARY,
    MULTICLASS,
    Fit,
    Predict,
    Task,
    compare,
    default_models,
)
from secmas.analytics.datasets import LabelledSeries, episode_series, normal_series
from secmas.analytics.events import NORMAL, EventScore, events, score_events
from secmas.analytics.forecast import Forecaster, longest_horizon
from secmas.analytics.metrics import classification_scores, confusion, regression_scores
from secmas.analytics.profiling import PROFILE_CLASSES, TwoStageProfiler
from secmas.analytics.reference import PROFILED, SEED_OFFSET, UNKNOWN_FAMILY, TrainingPlan
from secmas.analytics.windows import sliding, window_labels
from secmas.network.dataplane.cnf import ATTACK_CONDITIONS
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario

RESULTS = Path(__file__).parent / "results"
RECORDINGS = Path(__file__).parent / "recordings"
SCENARIO = Path(__file__).parent.parent / "scenarios" / "cnf-attack.yaml"
THREADS = 2
THRESHOLDS = ("static", "adaptive")
TARGET_F1, TARGET_DELAY_S = 0.95, 5.0
TARGET_TRAIN_S, TARGET_INFER_MS = 120.0, 1.0
FORECAST_TARGETS = ("cpu", "memory_rss")
PAPER_HORIZON = {"cpu": 10, "memory_rss": 3}
R2_MIN = 0.9
WARMUP = 20
INFERENCE_BLOCKS = 4
PACKAGES = ("torch", "numpy", "scikit-learn")

# Seeds. Training: those of secmas.analytics.reference (the scenario's seed + SEED_OFFSET
# for the autoencoder's data, + 1 for the profiler's; the autoencoder's torch seed is the
# scenario's). Tests: seeds no training run uses.
ATTACK_SEEDS = (2001, 2002, 2003, 2004, 2005)
ANOMALY_SEEDS = (3001, 3002, 3003, 3004, 3005)
NORMAL_SEED = 4001
PROFILE_TEST_SEEDS = (5001, 5002, 5003)
OPEN_SET_SEED = 6001
FORECAST_SEEDS = (7001, 7002, 7003)  # training, held-out test, held-out normal test
PROFILER_SEED = 0

TABLE2 = {  # 004_… Table 2 (binary): accuracy, precision, recall, F1
    "1D-CNN": (0.9712, 0.94655, 0.8567, 0.8967),
    "MLP": (0.9631, 0.9171, 0.8541, 0.8844),
    "Random Forest": (0.9658, 0.9618, 0.8157, 0.8827),
    "SVM": (0.9601, 0.9529, 0.8013, 0.8789),
}
TABLE3 = {  # 004_… Table 3 (7 classes), averaging not stated
    "1D-CNN": (0.9077, 0.8956, 0.9048, 0.8964),
    "MLP": (0.8718, 0.8605, 0.8718, 0.8584),
    "Random Forest": (0.8956, 0.8961, 0.8956, 0.9034),
    "SVM": (0.8410, 0.8062, 0.8410, 0.8192),
}
PAPER_FORECAST = {  # 004_… Section 6.3 at the reported horizon: R², MAE, RMSE
    "cpu": (0.9769, 0.0028, 0.0117),
    "memory_rss": (0.9056, 23815.3061, 16443.2474),
}
WEIGHTED = Task("multiclass-weighted", PROFILE_CLASSES, "weighted")


PLAN = TrainingPlan()
"""The sizes the system trains its models with (secmas.analytics.reference)."""


@dataclass(frozen=True)
class Sizes:
    samples: int = PLAN.samples  # autoencoder training windows (002_…: 2 361)
    window: int = PLAN.window
    epochs: int = PLAN.epochs
    batch: int = PLAN.batch
    test_seconds: int = 900
    test_seeds: int = 5
    normal_seconds: int = 1800
    grace: int = 14  # window − 1 steps still holding episode steps, + 5 for the backlog
    profile_seconds: int = PLAN.profile_seconds
    profile_window: int = PLAN.profile_window
    profile_stride: int = PLAN.profile_stride
    profile_epochs: int = PLAN.profile_epochs
    profile_test_seconds: int = 3000
    profile_test_seeds: int = 3
    profile_model_seeds: int = 5
    open_set_seconds: int = 1800
    forecast_seconds: int = 3000
    forecast_test_seconds: int = 1800
    horizon: int = 10
    forecast_epochs: int = 30
    repeat: int = 300


FULL = Sizes()
QUICK = replace(
    FULL,
    samples=300,
    epochs=2,
    test_seconds=300,
    test_seeds=1,
    normal_seconds=300,
    profile_seconds=600,
    profile_epochs=2,
    profile_test_seconds=400,
    profile_test_seeds=1,
    profile_model_seeds=2,
    open_set_seconds=300,
    forecast_seconds=400,
    forecast_test_seconds=300,
    forecast_epochs=2,
    repeat=40,
)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def clean(value: Any) -> Any:
    """A strict-JSON copy: NaN and infinities as None, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def timed(fn: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
    """Wall and CPU seconds of `fn()` (CPU: this process, all threads), with the 1-minute
    load average before and after (others share the cores), and its result."""
    load, wall, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
    result = fn()
    clock = {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "load_1min": [load, os.getloadavg()[0]],
    }
    return clock, result


# -- 1. LSTM autoencoder -----------------------------------------------------------------------


def lingering(labels: np.ndarray, ends: np.ndarray, grace: int) -> np.ndarray:
    """[N] bool: the window is labelled normal and ends within `grace` steps after the end
    of an episode (so it may still hold the episode's steps or its after-effects)."""
    truth = np.asarray(labels).astype(str)
    after = np.full(truth.size, False)
    for event in events(truth):
        after[event.stop : min(truth.size, event.stop + grace)] = True
    return after[ends] & (truth[ends] == NORMAL)


def window_counts(flags: np.ndarray, anomalous: np.ndarray, keep: np.ndarray) -> dict[str, int]:
    f, a = flags[keep], anomalous[keep]
    return {
        "windows": int(keep.sum()),
        "tp": int(np.sum(f & a)),
        "fp": int(np.sum(f & ~a)),
        "fn": int(np.sum(~f & a)),
        "normal": int(np.sum(~a)),
    }


def prf(counts: dict[str, int]) -> dict[str, float]:
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    far = fp / counts["normal"] if counts["normal"] else float("nan")
    return {"precision": precision, "recall": recall, "f1": f1, "false_alarm_rate": far}


def event_counts(score: EventScore) -> dict[str, int]:
    """The window counts behind `score_events`' precision and recall."""
    tp = score.flagged_windows - score.false_alarm_windows
    return {
        "windows": score.windows,
        "tp": tp,
        "fp": score.false_alarm_windows,
        "fn": score.anomalous_windows - tp,
        "normal": score.windows - score.anomalous_windows,
    }


def add(total: dict[str, int], part: dict[str, int]) -> None:
    for key, value in part.items():
        total[key] = total.get(key, 0) + value


def pooled_events(runs: list[EventScore]) -> dict[str, Any]:
    """Events, delays and per-label outcomes over several runs."""
    delays = [d for r in runs for d in r.delays]
    by_label: dict[str, dict[str, Any]] = {}
    for run in runs:
        for event, delay in zip(run.detected, run.delays, strict=True):
            row = by_label.setdefault(event.label, {"events": 0, "detected": 0, "delays": []})
            row["events"] += 1
            row["detected"] += 1
            row["delays"].append(delay)
        for event in run.missed:
            row = by_label.setdefault(event.label, {"events": 0, "detected": 0, "delays": []})
            row["events"] += 1
    total = sum(len(r.detected) + len(r.missed) for r in runs)
    for row in by_label.values():
        row["detection_rate"] = row["detected"] / row["events"]
        row["mean_delay_s"] = statistics.fmean(row["delays"]) if row["delays"] else None
        row["max_delay_s"] = max(row["delays"]) if row["delays"] else None
    return {
        "events": total,
        "detected": len(delays),
        "event_recall": len(delays) / total if total else None,
        "mean_delay_s": statistics.fmean(delays) if delays else None,
        "median_delay_s": statistics.median(delays) if delays else None,
        "p90_delay_s": percentile(delays, 0.9) if delays else None,
        "max_delay_s": max(delays) if delays else None,
        "per_label": dict(sorted(by_label.items())),
    }


def tails(flags: np.ndarray, ends: np.ndarray, labels: np.ndarray) -> list[tuple[str, int]]:
    """For each episode: how many windows in a row stay flagged after it, from the first
    window ending after its last step (stride-1 windows)."""
    out = []
    found = events(labels)
    for i, event in enumerate(found):
        limit = found[i + 1].start if i + 1 < len(found) else int(ends[-1]) + 1
        count = 0
        for end in range(event.stop, limit):
            index = end - int(ends[0])
            if index >= len(flags) or not flags[index]:
                break
            count += 1
        out.append((event.label, count))
    return out


def evaluate_runs(
    detector: Detector, runs: list[LabelledSeries], grace: int
) -> tuple[dict[str, Any], dict[str, list[Scores]]]:
    """Pooled strict and grace figures per threshold over held-out runs."""
    out: dict[str, Any] = {}
    kept: dict[str, list[Scores]] = {}
    for threshold in THRESHOLDS:
        strict_counts: dict[str, int] = {}
        span_counts: dict[str, int] = {}
        grace_counts: dict[str, int] = {}
        strict_runs, span_runs, grace_runs, per_run = [], [], [], []
        window_recall: dict[str, list[int]] = {}
        after: dict[str, list[int]] = {}
        kept[threshold] = []
        for series in runs:
            scores = detector.score(series.values, threshold=threshold)
            kept[threshold].append(scores)
            labels = series.labels.astype(str)
            end_labels = labels[scores.end]
            anomalous = end_labels != NORMAL
            strict = score_events(scores.flags, labels, series.step, ends=scores.end)
            lenient = score_events(scores.flags, labels, series.step, ends=scores.end, grace=grace)
            spanned = score_events(
                scores.flags, labels, series.step, ends=scores.end, span=detector.window
            )
            everything = np.full(len(scores), True)
            add(strict_counts, window_counts(scores.flags, anomalous, everything))
            add(span_counts, event_counts(spanned))
            span_runs.append(spanned)
            keep = ~lingering(labels, scores.end, grace)
            add(grace_counts, window_counts(scores.flags, anomalous, keep))
            strict_runs.append(strict)
            grace_runs.append(lenient)
            per_run.append(strict.to_json())
            for label in np.unique(end_labels[anomalous]):
                mine = end_labels == label
                hit = window_recall.setdefault(str(label), [0, 0])
                hit[0] += int(np.sum(scores.flags & mine))
                hit[1] += int(mine.sum())
            for label, count in tails(scores.flags, scores.end, labels):
                after.setdefault(label, []).append(count)
            # cross-check the pooled counts against score_events' own figures
            assert event_counts(strict) == window_counts(scores.flags, anomalous, everything)
        strict_ev = pooled_events(strict_runs)
        for label, (hit, total) in window_recall.items():
            strict_ev["per_label"][label]["window_recall"] = hit / total
        for label, counts in after.items():
            row = strict_ev["per_label"][label]
            row["flagged_after_mean"] = statistics.fmean(counts)
            row["flagged_after_max"] = max(counts)
        out[threshold] = {
            "strict": {"counts": strict_counts, **prf(strict_counts), **strict_ev},
            "span": {
                "span_steps": detector.window,
                "counts": span_counts,
                **prf(span_counts),
                **pooled_events(span_runs),
            },
            "grace": {
                "grace_steps": grace,
                "counts": grace_counts,
                **prf(grace_counts),
                **pooled_events(grace_runs),
            },
            "runs": per_run,
        }
    return out, kept


def normal_false_alarms(
    detector: Detector, series: LabelledSeries, plan: list[tuple[float, str, str]]
) -> dict[str, Any]:
    rows: dict[str, Any] = {"operations": [list(op) for op in plan]}
    for threshold in THRESHOLDS:
        scores = detector.score(series.values, threshold=threshold)
        flags = scores.flags
        rising = np.flatnonzero(flags & ~np.concatenate(([False], flags[:-1])))
        falling = np.flatnonzero(flags & ~np.concatenate((flags[1:], [False])))
        starts = len(rising)
        hours = len(scores) * series.step / 3600
        rows[threshold] = {
            "windows": len(scores),
            "flagged": int(flags.sum()),
            "false_alarm_rate": float(flags.mean()),
            "alarm_runs": starts,
            "alarm_runs_per_hour": starts / hours,
            "max_score": float(scores.score.max()),
            "alarm_runs_s": [
                [float(scores.end[a] * series.step), float(scores.end[b] * series.step)]
                for a, b in zip(rising, falling, strict=True)
            ],
        }
    return rows


def detection(scenario: Scenario, sizes: Sizes) -> tuple[dict[str, Any], Detector, dict]:
    step = scenario.traffic.step if scenario.traffic else 1.0
    train_seed = scenario.seed + SEED_OFFSET
    seconds = (sizes.samples + sizes.window - 1) * step
    train = normal_series(scenario, seconds, train_seed)
    fit, detector = timed(
        lambda: Detector.fit(
            train.values,
            train.features,
            window=sizes.window,
            epochs=sizes.epochs,
            batch=sizes.batch,
            seed=scenario.seed,
        )
    )
    last = detector.history[-1]
    print(
        f"autoencoder: {len(train) - sizes.window + 1} windows of {sizes.window} steps, "
        f"{sizes.epochs} epochs, {fit['wall_s']:.1f} s; loss train {last.train:.4f}, validation "
        f"{last.validation:.4f}; static limit {detector.static.value:.4f}"
    )
    attack_seeds = ATTACK_SEEDS[: sizes.test_seeds]
    anomaly_seeds = ANOMALY_SEEDS[: sizes.test_seeds]
    attack_runs = [
        episode_series(scenario, ATTACK_CONDITIONS, s, seconds=sizes.test_seconds)
        for s in attack_seeds
    ]
    anomaly_runs = [
        episode_series(scenario, PROFILED, s, seconds=sizes.test_seconds) for s in anomaly_seeds
    ]
    attacks, attack_scores = evaluate_runs(detector, attack_runs, sizes.grace)
    anomalies, anomaly_scores = evaluate_runs(detector, anomaly_runs, sizes.grace)
    normal = normal_series(scenario, sizes.normal_seconds, NORMAL_SEED)
    result = {
        "what": (
            "Detector.fit (002_… defaults) on normal_series(operations=True); held-out runs "
            "scored per window (stride 1) with Detector.score, evaluated with "
            "events.score_events; strict = score_events as is; grace = normal windows ending "
            "within grace_steps after an episode left out of the window counts, and "
            "score_events(grace=grace_steps) for detection; pooled over the seeds"
        ),
        "train": {
            "seed": train_seed,
            "torch_seed": scenario.seed,
            "seconds": seconds,
            "windows": len(train) - sizes.window + 1,
            "window": sizes.window,
            "epochs": sizes.epochs,
            "batch": sizes.batch,
            "validation": 0.2,
            "operations": True,
            "fit": fit,
            "final_train_loss": last.train,
            "final_validation_loss": last.validation,
            "static_limit": detector.static.value,
            "adaptive": {k: v for k, v in detector.adaptive.to_json().items() if k != "history"},
        },
        "attacks": {
            "conditions": list(ATTACK_CONDITIONS),
            "seeds": list(attack_seeds),
            "seconds": sizes.test_seconds,
            **attacks,
        },
        "anomalies": {
            "conditions": list(PROFILED),
            "seeds": list(anomaly_seeds),
            "seconds": sizes.test_seconds,
            **anomalies,
        },
        "normal": {
            "seed": NORMAL_SEED,
            "seconds": sizes.normal_seconds,
            "operations": True,
            # the routine operations normal_series applied
            **normal_false_alarms(
                detector,
                normal,
                datasets.routine_operations(scenario, sizes.normal_seconds, NORMAL_SEED),
            ),
        },
    }
    for threshold in THRESHOLDS:
        strict = result["attacks"][threshold]["strict"]
        lenient = result["attacks"][threshold]["grace"]
        result["attacks"][threshold]["bars"] = {
            "f1_strict": strict["f1"] >= TARGET_F1,
            "f1_span": result["attacks"][threshold]["span"]["f1"] >= TARGET_F1,
            "f1_grace": lenient["f1"] >= TARGET_F1,
            "mean_delay": strict["mean_delay_s"] is not None
            and strict["mean_delay_s"] <= TARGET_DELAY_S,
            "max_delay": strict["max_delay_s"] is not None
            and strict["max_delay_s"] <= TARGET_DELAY_S,
        }
    plot_data = {
        "attack": (attack_runs[0], {t: attack_scores[t][0] for t in THRESHOLDS}),
        "anomaly": (anomaly_runs[0], {t: anomaly_scores[t][0] for t in THRESHOLDS}),
        "live_series": attack_runs[0],
    }
    return result, detector, plot_data


# -- 2. profiling ------------------------------------------------------------------------------


def profile_windows(
    scenario: Scenario, conditions: Sequence[str], seed: int, seconds: float, sizes: Sizes
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Windows and labels as reference.train_profiler makes them (disk_storm → unknown), and
    whether each window lies wholly inside one episode."""
    series = episode_series(scenario, conditions, seed, seconds=seconds, operations=True)
    windows = sliding(series.values, sizes.profile_window, sizes.profile_stride)
    labels = window_labels(series.labels, sizes.profile_window, sizes.profile_stride)
    codes = np.unique(series.labels.astype(str), return_inverse=True)[1]
    steps = sliding(codes[:, None].astype(np.float64), sizes.profile_window, sizes.profile_stride)
    whole = np.all(steps == steps[:, -1:, :], axis=(1, 2))
    names = ["unknown" if x in UNKNOWN_FAMILY else str(x) for x in labels]
    return windows, names, whole


def remembered(fit: Fit, store: dict[str, Predict], clocks: dict[str, Any]) -> Fit:
    """`fit`, trained once per kind of task (binary / multiclass): the macro and weighted
    multiclass rows then score one and the same model, and the predictors stay available;
    `clocks` gets the wall and CPU time of each training."""

    def wrapped(windows: np.ndarray, labels: Sequence[str], task: Task) -> Predict:
        key = "binary" if task.average == "binary" else "multiclass"
        if key not in store:
            clocks[key], store[key] = timed(lambda: fit(windows, labels, task))
        return store[key]

    return wrapped


def open_set(
    predictors: dict[str, dict[str, Predict]], windows: np.ndarray, labels: list[str], whole
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    truth = np.array(labels)
    attack = np.isin(truth, ATTACK_CONDITIONS)
    for name, store in predictors.items():
        guesses = np.array(store["multiclass"](windows[attack]))
        rows = {}
        for condition in ATTACK_CONDITIONS:
            mine = truth[attack] == condition
            inside = mine & whole[attack]
            said = guesses[mine]
            known = [c for c in PROFILE_CLASSES if c not in ("normal", "unknown")]
            rows[condition] = {
                "windows": int(mine.sum()),
                "unknown": float(np.mean(said == "unknown")) if mine.any() else None,
                "normal": float(np.mean(said == "normal")) if mine.any() else None,
                "wrong_known": float(np.mean(np.isin(said, known))) if mine.any() else None,
                "answers": dict(Counter(str(x) for x in said)),
                "windows_inside": int(inside.sum()),
                "unknown_inside": float(np.mean(guesses[inside] == "unknown"))
                if inside.any()
                else None,
            }
        said = guesses
        rows["all"] = {
            "windows": int(attack.sum()),
            "unknown": float(np.mean(said == "unknown")),
            "normal": float(np.mean(said == "normal")),
            "wrong_known": float(np.mean(~np.isin(said, ("unknown", "normal")))),
            "windows_inside": int(whole[attack].sum()),
            "unknown_inside": float(np.mean(said[whole[attack]] == "unknown"))
            if whole[attack].any()
            else None,
        }
        profiler = getattr(store["multiclass"], "__self__", None)
        if isinstance(profiler, TwoStageProfiler):
            paths = profiler.predict_detailed(windows[attack]).paths
            rows["all"]["paths"] = {p: paths.count(p) for p in sorted(set(paths))}
        out[name] = rows
    return out


def diagnostics(
    predictors: dict[str, dict[str, Predict]],
    test: tuple[np.ndarray, list[str]],
    unseen: tuple[np.ndarray, list[str]],
) -> dict[str, Any]:
    """Why the rows are what they are: each model's 7-class confusion matrix on the test
    windows, the 1D-CNN's decision paths per true class, and the same trained 1D-CNN with
    its envelope rule switched off (closed-set scores, and open-set "unknown" share)."""
    x, labels = test
    truth = MULTICLASS.relabel(labels)
    out: dict[str, Any] = {"classes": list(PROFILE_CLASSES), "confusion": {}}
    for name, store in predictors.items():
        guesses = MULTICLASS.relabel(store["multiclass"](x))
        out["confusion"][name] = confusion(truth, guesses, PROFILE_CLASSES).tolist()
    profiler = getattr(predictors["1D-CNN"]["multiclass"], "__self__", None)
    if not isinstance(profiler, TwoStageProfiler):
        return out
    detail = profiler.predict_detailed(x)
    paths: dict[str, Counter[str]] = {}
    for label, path in zip(truth, detail.paths, strict=True):
        paths.setdefault(label, Counter())[path] += 1
    out["cnn_paths_by_truth"] = {k: dict(v) for k, v in sorted(paths.items())}
    out["cnn_confidence"] = profiler.confidence
    margin = profiler.envelope_margin
    try:
        profiler.envelope_margin = None
        guesses = profiler.predict(x)
        attack = np.isin(np.array(unseen[1]), ATTACK_CONDITIONS)
        open_guesses = np.array(profiler.predict(unseen[0][attack]))
    finally:
        profiler.envelope_margin = margin
    out["cnn_without_envelope"] = {
        "macro": classification_scores(truth, guesses, PROFILE_CLASSES, average="macro")._asdict(),
        "weighted": classification_scores(
            truth, guesses, PROFILE_CLASSES, average="weighted"
        )._asdict(),
        "open_set_unknown": float(np.mean(open_guesses == "unknown")),
        "open_set_normal": float(np.mean(open_guesses == "normal")),
    }
    return out


SPREAD_MODELS = ("1D-CNN", "MLP", "Random Forest")
"""The models trained again with other seeds: is the gap between the CNN and the best
baselines (seed 0 rows) larger than what a training seed alone moves?"""


def seed_spread(
    train: tuple[np.ndarray, list[str]], test: tuple[np.ndarray, list[str]], seeds: int
) -> dict[str, Any]:
    """F1 of each of `SPREAD_MODELS` per task over model seeds 0 … seeds − 1 (same data):
    the values, their mean and sample standard deviation."""
    f1: dict[str, dict[str, list[float]]] = {m: {} for m in SPREAD_MODELS}
    for seed in range(seeds):
        models = default_models(seed, epochs=PLAN.profile_epochs)
        chosen = {name: models[name] for name in SPREAD_MODELS}
        for row in compare(train, test, (BINARY, MULTICLASS, WEIGHTED), chosen):
            f1[row.model].setdefault(row.task, []).append(row.f1)
    return {
        "seeds": list(range(seeds)),
        "f1": {
            model: {
                task: {
                    "values": values,
                    "mean": statistics.fmean(values),
                    "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                }
                for task, values in by_task.items()
            }
            for model, by_task in f1.items()
        },
    }


def profiling(scenario: Scenario, sizes: Sizes) -> tuple[dict[str, Any], dict[str, Any]]:
    conditions = PROFILED + UNKNOWN_FAMILY
    train_seed = scenario.seed + SEED_OFFSET + 1
    train_x, train_y, _ = profile_windows(
        scenario, conditions, train_seed, sizes.profile_seconds, sizes
    )
    test_seeds = PROFILE_TEST_SEEDS[: sizes.profile_test_seeds]
    parts = [
        profile_windows(scenario, conditions, s, sizes.profile_test_seconds, sizes)
        for s in test_seeds
    ]
    test_x = np.concatenate([p[0] for p in parts])
    test_y = [label for p in parts for label in p[1]]
    models = default_models(PROFILER_SEED, epochs=sizes.profile_epochs)
    predictors: dict[str, dict[str, Predict]] = {name: {} for name in models}
    fits: dict[str, dict[str, Any]] = {name: {} for name in models}
    wrapped = {name: remembered(fit, predictors[name], fits[name]) for name, fit in models.items()}
    print(
        f"profiling: {len(train_x)} training windows, {len(test_x)} test windows "
        f"({sizes.profile_window} steps every {sizes.profile_stride}); training 4 models ..."
    )
    rows = compare((train_x, train_y), (test_x, test_y), (BINARY, MULTICLASS, WEIGHTED), wrapped)
    print(f"profiling: {', '.join(SPREAD_MODELS)} again over {sizes.profile_model_seeds} seeds ...")
    spread = seed_spread((train_x, train_y), (test_x, test_y), sizes.profile_model_seeds)
    open_x, open_y, open_whole = profile_windows(
        scenario, ATTACK_CONDITIONS, OPEN_SET_SEED, sizes.open_set_seconds, sizes
    )
    unseen = open_set(predictors, open_x, open_y, open_whole)
    why = diagnostics(predictors, (test_x, test_y), (open_x, open_y))
    by_task: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_task.setdefault(row.task, []).append(asdict(row))
    bars = {}
    for task in (BINARY.name, MULTICLASS.name, WEIGHTED.name):
        cnn = next(r for r in by_task[task] if r["model"] == "1D-CNN")
        best = max((r for r in by_task[task] if r["model"] != "1D-CNN"), key=lambda r: r["f1"])
        bars[task] = {
            "cnn_f1": cnn["f1"],
            "best_baseline": best["model"],
            "best_baseline_f1": best["f1"],
            "met": cnn["f1"] >= best["f1"],
        }
    fits["1D-CNN"]["note"] = (
        "one TwoStageProfiler (both stages) trained for the binary task and reused for the "
        "multiclass one, as profiler_model does"
    )
    counts = {c: test_y.count(c) for c in sorted(set(test_y))}
    result = {
        "what": (
            "baselines.compare of the two-stage 1D-CNN (TwoStageProfiler) and MLP / Random "
            "Forest / SVM; binary = scores of the 'anomalous' class (stage 1 alone for the "
            "CNN); multiclass = 7 classes, macro average over the classes present; "
            "multiclass-weighted = the same predictions, support-weighted average"
        ),
        "train": {
            "seed": train_seed,
            "conditions": list(conditions),
            "seconds": sizes.profile_seconds,
            "window": sizes.profile_window,
            "stride": sizes.profile_stride,
            "epochs": sizes.profile_epochs,
            "windows": len(train_x),
            "labels": {c: train_y.count(c) for c in sorted(set(train_y))},
            "operations": True,
        },
        "test": {
            "seeds": list(test_seeds),
            "seconds_each": sizes.profile_test_seconds,
            "windows": len(test_x),
            "labels": counts,
        },
        "rows": by_task,
        "paper": {"table2": TABLE2, "table3": TABLE3},
        "bars": bars,
        "seed_spread": spread,
        "fit": fits,
        "diagnostics": why,
        "open_set": {
            "seed": OPEN_SET_SEED,
            "conditions": list(ATTACK_CONDITIONS),
            "seconds": sizes.open_set_seconds,
            "what": (
                "multiclass answers on windows whose last step is in an attack episode "
                "(conditions no model saw in training); unknown_inside: the share 'unknown' "
                "among windows wholly inside an episode"
            ),
            "models": unseen,
        },
    }
    return result, {"predictors": predictors, "window": open_x[len(open_x) // 2]}


# -- 2b. profiling on the recorded emulated telemetry ------------------------------------------

RECORDED_KINDS = ("syn_flood", "slowloris", "http_flood", "high_memory", "high_cpu")
"""The five kinds of episode `secmas detect dataset --dataplane emulated` records."""
RECORDED_CLASSES = ("normal", *RECORDED_KINDS, "unknown")
RECORDED_TASK = Task("multiclass", RECORDED_CLASSES, "macro")
RECORDED_FOLDS = 4
"""Episodes per kind in the recording: fold f tests the f-th episode of every kind."""
RECORDED_WINDOW, RECORDED_STRIDE = 10, 1
"""5 s windows at the recorder's 0.5 s scrape interval, every step (an episode is 30 steps)."""
ATTACK_RECORDING = RECORDINGS / "cnf-emulated-attacks.csv"
CLOSED = "1D-CNN, open-set rejection off"


@dataclass(frozen=True)
class Segment:
    """Rows [start, stop) of a recording: one episode and the normal phase after it."""

    start: int
    stop: int
    kind: str
    occurrence: int


def episode_segments(labels: np.ndarray) -> tuple[int, list[Segment]]:
    """The rows before the first episode and one `Segment` per episode, so that an
    episode's aftermath (labelled normal, still draining) stays on its episode's side."""
    found = events(labels)
    if not found:
        raise SystemExit("the attack recording holds no episode")
    seen: Counter[str] = Counter()
    segments = []
    for i, event in enumerate(found):
        stop = found[i + 1].start if i + 1 < len(found) else len(labels)
        segments.append(Segment(event.start, stop, event.label, seen[event.label]))
        seen[event.label] += 1
    return found[0].start, segments


def segment_windows(
    values: np.ndarray, labels: np.ndarray, spans: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, list[str]]:
    """Windows and last-step labels of each span, windowed apart (none crosses two)."""
    parts = [
        (
            sliding(values[a:b], RECORDED_WINDOW, RECORDED_STRIDE),
            [str(x) for x in window_labels(labels[a:b], RECORDED_WINDOW, RECORDED_STRIDE)],
        )
        for a, b in spans
        if b - a >= RECORDED_WINDOW
    ]
    return np.concatenate([p[0] for p in parts]), [x for p in parts for x in p[1]]


def macro_over_truth(truth: Sequence[str], guesses: Sequence[str]) -> float:
    """Macro F1 over the classes present in `truth` only: an "unknown" answer on this
    closed-set test counts as a miss of its true class, without adding an "unknown" class
    whose F1 is 0 (which `classification_scores`' macro mean does once one is given)."""
    matrix = confusion(truth, guesses, RECORDED_CLASSES)
    support, said = matrix.sum(axis=1), matrix.sum(axis=0)
    return statistics.fmean(
        2 * matrix[i, i] / (support[i] + said[i]) for i in range(len(matrix)) if support[i]
    )


def closed_set(profiler: TwoStageProfiler, windows: np.ndarray) -> list[str]:
    """The two-stage answer with the envelope and confidence rejections switched off."""
    margin, confidence = profiler.envelope_margin, profiler.confidence
    try:
        profiler.envelope_margin, profiler.confidence = None, 0.0
        return profiler.predict(windows)
    finally:
        profiler.envelope_margin, profiler.confidence = margin, confidence


def recorded_fold(
    seed: int, epochs: int, train: tuple[np.ndarray, list[str]], test: np.ndarray
) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    """Each model's binary and multiclass answers on `test` after training on `train`, and
    the CNN's decision paths."""
    answers: dict[str, dict[str, list[str]]] = {}
    paths: list[str] = []
    for name, fit in default_models(seed, epochs=epochs, classes=RECORDED_CLASSES).items():
        for task in (BINARY, RECORDED_TASK):
            predict = fit(*train, task)
            answers.setdefault(name, {})[task.name] = list(predict(test))
            profiler = getattr(predict, "__self__", None)
            if isinstance(profiler, TwoStageProfiler) and task is RECORDED_TASK:
                answers[CLOSED] = {task.name: closed_set(profiler, test)}
                paths = profiler.predict_detailed(test).paths
    return answers, paths


def mean_sd(values: list[float]) -> dict[str, Any]:
    return {
        "values": values,
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


def recorded_profiling(path: Path, sizes: Sizes) -> dict[str, Any]:
    """Two-stage 1D-CNN vs MLP / Random Forest / SVM on a recording of the emulated CNF,
    cross-validated by episode: fold f trains on every episode but the f-th of each kind
    (and the normal rows before the first), tests on those five; each model seed's answers
    of the folds are pooled (every test window scored once) into one F1 per task."""
    from secmas.analytics.csvdata import CSVDataError, read_recording

    try:
        series = read_recording(path)
    except (CSVDataError, OSError) as error:
        raise SystemExit(f"attack recording: {error}") from None
    if series.truth() is None:
        raise SystemExit(f"{path}: no label column")
    labels = np.array(series.labels[next(iter(series.labels))], dtype=object)
    lead, segments = episode_segments(labels)
    kinds = Counter(s.kind for s in segments)
    if set(kinds) != set(RECORDED_KINDS) or min(kinds.values()) < RECORDED_FOLDS:
        raise SystemExit(
            f"{path}: needs {RECORDED_FOLDS} episodes of each of {list(RECORDED_KINDS)}, "
            f"has {dict(kinds)}"
        )
    folds = [
        (
            segment_windows(
                series.values,
                labels,
                [(0, lead)] + [(s.start, s.stop) for s in segments if s.occurrence != f],
            ),
            segment_windows(
                series.values, labels, [(s.start, s.stop) for s in segments if s.occurrence == f]
            ),
        )
        for f in range(RECORDED_FOLDS)
    ]
    truth = [y for _, (_, test_y) in folds for y in test_y]
    f1: dict[str, dict[str, list[float]]] = {}
    paths: dict[str, Counter[str]] = {}
    seeds = range(sizes.profile_model_seeds)
    print(
        f"profiling, recorded: {path.name}, {len(truth)} test windows over {RECORDED_FOLDS} "
        f"episode folds, {len(seeds)} model seeds ..."
    )
    began = time.perf_counter()
    for seed in seeds:
        pooled: dict[str, dict[str, list[str]]] = {}
        for train, (test_x, test_y) in folds:
            answers, cnn_paths = recorded_fold(seed, sizes.profile_epochs, train, test_x)
            for name, by_task in answers.items():
                for task, said in by_task.items():
                    pooled.setdefault(name, {}).setdefault(task, []).extend(said)
            for label, taken in zip(test_y, cnn_paths if seed == 0 else [], strict=False):
                paths.setdefault(label, Counter())[taken] += 1
        for name, by_task in pooled.items():
            for task_name, said in by_task.items():
                task = BINARY if task_name == BINARY.name else RECORDED_TASK
                t, g = task.relabel(truth), task.relabel(said)
                scores = classification_scores(
                    t, g, task.labels, average=task.average, positive=task.positive
                )
                f1.setdefault(name, {}).setdefault(task_name, []).append(scores.f1)
                if task is RECORDED_TASK:
                    f1[name].setdefault("multiclass-known", []).append(macro_over_truth(t, g))
    return {
        "what": (
            "two-stage 1D-CNN vs MLP / Random Forest / SVM on recorded emulated telemetry "
            "(real nginx, real packets); binary F1 of 'anomalous' (stage 1 alone for the "
            "CNN); multiclass: macro F1 as in Table 3 (an 'unknown' answer adds an "
            "'unknown' class of F1 0 to the mean), multiclass-known: macro F1 over the six "
            "classes of the test windows ('unknown' answers count as misses only)"
        ),
        "recording": {
            "file": str(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "rows": len(labels),
            "episodes": dict(kinds),
        },
        "split": (
            f"{RECORDED_FOLDS}-fold cross-validation by episode: fold f tests the f-th "
            "episode of each kind with the normal rows after it (its aftermath) and trains "
            "on the rest plus the normal rows before the first episode; each segment is "
            "windowed apart, so no window spans two and no episode is on both sides; a "
            "seed's answers over the folds are pooled into one F1"
        ),
        "window": RECORDED_WINDOW,
        "stride": RECORDED_STRIDE,
        "epochs": sizes.profile_epochs,
        "test_windows": len(truth),
        "test_labels": dict(sorted(Counter(truth).items())),
        "seeds": list(seeds),
        "f1": {m: {t: mean_sd(v) for t, v in by_task.items()} for m, by_task in f1.items()},
        "cnn_paths_by_truth_seed_0": {k: dict(v) for k, v in sorted(paths.items())},
        "wall_s": time.perf_counter() - began,
    }


def recorded_tables(rec: dict[str, Any]) -> list[str]:
    """The recorded-telemetry comparison: F1 mean ± sd per model and task."""
    source = rec["recording"]
    lines = [
        f"`{Path(source['file']).name}` ({source['rows']} rows at 0.5 s; episodes "
        + ", ".join(f"{k} {v}" for k, v in source["episodes"].items())
        + f"). Split: {rec['split']}. Windows of {rec['window']} steps every "
        f"{rec['stride']}, {rec['epochs']} epochs; {rec['test_windows']} test windows ("
        + ", ".join(f"{k} {v}" for k, v in rec["test_labels"].items())
        + f"). F1 mean ± sd over model seeds {', '.join(map(str, rec['seeds']))}.",
        "",
        "| Model | binary | multiclass (macro, Table 3) | multiclass (macro over the six "
        "true classes) |",
        "|---|---|---|---|",
    ]
    for model, by_task in rec["f1"].items():
        cells = [by_task.get(t) for t in (BINARY.name, RECORDED_TASK.name, "multiclass-known")]
        lines.append(
            f"| {model} | "
            + " | ".join("–" if c is None else f"{c['mean']:.4f} ± {c['sd']:.4f}" for c in cells)
            + " |"
        )
    lines += ["", "The two-stage CNN against the best baseline (mean over the seeds):", ""]
    for task in (BINARY.name, RECORDED_TASK.name, "multiclass-known"):
        cnn = rec["f1"]["1D-CNN"][task]
        name, best = max(
            ((m, r[task]) for m, r in rec["f1"].items() if not m.startswith("1D-CNN")),
            key=lambda item: item[1]["mean"],
        )
        gap = cnn["mean"] - best["mean"]
        noise = math.hypot(cnn["sd"], best["sd"])
        lines.append(
            f"- {task}: 1D-CNN {cnn['mean']:.4f} vs {name} {best['mean']:.4f}, difference "
            f"{gap:+.4f} ({'within' if abs(gap) <= noise else 'beyond'} the seeds' combined "
            f"sd {noise:.4f}) **{verdict(gap >= 0)}**"
        )
    lines += [
        "",
        "1D-CNN decision paths per true class (seed 0, all folds): "
        + "; ".join(
            f"{label}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            for label, counts in rec["cnn_paths_by_truth_seed_0"].items()
        )
        + ".",
    ]
    return lines


# -- 3. forecaster -----------------------------------------------------------------------------


def persistence(
    values: np.ndarray, features: Sequence[str], forecaster: Forecaster
) -> dict[str, list[dict[str, float]]]:
    """R², MAE, RMSE of the naive forecast "the last value stays", on the windows
    `Forecaster.evaluate` scores (window i ends at step i + w − 1)."""
    w, h = forecaster.window, forecaster.horizon
    count = len(values) - w - h + 1
    out = {}
    for target in FORECAST_TARGETS:
        column = values[:, list(features).index(target)]
        last = column[w - 1 : w - 1 + count]
        out[target] = [
            regression_scores(column[w - 1 + k : w - 1 + k + count], last)._asdict()
            for k in range(1, h + 1)
        ]
    return out


FORECAST_MODELS: dict[str, tuple[str, ...]] = {
    "cpu": ("cpu",),
    "memory_rss": ("memory_rss",),
    "joint": FORECAST_TARGETS,
}
"""One network per target, as 004_… 6.3 trained them, and one network for both."""


def forecasting(
    scenario: Scenario, sizes: Sizes
) -> tuple[dict[str, Any], dict[str, Forecaster], LabelledSeries]:
    train_seed, test_seed, normal_seed = FORECAST_SEEDS
    train = episode_series(
        scenario, PROFILED, train_seed, seconds=sizes.forecast_seconds, operations=True
    )
    test = episode_series(
        scenario, PROFILED, test_seed, seconds=sizes.forecast_test_seconds, operations=True
    )
    normal = normal_series(scenario, sizes.forecast_test_seconds, normal_seed)
    result: dict[str, Any] = {
        "what": (
            "Forecaster.fit (Annex A network; all 14 metrics as inputs) on episodes of the "
            "five anomalies with operations: one network per target (cpu; memory_rss), as "
            "004_… 6.3 trained them, and one joint network for both; evaluate() on held-out "
            "runs: R², MAE, RMSE per step ahead, original units (cores, MB); persistence = "
            "the naive forecast that the last observed value stays"
        ),
        "train": {
            "seed": train_seed,
            "seconds": sizes.forecast_seconds,
            "window": None,
            "horizon": sizes.horizon,
            "epochs": sizes.forecast_epochs,
        },
        "paper": {
            "horizon_r2_above_0_9": PAPER_HORIZON,
            "at_horizon_r2_mae_rmse": PAPER_FORECAST,
        },
        "models": {},
    }
    forecasters: dict[str, Forecaster] = {}
    for name, targets in FORECAST_MODELS.items():
        fit, forecaster = timed(
            lambda t=targets: Forecaster.fit(
                train.values,
                t,
                horizon=sizes.horizon,
                features=train.features,
                epochs=sizes.forecast_epochs,
            )
        )
        forecasters[name] = forecaster
        result["train"]["window"] = forecaster.window
        print(
            f"forecaster {name}: {len(train)} steps, {sizes.forecast_epochs} epochs, "
            f"{fit['wall_s']:.1f} s"
        )
        model: dict[str, Any] = {"targets": list(targets), "fit": fit}
        for part, series in (("test", test), ("normal_test", normal)):
            scores = forecaster.evaluate(series.values)
            model[part] = {
                "per_step": {t: [s._asdict() for s in rows] for t, rows in scores.items()},
                "longest_horizon_r2_above_0_9": {
                    t: longest_horizon(scores, t, R2_MIN) for t in targets
                },
            }
        result["models"][name] = model
    for part, seed, series in (("test", test_seed, test), ("normal_test", normal_seed, normal)):
        result[part] = {
            "seed": seed,
            "seconds": len(series),
            "conditions": list(PROFILED) if part == "test" else ["normal"],
            "persistence": persistence(series.values, series.features, forecasters["joint"]),
            "target_std": {
                t: float(series.values[:, series.features.index(t)].std()) for t in FORECAST_TARGETS
            },
        }
    return result, forecasters, test


# -- 4. live inference -------------------------------------------------------------------------


def call_ms(call: Callable[[], Any], count: int) -> list[float]:
    taken = []
    for _ in range(count):
        began = time.perf_counter_ns()
        call()
        taken.append((time.perf_counter_ns() - began) / 1e6)
    return taken


def inference(
    detector: Detector,
    live: LabelledSeries,
    prof: dict[str, Any],
    forecasters: dict[str, Forecaster],
    forecast_series: LabelledSeries,
    repeat: int,
) -> dict[str, Any]:
    """ms per live window for each model, with torch using `THREADS` threads and one thread,
    the two settings taking turns in `INFERENCE_BLOCKS` blocks (so that load from others on
    the shared cores hits both alike); median and p95 of `repeat` calls each."""
    windows = sliding(live.values, detector.window)
    position = iter(range(10**9))

    def score_next() -> None:  # consecutive windows of a held-out attack run, as they arrive
        detector.score_window(windows[next(position) % len(windows)])

    one = prof["window"][None]
    recent = forecast_series.values[-forecasters["joint"].window :]
    calls: dict[str, Callable[[], Any]] = {"autoencoder score_window": score_next}
    for name, store in prof["predictors"].items():
        label = "1D-CNN profiler predict" if name == "1D-CNN" else f"{name} predict"
        calls[label] = lambda p=store["multiclass"]: p(one)
    for name, forecaster in forecasters.items():
        calls[f"forecaster {name} forecast"] = lambda f=forecaster: f.forecast(recent)
    settings = (THREADS, 1)
    samples: dict[int, dict[str, list[float]]] = {t: {k: [] for k in calls} for t in settings}
    detector.reset_live()
    try:
        for block in range(INFERENCE_BLOCKS):
            for threads in settings if block % 2 == 0 else settings[::-1]:
                torch.set_num_threads(threads)
                for name, call in calls.items():
                    call_ms(call, WARMUP if block < 2 else 3)
                    samples[threads][name] += call_ms(call, repeat // INFERENCE_BLOCKS)
    finally:
        torch.set_num_threads(THREADS)
        detector.reset_live()
    out: dict[str, Any] = {}
    for threads, rows in samples.items():
        out[f"torch_threads_{threads}"] = {
            name: {
                "median_ms": statistics.median(taken),
                "p95_ms": percentile(taken, 0.95),
                "min_ms": min(taken),
                "calls": len(taken),
                "met": statistics.median(taken) < TARGET_INFER_MS,
            }
            for name, taken in rows.items()
        }
    return out


# -- output ------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 4) -> str:
    return (
        "–"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.{digits}f}")
    )


def detector_tables(det: dict[str, Any]) -> list[str]:
    lines = []
    for key, title in (("attacks", "attack"), ("anomalies", "microservice-anomaly")):
        block = det[key]
        lines += [
            f"**LSTM autoencoder on held-out {title} runs** ({len(block['seeds'])} seeds × "
            f"{block['seconds']} s, conditions {', '.join(block['conditions'])}; windows of "
            f"{det['train']['window']} steps, stride 1, labelled by their last step; pooled "
            "over the seeds). *strict*: `score_events` as is (a window is anomalous when its "
            f"last step is). *span {block['static']['span']['span_steps']}*: `score_events("
            f"span={block['static']['span']['span_steps']})`, a window is anomalous when any "
            "step it holds is. *grace "
            f"{block['static']['grace']['grace_steps']}*: computed here, last-step labels but "
            f"normal windows ending within {block['static']['grace']['grace_steps']} steps "
            "after an episode left out (they still hold episode steps, or its effects are "
            "draining), and `score_events(grace=…)` for detection. FAR = share of the normal "
            "windows flagged.",
            "",
            "| Threshold | Figures | Windows | Precision | Recall | F1 | Events found | "
            "Mean delay (s) | Max delay (s) | FAR |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for threshold in THRESHOLDS:
            for kind in ("strict", "span", "grace"):
                r = block[threshold][kind]
                name = {
                    "strict": "strict",
                    "span": f"span {r.get('span_steps')}",
                    "grace": f"grace {r.get('grace_steps')}",
                }[kind]
                lines.append(
                    f"| {threshold} | {name} | {r['counts']['windows']} | {r['precision']:.4f} "
                    f"| {r['recall']:.4f} | {r['f1']:.4f} | {r['detected']}/{r['events']} | "
                    f"{fmt(r['mean_delay_s'], 2)} | {fmt(r['max_delay_s'], 1)} | "
                    f"{fmt(r['false_alarm_rate'])} |"
                )
        lines += [
            "",
            f"Per condition ({title} runs, strict): events detected, delay, share of the "
            "condition's windows flagged, and how many windows in a row stay flagged after "
            "the episode's last step (windows labelled normal that still hold its steps: "
            f"{det['train']['window'] - 1} at most, more while its effects drain).",
            "",
            "| Condition | Threshold | Detected | Mean delay (s) | Max delay (s) | "
            "Window recall | Flagged after (mean / max windows) |",
            "|---|---|---|---|---|---|---|",
        ]
        for label in block["static"]["strict"]["per_label"]:
            for threshold in THRESHOLDS:
                r = block[threshold]["strict"]["per_label"][label]
                lines.append(
                    f"| {label} | {threshold} | {r['detected']}/{r['events']} | "
                    f"{fmt(r['mean_delay_s'], 2)} | {fmt(r['max_delay_s'], 1)} | "
                    f"{r['window_recall']:.4f} | {r['flagged_after_mean']:.1f} / "
                    f"{r['flagged_after_max']} |"
                )
        lines.append("")
    normal = det["normal"]
    lines += [
        f"**Pure normal held-out run** (seed {normal['seed']}, {normal['seconds']} s, routine "
        "operations included):",
        "",
        "| Threshold | Windows | Flagged | FAR | Alarm runs | Alarm runs per hour | "
        "Alarm runs (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for threshold in THRESHOLDS:
        r = normal[threshold]
        lines.append(
            f"| {threshold} | {r['windows']} | {r['flagged']} | {r['false_alarm_rate']:.4f} | "
            f"{r['alarm_runs']} | {r['alarm_runs_per_hour']:.1f} | "
            + ", ".join(f"{a:g}–{b:g}" for a, b in r["alarm_runs_s"])
            + " |"
        )
    lines += [
        "",
        "Routine operations in that run (s, remedy, PoP): "
        + ", ".join(f"{t:g} {remedy} {pop}" for t, remedy, pop in normal["operations"]),
    ]
    return lines


def profiling_tables(prof: dict[str, Any]) -> list[str]:
    rows = prof["rows"]
    lines = [
        f"**Table 2 (binary, normal vs anomalous)**: scores of the *anomalous* class; "
        f"{prof['train']['windows']} training windows, {prof['test']['windows']} test windows "
        f"(seeds {', '.join(map(str, prof['test']['seeds']))}); paper's figures (004_… Table "
        "2, on its own data set) beside ours.",
        "",
        "| Algorithm | Accuracy | Precision | Recall | F1 | Paper A / P / R / F1 | "
        "Fit (s) | ms/window (batch) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows[BINARY.name]:
        paper = " / ".join(f"{x:.4f}" for x in TABLE2[r["model"]])
        lines.append(
            f"| {r['model']} | {r['accuracy']:.4f} | {r['precision']:.4f} | {r['recall']:.4f} | "
            f"{r['f1']:.4f} | {paper} | {r['fit_seconds']:.1f} | "
            f"{r['predict_ms_per_window']:.3f} |"
        )
    lines += [
        "",
        "**Table 3 (7 classes: normal, five anomalies, unknown)**: macro average over the "
        "classes (our default) and support-weighted average (same predictions; Table 3's "
        "baseline rows have recall = accuracy, which is what weighting gives); paper's "
        "figures (averaging not stated) beside ours. Test labels: "
        + ", ".join(f"{k} {v}" for k, v in prof["test"]["labels"].items())
        + ".",
        "",
        "| Algorithm | Average | Accuracy | Precision | Recall | F1 | Paper A / P / R / F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, average in ((MULTICLASS.name, "macro"), (WEIGHTED.name, "weighted")):
        for r in rows[task]:
            paper = " / ".join(f"{x:.4f}" for x in TABLE3[r["model"]])
            lines.append(
                f"| {r['model']} | {average} | {r['accuracy']:.4f} | {r['precision']:.4f} | "
                f"{r['recall']:.4f} | {r['f1']:.4f} | {paper} |"
            )
    lines += ["", "Quality bar: the two-stage CNN's F1 at least the best baseline's:", ""]
    for task, bar in prof["bars"].items():
        lines.append(
            f"- {task}: 1D-CNN {bar['cnn_f1']:.4f} vs {bar['best_baseline']} "
            f"{bar['best_baseline_f1']:.4f} **{verdict(bar['met'])}**"
        )
    spread = prof["seed_spread"]
    lines += [
        "",
        f"**Seed spread**: F1 mean ± sd over model seeds {', '.join(map(str, spread['seeds']))} "
        "(same training and test windows; the rows above are seed 0).",
        "",
        "| Model | binary | multiclass (macro) | multiclass (weighted) |",
        "|---|---|---|---|",
    ]
    for model, by_task in spread["f1"].items():
        cells = [by_task[t] for t in (BINARY.name, MULTICLASS.name, WEIGHTED.name)]
        lines.append(
            f"| {model} | " + " | ".join(f"{c['mean']:.4f} ± {c['sd']:.4f}" for c in cells) + " |"
        )
    unseen = prof["open_set"]
    lines += [
        "",
        f"**Open set**: 7-class answers on windows of the three attacks (seed {unseen['seed']}, "
        f"{unseen['seconds']} s; no model saw an attack in training; window labelled by its "
        "last step). The right answer is *unknown*; *wrong class* = one of the five known "
        "anomalies; *unknown (inside)* = among windows wholly inside an episode.",
        "",
        "| Model | Condition | Windows | Unknown | Normal | Wrong class | Unknown (inside) |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, by_condition in unseen["models"].items():
        for condition, r in by_condition.items():
            lines.append(
                f"| {model} | {condition} | {r['windows']} | {fmt(r['unknown'], 3)} | "
                f"{fmt(r['normal'], 3)} | {fmt(r['wrong_known'], 3)} | "
                f"{fmt(r['unknown_inside'], 3)} |"
            )
    paths = unseen["models"]["1D-CNN"]["all"].get("paths")
    if paths:
        lines += [
            "",
            "1D-CNN decision paths on those windows: "
            + ", ".join(f"{k} {v}" for k, v in paths.items()),
        ]
    why = prof["diagnostics"]
    classes = why["classes"]
    short = {
        c: c.replace("network_latency", "net_latency").replace("traffic_spike", "spike")
        for c in classes
    }
    for model in (
        "1D-CNN",
        max((r for r in rows[MULTICLASS.name] if r["model"] != "1D-CNN"), key=lambda r: r["f1"])[
            "model"
        ],
    ):
        matrix = why["confusion"][model]
        lines += [
            "",
            f"7-class confusion matrix of {model} on the test windows (rows: truth, columns: "
            "answer):",
            "",
            "| truth \\ answer | " + " | ".join(short[c] for c in classes) + " |",
            "|---" * (len(classes) + 1) + "|",
        ]
        for c, counts in zip(classes, matrix, strict=True):
            lines.append(f"| {short[c]} | " + " | ".join(str(n) for n in counts) + " |")
    if "cnn_paths_by_truth" in why:
        lines += [
            "",
            "1D-CNN decision paths on the test windows, per true class: "
            + "; ".join(
                f"{label}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                for label, counts in why["cnn_paths_by_truth"].items()
            )
            + f" (stage-2 confidence limit {why['cnn_confidence']:.3f}).",
        ]
        off = why["cnn_without_envelope"]
        lines += [
            "",
            "The same trained 1D-CNN with its envelope rule off (diagnostic): 7-class macro F1 "
            f"{off['macro']['f1']:.4f} (accuracy {off['macro']['accuracy']:.4f}), weighted F1 "
            f"{off['weighted']['f1']:.4f}; on the open-set windows 'unknown' "
            f"{off['open_set_unknown']:.3f}, 'normal' {off['open_set_normal']:.3f}.",
        ]
    return lines


def forecast_tables(fc: dict[str, Any]) -> list[str]:
    models = fc["models"]
    lines = [
        f"Trained {fc['train']['epochs']} epochs on seed {fc['train']['seed']} "
        f"({fc['train']['seconds']} s with episodes of the five anomalies, operations on), "
        f"window {fc['train']['window']}, horizon {fc['train']['horizon']}. *own*: one "
        "network per target, as the paper trained them (R², MAE, RMSE); *joint*: one network "
        "forecasting both (R²); *last value*: the naive forecast that the last observed "
        "value stays (R²). cpu in cores, memory_rss in MB.",
        "",
    ]
    for part, title in (
        ("test", "held-out run with the five anomalies"),
        ("normal_test", "held-out normal run"),
    ):
        block = fc[part]
        lines += [
            f"**Forecasts, {title}** (seed {block['seed']}, {block['seconds']} s; std of the "
            "targets " + ", ".join(f"{k} {v:.3f}" for k, v in block["target_std"].items()) + ")",
            "",
            "| Step ahead (s) | cpu R² | cpu MAE | cpu RMSE | cpu R² joint | cpu R² last value "
            "| rss R² | rss MAE | rss RMSE | rss R² joint | rss R² last value |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        naive = block["persistence"]
        for k in range(fc["train"]["horizon"]):
            cells = [str(k + 1)]
            for target in FORECAST_TARGETS:
                own = models[target][part]["per_step"][target][k]
                joint = models["joint"][part]["per_step"][target][k]
                digits = 4 if target == "cpu" else 2
                cells += [
                    f"{own['r2']:.4f}",
                    f"{own['mae']:.{digits}f}",
                    f"{own['rmse']:.{digits}f}",
                    f"{joint['r2']:.4f}",
                    f"{naive[target][k]['r2']:.4f}",
                ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            "Longest horizon with R² > 0.9: "
            + "; ".join(
                f"{t} {models[t][part]['longest_horizon_r2_above_0_9'][t]} s own network, "
                f"{models['joint'][part]['longest_horizon_r2_above_0_9'][t]} s joint "
                f"(paper {PAPER_HORIZON[t]} s)"
                for t in FORECAST_TARGETS
            ),
            "",
        ]
    return lines


def cost_table(result: dict[str, Any]) -> list[str]:
    machine_ = result["machine"]
    lines = [
        f"**Cost** ({machine_['cpus_usable']} CPUs usable, shared with other work; torch "
        f"{machine_['versions']['torch']}, {THREADS} torch threads for training). Training: "
        f"wall time at these sizes (bar < {TARGET_TRAIN_S:g} s), CPU time of the process and "
        "the 1-minute load average before → after. Live inference of one window: median "
        f"(p95) of {result['sizes']['repeat']} calls after warm-up, with {THREADS} torch "
        f"threads and with 1, taking turns (bar < {TARGET_INFER_MS:g} ms).",
        "",
        f"| Model | Training wall (s) | CPU (s) | Load | Bar | ms/window, {THREADS} threads | Bar "
        "| ms/window, 1 thread | Bar |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["cost"]["rows"]:
        fit = row["fit"]
        two, one = row["threads"].get(str(THREADS)), row["threads"].get("1")
        lines.append(
            f"| {row['model']} | {fit['wall_s']:.1f} | {fit['cpu_s']:.1f} | "
            f"{fit['load_1min'][0]:.1f} → {fit['load_1min'][1]:.1f} | "
            f"{verdict(row['train_met'])} | "
            + (
                f"{two['median_ms']:.3f} ({two['p95_ms']:.3f}) | {verdict(two['met'])} | "
                f"{one['median_ms']:.3f} ({one['p95_ms']:.3f}) | {verdict(one['met'])} |"
                if two and one
                else "– | n/a | – | n/a |"
            )
        )
    return lines


def cost_rows(result: dict[str, Any], live: dict[str, Any]) -> list[dict[str, Any]]:
    fits = result["profiling"]["fit"]
    rows = [
        ("LSTM autoencoder", result["detection"]["train"]["fit"], "autoencoder score_window"),
        ("two-stage 1D-CNN (both stages)", fits["1D-CNN"]["binary"], "1D-CNN profiler predict"),
    ]
    for name, model in result["forecast"]["models"].items():
        rows.append(
            (
                f"forecaster {name} ({' + '.join(model['targets'])}, "
                f"h={result['sizes']['horizon']})",
                model["fit"],
                f"forecaster {name} forecast",
            )
        )
    for name in ("MLP", "Random Forest", "SVM"):
        rows.append((f"{name} (binary)", fits[name]["binary"], None))
        rows.append((f"{name} (7-class)", fits[name]["multiclass"], f"{name} predict"))
    out = []
    for model, fit, key in rows:
        threads = {
            setting.rsplit("_", 1)[1]: by_model[key]
            for setting, by_model in live.items()
            if key is not None
        }
        out.append(
            {
                "model": model,
                "fit": fit,
                "train_met": fit["wall_s"] < TARGET_TRAIN_S,
                "inference": key,
                "threads": threads,
            }
        )
    return out


def plot(data: dict[str, Any], detector: Detector, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {
        "http_flood": "tab:red",
        "slowloris": "tab:purple",
        "syn_flood": "tab:orange",
        "high_cpu": "tab:red",
        "high_memory": "tab:purple",
        "traffic_spike": "tab:orange",
        "load_step": "tab:brown",
        "network_latency": "tab:cyan",
    }
    fig, axes = plt.subplots(2, 1, figsize=(15, 8), sharex=False)
    for ax, key, title in zip(
        axes,
        ("attack", "anomaly"),
        ("held-out attack run", "held-out microservice-anomaly run"),
        strict=True,
    ):
        series, scores = data[key]
        static, adaptive = scores["static"], scores["adaptive"]
        t = static.end * series.step
        shown = set()
        for event in events(series.labels):
            label = event.label if event.label not in shown else None
            shown.add(event.label)
            ax.axvspan(
                event.start * series.step,
                event.stop * series.step,
                color=colours.get(event.label, "grey"),
                alpha=0.15,
                label=label,
            )
        ax.plot(t, static.score, lw=0.8, color="black", label="reconstruction error (MAE)")
        ax.plot(t, static.limit, lw=1.0, color="tab:blue", ls="--", label="static limit (p99)")
        ax.plot(t, adaptive.limit, lw=1.0, color="tab:green", label="adaptive limit")
        flagged = static.flags
        ax.plot(t[flagged], static.score[flagged], ".", color="red", ms=3, label="flagged (static)")
        ax.set_yscale("log")
        ax.set_ylabel("window score (std units)")
        ax.set_title(f"LSTM autoencoder on a {title} (scores of windows ending at t)")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.005, 0.5))
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("simulated time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary(result: dict[str, Any]) -> list[str]:
    """The quality and cost bars, one line each."""
    det = result["detection"]["attacks"]
    lines = ["Bars (details below):", ""]
    for threshold in THRESHOLDS:
        strict, lenient = det[threshold]["strict"], det[threshold]["grace"]
        spanned = det[threshold]["span"]
        bars = det[threshold]["bars"]
        lines.append(
            f"- autoencoder, {threshold} threshold, held-out attack runs: window F1 ≥ "
            f"{TARGET_F1} strict (last-step labels) {strict['f1']:.4f} "
            f"**{verdict(bars['f1_strict'])}**, span {spanned['span_steps']} "
            f"{spanned['f1']:.4f} **{verdict(bars['f1_span'])}**, grace "
            f"{lenient['grace_steps']} {lenient['f1']:.4f} "
            f"**{verdict(bars['f1_grace'])}**; detection delay ≤ {TARGET_DELAY_S:g} s: mean "
            f"{fmt(strict['mean_delay_s'], 2)} s **{verdict(bars['mean_delay'])}**, max "
            f"{fmt(strict['max_delay_s'], 1)} s **{verdict(bars['max_delay'])}** "
            f"({strict['detected']}/{strict['events']} episodes found)"
        )
    for task, bar in result["profiling"]["bars"].items():
        lines.append(
            f"- profiler F1 ≥ best baseline, {task}: 1D-CNN {bar['cnn_f1']:.4f} vs "
            f"{bar['best_baseline']} {bar['best_baseline_f1']:.4f} **{verdict(bar['met'])}**"
        )
    rows = result["cost"]["rows"]
    slowest = max(rows, key=lambda r: r["fit"]["wall_s"])
    lines.append(
        f"- training < {TARGET_TRAIN_S:g} s on {THREADS} threads, every model: slowest "
        f"{slowest['model']} {slowest['fit']['wall_s']:.1f} s "
        f"**{verdict(all(r['train_met'] for r in rows))}**"
    )
    for setting in (str(THREADS), "1"):
        timed_rows = [r for r in rows if setting in r["threads"]]
        ours = [r for r in timed_rows if not r["model"].startswith(("MLP", "Random", "SVM"))]
        worst = max(ours, key=lambda r: r["threads"][setting]["median_ms"])
        base = [r for r in timed_rows if r not in ours]
        lines.append(
            f"- live inference < {TARGET_INFER_MS:g} ms per window, torch threads {setting}: "
            f"our models, slowest {worst['model']} "
            f"{worst['threads'][setting]['median_ms']:.3f} ms "
            f"**{verdict(all(r['threads'][setting]['met'] for r in ours))}**; baselines "
            + ", ".join(
                f"{r['model'].split(' (')[0]} {r['threads'][setting]['median_ms']:.3f} ms "
                f"{verdict(r['threads'][setting]['met'])}"
                for r in base
            )
        )
    horizon = result["bars"]["forecast_longest_horizon_r2_above_0_9"]
    lines.append(
        "- forecaster, longest horizon with R² > 0.9 on the held-out anomaly run (paper, not a "
        "bar): "
        + "; ".join(
            f"{t} {h['own_network']} s own network, {h['joint_network']} s joint "
            f"(paper {h['paper']} s)"
            for t, h in horizon.items()
        )
    )
    return lines


# -- (5) the detectors side by side: public real labelled series and simulated CNF ----------
AEON_DATA = "aeon/datasets/data"
KDD_FILE = "135_UCR_Anomaly_InternalBleeding16_TEST.csv"
KDD_TRAIN_STEPS = 1200  # UCR name 135_UCR_Anomaly_InternalBleeding16_1200_4187_4199
BENCH_PACKAGES = {"aeon": "1.6.0", "sktime": "1.2.0", "river": "0.26.1"}
"""Packages whose wheels ship the public labelled series (./scripts/setup --bench installs
them with --no-deps; only their data files are read, none is imported)."""
YAHOO_TRAIN_STEPS = 400  # its first labelled anomaly is at step 431
MITDB_TRAIN_STEPS = 2500  # its labelled anomaly spans steps 6936–7287
SHUTTLE_TRAIN_ROWS, SHUTTLE_TEST_ROWS = 3000, 5000
CHANGE_TOLERANCE = 5
"""Steps either side of a change point that annotators place alike, and that are labelled."""
TCPD = {  # river's copies of TCPD series (van den Burg & Williams 2020): steps to train on
    "apple": 300,  # annotators agree on a change at step 319
    "bitcoin": 450,  # their first agreed changes are near step 580
    "airline_passengers": 280,  # annotators agree on a change at step 299
}
"""The TCPD series river ships whose first agreed change leaves enough normal steps before
it for `--model auto` to validate on (27 windows); brent_crude_oil is left out because
river's copy is daily and TCPD's annotations count the steps of its weekly one."""


@dataclass(frozen=True)
class LabelledRun:
    """A normal series to fit on and a labelled series to score, with where they come from."""

    name: str
    kind: str  # "real", "synthetic" or "simulated"
    source: str
    features: tuple[str, ...]
    train: np.ndarray
    test: np.ndarray
    labels: np.ndarray  # per test step: "normal" or the anomaly's name


def package_file(package: str, relative: str) -> Path:
    """A data file shipped inside a package's wheel, found without importing the package
    (aeon and sktime pin older numba/pandas than the project's; only their data is used)."""
    from importlib.metadata import PackageNotFoundError, distribution

    wanted = f"{package}=={BENCH_PACKAGES[package]}"
    try:
        found = distribution(package)
    except PackageNotFoundError:
        raise SystemExit(
            f"the real-data table needs {package}'s data files: pip install --no-deps {wanted} "
            "(./scripts/setup --bench does it)"
        ) from None
    path = Path(str(found.locate_file(relative)))
    if found.version != BENCH_PACKAGES[package] or not path.exists():
        raise SystemExit(f"{path} is missing or not from {wanted}: install {wanted}")
    return path


def csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file, gzip-compressed when its name ends in .gz."""
    import csv
    import gzip

    if path.suffix == ".gz":
        with gzip.open(path, "rt", newline="") as handle:
            rows = list(csv.reader(handle))
    else:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def labelled_columns(path: Path, skip: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Values [T, F] and 0/1 labels of a CSV whose last column is the label (the first
    `skip` columns, e.g. a timestamp, left out)."""
    _, rows = csv_rows(path)
    body = np.array([[float(x) for x in row[skip:]] for row in rows])
    return body[:, :-1], body[:, -1].astype(int)


def as_labels(flags: np.ndarray, name: str) -> np.ndarray:
    return np.where(flags > 0, name, NORMAL).astype(object)


def split_run(
    name: str, kind: str, source: str, features: tuple[str, ...], values: np.ndarray,
    flags: np.ndarray, train_steps: int, anomaly: str = "anomaly",
) -> LabelledRun:  # fmt: skip
    """Train on the first `train_steps` steps (which must be normal), test on the rest."""
    if np.any(flags[:train_steps]):
        raise SystemExit(f"{name}: labelled anomalies in the first {train_steps} steps")
    rest = as_labels(flags[train_steps:], anomaly)
    return LabelledRun(
        name, kind, source, features, values[:train_steps], values[train_steps:], rest
    )


def aeon_runs() -> list[LabelledRun]:
    data = f"aeon {BENCH_PACKAGES['aeon']} wheel: {AEON_DATA}"
    kdd = package_file(
        "aeon", f"{AEON_DATA}/KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_TEST.csv"
    )
    ecg_train, _ = labelled_columns(
        package_file("aeon", f"{AEON_DATA}/UnitTest/ecg-diff-count-3_TRAIN_NA.csv"), 1
    )
    ecg_values, ecg_flags = labelled_columns(
        package_file("aeon", f"{AEON_DATA}/UnitTest/ecg-diff-count-3_TEST.csv"), 1
    )
    return [
        split_run(
            "KDD-TSAD 135 (UCR InternalBleeding16)",
            "real",
            f"{data}/KDD-TSAD_135 (KDD Cup 2021 / UCR anomaly archive; a patient's "
            "physiological signal, one labelled anomaly; train = the first 1 200 steps, "
            "test = the rest)",
            ("value",),
            *labelled_columns(kdd, 1),
            KDD_TRAIN_STEPS,
        ),
        LabelledRun(
            "ecg-diff-count-3 (GutenTAG)",
            "synthetic",
            f"{data}/UnitTest/ecg-diff-count-3 (synthetic ECG with injected anomalies from "
            "the GutenTAG generator; NOT real data)",
            ("value",),
            ecg_train,
            ecg_values,
            as_labels(ecg_flags, "anomaly"),
        ),
    ]


def sktime_runs() -> list[LabelledRun]:
    data = f"sktime {BENCH_PACKAGES['sktime']} wheel: sktime/datasets/data"
    yahoo = labelled_columns(package_file("sktime", "sktime/datasets/data/yahoo/yahoo.csv"))
    mitdb = labelled_columns(package_file("sktime", "sktime/datasets/data/mitdb/mitdb.csv"))
    return [
        split_run(
            "Yahoo S5 (sktime's copy)",
            "real",
            f"{data}/yahoo/yahoo.csv (a Yahoo Webscope S5 series: 1 000 points, 7 labelled "
            f"outliers; train = the first {YAHOO_TRAIN_STEPS} steps)",
            ("value",),
            *yahoo,
            YAHOO_TRAIN_STEPS,
        ),
        split_run(
            "MIT-BIH ECG (sktime's copy)",
            "real",
            f"{data}/mitdb/mitdb.csv (7 500 points of an MIT-BIH Arrhythmia Database ECG, "
            f"one labelled anomalous stretch; train = the first {MITDB_TRAIN_STEPS} steps)",
            ("value",),
            *mitdb,
            MITDB_TRAIN_STEPS,
        ),
    ]


def agreed_changes(annotations: dict[str, list[int]]) -> list[int]:
    """Change points a majority of annotators place within `CHANGE_TOLERANCE` steps of
    each other (the first of each group)."""
    points = sorted({p for marks in annotations.values() for p in marks})
    agreed: list[int] = []
    for point in points:
        near = sum(
            any(abs(p - point) <= CHANGE_TOLERANCE for p in marks) for marks in annotations.values()
        )
        if 2 * near > len(annotations) and all(abs(point - a) > CHANGE_TOLERANCE for a in agreed):
            agreed.append(point)
    return agreed


def tcpd_annotations(module: Path) -> dict[str, list[int]]:
    """The `annotations={…}` literal of a river.drift.datasets module, read with ast."""
    import ast

    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.keyword) and node.arg == "annotations":
            return ast.literal_eval(node.value)
    raise SystemExit(f"{module}: no annotations")


def river_runs() -> list[LabelledRun]:
    data = f"river {BENCH_PACKAGES['river']} wheel: river"
    header, rows = csv_rows(package_file("river", "river/datasets/shuttle.csv.gz"))
    table = np.array([[float(x) for x in row] for row in rows])
    values, flags = table[:, :-1], table[:, -1].astype(int)
    normal = np.flatnonzero(flags == 0)[:SHUTTLE_TRAIN_ROWS]
    start = normal[-1] + 1
    runs = [
        LabelledRun(
            "Shuttle (river's copy)",
            "real (tabular)",
            f"{data}/datasets/shuttle.csv.gz (Statlog Shuttle as an outlier set: 9 features, "
            f"rows in file order, not a time series; train = the first {SHUTTLE_TRAIN_ROWS} "
            f"inlier rows, test = the next {SHUTTLE_TEST_ROWS} rows)",
            tuple(header[:-1]),
            values[normal],
            values[start : start + SHUTTLE_TEST_ROWS],
            as_labels(flags[start : start + SHUTTLE_TEST_ROWS], "outlier"),
        )
    ]
    for name, train_steps in TCPD.items():
        folder = "river/drift/datasets"
        header, rows = csv_rows(package_file("river", f"{folder}/{name}.csv"))
        values = np.array([[float(x) for x in row[1:]] for row in rows])
        changes = agreed_changes(tcpd_annotations(package_file("river", f"{folder}/{name}.py")))
        flags = np.zeros(len(values), dtype=int)
        for point in changes:
            flags[max(0, point - CHANGE_TOLERANCE) : point + CHANGE_TOLERANCE + 1] = 1
        runs.append(
            split_run(
                f"{name} (TCPD, river's copy)",
                "real (change points)",
                f"{data}/drift/datasets/{name}.csv (Turing change-point data set; the steps "
                f"within {CHANGE_TOLERANCE} of a change a majority of its annotators agree "
                f"on, {changes}, labelled; train = the first {train_steps} steps)",
                tuple(header[1:]),
                values,
                flags,
                train_steps,
                "change",
            )
        )
    return runs


def public_runs() -> list[LabelledRun]:
    return [*aeon_runs(), *sktime_runs(), *river_runs()]


def simulated_run(scenario: Scenario, sizes: Sizes) -> LabelledRun:
    step = scenario.traffic.step if scenario.traffic else 1.0
    seconds = (sizes.samples + sizes.window - 1) * step
    train = normal_series(scenario, seconds, scenario.seed + SEED_OFFSET)
    test = episode_series(scenario, ATTACK_CONDITIONS, ATTACK_SEEDS[0], seconds=sizes.test_seconds)
    return LabelledRun(
        f"{scenario.cnfs[0].id} under attack (simulated)",
        "simulated",
        "secmas's own CNF resource model (network/dataplane/cnf.py), scenarios/cnf-attack.yaml: "
        "normal_series for training, episode_series of the three attacks (seed "
        f"{ATTACK_SEEDS[0]}) for the test — the same code defines the attacks",
        train.features,
        train.values,
        test.values,
        test.labels,
    )


def recorded_runs(folder: Path | None) -> list[LabelledRun]:
    """Recorded emulated telemetry (`secmas detect dataset --dataplane emulated`): a folder
    with one CSV of normal behaviour (`*normal*.csv`, training) and any number of other CSVs
    with a label column, each read by `read_recording` (a file with frozen runs is refused).
    A `*instance*.csv` is another CNF instance's recording: its row is the cross-instance
    one, a model of this instance applied to that one."""
    if folder is None or not folder.is_dir():
        return []
    from secmas.analytics.csvdata import CSVDataError, read_recording

    def read(path: Path) -> Any:
        try:
            return read_recording(path)
        except (CSVDataError, OSError) as error:
            raise SystemExit(f"recorded run: {error}") from None

    normals = sorted(folder.glob("*normal*.csv"))
    if len(normals) != 1:
        raise SystemExit(f"{folder}: expected one *normal*.csv, found {len(normals)}")
    normal = read(normals[0])
    runs = []
    for path in sorted(folder.glob("*.csv")):
        if path == normals[0]:
            continue
        test = read(path)
        truth = test.truth()
        if truth is None:
            continue
        index = [test.features.index(f) for f in normal.features]
        other = "instance" in path.stem
        where = f"{path.relative_to(folder.parent.parent)}, trained on {normals[0].name}"
        runs.append(
            LabelledRun(
                f"emulated {path.stem}" + (" (cross-instance)" if other else ""),
                "real (emulated data plane)",
                "recorded by secmas detect dataset --dataplane emulated (no mitigation "
                f"running): {where}"
                + (", another CNF instance's recording than the one trained on" if other else ""),
                normal.features,
                normal.values,
                test.values[:, index],
                truth,
            )
        )
    return runs


def fitted(run: LabelledRun, name: str, sizes: Sizes) -> tuple[Any, Any]:
    """The named detector fitted on the run's normal part ("auto": chosen by
    `choose_detector` on it), and auto's `Selection` (None for the others)."""
    from secmas.analytics.registry import fit_detector
    from secmas.analytics.scoring import Fitting, LSTMSettings
    from secmas.analytics.selection import choose_detector

    lstm = LSTMSettings(epochs=sizes.epochs, batch=sizes.batch)
    fitting = Fitting(window=sizes.window, seed=0, lstm=lstm)
    if name != "auto":
        return fit_detector(name, run.train, run.features, fitting), None
    return choose_detector(run.train, run.features, fitting=fitting)


UCR_MARGIN = 100
"""The UCR anomaly archive's rule: the top-scoring location within 100 points of the
labelled anomaly counts as found (Wu & Keogh, 2021)."""
REFERENCES = ("zscore", "discord")
"""The two trivial references every detector is measured against."""


def ucr_rule(scores: Any, labels: np.ndarray, window: int) -> bool:
    """Whether the top-scoring window (its `window` steps) lies within `UCR_MARGIN` steps
    of a labelled anomalous step."""
    top = int(scores.end[int(np.argmax(scores.score))])
    anomalous = np.flatnonzero(labels != NORMAL)
    gap = np.maximum(0, np.maximum(anomalous - top, top - window + 1 - anomalous))
    return bool(gap.min() <= UCR_MARGIN)


def false_alarm_runs(flags: np.ndarray, labels: np.ndarray, ends: np.ndarray, span: int) -> int:
    """Runs of consecutive flagged windows none of which holds an anomalous step: the
    alerts an operator would see for nothing."""
    from secmas.analytics.events import window_truth

    wrong = np.asarray(flags, dtype=bool) & ~window_truth(labels, ends, span)
    return int(np.sum(wrong[1:] & ~wrong[:-1]) + wrong[:1].sum())


def detector_row(run: LabelledRun, name: str, sizes: Sizes) -> dict[str, Any]:
    from secmas.analytics.events import rank_windows

    try:
        fit, (detector, selection) = timed(lambda: fitted(run, name, sizes))
    except ValueError as exc:
        return {"detector": name, "error": str(exc)}
    score, scores = timed(lambda: detector.score(run.test))
    result = score_events(scores.flags, run.labels, ends=scores.end, span=sizes.window)
    ranking = rank_windows(scores.score, run.labels, scores.end, sizes.window)
    runs = false_alarm_runs(scores.flags, run.labels, scores.end, sizes.window)
    return {
        "detector": name,
        "chosen": None if selection is None else selection.chosen,
        "selection": None if selection is None else selection.to_json(),
        "event_recall": result.event_recall,
        "events": len(result.detected) + len(result.missed),
        "window_precision": result.precision,
        "window_recall": result.recall,
        "window_f1": result.f1,
        "false_alarm_windows": result.false_alarm_windows,
        "false_alarms_per_1000": 1000 * runs / len(run.test),
        "roc_auc": ranking.roc_auc,
        "ucr_rule": ucr_rule(scores, run.labels, sizes.window),
        "top_window_end": ranking.top_end,
        "fit_s": fit["wall_s"],
        "score_s": score["wall_s"],
    }


def versus_references(rows: list[dict[str, Any]]) -> None:
    """Mark on every row whether it is at least as good as the better trivial reference,
    by window F1 and by the UCR rule, whether it beats both on either, whether it is at
    least as good as the z-score reference by both (the bar of the default), and on auto's
    row whether it chose the best detector by window F1 (ties count)."""
    refs = [r for r in rows if r["detector"] in REFERENCES and "error" not in r]
    best_f1 = max(r["window_f1"] for r in refs)
    best_ucr = any(r["ucr_rule"] for r in refs)
    zscore = next(r for r in refs if r["detector"] == "zscore")
    others = [r["window_f1"] for r in rows if r["detector"] != "auto" and "error" not in r]
    for row in rows:
        if "error" in row:
            continue
        row["f1_at_least_references"] = row["window_f1"] >= best_f1 - 1e-9
        row["ucr_at_least_references"] = row["ucr_rule"] or not best_ucr
        row["beats_references"] = row["window_f1"] > best_f1 + 1e-9 or (
            row["ucr_rule"] and not best_ucr
        )
        row["at_least_zscore"] = row["window_f1"] >= zscore["window_f1"] - 1e-9 and (
            row["ucr_rule"] or not zscore["ucr_rule"]
        )
        if row["detector"] == "auto":
            row["chose_best"] = row["window_f1"] >= max(others) - 1e-9


def standing(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """Per detector, over the public real series and then over all: on how many it is at
    least as good as the better reference (F1, UCR rule, both), where it beats them, and
    its mean rank by window F1 (1 = best) — the order `--model auto` follows."""
    out: dict[str, Any] = {}
    for scope, chosen in (
        (
            "the public real series",
            [t for t in tables if t["kind"].startswith("real") and t["public"]],
        ),
        ("all the series", tables),
    ):
        ranks: dict[str, list[float]] = {}
        counts: dict[str, dict[str, Any]] = {}
        for table in chosen:
            rows = [r for r in table["rows"] if "error" not in r]
            f1s = sorted({r["window_f1"] for r in rows}, reverse=True)
            for row in rows:
                ranks.setdefault(row["detector"], []).append(1 + f1s.index(row["window_f1"]))
                count = counts.setdefault(
                    row["detector"],
                    {"series": 0, "f1": 0, "ucr": 0, "both": 0, "zscore": 0, "beats_on": []},
                )
                count["series"] += 1
                count["zscore"] += row["at_least_zscore"]
                if "chose_best" in row:
                    count["chose_best"] = count.get("chose_best", 0) + row["chose_best"]
                count["f1"] += row["f1_at_least_references"]
                count["ucr"] += row["ucr_at_least_references"]
                count["both"] += row["f1_at_least_references"] and row["ucr_at_least_references"]
                if row["beats_references"]:
                    count["beats_on"].append(table["dataset"])
        for name, count in counts.items():
            count["mean_f1_rank"] = statistics.fmean(ranks[name])
        out[scope] = counts
    return out


def detectors_side_by_side(
    scenario: Scenario, sizes: Sizes, recorded: Path | None
) -> dict[str, Any]:
    from secmas.analytics.registry import detector_names
    from secmas.analytics.selection import FALSE_ALARM_BUDGET, SEEN_AUC

    public = public_runs()
    runs = [*public, simulated_run(scenario, sizes), *recorded_runs(recorded)]
    tables = []
    for run in runs:
        rows = []
        for name in (*detector_names(), "auto"):
            rows.append(detector_row(run, name, sizes))
            row = rows[-1]
            print(
                f"{run.name}: {name}: F1 {row.get('window_f1', math.nan):.3f} "
                f"AUC {row.get('roc_auc', math.nan):.3f} UCR rule {row.get('ucr_rule')}",
                flush=True,
            )
        versus_references(rows)
        tables.append(
            {
                "dataset": run.name,
                "kind": run.kind,
                "public": any(run is p for p in public),
                "source": run.source,
                "features": list(run.features),
                "train_steps": len(run.train),
                "test_steps": len(run.test),
                "anomalous_steps": int(np.sum(run.labels != NORMAL)),
                "rows": rows,
            }
        )
    return {
        "what": (
            "every detector of `secmas detect fit --model` with the same settings (window "
            f"{sizes.window}, static threshold = 99th percentile of the training windows' "
            f"scores, seed 0; lstm-ae: {sizes.epochs} epochs (002_…: 30), batch {sizes.batch}, "
            "20 % validation) fitted on "
            "each dataset's normal part and scored on its labelled part; a window is anomalous "
            "when it holds an anomalous step (score_events span = window); no point adjustment. "
            f"UCR rule: the top-scoring window lies within {UCR_MARGIN} steps of a labelled "
            "anomalous step; false alarms: runs of flagged windows holding no anomalous step, "
            "per 1 000 test steps. References: zscore (robust z-score of levels and first "
            "differences) and discord (matrix-profile discord); ≥ ref: at least as good as the "
            "better of the two, by F1 and by the UCR rule; ≥ zscore: at least the z-score's "
            "window F1 and the UCR rule where it meets it. auto = `--model auto`, the default "
            "of `detect fit`: the detectors in the benchmark's order (zscore, discord, pca, "
            f"iforest, lstm-ae), the first that flags at most {FALSE_ALARM_BUDGET:.0%} of "
            "held-out normal windows (the last 30 % of the normal part, at least 17 windows) "
            "and ranks spikes, level shifts and drifts injected there above them with a "
            f"ROC-AUC of at least {SEEN_AUC:g}, "
            "chosen and refitted on the whole normal part (it never sees the labelled part)"
        ),
        "recorded_emulated": None if recorded is None else str(recorded),
        "datasets": tables,
        "standing": standing(tables),
    }


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def side_by_side_tables(data: dict[str, Any]) -> list[str]:
    what = data["what"]
    lines = [what[0].upper() + what[1:] + ".", "", *standing_table(data["standing"]), ""]
    for table in data["datasets"]:
        lines += [
            f"**{table['dataset']}** ({table['kind']}; {len(table['features'])} metric(s), "
            f"{table['train_steps']} training steps, {table['test_steps']} test steps, "
            f"{table['anomalous_steps']} anomalous). Source: {table['source']}.",
            "",
            "| detector | window F1 | UCR rule | event recall | false alarms /1000 | ROC-AUC "
            "| ≥ ref F1 | ≥ ref UCR | beats both | fit (s) | score (s) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in table["rows"]:
            if "error" in row:
                lines.append(f"| {row['detector']} | not fitted: {row['error']} |||||||||| ")
                continue
            events = f"{fmt(row['event_recall'], 2)} of {row['events']}"
            name = row["detector"] + (f" → {row['chosen']}" if row["chosen"] else "")
            lines.append(
                f"| {name} | {fmt(row['window_f1'], 3)} | {yes(row['ucr_rule'])} | {events} | "
                f"{row['false_alarms_per_1000']:.1f} | {fmt(row['roc_auc'], 3)} | "
                f"{yes(row['f1_at_least_references'])} | "
                f"{yes(row['ucr_at_least_references'])} | {yes(row['beats_references'])} | "
                f"{row['fit_s']:.1f} | {row['score_s']:.2f} |"
            )
        chose = [row["selection"]["reason"] for row in table["rows"] if row.get("selection")]
        lines += ["", f"auto chose {chose[0]}."] if chose else []
        lines.append("")
    return lines


def standing_table(standing: dict[str, Any]) -> list[str]:
    lines = []
    for scope, counts in standing.items():
        lines += [
            f"**Standing over {scope}** (≥ ref: at least as good as the better "
            "trivial reference; mean rank by window F1, 1 = best):",
            "",
            "| detector | ≥ ref by F1 | ≥ ref by UCR rule | both | ≥ zscore by both "
            "| mean F1 rank | beats both on |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, c in sorted(counts.items(), key=lambda kv: kv[1]["mean_f1_rank"]):
            n = c["series"]
            lines.append(
                f"| {name} | {c['f1']} of {n} | {c['ucr']} of {n} | {c['both']} of {n} | "
                f"{c['zscore']} of {n} | {c['mean_f1_rank']:.2f} | "
                f"{', '.join(c['beats_on']) or '—'} |"
            )
        auto = counts.get("auto")
        if auto is not None:
            lines += [
                "",
                f"auto (the default of `detect fit`) chose the best detector by window F1 "
                f"(ties count) on {auto['chose_best']} of {auto['series']}.",
            ]
        lines.append("")
    return lines


def side_by_side_plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = data["datasets"]
    names = [row["detector"] for row in tables[0]["rows"]]
    fig, axes = plt.subplots(2, 1, figsize=(13, 7.5))
    width = 0.8 / len(names)
    for panel, (key, title) in zip(
        axes, (("window_f1", "window F1 (hatched: UCR rule missed)"), ("roc_auc", "ROC-AUC")),
        strict=True,
    ):  # fmt: skip
        for i, name in enumerate(names):
            heights, missed = [], []
            for table in tables:
                row = next(r for r in table["rows"] if r["detector"] == name)
                value = row.get(key, math.nan)
                heights.append(0.0 if value is None or math.isnan(value) else value)
                missed.append(not row.get("ucr_rule", False))
            xs = np.arange(len(tables)) + i * width
            bars = panel.bar(xs, heights, width, label=name)
            if key == "window_f1":
                for bar, miss in zip(bars, missed, strict=True):
                    bar.set_hatch("//" if miss else "")
        panel.set_xticks(np.arange(len(tables)) + 0.4 - width / 2)
        panel.set_xticklabels(
            [f"{t['dataset'].split(' (')[0]}\n({t['kind']})" for t in tables], fontsize=7
        )
        panel.set_ylim(0, 1.05)
        panel.set_title(title, fontsize=9)
    axes[0].legend(fontsize=7, ncol=len(names))
    fig.suptitle("Detectors side by side (benchmarks/bench_detection.py --detectors)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_side_by_side(sizes: Sizes, quick: bool, recorded: Path | None) -> None:
    from secmas.analytics.threads import limit_torch_threads

    limit_torch_threads()
    began, load_before = time.perf_counter(), os.getloadavg()
    scenario = load_scenario(SCENARIO)
    data = detectors_side_by_side(scenario, sizes, recorded)
    result = {
        "benchmark": "detectors",
        "quick": quick,
        "sizes": {"window": sizes.window, "epochs": sizes.epochs, "batch": sizes.batch},
        "packages": BENCH_PACKAGES,
        "machine": machine(),
        **data,
        "total_wall_s": time.perf_counter() - began,
        "load_average_1_5_15_min": {"before": load_before, "after": os.getloadavg()},
    }
    text = "\n".join(
        [
            "## Detectors side by side (`benchmarks/bench_detection.py --detectors"
            + (" --quick" if quick else "")
            + "`)",
            "",
            *side_by_side_tables(result),
            f"Total wall time {result['total_wall_s']:.0f} s.",
            "",
        ]
    )
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "detectors.json").write_text(json.dumps(clean(result), indent=2) + "\n")
    (RESULTS / "detectors.md").write_text(text)
    side_by_side_plot(result, RESULTS / "detectors.png")
    print(f"wrote {RESULTS}/detectors.{{json,md,png}}")


RECORDED_HEADING = "### 2b. Profiling on recorded emulated telemetry (004_… Tables 2 and 3)"


def run_recorded_profiling(sizes: Sizes, recording: Path) -> None:
    """`--profiler-only`: (2b) alone, written into the existing detection.json and .md."""
    torch.set_num_threads(1)
    json_path, md_path = RESULTS / "detection.json", RESULTS / "detection.md"
    if not json_path.is_file() or not md_path.is_file():
        raise SystemExit(f"{json_path} and {md_path.name} are needed: run the full benchmark once")
    result = json.loads(json_path.read_text())
    result["profiling"]["recorded"] = recorded_profiling(recording, sizes)
    section = "\n".join([RECORDED_HEADING, "", *recorded_tables(result["profiling"]["recorded"])])
    text = md_path.read_text()
    if RECORDED_HEADING in text:
        head, rest = text.split(RECORDED_HEADING, 1)
        text = head + section + rest[rest.index("\n### 3.") :]
    else:
        head, rest = text.split("### 3.", 1)
        text = head + section + "\n\n### 3." + rest
    print(section)
    json_path.write_text(json.dumps(clean(result), indent=2) + "\n")
    md_path.write_text(text)
    print(f"wrote {json_path} and {md_path} (section 2b)")


def machine() -> dict[str, Any]:
    return describe(PACKAGES, torch_threads=torch.get_num_threads())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few epochs, small data, 1 seed")
    parser.add_argument(
        "--detectors",
        action="store_true",
        help="only (5): every detector on public real labelled series and simulated telemetry",
    )
    parser.add_argument(
        "--recorded",
        type=Path,
        default=RECORDINGS,
        help="with --detectors: folder of recorded emulated CSVs (one *normal*.csv + labelled "
        "ones; default benchmarks/recordings)",
    )
    parser.add_argument(
        "--attack-recording",
        type=Path,
        default=ATTACK_RECORDING,
        help="recorded emulated telemetry with 4 episodes of each of the five kinds, for the "
        "profiler comparison (2b) (default benchmarks/recordings/cnf-emulated-attacks.csv)",
    )
    parser.add_argument(
        "--profiler-only",
        action="store_true",
        help="only (2b), the profiler on the attack recording: updates its part of "
        "detection.json and detection.md, keeps the rest",
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.detectors:
        run_side_by_side(sizes, args.quick, args.recorded)
        return
    if args.profiler_only:
        run_recorded_profiling(sizes, args.attack_recording)
        return
    torch.set_num_threads(THREADS)
    began, load_before = time.perf_counter(), os.getloadavg()
    scenario = load_scenario(SCENARIO)
    if not args.quick and TrainingPlan.for_scenario(scenario) != PLAN:
        raise SystemExit("the scenario's analytics section changes the training sizes")

    det, detector, plot_data = detection(scenario, sizes)
    prof, prof_live = profiling(scenario, sizes)
    prof["recorded"] = recorded_profiling(args.attack_recording, sizes)
    fc, forecasters, forecast_series = forecasting(scenario, sizes)
    live = inference(
        detector, plot_data["live_series"], prof_live, forecasters, forecast_series, sizes.repeat
    )
    result: dict[str, Any] = {
        "benchmark": "detection",
        "what": (
            "LSTM autoencoder (002_… IV), two-stage 1D-CNN profiler vs MLP/RF/SVM (004_… "
            "Tables 2, 3), LSTM forecaster (004_… 6.3) on the CNF of scenarios/cnf-attack.yaml, "
            "held-out seeds; training and per-window inference cost"
        ),
        "scenario": str(SCENARIO.relative_to(SCENARIO.parent.parent)),
        "quick": args.quick,
        "sizes": asdict(sizes),
        "machine": machine(),
        "detection": det,
        "profiling": prof,
        "forecast": fc,
    }
    result["cost"] = {"inference": live, "rows": cost_rows(result, live)}
    result["bars"] = {
        "detector": {t: det["attacks"][t]["bars"] for t in THRESHOLDS},
        "profiler_f1_vs_best_baseline": {k: v["met"] for k, v in prof["bars"].items()},
        "training_under_2_min": all(r["train_met"] for r in result["cost"]["rows"]),
        "inference_under_1_ms": {
            setting: {name: row["met"] for name, row in rows.items()}
            for setting, rows in live.items()
        },
        "forecast_longest_horizon_r2_above_0_9": {
            target: {
                "own_network": fc["models"][target]["test"]["longest_horizon_r2_above_0_9"][target],
                "joint_network": fc["models"]["joint"]["test"]["longest_horizon_r2_above_0_9"][
                    target
                ],
                "paper": PAPER_HORIZON[target],
            }
            for target in FORECAST_TARGETS
        },
    }
    result["total_wall_s"] = time.perf_counter() - began
    result["load_average_1_5_15_min"] = {"before": load_before, "after": os.getloadavg()}

    sections = [
        "## Detection benchmark (`benchmarks/bench_detection.py`"
        + (" --quick" if args.quick else "")
        + ")",
        "",
        f"Scenario `{result['scenario']}`, CNF `{scenario.cnfs[0].id}`; total wall time "
        f"{result['total_wall_s']:.0f} s on {result['machine']['cpus_usable']} CPUs "
        f"({result['machine']['cpu_model']}).",
        "",
        *summary(result),
        "",
        "### 1. LSTM autoencoder (002_… Section IV)",
        "",
        f"Trained on {det['train']['windows']} windows of normal behaviour (seed "
        f"{det['train']['seed']}, routine operations on), {det['train']['epochs']} epochs, "
        f"batch {det['train']['batch']}, 20 % validation, MAE; final loss train "
        f"{det['train']['final_train_loss']:.4f}, validation "
        f"{det['train']['final_validation_loss']:.4f}; static limit (p99) "
        f"{det['train']['static_limit']:.4f}.",
        "",
        *detector_tables(det),
        "",
        "### 2. Profiling (004_… Section 6.2)",
        "",
        *profiling_tables(prof),
        "",
        RECORDED_HEADING,
        "",
        *recorded_tables(prof["recorded"]),
        "",
        "### 3. Forecasting (004_… Section 6.3)",
        "",
        *forecast_tables(fc),
        "### 4. Cost",
        "",
        *cost_table(result),
        "",
    ]
    text = "\n".join(sections)
    print()
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "detection.json").write_text(json.dumps(clean(result), indent=2) + "\n")
    (RESULTS / "detection.md").write_text(text)
    plot(plot_data, detector, RESULTS / "detection.png")
    print(f"\ntotal {result['total_wall_s']:.1f} s; wrote {RESULTS}/detection.{{json,md,png}}")


if __name__ == "__main__":
    main()

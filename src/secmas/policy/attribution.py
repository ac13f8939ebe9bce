"""SHAP feature attributions for the ML detections: which metrics drove an alert.

The analytics models score a whole window of a CNF's metrics [steps, metrics] at once: the
LSTM autoencoder (`secmas.analytics.autoencoder.Detector`) gives an anomaly score (mean
reconstruction error), the two-stage profiler (`secmas.analytics.profiling`) a class. To
say which metrics made the output what it is, each *metric* is a player of a cooperative
game (Shapley values, as SHAP computes them): a coalition S of metrics keeps those columns
of the window and takes every other column from a normal background window; the game's
value v(S) is the model output averaged over the background windows. So v(all) is the
model's output on the window, v(∅) its expected output on normal behaviour (the *base*),
and the Shapley values add up to v(all) − v(∅) exactly (SHAP's local accuracy).

Method (`shapley`): the game is handed to the `shap` library as a function of a binary
coalition matrix (the one background row all zeros, the explained row all ones), so that
`shap` chooses the coalitions and one vectorised call builds and scores all the masked
windows of a batch in torch passes of thousands of windows (no loop over coalitions).
The explainer is `shap.KernelExplainer` (Kernel SHAP: a regression weighted by the Shapley
kernel, constrained to add up to v(all) − v(∅), with L1 feature selection off):

* when the budget `evaluations` covers all 2^M − 2 proper coalitions it enumerates them
  and the values are the exact Shapley values (small games, e.g. the tests' hand-computed
  one);
* otherwise (14 metrics: 16 382 coalitions × the background windows, 1.5–3.5 s of model
  time on 2 cores) it enumerates the smallest and largest coalition sizes completely and
  samples the others in complementary pairs. Measured against exact enumeration on the
  reference models, 1 000 coalitions put every value within 0.1 % of the total
  attribution for the autoencoder and within 0.7–2.3 % for the profiler, whose saturated
  softmax has strong interactions; `shap.PermutationExplainer` (antithetic permutations)
  at the same budget was 2–3 times further off for the profiler.

The sampled coalitions are drawn from a seed: same inputs and seed, same attribution. `shap`
seeds NumPy's global generator; the state is restored afterwards, so explanations neither
depend on nor disturb other users of it. `shap` (and numba, which it pulls in) is imported
on the first explanation only, so runs without explanations do not pay for it.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from secmas.analytics.autoencoder import Detector, reconstruction_errors
from secmas.analytics.datasets import normal_series
from secmas.analytics.profiling import TwoStageProfiler, probabilities
from secmas.analytics.reference import SEED_OFFSET, TrainingPlan, cache_key
from secmas.scenario.model import Scenario

__all__ = [
    "BACKGROUND",
    "EVALUATIONS",
    "AlertExplainer",
    "Attribution",
    "Game",
    "alert_explainer",
    "background_windows",
    "explain_detector",
    "explain_profile",
    "import_shap",
    "shapley",
]

EVALUATIONS = 1000
"""Default budget of coalitions per explanation (each is scored on every background window)."""
BACKGROUND = 16
"""Default number of normal background windows."""
CHUNK = 8192
"""Masked windows per forward pass (bounds memory)."""

Game = Callable[[np.ndarray], np.ndarray]
"""A coalition game: boolean coalitions [N, M] (True: the player is present) → values [N]."""


@dataclass(frozen=True)
class Attribution:
    """Why a model gave its output on a window: each metric's Shapley value.

    `value` is the model's output on the window (`target` names it), `base` its expected
    output over the background windows; `contributions` hold (metric, Shapley value),
    largest |value| first, and add up to `value - base`. `method` says how they were computed.
    """

    target: str
    value: float
    base: float
    contributions: tuple[tuple[str, float], ...]
    method: str

    def top(self, k: int = 3) -> tuple[tuple[str, float], ...]:
        """The `k` metrics with the largest |contribution|."""
        return self.contributions[: max(0, k)]

    @property
    def residual(self) -> float:
        """value − base − Σ contributions: zero up to rounding (local accuracy)."""
        return self.value - self.base - math.fsum(v for _, v in self.contributions)

    def text(self, k: int = 3) -> str:
        """One sentence, e.g. "anomaly score 2.39 vs 0.442 expected: cpu +1.21, load +0.6"."""
        parts = ", ".join(f"{name} {value:+.3g}" for name, value in self.top(k))
        head = f"{self.target} {self.value:.3g} vs {self.base:.3g} expected"
        return f"{head}: {parts}" if parts else head

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "value": _round(self.value),
            "base": _round(self.base),
            "contributions": [[name, _round(value)] for name, value in self.contributions],
            "method": self.method,
        }


def _round(x: float) -> float:
    return float(f"{x:.6g}")


@functools.cache
def import_shap() -> tuple[Any, float]:
    """The `shap` module and the seconds its first import took (imported once, lazily)."""
    started = time.perf_counter()
    with warnings.catch_warnings():  # matplotlib deprecations in shap's plotting colours
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="shap")
        import shap

    return shap, time.perf_counter() - started


def shapley(
    game: Game,
    players: Sequence[str],
    *,
    target: str,
    evaluations: int = EVALUATIONS,
    seed: int = 0,
    background: int = 1,
) -> Attribution:
    """The Shapley values of `game` over `players`, computed by `shap`'s Kernel SHAP.

    `game` gets boolean coalitions [N, M] (True: present) and returns their values [N];
    v(all players) is the `value`, v(∅) the `base`. Exact when `evaluations` ≥ 2^M − 2 (all
    coalitions), else sampled with that budget, at least 2M (module docstring).
    `background` only goes into the `method` text (windows averaged per coalition).
    """
    names = tuple(players)
    m = len(names)
    if m == 0:
        raise ValueError("no players to attribute the output to")
    if len(set(names)) != m:
        raise ValueError(f"player names appear more than once: {', '.join(names)}")
    coalitions = 2**m - 2
    least = min(2 * m, coalitions)
    if not isinstance(evaluations, int) or evaluations < least:
        raise ValueError(f"evaluations must be at least {least} for {m} players, got {evaluations}")
    shap, _ = import_shap()
    count = 0

    def model(rows: np.ndarray) -> np.ndarray:
        nonlocal count
        present = np.asarray(rows) > 0.5
        count += len(present)
        values = np.asarray(game(present), dtype=np.float64).reshape(-1)
        if values.shape != (len(present),):
            raise ValueError(f"the game gave {values.shape} values for {len(present)} coalitions")
        return values

    state = np.random.get_state()
    try:
        np.random.seed(seed)
        explainer = shap.KernelExplainer(model, np.zeros((1, m)))
        values = explainer.shap_values(
            np.ones((1, m)), nsamples=min(evaluations, coalitions), l1_reg=False, silent=True
        )
    finally:
        np.random.set_state(state)
    phi = np.asarray(values, dtype=np.float64).reshape(m)
    base = float(np.asarray(explainer.expected_value).reshape(-1)[0])
    output = float(np.asarray(explainer.fx).reshape(-1)[0])
    order = sorted(range(m), key=lambda i: -abs(phi[i]))
    kind = "exact" if evaluations >= coalitions else f"sampled, seed {seed}"
    over = f" × {background} background windows" if background > 1 else ""
    return Attribution(
        target=target,
        value=output,
        base=base,
        contributions=tuple((names[i], float(phi[i])) for i in order),
        method=f"shap.KernelExplainer ({kind}), {m} features, {count} evaluations{over}",
    )


def explain_detector(
    detector: Detector,
    window: np.ndarray,
    background: np.ndarray,
    *,
    evaluations: int = EVALUATIONS,
    seed: int = 0,
) -> Attribution:
    """SHAP values of the autoencoder's anomaly score on one raw window [window, metrics].

    A metric absent from a coalition has its whole column replaced by that column of each
    raw `background` window [B, window, metrics] (normal behaviour, e.g.
    `background_windows`). `value` is the window's score as `Detector.score_window` gives
    it (the detector's live thresholds are left untouched); `base` the mean score of the
    background windows.
    """
    shape = (detector.window, len(detector.features))
    x = _window(window, shape, "window")
    bg = _background(background, shape)
    scaled = detector.scaler.transform(x)
    scaled_bg = detector.scaler.transform(bg)

    def game(coalitions: np.ndarray) -> np.ndarray:
        def score(windows: np.ndarray) -> np.ndarray:
            return reconstruction_errors(detector.model, windows).mean(axis=1)

        return _play(coalitions, scaled, scaled_bg, score)

    return shapley(
        game,
        detector.features,
        target="anomaly score",
        evaluations=evaluations,
        seed=seed,
        background=len(bg),
    )


def explain_profile(
    profiler: TwoStageProfiler,
    window: np.ndarray,
    background: np.ndarray,
    label: str | None = None,
    *,
    evaluations: int = EVALUATIONS,
    seed: int = 0,
) -> Attribution:
    """SHAP values of the profiler's probability of `label` on one raw window [steps, metrics].

    `label` defaults to the class the profiler gives the window. The probability explained
    is the stage-2 network's softmax output for that class (`Profiles.probabilities`): the
    network that names the anomaly. Absent metrics are taken from the raw `background`
    windows [B, steps, metrics], as in `explain_detector`.
    """
    steps = int(profiler.config["window"])
    x = _window(window, (steps, profiler.channels), "window")
    bg = _background(background, x.shape)
    if label is None:
        label = profiler.predict(x[None])[0]
    if label not in profiler.classes:
        raise ValueError(
            f"unknown label {label!r}; the profiler's classes are {', '.join(profiler.classes)}"
        )
    k = profiler.classes.index(label)
    names = profiler.features or tuple(f"channel {i}" for i in range(profiler.channels))
    scaled = profiler.scaler.transform(x)
    scaled_bg = profiler.scaler.transform(bg)

    def game(coalitions: np.ndarray) -> np.ndarray:
        def chance(windows: np.ndarray) -> np.ndarray:
            return probabilities(profiler.multiclass, profiler.inputs(windows))[:, k]

        return _play(coalitions, scaled, scaled_bg, chance)

    return shapley(
        game,
        names,
        target=f"P({label})",
        evaluations=evaluations,
        seed=seed,
        background=len(bg),
    )


def _play(
    coalitions: np.ndarray,
    x: np.ndarray,
    background: np.ndarray,
    model: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """v(S) for each coalition: the model's output on the window with the columns outside S
    taken from each background window, averaged over the background.

    coalitions [N, F] bool, x [T, F], background [B, T, F]: N·B windows, scored in chunks."""
    b = len(background)
    per_chunk = max(1, CHUNK // b)
    out = []
    for start in range(0, len(coalitions), per_chunk):
        keep = coalitions[start : start + per_chunk, None, None, :]  # [n, 1, 1, F]
        mixed = np.where(keep, x[None, None], background[None])  # [n, B, T, F]
        scores = model(mixed.reshape(-1, *x.shape).astype(np.float32, copy=False))
        out.append(np.asarray(scores, dtype=np.float64).reshape(-1, b).mean(axis=1))
    return np.concatenate(out)


def _window(window: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    try:
        array = np.asarray(window, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"the {what} is not an array of numbers") from None
    if array.shape != shape:
        raise ValueError(
            f"the {what} must have shape {shape} (steps × metrics of the model), got {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"the {what} holds NaN or infinite values")
    return array


def _background(background: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(background, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("the background windows are not an array of numbers") from None
    if array.ndim != 3 or array.shape[1:] != shape or len(array) == 0:
        raise ValueError(
            f"the background windows must have shape (N ≥ 1, {shape[0]}, {shape[1]}), "
            f"got {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("the background windows hold NaN or infinite values")
    return array


def background_windows(
    scenario: Scenario, length: int, count: int = BACKGROUND, plan: TrainingPlan | None = None
) -> np.ndarray:
    """`count` raw windows [count, length, metrics] of normal behaviour of the scenario's
    first CNF, evenly spaced over the reference autoencoder's own training series (the
    same seed and length as `secmas.analytics.reference.train_detector` with `plan`, a
    `TrainingPlan`; default: the scenario's). Deterministic; computed once per scenario,
    plan, length and count in a process (read-only array)."""
    if not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be a positive number of steps, got {length!r}")
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive number of windows, got {count!r}")
    plan = plan or TrainingPlan.for_scenario(scenario)
    key = (cache_key(scenario, plan), length, count)
    if key not in _BACKGROUNDS:
        if len(_BACKGROUNDS) >= 16:
            _BACKGROUNDS.pop(next(iter(_BACKGROUNDS)))
        _BACKGROUNDS[key] = _normal_windows(scenario, plan, length, count)
    return _BACKGROUNDS[key]


_BACKGROUNDS: dict[tuple[str, int, int], np.ndarray] = {}
"""background_windows' results by (reference cache key, length, count)."""


def _normal_windows(scenario: Scenario, plan: TrainingPlan, length: int, count: int) -> np.ndarray:
    if scenario.traffic is None:
        raise ValueError(f"scenario {scenario.id!r} has no traffic to draw normal windows from")
    steps = max(plan.samples + plan.window - 1, length + count - 1)
    series = normal_series(scenario, steps * scenario.traffic.step, scenario.seed + SEED_OFFSET)
    values = series.values
    if len(values) < length:
        raise ValueError(f"the normal series has {len(values)} steps, fewer than {length}")
    ends = np.unique(np.linspace(length - 1, len(values) - 1, count).round().astype(int))
    windows = np.stack([values[end - length + 1 : end + 1] for end in ends]).astype(np.float64)
    windows.setflags(write=False)
    return windows


AlertExplainer = Callable[[Any, np.ndarray], dict[str, Any]]
"""(a closed-loop alert, the samples the loop held when raising it) → its attributions."""


def alert_explainer(
    detector: Detector, profiler: TwoStageProfiler | None, scenario: Scenario
) -> AlertExplainer:
    """Explanations of the closed loop's alerts (`secmas.analytics.decision.Alert`): the
    autoencoder's anomaly score over its window and, when the profiler named a known class,
    that class's probability over the profiler's window; `text` leads with the model that
    raised the alert. Background windows come from the scenario's normal behaviour."""
    length = int(profiler.config["window"]) if profiler is not None else 0

    def explain(alert: Any, samples: np.ndarray) -> dict[str, Any]:
        found: dict[str, Attribution] = {}
        if len(samples) >= detector.window:
            background = background_windows(scenario, detector.window)
            found["autoencoder"] = explain_detector(
                detector, samples[-detector.window :], background
            )
        if profiler is not None and alert.profile in profiler.classes and len(samples) >= length:
            background = background_windows(scenario, length)
            found["profiler"] = explain_profile(
                profiler, samples[-length:], background, alert.profile
            )
        order = (
            ("profiler", "autoencoder")
            if alert.source == "profiler"
            else ("autoencoder", "profiler")
        )
        texts = [found[name].text() for name in order if name in found]
        return {"text": "; ".join(texts), **{name: a.to_json() for name, a in found.items()}}

    return explain

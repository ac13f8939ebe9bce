"""The detection models of a scenario: trained on its own simulated CNFs, then cached.

The LSTM autoencoder learns the CNFs' normal behaviour (`002_…` Section IV: 2 361
samples, 20 % validation, 30 epochs, batch 50, MAE) from a run of the scenario's network
with its attack and incidents taken out; the two-stage profiler learns the five
microservice anomalies of `004_…` (Section 6.2) plus an "unknown" family from episodes on
the same network. Both use seeds the live run never sees. Trained models are stored under
the cache folder, keyed by everything that shapes them, so later runs load them at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import numpy as np

from secmas.analytics import autoencoder, datasets, profiling
from secmas.analytics.autoencoder import Detector
from secmas.analytics.datasets import episode_series, normal_series
from secmas.analytics.modelfile import VERSION, ModelFileError
from secmas.analytics.profiling import TwoStageProfiler
from secmas.analytics.windows import sliding, window_labels
from secmas.network.dataplane import cnf, flows, simulator, traffic
from secmas.scenario.model import Scenario

Say = Callable[[str], None]
T = TypeVar("T")

PROFILED = ("high_cpu", "high_memory", "traffic_spike", "load_step", "network_latency")
UNKNOWN_FAMILY = ("disk_storm",)
"""Conditions the profiler learns as its "unknown" class."""
TRAINING_CODE = (autoencoder, datasets, profiling, cnf, flows, simulator, traffic)
"""Modules whose source is part of the cache key: a change to any of them retrains."""
SEED_OFFSET = 1_000_003
"""Training seeds are the scenario's seed plus this (and plus one for the profiler)."""


@dataclass(frozen=True)
class TrainingPlan:
    """Sizes of the training runs and models (defaults: the sources' values)."""

    samples: int = 2361
    epochs: int = 30
    batch: int = 50
    window: int = 10
    hidden: int = 32
    profile_seconds: int = 3000
    profile_window: int = 30
    profile_epochs: int = 40
    profile_stride: int = 2

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 1:
                raise ValueError(f"training plan: {name} must be at least 1, got {value}")

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> TrainingPlan:
        """The default plan with the sizes the scenario's `analytics` section sets."""
        settings = scenario.analytics
        return cls(
            samples=settings.samples,
            epochs=settings.epochs,
            profile_epochs=settings.profile_epochs,
        )


@dataclass(frozen=True)
class DetectorTrainer:
    """Another way to train the autoencoder than `train_detector` (federated training,
    from `secmas.secagg`): its name and the modules whose source shapes its models (both
    go into the cache key, so its models are cached apart)."""

    name: str
    train: Callable[[Scenario, TrainingPlan, Say], Detector]
    code: tuple[ModuleType, ...] = ()


def cache_dir() -> Path:
    """$SECMAS_CACHE, else $XDG_CACHE_HOME/secmas, else ~/.cache/secmas."""
    if "SECMAS_CACHE" in os.environ:
        return Path(os.environ["SECMAS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "secmas"


def cache_key(scenario: Scenario, plan: TrainingPlan) -> str:
    """A digest of what shapes the models: the network and its CNFs, the seed, the plan,
    and the code that simulates the training data and trains the models."""
    shape = scenario.model_dump(
        mode="json",
        exclude={"attack", "incidents", "security", "service", "description", "analytics"},
    )
    text = json.dumps({"scenario": shape, "plan": asdict(plan), "format": VERSION}, sort_keys=True)
    return _digest(text.encode(), TRAINING_CODE)


def _digest(head: bytes, modules: tuple[ModuleType, ...]) -> str:
    """SHA-256 of `head` and the source of `modules`, as a short hex key."""
    digest = hashlib.sha256(head)
    for module in modules:
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()[:16]


def train_detector(scenario: Scenario, plan: TrainingPlan, say: Say) -> Detector:
    """The LSTM autoencoder on `plan.samples` windows of normal behaviour."""
    seconds = (plan.samples + plan.window - 1) * _step(scenario)
    series = normal_series(scenario, seconds, scenario.seed + SEED_OFFSET)
    say(f"training the LSTM autoencoder on {plan.samples} windows of normal behaviour")

    def progress(epoch: int, train: float, validation: float | None) -> None:
        if epoch_reported(epoch, plan.epochs):
            held = "" if validation is None else f", validation {validation:.4f}"
            say(f"  autoencoder epoch {epoch}/{plan.epochs}: MAE {train:.4f}{held}")

    return Detector.fit(
        series.values,
        series.features,
        window=plan.window,
        epochs=plan.epochs,
        batch=plan.batch,
        hidden=plan.hidden,
        seed=scenario.seed,
        progress=progress,
    )


def epoch_reported(epoch: int, epochs: int, lines: int = 5) -> bool:
    """Whether a progress line is shown after `epoch` of `epochs`: about `lines` of them,
    the last epoch always."""
    return epoch == epochs or epoch % max(1, epochs // lines) == 0


def train_profiler(scenario: Scenario, plan: TrainingPlan, say: Say) -> TwoStageProfiler:
    """The two-stage CNN on episodes of the five anomalies and the unknown family."""
    series = episode_series(
        scenario,
        PROFILED + UNKNOWN_FAMILY,
        scenario.seed + SEED_OFFSET + 1,
        seconds=plan.profile_seconds,
        operations=True,
    )
    windows = sliding(series.values, plan.profile_window, plan.profile_stride)
    labels = window_labels(series.labels, plan.profile_window, plan.profile_stride)
    labels = np.array(["unknown" if x in UNKNOWN_FAMILY else x for x in labels], dtype=object)
    say(f"training the two-stage profiler on {len(windows)} windows of {len(PROFILED)} anomalies")

    def progress(stage: str, epoch: int, epochs: int, loss: float) -> None:
        if epoch_reported(epoch, epochs, lines=2):
            say(f"  profiler {stage} stage epoch {epoch}/{epochs}: loss {loss:.4f}")

    return TwoStageProfiler.fit(
        windows,
        list(labels),
        features=series.features,
        epochs=plan.profile_epochs,
        seed=0,
        progress=progress,
    )


def detection_models(
    scenario: Scenario,
    plan: TrainingPlan | None = None,
    *,
    cache: Path | None = None,
    retrain: bool = False,
    say: Say = lambda _text: None,
    trainer: DetectorTrainer | None = None,
) -> tuple[Detector, TwoStageProfiler]:
    """Load the scenario's models from the cache, or train and store them; `trainer`
    trains the autoencoder instead of `train_detector` (the profiler is the same)."""
    plan = plan or TrainingPlan.for_scenario(scenario)
    folder = (cache or cache_dir()) / "models"
    key = cache_key(scenario, plan)
    detector_key = key
    if trainer is not None:  # its own models: keyed by its name and code too
        trained_by = _digest(trainer.name.encode(), trainer.code)
        detector_key = f"{key}-{trained_by}-{trainer.name}"
    paths = folder / f"{detector_key}-autoencoder.pt", folder / f"{key}-profiler.pt"
    detector = None if retrain else _cached(paths[0], Detector.load, say)
    profiler = None if retrain else _cached(paths[1], TwoStageProfiler.load, say)
    if detector is not None and profiler is not None:
        say(f"detection models loaded from {folder} ({detector_key})")
        return detector, profiler
    trained: list[tuple[Path, Detector | TwoStageProfiler]] = []
    if detector is None:
        detector = (trainer.train if trainer is not None else train_detector)(scenario, plan, say)
        trained.append((paths[0], detector))
    if profiler is None:
        profiler = train_profiler(scenario, plan, say)
        trained.append((paths[1], profiler))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, model in trained:
            model.save(path)
        say(f"detection models stored in {folder} ({detector_key})")
    except OSError as exc:
        say(f"models not cached ({exc.strerror}): {folder}")
    return detector, profiler


def profiler_model(
    scenario: Scenario,
    plan: TrainingPlan | None = None,
    *,
    cache: Path | None = None,
    retrain: bool = False,
    say: Say = lambda _text: None,
) -> TwoStageProfiler:
    """The scenario's profiler alone, from the cache or trained and stored (the same file
    as `detection_models`'): for a closed loop whose autoencoder the run's own agents
    train once they are attested (`secmas.secagg.fedrun`)."""
    plan = plan or TrainingPlan.for_scenario(scenario)
    folder = (cache or cache_dir()) / "models"
    path = folder / f"{cache_key(scenario, plan)}-profiler.pt"
    profiler = None if retrain else _cached(path, TwoStageProfiler.load, say)
    if profiler is not None:
        say(f"profiler loaded from {path}")
        return profiler
    profiler = train_profiler(scenario, plan, say)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        profiler.save(path)
        say(f"profiler stored in {path}")
    except OSError as exc:
        say(f"profiler not cached ({exc.strerror}): {folder}")
    return profiler


def _cached(path: Path, load: Callable[[Path], T], say: Say) -> T | None:
    """The model stored at `path`, or None when there is none or it is unusable."""
    if not path.exists():
        return None
    try:
        return load(path)
    except ModelFileError as exc:
        say(f"cached model unusable, training again: {exc}")
        return None


def _step(scenario: Scenario) -> float:
    if scenario.traffic is None:
        raise ValueError(f"scenario {scenario.id!r} has no traffic to learn from")
    return scenario.traffic.step

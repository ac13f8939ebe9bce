"""Federated training of the anomaly detector across agents, with secure aggregation
(004_… Section 5: secure aggregation as the enabler of federated learning).
The agents' training (`federated_trainer`, `secmas detect train --federated`) sums over
the agents' bus (`bus_aggregator`: every message a signed envelope).

Each agent holds its own CNF telemetry (`secmas.analytics.datasets`) and never sends it;
together the agents train the LSTM autoencoder of `secmas.analytics.autoencoder` with
FedAvg (McMahan et al., "Communication-Efficient Learning of Deep Networks from
Decentralized Data", AISTATS 2017). Every quantity that crosses agents is a secure sum
(`secmas.secagg.run_secagg`, or MPC, or — for comparison only — in the clear):

1. the standardisation (`secure_scaler`): a unit per feature from the mean of the agents'
   log mean squares, then the weighted sums of their means, then of their squared
   deviations from the global mean: the global mean and standard deviation;
2. each round (`train_federated`): every agent starts from the global weights, trains
   `local_epochs` epochs on its own windows (Adam, MAE loss, as `train_autoencoder`),
   and contributes w_k·Δ_k and w_k (w_k = its window count / `weight_unit`); the global
   model moves by Σ w_k Δ_k / Σ w_k over the agents that survived the round;
3. the threshold: each agent's histogram of its windows' reconstruction errors (fixed
   log-spaced bins) is summed securely; the static threshold is the 99th percentile of the
   pooled histogram (the upper edge of its bin), and the adaptive one starts from
   quantiles of it.

The result is a `Detector` like one trained centrally; `central_detector` trains the
same model on the pooled data, and `window_f1` scores both on labelled series with
`secmas.analytics.events.score_events`, so the two F1 can be compared. `federated_trainer`
makes federated training the closed loop's way to train (`analytics.training: federated`).
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from torch import nn

from secmas.analytics.autoencoder import (
    Detector,
    LSTMAutoencoder,
    reconstruction_errors,
    train_autoencoder,
)
from secmas.analytics.events import score_events
from secmas.analytics.reference import DetectorTrainer, Say, TrainingPlan
from secmas.analytics.threshold import AdaptiveThreshold, StaticThreshold
from secmas.analytics.windows import Scaler, sliding
from secmas.secagg.agent import BusRun, aggregate_among
from secmas.secagg.mpc import run_mpc
from secmas.secagg.neighbours import ThreatModel
from secmas.secagg.quantise import Quantiser
from secmas.secagg.session import Identities, make_config, run_secagg
from secmas.transport.memory import MemoryBus

if TYPE_CHECKING:
    from secmas.scenario.model import Scenario

__all__ = [
    "AgentTelemetry",
    "Aggregator",
    "FederatedPlan",
    "FederatedResult",
    "RoundLog",
    "SecureSum",
    "agent_telemetry",
    "attack_runs",
    "bus_aggregator",
    "central_detector",
    "describe_round",
    "federated_trainer",
    "get_parameters",
    "mpc_aggregator",
    "plain_aggregator",
    "secagg_aggregator",
    "secure_scaler",
    "set_parameters",
    "train_federated",
    "window_f1",
]

ERROR_BINS = np.geomspace(1e-4, 1e3, 513)
"""Edges of the reconstruction-error histogram the agents sum securely (512 bins)."""

T = TypeVar("T")

COUNTS = Quantiser(clip=float(2**23 - 1), bits=24)
"""Integers (counts) summed exactly: scale 1."""


@dataclass(frozen=True)
class SecureSum:
    """A sum over the clients that survived, and what it cost."""

    total: np.ndarray
    clients: tuple[int, ...]
    seconds: float
    bytes: int
    clipped: int = 0


Aggregator = Callable[[Mapping[int, np.ndarray], Quantiser], SecureSum]
"""Sums the agents' vectors (agent → vector) with the given quantiser."""


def secagg_aggregator(
    threat: ThreatModel | None = None,
    *,
    sparse: bool = False,
    dropouts: Callable[[int], Mapping[int, Sequence[int]]] | None = None,
) -> Aggregator:
    """Sums by the centralised protocol (`run_secagg`); `dropouts(call)` may name, for
    each call, the agents that drop out in which round."""
    calls = [0]

    def aggregate(vectors: Mapping[int, np.ndarray], quantiser: Quantiser) -> SecureSum:
        began = time.perf_counter()
        drop = dropouts(calls[0]) if dropouts else None
        calls[0] += 1
        run = run_secagg(vectors, threat=threat, sparse=sparse, quantiser=quantiser, dropouts=drop)
        agg = run.aggregate
        return SecureSum(
            agg.total, agg.survivors, time.perf_counter() - began, run.bytes_total, agg.clipped
        )

    return aggregate


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion, on a thread of its own when a loop already runs."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def bus_aggregator(threat: ThreatModel | None = None, *, sparse: bool = False) -> Aggregator:
    """Sums by the centralised protocol among agents over the bus (`secmas.secagg.agent`):
    each agent a `ClientAgent` with its own identity key, every message a signed envelope
    on an in-memory bus, the server refusing spoofed and replayed ones."""
    identities: list[Identities] = []

    def aggregate(vectors: Mapping[int, np.ndarray], quantiser: Quantiser) -> SecureSum:
        began = time.perf_counter()
        ids = sorted(vectors)
        if not identities or sorted(identities[0].keys) != ids:
            identities[:] = [Identities.generate(ids)]
        length = len(np.asarray(next(iter(vectors.values()))))
        config, _ = make_config(ids, length, threat=threat, sparse=sparse, quantiser=quantiser)

        async def session() -> BusRun:
            bus = MemoryBus()
            try:
                return await aggregate_among(bus, vectors, config, identities[0])
            finally:
                await bus.close()

        run = _run(session())
        agg = run.aggregate
        return SecureSum(
            agg.total,
            agg.survivors,
            time.perf_counter() - began,
            run.bytes_sent + run.bytes_received,
            agg.clipped,
        )

    return aggregate


def mpc_aggregator(parties: int = 3, threat: ThreatModel | None = None) -> Aggregator:
    """Sums by MPC aggregation over `parties` computation parties (`run_mpc`)."""

    def aggregate(vectors: Mapping[int, np.ndarray], quantiser: Quantiser) -> SecureSum:
        began = time.perf_counter()
        run = run_mpc(vectors, parties=parties, threat=threat, quantiser=quantiser)
        agg = run.aggregate
        return SecureSum(
            agg.total, agg.survivors, time.perf_counter() - began, run.bytes_total, agg.clipped
        )

    return aggregate


def plain_aggregator() -> Aggregator:
    """Sums in the clear (no privacy: the baseline the secure sums are checked against)."""

    def aggregate(vectors: Mapping[int, np.ndarray], quantiser: Quantiser) -> SecureSum:
        began = time.perf_counter()
        total = np.sum([np.asarray(v, dtype=np.float64) for v in vectors.values()], axis=0)
        return SecureSum(total, tuple(sorted(vectors)), time.perf_counter() - began, 0)

    return aggregate


def get_parameters(model: nn.Module) -> np.ndarray:
    """All of a model's parameters as one float64 vector (state-dict order)."""
    return np.concatenate(
        [t.detach().cpu().numpy().astype(np.float64).ravel() for t in model.state_dict().values()]
    )


def set_parameters(model: nn.Module, vector: np.ndarray) -> None:
    """Load a vector made by `get_parameters` into the model."""
    state = model.state_dict()
    expected = sum(t.numel() for t in state.values())
    if len(vector) != expected:
        raise ValueError(f"{len(vector)} values for a model of {expected} parameters")
    offset = 0
    loaded = {}
    for name, tensor in state.items():
        size = tensor.numel()
        chunk = np.asarray(vector[offset : offset + size], dtype=np.float32)
        loaded[name] = torch.from_numpy(chunk.reshape(tuple(tensor.shape)).copy())
        offset += size
    model.load_state_dict(loaded)


@dataclass(frozen=True)
class FederatedPlan:
    """Sizes of federated training (the model's as `secmas.analytics.reference`).

    `clip` and `bits` quantise the weighted model updates; `weight_unit` divides an
    agent's window count into its FedAvg weight (at most 1).
    """

    rounds: int = 10
    local_epochs: int = 3
    batch: int = 50
    window: int = 10
    hidden: int = 32
    latent: int = 16
    learning_rate: float = 1e-3
    percentile: float = 99.0
    clip: float = 0.5
    bits: int = 24
    weight_unit: int = 10_000
    seed: int = 0

    @classmethod
    def of(cls, training: TrainingPlan, rounds: int, local_epochs: int, seed: int) -> FederatedPlan:
        """The model sizes of `training` (batch, window, hidden) trained in `rounds` FedAvg
        rounds of `local_epochs` epochs each."""
        return cls(
            rounds=rounds,
            local_epochs=local_epochs,
            batch=training.batch,
            window=training.window,
            hidden=training.hidden,
            seed=seed,
        )

    @property
    def quantiser(self) -> Quantiser:
        """How the weighted updates are quantised."""
        return Quantiser(self.clip, self.bits)


@dataclass(frozen=True)
class RoundLog:
    """One FedAvg round: the agents aggregated, training and aggregation seconds, bytes,
    and how many update values were clipped."""

    round: int
    agents: tuple[int, ...]
    train_seconds: float
    aggregate_seconds: float
    bytes: int
    clipped: int


@dataclass
class FederatedResult:
    """The federated detector and its training log."""

    detector: Detector
    rounds: list[RoundLog] = field(default_factory=list)
    scaler_bytes: int = 0
    threshold_bytes: int = 0

    @property
    def seconds(self) -> float:
        """Training plus aggregation time of all rounds."""
        return sum(r.train_seconds + r.aggregate_seconds for r in self.rounds)

    @property
    def bytes(self) -> int:
        """Everything the secure sums moved: scaler, every round, threshold."""
        return self.scaler_bytes + sum(r.bytes for r in self.rounds) + self.threshold_bytes


def secure_scaler(
    telemetry: Mapping[int, np.ndarray], aggregate: Aggregator, weight_unit: int = 10_000
) -> tuple[Scaler, int]:
    """The pooled data's standardisation from three secure sums (and their bytes).

    First the mean of the agents' log10 mean squares gives a public unit per feature
    (about the root mean square); then each agent sends w·mean/unit and w, with w its step
    count / `weight_unit`, which gives the global mean; then w·mean((x − mean)²)/unit², the
    global variance (centred, so no cancellation).
    """
    first = next(iter(telemetry.values()))
    features = np.asarray(first).shape[1]
    logs = {
        a: np.log10(np.maximum(np.mean(np.asarray(v, dtype=np.float64) ** 2, axis=0), 1e-12))
        for a, v in telemetry.items()
    }
    magnitude = aggregate(logs, Quantiser(clip=32.0, bits=24))
    unit = 10.0 ** (magnitude.total / len(magnitude.clients) / 2.0)
    scaled = {a: np.asarray(v, dtype=np.float64) / unit for a, v in telemetry.items()}
    weights = {a: len(v) / weight_unit for a, v in scaled.items()}
    if max(weights.values()) > 1:
        raise ValueError(f"an agent has more than weight_unit = {weight_unit} steps")
    means = aggregate(
        {a: np.append(weights[a] * v.mean(axis=0), weights[a]) for a, v in scaled.items()},
        Quantiser(clip=64.0, bits=44),
    )
    mean = means.total[:features] / means.total[-1]
    spreads = aggregate(
        {a: weights[a] * ((v - mean) ** 2).mean(axis=0) for a, v in scaled.items()},
        Quantiser(clip=64.0, bits=44),
    )
    std = np.sqrt(np.maximum(spreads.total / means.total[-1], 0.0))
    tiny = std <= 1e-9 * np.maximum(1.0, np.abs(mean))
    sent = magnitude.bytes + means.bytes + spreads.bytes
    return Scaler(mean * unit, np.where(tiny, 1.0, std * unit)), sent


def _local_training(
    model: LSTMAutoencoder, windows: torch.Tensor, plan: FederatedPlan, seed: int
) -> None:
    optimiser = torch.optim.Adam(model.parameters(), lr=plan.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(plan.local_epochs):
        order = torch.randperm(windows.shape[0], generator=generator)
        for start in range(0, windows.shape[0], plan.batch):
            chunk = windows[order[start : start + plan.batch]]
            optimiser.zero_grad()
            nn.functional.l1_loss(model(chunk), chunk).backward()
            optimiser.step()
    model.eval()


def _thresholds(
    errors: Mapping[int, np.ndarray], aggregate: Aggregator, percentile: float
) -> tuple[StaticThreshold, AdaptiveThreshold, int]:
    counts = {
        a: np.histogram(np.clip(e, ERROR_BINS[0], ERROR_BINS[-1]), ERROR_BINS)[0]
        for a, e in errors.items()
    }
    pooled = aggregate(counts, COUNTS)
    histogram = np.rint(pooled.total).astype(np.int64)
    cumulative = np.cumsum(histogram) / histogram.sum()
    limit = float(ERROR_BINS[1 + int(np.searchsorted(cumulative, percentile / 100.0))])
    adaptive = AdaptiveThreshold(percentile=percentile)
    levels = np.linspace(0.5 / adaptive.window, 1 - 0.5 / adaptive.window, adaptive.window)
    centres = np.sqrt(ERROR_BINS[:-1] * ERROR_BINS[1:])
    history = np.interp(levels, cumulative, centres)
    adaptive = AdaptiveThreshold(
        adaptive.window, adaptive.k, percentile, floor=limit, history=tuple(history)
    )
    return StaticThreshold(percentile, limit), adaptive, pooled.bytes


def train_federated(
    telemetry: Mapping[int, np.ndarray],
    features: Sequence[str],
    aggregate: Aggregator,
    plan: FederatedPlan | None = None,
    progress: Callable[[RoundLog], None] | None = None,
) -> FederatedResult:
    """FedAvg of the LSTM autoencoder over the agents' normal telemetry (agent → [T, F]),
    every exchange a secure sum by `aggregate`."""
    plan = plan or FederatedPlan()
    scaler, scaler_bytes = secure_scaler(telemetry, aggregate, plan.weight_unit)
    windows = {
        a: torch.from_numpy(sliding(scaler.transform(v), plan.window)) for a, v in telemetry.items()
    }
    for agent, w in windows.items():
        if w.shape[0] > plan.weight_unit:
            raise ValueError(f"agent {agent} has {w.shape[0]} windows, above weight_unit")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(plan.seed)
        model = LSTMAutoencoder(len(features), plan.hidden, plan.latent)
    weights = get_parameters(model)
    logs: list[RoundLog] = []
    for number in range(plan.rounds):
        began = time.perf_counter()
        updates = {}
        for agent, data in windows.items():
            local = LSTMAutoencoder(len(features), plan.hidden, plan.latent)
            set_parameters(local, weights)
            _local_training(local, data, plan, plan.seed * 1_000_003 + number * 1009 + agent)
            weight = data.shape[0] / plan.weight_unit
            updates[agent] = np.append(weight * (get_parameters(local) - weights), weight)
        trained = time.perf_counter() - began
        summed = aggregate(updates, plan.quantiser)
        weights = weights + summed.total[:-1] / summed.total[-1]
        log = RoundLog(
            number + 1, summed.clients, trained, summed.seconds, summed.bytes, summed.clipped
        )
        logs.append(log)
        if progress is not None:
            progress(log)
    set_parameters(model, weights)
    model.eval()
    errors = {a: reconstruction_errors(model, w.numpy()).mean(axis=1) for a, w in windows.items()}
    static, adaptive, threshold_bytes = _thresholds(errors, aggregate, plan.percentile)
    detector = Detector(model, scaler, features, plan.window, static, adaptive)
    return FederatedResult(detector, logs, scaler_bytes, threshold_bytes)


def central_detector(
    telemetry: Mapping[int, np.ndarray], features: Sequence[str], plan: FederatedPlan | None = None
) -> Detector:
    """The same model trained on all agents' windows pooled in one place (the baseline):
    rounds × local_epochs epochs, the scaler and thresholds from the pooled data."""
    plan = plan or FederatedPlan()
    pooled = np.concatenate([np.asarray(v, dtype=np.float64) for v in telemetry.values()])
    scaler = Scaler.fit(pooled)
    windows = np.concatenate(
        [sliding(scaler.transform(v), plan.window) for v in telemetry.values()]
    )
    trained = train_autoencoder(
        windows,
        epochs=plan.rounds * plan.local_epochs,
        batch=plan.batch,
        validation=0.0,
        seed=plan.seed,
        hidden=plan.hidden,
        latent=plan.latent,
        learning_rate=plan.learning_rate,
    )
    errors = reconstruction_errors(trained.model, windows).mean(axis=1)
    static = StaticThreshold(plan.percentile).calibrate(errors)
    adaptive = AdaptiveThreshold(percentile=plan.percentile).calibrate(errors)
    return Detector(trained.model, scaler, features, plan.window, static, adaptive, trained.history)


def window_f1(
    detector: Detector, series: Sequence[tuple[np.ndarray, np.ndarray]], step: float = 1.0
) -> dict[str, float]:
    """Window-level precision, recall and F1 pooled over labelled series [(values, labels)]
    (a window is anomalous when any step it holds is), static threshold."""
    tp = fp = fn = 0
    for values, labels in series:
        scores = detector.score(values)
        result = score_events(scores.flags, labels, step, ends=scores.end, span=detector.window)
        flagged, anomalous = result.flagged_windows, result.anomalous_windows
        hits = round(result.recall * anomalous)
        tp += hits
        fp += flagged - hits
        fn += anomalous - hits
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


TELEMETRY_SEED = 2_000_003
"""Agents' telemetry seeds are the scenario's seed plus this plus the agent's index
(the live run and the cached central models never use them)."""
TEST_SEED = 3_000_017
"""Held-out attack runs' seeds: the scenario's seed plus this plus the run's index."""


@dataclass(frozen=True)
class AgentTelemetry:
    """Each agent's own normal telemetry (agent index → [T, F]), who the agents are (their
    PoPs, by index), the metric names and the CNF watched."""

    values: dict[int, np.ndarray]
    pops: tuple[str, ...]
    features: tuple[str, ...]
    cnf: str


def agent_telemetry(
    scenario: Scenario, samples: int, window: int, seconds: float | None = None
) -> AgentTelemetry:
    """One agent per PoP of `scenario`, each with its own simulated run of the scenario's
    CNF in normal operation (`normal_series`: no attack, no incident, the routine
    reconfigurations on random PoPs; a seed of its own), long enough that the agents
    together hold `samples` windows of `window` steps — or `seconds` each when given.
    Nothing of one agent's series is visible to another: only secure sums leave it."""
    from secmas.analytics.datasets import normal_series

    pops = tuple(p.id for p in scenario.pops)
    if len(pops) < 2:
        raise ValueError(
            f"scenario {scenario.id!r} has {len(pops)} PoP: federated training needs at "
            "least two agents"
        )
    if not scenario.cnfs:
        raise ValueError(f"scenario {scenario.id!r} has no CNF whose telemetry to learn")
    if scenario.traffic is None:
        raise ValueError(f"scenario {scenario.id!r} has no traffic section to simulate")
    step = scenario.traffic.step
    if seconds is None:
        seconds = (math.ceil(samples / len(pops)) + window - 1) * step
    if seconds < window * step:
        raise ValueError(f"{seconds:g} s per agent is shorter than one window of {window} steps")
    values, features = {}, ()
    for index in range(len(pops)):
        series = normal_series(scenario, seconds, scenario.seed + TELEMETRY_SEED + index)
        values[index], features = series.values, tuple(series.features)
    return AgentTelemetry(values, pops, features, scenario.cnfs[0].id)


def attack_runs(
    scenario: Scenario, runs: int = 2, seconds: float = 900.0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Held-out labelled runs (values, per-step labels) of the scenario's CNF with episodes
    of every attack kind, on seeds no training run uses: what `window_f1` scores."""
    from secmas.analytics.datasets import episode_series
    from secmas.network.dataplane.cnf import ATTACK_CONDITIONS

    out = []
    for index in range(runs):
        series = episode_series(
            scenario, ATTACK_CONDITIONS, scenario.seed + TEST_SEED + index, seconds=seconds
        )
        out.append((series.values, series.labels))
    return out


def describe_round(log: RoundLog, rounds: int) -> str:
    """One line of progress for a FedAvg round."""
    clipped = f"  {log.clipped} values clipped" if log.clipped else ""
    return (
        f"round {log.round:>3}/{rounds}  {len(log.agents)} agents  "
        f"train {log.train_seconds:.1f} s  secure sum {log.aggregate_seconds:.2f} s "
        f"{log.bytes / 1e3:.0f} kB{clipped}"
    )


def federated_trainer(rounds: int = 10, threat: ThreatModel | None = None) -> DetectorTrainer:
    """The closed loop's autoencoder trained by the agents themselves: each PoP's agent
    on its own normal telemetry (`agent_telemetry`, together `plan.samples` windows),
    FedAvg over `rounds` rounds of about `plan.epochs / rounds` local epochs, every
    exchange a secure sum under `threat` (default: no corrupt agent, 20 % may drop)."""
    threat = threat or ThreatModel(corrupt=0.0, dropout=0.2)

    def train(scenario: Scenario, plan: TrainingPlan, say: Say) -> Detector:
        data = agent_telemetry(scenario, plan.samples, plan.window)
        federated = FederatedPlan.of(
            plan, rounds, max(1, round(plan.epochs / rounds)), scenario.seed
        )
        say(
            f"training the LSTM autoencoder federated: {len(data.values)} agents, each on "
            f"its own {len(data.values[0])} steps of normal telemetry; {rounds} FedAvg rounds "
            f"× {federated.local_epochs} local epochs, every exchange a secure sum"
        )
        result = train_federated(
            data.values,
            data.features,
            bus_aggregator(threat),
            federated,
            lambda log: say(describe_round(log, rounds)),
        )
        say(f"federated training done: the secure sums moved {result.bytes / 1e6:.1f} MB")
        return result.detector

    return DetectorTrainer(f"federated{rounds}", train, (sys.modules[__name__],))

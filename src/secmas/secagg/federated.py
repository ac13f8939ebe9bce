"""Federated training of the anomaly detector across agents, with secure aggregation
(004_… Section 5: secure aggregation as the enabler of federated learning).
The agents' training (`federated_trainer`, `secmas detect train --federated`) sums over
the agents' bus (`bus_aggregator`: every message a signed envelope); with attested agent
processes over their secure channel see `secmas.secagg.fedrun` and `secmas.api.training`.

Each agent holds its own CNF telemetry (`secmas.analytics.datasets`) and never sends it;
together the agents train the LSTM autoencoder of `secmas.analytics.autoencoder` with
FedAvg (McMahan et al., "Communication-Efficient Learning of Deep Networks from
Decentralized Data", AISTATS 2017). The coordinator (`run_federated`) asks for each
quantity as a `Task` (`secmas.secagg.tasks`); every agent's `LocalLearner`
(`secmas.secagg.learner`) answers it and the answers are summed by a `Federation`: in
this process (`local_federation` over an `Aggregator`: `run_secagg`, the bus, MPC, or —
for comparison only — in the clear), or among agents over their secure channel
(`fedbus.ChannelFederation`).

1. the standardisation (`_scaler`): a unit per feature from the mean of the agents'
   log mean squares, then the weighted sums of their means, then of their squared
   deviations from the global mean: the global mean and standard deviation;
2. each round: every agent starts from the global weights, trains `local_epochs` epochs
   on its own windows (Adam, MAE loss, as `train_autoencoder`) and contributes its change
   clipped to L2 norm B = `plan.clip`, and a 1; the global model moves by their mean
   over the agents that survived the round (`bounded_step`: every agent counts alike, so
   no claimed data size is a lever), or stays where it was when the sum is beyond what n
   clipped updates can make (poisoning detected, though not by whom);
3. the threshold: each agent's histogram of its windows' reconstruction errors (fixed
   log-spaced bins) is summed securely; the static threshold is the 99th percentile of the
   pooled histogram (the upper edge of its bin), and the adaptive one starts from
   quantiles of it. With `evaluate` this happens after every round, and the round's
   global model is scored (window F1 on held-out labelled data), so convergence shows.

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
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

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
from secmas.secagg.errors import OutputRangeError
from secmas.secagg.learner import LocalLearner, get_parameters, global_model, set_parameters
from secmas.secagg.mpc import run_mpc
from secmas.secagg.neighbours import ThreatModel
from secmas.secagg.quantise import Quantiser
from secmas.secagg.robust import RobustOptions, robust_mpc
from secmas.secagg.session import Identities, make_config, run_secagg
from secmas.secagg.tasks import ERROR_BINS, FederatedPlan, Task
from secmas.transport.memory import MemoryBus

if TYPE_CHECKING:
    from secmas.scenario.model import Scenario

__all__ = [
    "ERROR_BINS",
    "AgentTelemetry",
    "Aggregator",
    "FederatedPlan",
    "FederatedResult",
    "Federation",
    "RoundLog",
    "SecureSum",
    "agent_telemetry",
    "attack_runs",
    "bounded_step",
    "bus_aggregator",
    "central_detector",
    "describe_round",
    "federated_trainer",
    "get_parameters",
    "local_federation",
    "mpc_aggregator",
    "own_telemetry",
    "plain_aggregator",
    "robust_aggregator",
    "run_federated",
    "secagg_aggregator",
    "secure_scaler",
    "set_parameters",
    "telemetry_seconds",
    "train_federated",
    "window_f1",
]

T = TypeVar("T")

COUNTS = Quantiser(clip=float(2**23 - 1), bits=24)
"""Integers (counts) summed exactly: scale 1."""


@dataclass(frozen=True)
class SecureSum:
    """A sum over the clients that survived, and what it cost: its seconds (the agents'
    time on their contributions apart, `prepare_seconds`, or None where they compute
    inside the sum, as agent processes do), bytes, values clipped, and how
    many of the clients' vectors the engine refused (left out of `total`) over its norm
    bound, without saying whose."""

    total: np.ndarray
    clients: tuple[int, ...]
    seconds: float
    bytes: int
    clipped: int = 0
    refused: int = 0
    prepare_seconds: float | None = 0.0


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


def robust_aggregator(plan: FederatedPlan, threat: ThreatModel | None = None) -> Aggregator:
    """Sums by MPC between two computation parties; the model updates (the sums quantised
    as `plan.quantiser` says) with norm bounding under MPC (`secmas.secagg.robust`): a
    vector whose L2 norm exceeds that of a clipped update and its count, √(B² + 1), is
    zeroed while secret-shared and only how many were is opened (`SecureSum.refused`).
    A boosted update is thus left out by the engine itself, and counted, not named."""
    options = RobustOptions(norm_bound=float(np.hypot(plan.clip, 1.0)))
    plain = mpc_aggregator(parties=2, threat=threat)

    def aggregate(vectors: Mapping[int, np.ndarray], quantiser: Quantiser) -> SecureSum:
        if quantiser != plan.quantiser:
            return plain(vectors, quantiser)
        began = time.perf_counter()
        result = robust_mpc(vectors, options, threat=threat, quantiser=quantiser)
        return SecureSum(
            result.mean * max(result.kept, 1),
            result.clients,
            time.perf_counter() - began,
            result.bytes_parties + result.bytes_dealer,
            result.clipped,
            len(result.clients) - result.kept,
        )

    return aggregate


def plain_aggregator() -> Aggregator:
    """Sums in the clear (no privacy: the baseline the secure sums are checked against)."""

    def aggregate(vectors: Mapping[int, np.ndarray], quantiser: Quantiser) -> SecureSum:
        began = time.perf_counter()
        total = np.sum([np.asarray(v, dtype=np.float64) for v in vectors.values()], axis=0)
        return SecureSum(total, tuple(sorted(vectors)), time.perf_counter() - began, 0)

    return aggregate


Federation = Callable[[Task, Quantiser], SecureSum]
"""Asks every agent for its contribution to a task and sums the answers securely."""


def local_federation(learners: Mapping[int, LocalLearner], aggregate: Aggregator) -> Federation:
    """The agents' learners in this process (`LocalLearner`), summed by `aggregate`; the
    sum's `prepare_seconds` is the agents' time on their contributions."""

    def federation(task: Task, quantiser: Quantiser) -> SecureSum:
        began = time.perf_counter()
        vectors = {a: learner.contribute(task) for a, learner in learners.items()}
        prepared = time.perf_counter() - began
        return replace(aggregate(vectors, quantiser), prepare_seconds=prepared)

    return federation


@dataclass(frozen=True)
class RoundLog:
    """One FedAvg round: the agents aggregated, their training seconds (None where they
    train inside the secure sum, as processes) and the aggregation seconds,
    bytes, how many update values were clipped, how many updates the engine refused
    over its norm bound, the global model's window F1 and static threshold (the 99th
    percentile of the agents' reconstruction errors: it falls as the model learns) after
    the round when evaluated, why the round was not applied (empty when it was) and how
    far the global model moved (the L2 norm of its step: 0 when not applied)."""

    round: int
    agents: tuple[int, ...]
    train_seconds: float | None
    aggregate_seconds: float
    bytes: int
    clipped: int
    refused: int = 0
    f1: float | None = None
    rejected: str = ""
    threshold: float | None = None
    moved: float = 0.0


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
        return sum((r.train_seconds or 0.0) + r.aggregate_seconds for r in self.rounds)

    @property
    def bytes(self) -> int:
        """Everything the secure sums moved: scaler, every round, thresholds."""
        return self.scaler_bytes + sum(r.bytes for r in self.rounds) + self.threshold_bytes

    @property
    def f1(self) -> list[float]:
        """The global model's window F1 after each round (empty when not evaluated)."""
        return [r.f1 for r in self.rounds if r.f1 is not None]


def _scaler(federation: Federation, plan: FederatedPlan) -> tuple[Scaler, int]:
    """The pooled data's standardisation from three secure sums (and their bytes).

    First the mean of the agents' log10 mean squares gives a public unit per feature
    (about the root mean square); then each agent sends w·mean/unit and w, with w its step
    count / `weight_unit`, which gives the global mean; then w·mean((x − mean)²)/unit², the
    global variance (centred, so no cancellation).
    """
    magnitude = federation(Task("magnitude", plan), Quantiser(clip=32.0, bits=24))
    unit = 10.0 ** (magnitude.total / len(magnitude.clients) / 2.0)
    features = len(unit)
    means = federation(Task("mean", plan, unit=unit), Quantiser(clip=64.0, bits=44))
    mean = means.total[:features] / means.total[-1]
    spreads = federation(Task("spread", plan, unit=unit, mean=mean), Quantiser(64.0, bits=44))
    std = np.sqrt(np.maximum(spreads.total / means.total[-1], 0.0))
    tiny = std <= 1e-9 * np.maximum(1.0, np.abs(mean))
    sent = magnitude.bytes + means.bytes + spreads.bytes
    return Scaler(mean * unit, np.where(tiny, 1.0, std * unit)), sent


def secure_scaler(
    telemetry: Mapping[int, np.ndarray], aggregate: Aggregator, weight_unit: int = 10_000
) -> tuple[Scaler, int]:
    """The pooled standardisation of the agents' telemetry (agent → [T, F]) from three
    secure sums by `aggregate` (see `_scaler`), and their bytes."""
    learners = {a: LocalLearner(a, v) for a, v in telemetry.items()}
    return _scaler(local_federation(learners, aggregate), FederatedPlan(weight_unit=weight_unit))


def _thresholds(
    federation: Federation, task: Task, percentile: float
) -> tuple[StaticThreshold, AdaptiveThreshold, int]:
    pooled = federation(task, COUNTS)
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


def bounded_step(summed: SecureSum, plan: FederatedPlan) -> tuple[np.ndarray | None, str]:
    """The global model's step from a round's sum of clipped updates (each followed by a 1),
    or None and why the sum is refused.

    Each of the n agents summed clips its update to L2 norm B = `plan.clip`, so their sum
    has norm at most n·B (plus the quantisation error) and counts n. A sum that does not
    is poisoned: some registered client sent an update beyond the bound (Bonawitz et al.'s
    masking hides which, so the round is refused whole). One within it moves the model by
    at most B, whoever sent what: the mean of the n updates.
    """
    count = len(summed.clients) - summed.refused
    if count < 1:
        return None, "no update was summed"
    updates, counted = summed.total[:-1], float(summed.total[-1])
    if abs(counted - count) > 0.5:
        return None, (
            f"poisoned: the updates' counts sum to {counted:.6g}, not the {count} agents "
            "summed (secure aggregation hides who sent which)"
        )
    norm = float(np.linalg.norm(updates))
    slack = plan.quantiser.error_bound(count) * np.sqrt(len(updates))
    if norm > count * plan.clip + slack:
        return None, (
            f"poisoned: the sum of {count} updates has L2 norm {norm:.4g}, beyond {count} × "
            f"the bound {plan.clip:g}: a registered client sent an update over the bound "
            "(secure aggregation hides which)"
        )
    return updates / count, ""


def run_federated(
    federation: Federation,
    features: Sequence[str],
    plan: FederatedPlan | None = None,
    progress: Callable[[RoundLog], None] | None = None,
    evaluate: Callable[[Detector], float] | None = None,
) -> FederatedResult:
    """FedAvg of the LSTM autoencoder, every exchange a secure sum by `federation`.

    Each round every agent trains from the global weights and contributes its update
    clipped to `plan.clip`; the global model moves by their mean (`bounded_step`), or
    stays where it was when the sum is poisoned (the round's log says why). With
    `evaluate` (a detector → its window F1 on held-out labelled data) the agents also sum
    their error histograms after every round, so each round has a threshold and an F1.
    """
    plan = plan or FederatedPlan()
    scaler, scaler_bytes = _scaler(federation, plan)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(plan.seed)
        weights = get_parameters(LSTMAutoencoder(len(features), plan.hidden, plan.latent))
    logs: list[RoundLog] = []
    threshold_bytes = 0
    thresholds = None
    for number in range(1, plan.rounds + 1):
        began = time.perf_counter()
        task = Task("update", plan, number, scaler=scaler, weights=weights)
        try:
            summed = federation(task, plan.quantiser)
            step, rejected = bounded_step(summed, plan)
        except OutputRangeError as exc:  # a forged masked input: the sum itself is refused
            summed = SecureSum(np.zeros(0), (), 0.0, 0)
            step, rejected = None, f"poisoned: {exc}"
        elapsed = time.perf_counter() - began
        weights = weights if step is None else weights + step
        thresholds, f1 = None, None
        if evaluate is not None:
            thresholds = _thresholds(
                federation, Task("errors", plan, number, scaler=scaler, weights=weights),
                plan.percentile,
            )  # fmt: skip
            threshold_bytes += thresholds[2]
            model = global_model(len(features), plan, weights)
            f1 = evaluate(Detector(model, scaler, features, plan.window, *thresholds[:2]))
        log = RoundLog(
            number,
            summed.clients,
            summed.prepare_seconds,
            elapsed - (summed.prepare_seconds or 0.0),
            summed.bytes,
            summed.clipped,
            summed.refused,
            f1,
            rejected,
            None if thresholds is None else thresholds[0].value,
            0.0 if step is None else float(np.linalg.norm(step)),
        )
        logs.append(log)
        if progress is not None:
            progress(log)
    if thresholds is None:
        thresholds = _thresholds(
            federation, Task("errors", plan, plan.rounds, scaler=scaler, weights=weights),
            plan.percentile,
        )  # fmt: skip
        threshold_bytes += thresholds[2]
    model = global_model(len(features), plan, weights)
    detector = Detector(model, scaler, features, plan.window, *thresholds[:2])
    return FederatedResult(detector, logs, scaler_bytes, threshold_bytes)


def train_federated(
    telemetry: Mapping[int, np.ndarray],
    features: Sequence[str],
    aggregate: Aggregator,
    plan: FederatedPlan | None = None,
    progress: Callable[[RoundLog], None] | None = None,
    evaluate: Callable[[Detector], float] | None = None,
) -> FederatedResult:
    """`run_federated` with the agents' learners in this process, each on its own normal
    telemetry (agent → [T, F]), their vectors summed by `aggregate`."""
    learners = {a: LocalLearner(a, v) for a, v in telemetry.items()}
    return run_federated(local_federation(learners, aggregate), features, plan, progress, evaluate)


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
        seconds = telemetry_seconds(scenario, samples, window)
    if seconds < window * step:
        raise ValueError(f"{seconds:g} s per agent is shorter than one window of {window} steps")
    values, features = {}, ()
    for index in range(len(pops)):
        values[index], features = own_telemetry(scenario, index, seconds)
    return AgentTelemetry(values, pops, features, scenario.cnfs[0].id)


def telemetry_seconds(scenario: Scenario, samples: int, window: int) -> float:
    """Seconds of telemetry per agent so that the scenario's agents (one per PoP)
    together hold `samples` windows of `window` steps."""
    step = scenario.traffic.step if scenario.traffic is not None else 1.0
    return (math.ceil(samples / max(len(scenario.pops), 1)) + window - 1) * step


def own_telemetry(
    scenario: Scenario, index: int, seconds: float
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Agent `index`'s own normal run of the scenario's CNF, `seconds` long, on a seed
    of its own (what its process simulates for itself), and the metric names."""
    from secmas.analytics.datasets import normal_series

    series = normal_series(scenario, seconds, scenario.seed + TELEMETRY_SEED + index)
    return series.values, tuple(series.features)


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
    """One line of progress for a FedAvg round (its F1 when evaluated, why it was refused
    when it was)."""
    clipped = f"  {log.clipped} values clipped" if log.clipped else ""
    refused = f"  {log.refused} updates over the norm bound left out" if log.refused else ""
    train = "" if log.train_seconds is None else f"train {log.train_seconds:.1f} s  "
    f1 = f"  F1 {log.f1:.3f}" if log.f1 is not None else ""
    f1 += f"  threshold {log.threshold:.4g}" if log.threshold is not None else ""
    rejected = f"  NOT APPLIED: {log.rejected}" if log.rejected else ""
    return (
        f"round {log.round:>3}/{rounds}  {len(log.agents)} agents  "
        f"{train}secure sum {log.aggregate_seconds:.2f} s "
        f"{log.bytes / 1e3:.0f} kB{clipped}{refused}{f1}{rejected}"
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

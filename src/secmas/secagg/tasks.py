"""What the coordinator of federated training asks each agent to contribute to one secure
sum, and how that request travels between processes.

A `Task` names the quantity (the steps of 004_… Section 5's federated learning as
`secmas.secagg.federated` runs them: the scaler's three sums, a FedAvg round's update,
the reconstruction-error histogram) and carries the public state it depends on (the
plan, the unit and mean of the scaler's sums, the scaler, the global weights). It holds
nothing of any agent's telemetry. Between processes it is one JSON object (format
`secmas.fedavg-task/1`), arrays as base64 of little-endian float64, bound to the secure
aggregation session that sums the answers (`session`), so an agent answers a session
with the task sent for it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, cast, get_args

import numpy as np

from secmas.analytics.reference import TrainingPlan
from secmas.analytics.windows import Scaler
from secmas.secagg.quantise import Quantiser

__all__ = ["ERROR_BINS", "FORMAT", "FederatedPlan", "Kind", "Task", "TaskError"]

ERROR_BINS = np.geomspace(1e-4, 1e3, 513)
"""Edges of the reconstruction-error histogram the agents sum securely (512 bins)."""

FORMAT = "secmas.fedavg-task/1"
Kind = Literal["magnitude", "mean", "spread", "update", "errors", "stop"]
KINDS: tuple[str, ...] = get_args(Kind)
MAX_VALUES = 1 << 22
"""Most float64 values one array of a task may hold (32 MiB): far above any model here."""


class TaskError(ValueError):
    """A task that cannot be read: what is wrong and where."""


@dataclass(frozen=True)
class FederatedPlan:
    """Sizes of federated training (the model's as `secmas.analytics.reference`).

    `clip` is the bound B on the L2 norm of each agent's model update: every agent clips
    its own (`secmas.secagg.robust.clip_norm`) before it is summed, so a round's sum of n
    honest updates has a norm of at most n·B, and the coordinator refuses a sum beyond it
    (Sun et al., "Can You Really Backdoor Federated Learning?", 2019: norm bounding).
    `bits` quantise the updates; `weight_unit` divides an agent's step count into its
    weight in the scaler's sums (at most 1).
    """

    rounds: int = 10
    local_epochs: int = 3
    batch: int = 50
    window: int = 10
    hidden: int = 32
    latent: int = 16
    learning_rate: float = 1e-3
    percentile: float = 99.0
    clip: float = 3.0
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
        """How an update (values within ±B) and its count (1) are quantised."""
        return Quantiser(max(self.clip, 1.0), self.bits)


@dataclass(frozen=True, eq=False)
class Task:
    """One contribution asked of every agent: `kind`, the FedAvg `round` (updates and
    histograms), and the public state it needs."""

    kind: Kind
    plan: FederatedPlan
    round: int = 0
    unit: np.ndarray | None = None
    mean: np.ndarray | None = None
    scaler: Scaler | None = None
    weights: np.ndarray | None = None

    def length(self, features: int) -> int:
        """How many values each agent's answer has (the secure sum's length)."""
        if self.kind in ("magnitude", "spread"):
            return features
        if self.kind == "mean":
            return features + 1
        if self.kind == "update":
            return len(self.needs("weights")) + 1
        if self.kind == "errors":
            return len(ERROR_BINS) - 1
        return 0

    def needs(self, name: str) -> np.ndarray:
        """The array `name` this task must carry (TaskError when it does not)."""
        value = self.scaler if name == "scaler" else getattr(self, name)
        if value is None:
            raise TaskError(f"a {self.kind!r} task without its {name}")
        return cast(np.ndarray, value)

    def to_bytes(self, session: bytes) -> bytes:
        """The task for the secure aggregation `session`, as one JSON object."""
        arrays = {
            "unit": self.unit,
            "mean": self.mean,
            "weights": self.weights,
            "scaler_mean": None if self.scaler is None else self.scaler.mean,
            "scaler_scale": None if self.scaler is None else self.scaler.scale,
        }
        document = {
            "format": FORMAT,
            "session": session.hex(),
            "kind": self.kind,
            "round": self.round,
            "plan": asdict(self.plan),
            **{k: _encode(v) for k, v in arrays.items() if v is not None},
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> tuple[bytes, Task]:
        """(session, task) from `to_bytes`'s output; TaskError names what is wrong."""
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TaskError(f"a task that is not JSON: {exc}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise TaskError(f"a task whose format is not {FORMAT!r}")
        kind = document.get("kind")
        if kind not in KINDS:
            raise TaskError(f"task kind {kind!r} is not one of {', '.join(KINDS)}")
        try:
            session = bytes.fromhex(str(document["session"]))
            number = int(document.get("round", 0))
            plan = _plan(document["plan"])
        except (KeyError, ValueError, TypeError) as exc:
            raise TaskError(f"a {kind!r} task with a bad session or plan: {exc}") from None
        arrays = {k: _decode(document, k) for k in ("unit", "mean", "weights", "scaler_mean")}
        scale = _decode(document, "scaler_scale")
        scaler = None
        if arrays["scaler_mean"] is not None or scale is not None:
            try:
                scaler = Scaler(arrays["scaler_mean"], scale)  # type: ignore[arg-type]
            except ValueError as exc:
                raise TaskError(f"task scaler: {exc}") from None
        task = cls(kind, plan, number, arrays["unit"], arrays["mean"], scaler, arrays["weights"])
        return session, task


def _plan(raw: Any) -> FederatedPlan:
    if not isinstance(raw, dict):
        raise TypeError("the plan is not an object")
    kinds = {f.name: f.type for f in fields(FederatedPlan)}
    unknown = set(raw) - set(kinds)
    if unknown:
        raise ValueError(f"unknown plan fields {sorted(unknown)}")
    values = {k: (float(v) if kinds[k] == "float" else int(v)) for k, v in raw.items()}
    return FederatedPlan(**values)  # type: ignore[arg-type]


def _encode(array: np.ndarray) -> str:
    return base64.b64encode(np.asarray(array, dtype="<f8").tobytes()).decode()


def _decode(document: dict[str, Any], key: str) -> np.ndarray | None:
    raw = document.get(key)
    if raw is None:
        return None
    try:
        data = base64.b64decode(str(raw), validate=True)
    except ValueError:
        raise TaskError(f"task field {key!r} is not base64") from None
    if len(data) % 8 or len(data) > 8 * MAX_VALUES:
        raise TaskError(f"task field {key!r}: {len(data)} bytes are not float64 values")
    values = np.frombuffer(data, dtype="<f8").astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise TaskError(f"task field {key!r} holds values that are not finite")
    return values

"""One agent's side of federated training: its own telemetry, and its answer to each task.

The agent keeps its normal telemetry [T, F] to itself; for every `Task` the coordinator
sends it computes the vector it feeds into that task's secure sum (004_… Section 5;
FedAvg: McMahan et al., AISTATS 2017):

- `magnitude`: the log10 mean square of each feature (a public unit per feature);
- `mean`, `spread`: w·mean(x/unit) and w, then w·mean((x/unit − mean)²), w its step count
  over `plan.weight_unit` (the pooled mean and variance);
- `update`: from the global weights, `plan.local_epochs` epochs of Adam on its own
  standardised windows (MAE loss, as `train_autoencoder`); the change clipped to L2 norm
  `plan.clip` (`clip_norm`: norm bounding, Sun et al. 2019), then a 1 (it counts once);
- `errors`: the histogram of its windows' reconstruction errors under the global
  weights (fixed log-spaced bins, `ERROR_BINS`).

The same `LocalLearner` answers in the coordinator's process (`local_federation`) and in
an agent process of its own (`secmas.secagg.fedbus`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from secmas.analytics.autoencoder import LSTMAutoencoder, reconstruction_errors
from secmas.analytics.windows import Scaler, sliding
from secmas.secagg.robust import clip_norm
from secmas.secagg.tasks import ERROR_BINS, FederatedPlan, Task, TaskError

__all__ = ["LocalLearner", "get_parameters", "global_model", "set_parameters"]


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


def global_model(features: int, plan: FederatedPlan, weights: np.ndarray) -> LSTMAutoencoder:
    """The plan's autoencoder over `features` metrics holding `weights`, in eval mode."""
    model = LSTMAutoencoder(features, plan.hidden, plan.latent)
    set_parameters(model, weights)
    return model.eval()


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


class LocalLearner:
    """Agent `agent`'s telemetry [T, F] and its answers to the coordinator's tasks."""

    def __init__(self, agent: int, values: np.ndarray) -> None:
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 2 or array.shape[0] == 0:
            raise ValueError(f"agent {agent}: telemetry must be [T, F], got {array.shape}")
        self.agent = agent
        self._values = array
        self._windows: tuple[bytes, torch.Tensor] | None = None

    @property
    def features(self) -> int:
        """How many metrics the telemetry has."""
        return int(self._values.shape[1])

    def contribute(self, task: Task) -> np.ndarray:
        """This agent's vector for `task`'s secure sum (TaskError when the task lacks what
        its kind needs, ValueError when this agent's data does not fit the plan)."""
        plan = task.plan
        if task.kind == "magnitude":
            return np.log10(np.maximum(np.mean(self._values**2, axis=0), 1e-12))
        if task.kind == "mean":
            scaled = self._values / task.needs("unit")
            weight = self._weight(plan)
            return np.append(weight * scaled.mean(axis=0), weight)
        if task.kind == "spread":
            scaled = self._values / task.needs("unit")
            return self._weight(plan) * ((scaled - task.needs("mean")) ** 2).mean(axis=0)
        if task.kind == "update":
            return self._update(task)
        if task.kind == "errors":
            model = self._model(task)
            errors = reconstruction_errors(model, self.windows(task).numpy()).mean(axis=1)
            clipped = np.clip(errors, ERROR_BINS[0], ERROR_BINS[-1])
            return np.histogram(clipped, ERROR_BINS)[0].astype(np.float64)
        raise TaskError(f"agent {self.agent}: a {task.kind!r} task has nothing to sum")

    def _weight(self, plan: FederatedPlan) -> float:
        weight = len(self._values) / plan.weight_unit
        if weight > 1:
            raise ValueError(
                f"agent {self.agent} has {len(self._values)} steps, above weight_unit "
                f"= {plan.weight_unit}"
            )
        return weight

    def windows(self, task: Task) -> torch.Tensor:
        """This agent's windows standardised by the task's scaler (kept while it holds)."""
        scaler: Scaler = task.needs("scaler")  # type: ignore[assignment]
        key = scaler.mean.tobytes() + scaler.scale.tobytes() + bytes([task.plan.window])
        if self._windows is None or self._windows[0] != key:
            windows = sliding(scaler.transform(self._values), task.plan.window)
            self._windows = key, torch.from_numpy(windows)
        return self._windows[1]

    def _model(self, task: Task) -> LSTMAutoencoder:
        return global_model(self.features, task.plan, task.needs("weights"))

    def _update(self, task: Task) -> np.ndarray:
        plan = task.plan
        windows = self.windows(task)
        weights = task.needs("weights")
        model = self._model(task)
        seed = plan.seed * 1_000_003 + (task.round - 1) * 1009 + self.agent
        _local_training(model, windows, plan, seed)
        change = clip_norm(get_parameters(model) - weights, plan.clip)
        return np.append(change, 1.0)

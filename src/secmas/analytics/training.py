"""The minibatch training loop the profiler's and the forecaster's networks share."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from secmas.analytics.threads import limit_torch_threads

EpochDone = Callable[[int, float, float], None]
"""Told (epoch, mean training loss, validation loss or NaN) after every epoch."""


def minibatches(
    count: int, batch: int, generator: torch.Generator | None = None
) -> Iterator[torch.Tensor]:
    """Index tensors covering `count` samples once, in a random order, `batch` at a time.

    A batch of a single sample is widened by the sample before it: BatchNorm layers cannot
    train on one sample (the profiler's and the forecaster's networks have them).
    """
    order = torch.randperm(count, generator=generator)
    for start in range(0, count, batch):
        index = order[start : start + batch]
        if len(index) < 2 and count >= 2:
            index = order[start - 1 : start + 1] if start else order[:2]
        yield index


@dataclass
class Losses:
    """Mean loss of every epoch on the training data and on the validation data (NaN
    without validation data)."""

    train: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)


def fit(
    model: nn.Module,
    loss_fn: nn.Module,
    optimiser: torch.optim.Optimizer,
    data: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int,
    batch: int,
    generator: torch.Generator | None = None,
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
    on_epoch: EpochDone | None = None,
) -> Losses:
    """Train `model` on (inputs, targets) for `epochs` passes of shuffled minibatches.

    With `validation` data the weights of the epoch with the lowest validation loss are
    kept (early stopping without stopping: `epochs` is a ceiling). The model is left in
    evaluation mode.
    """
    limit_torch_threads()
    x, y = data
    losses = Losses()
    best, best_state = math.inf, None
    for epoch in range(1, epochs + 1):
        model.train()
        total = 0.0
        for index in minibatches(len(x), batch, generator):
            optimiser.zero_grad()
            loss = loss_fn(model(x[index]), y[index])
            loss.backward()
            optimiser.step()
            total += loss.item() * len(index)
        losses.train.append(total / len(x))
        checked = math.nan
        if validation is not None and len(validation[0]):
            model.eval()
            with torch.no_grad():
                checked = float(loss_fn(model(validation[0]), validation[1]))
            if checked < best:
                best, best_state = checked, copy.deepcopy(model.state_dict())
        losses.validation.append(checked)
        if on_epoch is not None:
            on_epoch(epoch, losses.train[-1], checked)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return losses

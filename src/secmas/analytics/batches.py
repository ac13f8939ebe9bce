"""Shuffled minibatches for the analytics models' training loops."""

from __future__ import annotations

from collections.abc import Iterator

import torch


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

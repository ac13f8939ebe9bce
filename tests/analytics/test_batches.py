"""Minibatches for training (secmas.analytics.batches)."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from secmas.analytics.batches import minibatches


@given(st.integers(2, 200), st.integers(1, 64))
def test_every_sample_once_and_no_batch_of_one(count, batch):
    batches = list(minibatches(count, batch, torch.Generator().manual_seed(0)))
    assert all(len(b) >= 2 for b in batches)
    covered = torch.cat(batches).unique()
    assert len(covered) == count


def test_the_order_follows_the_generator():
    first = list(minibatches(10, 4, torch.Generator().manual_seed(3)))
    again = list(minibatches(10, 4, torch.Generator().manual_seed(3)))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))

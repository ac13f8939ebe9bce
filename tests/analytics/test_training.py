"""The shared training loop (secmas.analytics.training)."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from secmas.analytics.training import fit, minibatches


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


def test_fit_keeps_the_epoch_with_the_lowest_validation_loss():
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    y = 3 * x
    told: list[tuple[int, float, float]] = []
    losses = fit(
        model,
        torch.nn.MSELoss(),
        torch.optim.SGD(model.parameters(), lr=0.5),
        (x, y),
        epochs=6,
        batch=8,
        generator=torch.Generator().manual_seed(1),
        validation=(x, y),
        on_epoch=lambda e, t, v: told.append((e, t, v)),
    )
    assert [e for e, _, _ in told] == list(range(1, 7))
    assert len(losses.train) == len(losses.validation) == 6
    with torch.no_grad():
        final = float(torch.nn.functional.mse_loss(model(x), y))
    assert final == min(losses.validation)  # the best epoch's weights are back
    assert not model.training


def test_without_validation_the_losses_are_nan():
    model = torch.nn.Linear(1, 1)
    x = torch.zeros(4, 1)
    losses = fit(
        model,
        torch.nn.MSELoss(),
        torch.optim.SGD(model.parameters(), lr=0.1),
        (x, x),
        epochs=2,
        batch=2,
    )
    assert all(v != v for v in losses.validation)

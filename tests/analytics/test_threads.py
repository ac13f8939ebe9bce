"""PyTorch's thread budget (secmas.analytics.threads)."""

from __future__ import annotations

import torch

from secmas.analytics.threads import limit_torch_threads, torch_thread_budget


def test_budget_by_cores_and_by_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("SECMAS_TORCH_THREADS", raising=False)
    assert [torch_thread_budget(c) for c in (1, 2, 3, 4, 64)] == [1, 1, 1, 2, 2]
    monkeypatch.setenv("SECMAS_TORCH_THREADS", "3")
    assert torch_thread_budget(2) == 3
    monkeypatch.setenv("SECMAS_TORCH_THREADS", "many")
    assert torch_thread_budget(2) == 1  # not a positive integer: ignored


def test_limit_sets_torch_and_can_be_called_again(monkeypatch) -> None:
    monkeypatch.delenv("SECMAS_TORCH_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        assert limit_torch_threads(1) == 1 == torch.get_num_threads()
        assert limit_torch_threads(2) == 2  # again: no error once the inter-op pool is sized
        assert torch.get_num_interop_threads() >= 1
    finally:
        torch.set_num_threads(before)

"""How many CPU threads PyTorch may use while a model is prepared, trained or scored.

PyTorch starts as many intra-op threads as the machine has cores and a second pool for
inter-op work. On a small (2-core) machine where agents, the bus and the data plane run too,
those pools fight everything else for the cores and training gets 20–65× slower. Every place
that prepares, trains or scores a model calls `limit_torch_threads` first.
"""

from __future__ import annotations

import contextlib
import os

THREADS_VARIABLE = "SECMAS_TORCH_THREADS"
"""Environment variable that sets the budget explicitly (a positive integer)."""


def torch_thread_budget(cores: int | None = None) -> int:
    """Intra-op threads for a machine with `cores` cores: one, two where four or more;
    `$SECMAS_TORCH_THREADS` (a positive integer) when set."""
    chosen = os.environ.get(THREADS_VARIABLE, "").strip()
    if chosen.isdigit() and int(chosen) > 0:
        return int(chosen)
    available = cores if cores is not None else (os.cpu_count() or 1)
    return 2 if available >= 4 else 1


def limit_torch_threads(threads: int | None = None) -> int:
    """Set PyTorch's intra-op threads (default `torch_thread_budget()`) and one inter-op
    thread; returns the intra-op count now in force.

    Safe to call many times: the inter-op pool can only be sized before PyTorch first uses
    it, so a later call leaves that pool as it is.
    """
    import torch

    count = torch_thread_budget() if threads is None else max(1, threads)
    torch.set_num_threads(count)
    with contextlib.suppress(RuntimeError):  # PyTorch sizes the inter-op pool only once
        torch.set_num_interop_threads(1)
    return torch.get_num_threads()

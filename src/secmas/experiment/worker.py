"""One run of a sweep, in a worker process of its own.

Each run gets a fresh process (the pool's `max_tasks_per_child=1`), forked from a server
process that imported the runtime once, so a run's memory is its own: `peak_rss_mib` is the
worker's peak resident set (getrusage), `run_rss_mib` how far the run raised it above what
the process held when the run began (the interpreter and the imported runtime). The run
itself is `secmas.api.run`, the same code path as `secmas run`.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secmas.api import RunFailed, RunInputError, run
from secmas.experiment.grid import RunKey
from secmas.experiment.metrics import base_values, extra_values
from secmas.scenario.model import Scenario

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "SECMAS_TORCH_THREADS",
)
"""Thread pools of PyTorch, BLAS and numba: one thread each, as runs are the parallel unit."""


@dataclass(frozen=True)
class Job:
    """What a worker needs for one run: its key, its scenario, the metrics to compute and
    where to keep the run's folder (None: a temporary one, deleted)."""

    key: RunKey
    scenario: Scenario
    metrics: tuple[str, ...]
    folder: Path | None = None


def start_worker() -> None:
    """Pool initializer: one thread per numeric library (the fork server's environment
    already says so to those it loaded), and the agents' warnings kept out of the
    terminal the progress bar draws on (a failed run's error is in its row)."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    logging.disable(logging.WARNING)


def peak_rss_mib() -> float:
    """This process's peak resident set so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def execute(job: Job) -> dict[str, Any]:
    """Run the job and return its CSV row; a run that fails returns a row with `error`."""
    before = peak_rss_mib()
    row: dict[str, Any] = job.key.columns()
    with tempfile.TemporaryDirectory(prefix="secmas-sweep-") as scratch:
        folder = job.folder or Path(scratch) / "run"
        try:
            # the sweep owns its runs' folders: a job run again writes its own anew
            result = run(job.scenario, out=folder, seed=job.key.seed, force=True)
        except (RunInputError, RunFailed) as exc:
            return row | {"passed": False, "error": f"{type(exc).__name__}: {exc}"}
        except Exception as exc:  # a bug in a run must not stop the sweep: recorded
            where = traceback.extract_tb(exc.__traceback__)[-1]
            place = f" ({Path(where.filename).name}:{where.lineno})"
            return row | {"passed": False, "error": f"{type(exc).__name__}: {exc}{place}"}
    peak = peak_rss_mib()
    row |= base_values(result.report, result.wall_seconds)
    row |= {"peak_rss_mib": peak, "run_rss_mib": max(0.0, peak - before), "error": ""}
    return row | extra_values(job.metrics, result.report, row)

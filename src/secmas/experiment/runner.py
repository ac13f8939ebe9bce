"""Running a sweep: the runs not yet in the CSV, on a pool of worker processes, each row
appended as its run finishes; then the summary and the plots.

The output folder holds `sweep-<name>.csv` (one row per run), `sweep-<name>.json` (the
spec's fingerprint and columns, so `--resume` refuses a spec changed since),
`sweep-<name>-summary.csv` and the plots. A worker process that dies (killed, out of
memory) breaks the pool: the runs it had in flight are tried once more on a fresh pool,
and recorded as failed if it breaks again.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

from secmas.experiment.grid import RunKey, expand
from secmas.experiment.metrics import BASE
from secmas.experiment.plots import plot_all
from secmas.experiment.results import ResultsError, append_row, read_rows, write_summary
from secmas.experiment.scenarios import point_scenarios
from secmas.experiment.spec import LoadedSpec
from secmas.experiment.worker import THREAD_VARIABLES, Job, execute, start_worker

ATTEMPTS = 2
"""Tries of a run whose worker process died (the first may have died of a neighbour)."""
DIED = "the worker process died (killed, or out of memory)"
PRELOAD = (
    "secmas.experiment.worker",
    "secmas.pipeline.operate",
    "secmas.pipeline.inprocess",
    "secmas.report.files",
    "matplotlib.pyplot",
)
"""What the fork server imports once, so that no run pays for it (the ledger, matplotlib:
~1 s a process)."""
SECURE_PRELOAD = "secmas.experiment.warm"
"""What it imports too when a run has security on: the agent image measured once."""
WORKER_ENVIRONMENT = {variable: "1" for variable in THREAD_VARIABLES} | {"MPLBACKEND": "Agg"}
"""The workers' environment, set before their numeric libraries load: one thread each
(runs are the parallel unit), and matplotlib without a display."""


class SweepRefused(Exception):
    """The output folder cannot take this sweep (another sweep, a changed spec)."""


@dataclass
class SweepFiles:
    """Where a sweep writes."""

    folder: Path
    name: str

    @property
    def csv(self) -> Path:
        return self.folder / f"sweep-{self.name}.csv"

    @property
    def state(self) -> Path:
        return self.folder / f"sweep-{self.name}.json"

    @property
    def summary(self) -> Path:
        return self.folder / f"sweep-{self.name}-summary.csv"


@dataclass
class SweepOutcome:
    """What a sweep did: runs in all, already done before, run now, failed in the CSV,
    wall seconds of this invocation, files written."""

    total: int
    skipped: int
    ran: int = 0
    failed: int = 0
    wall_seconds: float = 0.0
    files: list[Path] = field(default_factory=list)


def fingerprint(loaded: LoadedSpec) -> str:
    """What makes results comparable: the spec without its plots and description, and
    the bytes of every scenario file it names (editing a plot keeps the runs)."""
    spec = loaded.spec.model_dump(mode="json", by_alias=True, exclude={"plots", "description"})
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
    for source in loaded.spec.scenarios:
        if source.file is not None:
            digest.update(loaded.scenario_file(source.file).read_bytes())
    return digest.hexdigest()


def default_workers(pending: int) -> int:
    """One worker per core this process may use, no more than there are runs."""
    return max(1, min(len(os.sched_getaffinity(0)), pending))


def prepare(loaded: LoadedSpec, files: SweepFiles, resume: bool) -> list[dict[str, str]]:
    """Check the folder can take the sweep and return the rows already done; writes the
    state file of a new sweep. SweepRefused says why not."""
    spec = loaded.spec
    state = {"spec": spec.name, "fingerprint": fingerprint(loaded), "columns": spec.columns}
    if files.csv.exists() and not resume:
        raise SweepRefused(
            f"{files.csv} holds results: --resume to go on with them, or choose another --out"
        )
    if resume and files.csv.exists():
        try:
            before = json.loads(files.state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise SweepRefused(f"{files.state} is missing or unreadable: cannot resume") from None
        if before.get("fingerprint") != state["fingerprint"]:
            raise SweepRefused(
                f"the spec (or a scenario file it names) changed since the sweep in "
                f"{files.folder} began: its results would not be comparable; run it with "
                "another --out"
            )
    try:
        rows = read_rows(files.csv, spec.columns)
    except ResultsError as exc:
        raise SweepRefused(str(exc)) from None
    files.folder.mkdir(parents=True, exist_ok=True)
    files.state.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    return rows


def run_sweep(
    loaded: LoadedSpec,
    folder: Path,
    *,
    workers: int | None = None,
    resume: bool = False,
    keep_runs: bool = False,
    started: Callable[[int, int], None] | None = None,
    finished: Callable[[dict[str, Any]], None] | None = None,
) -> SweepOutcome:
    """Run every run of the spec not yet in the folder's CSV. `started(total, skipped)` is
    told once the work is known, `finished(row)` after every run. Raises SpecError for a
    value a scenario refuses and SweepRefused for a folder that cannot take the sweep,
    both before any run."""
    spec = loaded.spec
    scenarios = point_scenarios(loaded)
    files = SweepFiles(folder, spec.name)
    done = {row["run"] for row in prepare(loaded, files, resume)}
    keys = expand(spec)
    todo = [key for key in keys if key.id not in done]
    outcome = SweepOutcome(total=len(keys), skipped=len(keys) - len(todo))
    if started is not None:
        started(outcome.total, outcome.skipped)
    began = time.perf_counter()
    runs = folder / f"sweep-{spec.name}-runs" if keep_runs else None
    number = {key.id: n for n, key in enumerate(keys)}  # the same on every --resume
    jobs = [
        Job(key, scenarios[key.point], spec.metrics, runs / str(number[key.id]) if runs else None)
        for key in todo
    ]
    for row in _pool(jobs, workers or default_workers(len(jobs))):
        append_row(files.csv, spec.columns, row)
        outcome.ran += 1
        if finished is not None:
            finished(row)
    outcome.wall_seconds = time.perf_counter() - began
    rows = read_rows(files.csv, spec.columns)
    outcome.failed = sum(1 for row in rows if row["error"])
    by = ("scenario", *spec.parameters)
    outcome.files = [files.csv, write_summary(files.summary, rows, by, (*BASE, *spec.metrics))]
    outcome.files += plot_all(spec, rows, folder)
    return outcome


def _pool(jobs: list[Job], workers: int) -> Iterator[dict[str, Any]]:
    """Rows of the jobs as they finish, at most `workers` in flight, each in a fresh
    process forked from a server that imported the runtime once."""
    context = multiprocessing.get_context("forkserver")
    secure = any(job.scenario.security.enabled for job in jobs)
    context.set_forkserver_preload([*PRELOAD, *([SECURE_PRELOAD] if secure else [])])
    with _environment(WORKER_ENVIRONMENT):  # the fork server's, so every worker's
        forkserver.ensure_running()
    queue = list(reversed(jobs))
    tries: dict[RunKey, int] = {}
    while queue:
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=start_worker, max_tasks_per_child=1
        ) as pool:
            running: dict[Future[dict[str, Any]], Job] = {}
            broken = False
            while (queue and not broken) or running:
                while queue and not broken and len(running) < workers:
                    job = queue.pop()
                    running[pool.submit(execute, job)] = job
                ready, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in ready:
                    job = running.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        broken = True
                        tries[job.key] = tries.get(job.key, 0) + 1
                        if tries[job.key] < ATTEMPTS:
                            queue.append(job)
                        else:
                            yield job.key.columns() | {"passed": False, "error": DIED}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """These environment variables set while the block runs, as they were afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

"""Ending a child process the polite way: SIGTERM, then SIGKILL if it lingers, and always
reaped, so no zombie is left behind."""

from __future__ import annotations

import subprocess
from typing import Protocol

ENDED = "had ended already"


class Process(Protocol):
    """A child process as `subprocess.Popen` holds it (or an agent a spawner forked,
    `secmas.pipeline.spawner.SpawnedAgent`)."""

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


def end_process(process: Process, grace: float) -> str:
    """Terminate `process`, kill it if it has not ended `grace` seconds later, and reap it;
    how it ended, in words (for a journal or a log)."""
    if process.poll() is not None:
        return ENDED
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return f"killed after {grace:g} s"
    return "terminated"

"""The application layer: one run of a scenario, composed once, beneath the CLI, the web
UI and the benchmarks (`secmas.api.run`)."""

from secmas.api.errors import RunFailed, RunInputError
from secmas.api.observer import RunObserver
from secmas.api.run import Distribution, RunPlan, RunResult, execute, plan, run
from secmas.api.scenarios import EMBEDDED, embedded_path

__all__ = [
    "EMBEDDED",
    "Distribution",
    "RunFailed",
    "RunInputError",
    "RunObserver",
    "RunPlan",
    "RunResult",
    "embedded_path",
    "execute",
    "plan",
    "run",
]

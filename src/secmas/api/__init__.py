"""The application layer: one run of a scenario, composed once, beneath the CLI, the web
UI and the benchmarks (`secmas.api.run`)."""

from secmas.api.errors import RunFailed, RunInputError
from secmas.api.observer import RunObserver
from secmas.api.placement import Hosts, InProcess, Placement, Pods, Processes, placement_of
from secmas.api.run import PlanOptions, RunPlan, RunResult, execute, plan, run
from secmas.api.scenarios import EMBEDDED, embedded_path

__all__ = [
    "EMBEDDED",
    "Hosts",
    "InProcess",
    "Placement",
    "PlanOptions",
    "Pods",
    "Processes",
    "RunFailed",
    "RunInputError",
    "RunObserver",
    "RunPlan",
    "RunResult",
    "embedded_path",
    "execute",
    "placement_of",
    "plan",
    "run",
]

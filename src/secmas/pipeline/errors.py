"""Why a deployment stopped."""

from __future__ import annotations

from secmas.scenario.model import Scenario


class PipelineError(RuntimeError):
    """A step of the secure pipeline's deployment failed (the message names the step);
    the CLI exits 1."""


class RunError(RuntimeError):
    """A scenario that cannot run as given (missing traffic or defence); the CLI exits 2."""


def check_runnable(scenario: Scenario) -> None:
    """Raise RunError unless the scenario has what a run needs."""
    if scenario.traffic is None or scenario.defence is None:
        raise RunError(f"scenario {scenario.id!r} needs traffic and defence sections to run")

"""Why a deployment stopped."""

from __future__ import annotations


class PipelineError(RuntimeError):
    """A step of the secure pipeline's deployment failed (the message names the step);
    the CLI exits 1."""


class RunError(RuntimeError):
    """A scenario that cannot run as given (missing traffic or defence); the CLI exits 2."""

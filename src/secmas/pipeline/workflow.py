"""The deployment workflow of a secure MAS pipeline as explicit, named, timed steps.

`001_…` (Figure 2) numbers the workflow from the service orchestrator receiving a
network service (step 0) to the agents joining the encrypted overlay (steps 13–14).
Every driver (in-process, local processes) runs the same steps through a `Workflow`,
which times each one, logs its inputs and outputs, tells the progress display, records
it for the run report, and turns a failure into a `PipelineError` that names the step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from secmas.pipeline.errors import PipelineError

logger = logging.getLogger(__name__)

T = TypeVar("T")

STEPS: dict[str, str] = {
    "0": "SO receives the network-service descriptor",
    "1": "MLFO computes the MAS pipeline",
    "2": "IML deploys the agents and their overlay",
    "3-4": "SECaaS wraps the agent image and stores its reference",
    "5": "MLFO deploys the wrapped images",
    "6-7": "contracts deployed, an account per agent, addresses registered",
    "8": "credentials distributed to the agents",
    "9-12": "initial attestation, root of trust, first mutual round",
    "13-14": "pipeline key pushed, agents join the encrypted overlay",
}
"""The steps of `001_…` Figure 2, by number."""


@dataclass(frozen=True)
class StepRecord:
    """One step as it ran: what went in, what came out, how long, how it ended."""

    number: str
    name: str
    seconds: float
    outcome: str  # "ok" or "failed: <reason>"
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "name": self.name,
            "seconds": round(self.seconds, 4),
            "outcome": self.outcome,
            "inputs": self.inputs,
            "outputs": self.outputs,
        }


Told = Callable[[str, str], None]
"""Told (number, name) when a step starts: the progress display."""


@dataclass
class Workflow:
    """Runs and records the steps of one deployment."""

    told: Told | None = None
    records: list[StepRecord] = field(default_factory=list)

    async def step(
        self,
        number: str,
        work: Callable[[], Awaitable[T] | T],
        inputs: dict[str, Any] | None = None,
        outputs: Callable[[T], dict[str, Any]] | None = None,
    ) -> T:
        """Run step `number`; its result is returned and summarised by `outputs`."""
        name = STEPS[number]
        if self.told is not None:
            self.told(number, name)
        logger.info("step %s (%s) with %s", number, name, inputs or {})
        started = time.perf_counter()
        try:
            result = work()
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                result = await result
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            self._record(number, name, started, f"failed: {reason}", inputs, {})
            if isinstance(exc, PipelineError) and reason.startswith("step "):
                raise  # a nested step already named itself
            raise PipelineError(f"step {number} ({name}): {reason}") from exc
        summary = outputs(result) if outputs is not None else {}
        self._record(number, name, started, "ok", inputs, summary)
        logger.info("step %s done: %s", number, summary)
        return result  # type: ignore[return-value]

    def _record(
        self,
        number: str,
        name: str,
        started: float,
        outcome: str,
        inputs: dict[str, Any] | None,
        outputs: dict[str, Any],
    ) -> None:
        seconds = time.perf_counter() - started
        self.records.append(StepRecord(number, name, seconds, outcome, inputs or {}, outputs))

    def to_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.records]

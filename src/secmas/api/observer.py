"""What a run tells whoever watches it: a line at a time, its deployment steps, its
progress on the simulated clock, and a live view that may ride along.

`RunObserver` does nothing; the CLI's console, the web UI's live page and a notebook
subclass what they show. The run never prints by itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secmas.scenario.model import Scenario


class RunObserver:
    """Told what the run is doing; every method may be left as it is."""

    def note(self, text: str) -> None:
        """A line on what the run does next (engine, loops, where logs go)."""

    def warning(self, text: str) -> None:
        """Something the user should know about the run as configured."""

    @contextmanager
    def busy(self, _what: str) -> Iterator[None]:
        """Work of unknown length (the detection models load or train)."""
        yield

    def begin(self, scenario: Scenario, run_id: str, folder: Path) -> None:
        """The run is about to deploy, writing to `folder`."""

    def step(self, number: str, name: str) -> None:
        """A deployment step (`001_…` steps 0–14) begins."""

    def progress(self, now: float, duration: float) -> None:
        """The data plane reached `now` of `duration` simulated seconds."""

    def loop(self, _watch: Sequence[Any]) -> Any | None:
        """A step loop to run after `watch` (the run's other loops), e.g. a live page's
        feed; None for none."""
        return None

    def finish(self, passed: bool) -> None:
        """The run's files are written; `passed`: its acceptance figures were met."""

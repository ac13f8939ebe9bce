"""What a run refuses and how it fails, for callers of the application layer.

The CLI maps the two onto its exit codes (2 bad input, 1 a failed run); a script catches
them like any exception. Both carry every problem found, each naming what and where.
"""

from __future__ import annotations

from collections.abc import Callable


class RunInputError(ValueError):
    """The run was refused before any work: a scenario, a file or a parameter is wrong.

    `option` names the parameter concerned (`tamper`, `policy`, …; None when the problem
    lies in a file, which `problems` then name); each problem reads after it."""

    def __init__(self, *problems: str, option: str | None = None) -> None:
        super().__init__(*problems)
        self.problems = list(problems)
        self.option = option

    def lines(self, name: Callable[[str], str] = str) -> list[str]:
        """Each problem as a line, after the parameter's name as `name` spells it (the
        CLI spells `engine` as `--dataplane`)."""
        if self.option is None:
            return list(self.problems)
        return [f"{name(self.option)}{_spaced(problem)}" for problem in self.problems]

    def __str__(self) -> str:
        return "; ".join(self.lines())


class RunFailed(RuntimeError):
    """The run started and could not finish (a deployment step, the bus, the data plane,
    writing its files); nothing it had recorded is lost."""


def _spaced(problem: str) -> str:
    """A problem as it reads after the parameter's name: `: …` right after it, anything
    else after a space."""
    return problem if problem.startswith(":") else f" {problem}"

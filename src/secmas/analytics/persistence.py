"""Alerts an operator can live with: a condition must persist before it fires.

Production alerting does not page on one bad sample: a Prometheus alerting rule's
`for:` keeps the rule *pending* until its expression held for the whole duration, and
only then *firing* (Prometheus documentation, "Alerting rules"). The closed loop needs the
same (the real-CNF loop raised about 306 false alarms an hour on single flagged
windows): `Persistence` fires when the detector's condition held for `hold` windows
in a row, and a single flagged window of noise stays pending.

`confidence` gives each alert a number in [0, 1) from how far and how long the score
stayed above its limit: 1 − (limit / score)^held. It is 0 at the limit, and it grows
with the margin and with every further window above it; a heuristic, read as "how
unlikely noise that only just crosses the limit now and then would give this", in the
spirit of the confidence NWDAF analytics report with each output (3GPP TS 23.288).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Persistence", "confidence"]


@dataclass
class Persistence:
    """The `for:` rule of one alert condition on one CNF (module docstring)."""

    hold: int = 2
    """Windows in a row the condition must hold before the alert fires (`for:`)."""
    held: int = 0
    """Windows in a row it holds now (0: inactive)."""

    def __post_init__(self) -> None:
        if not (isinstance(self.hold, int) and self.hold >= 1):
            raise ValueError(f"persistence needs hold ≥ 1 window, got {self.hold!r}")

    def observe(self, condition: bool) -> bool:
        """Take one window's condition; whether the alert is firing."""
        self.held = self.held + 1 if condition else 0
        return self.held >= self.hold

    @property
    def pending(self) -> bool:
        """Whether the condition holds but has not held long enough yet."""
        return 0 < self.held < self.hold


def confidence(score: float, limit: float, held: int) -> float:
    """How sure an alert is, in [0, 1): 1 − (limit / score)^held (module docstring); 0
    when the score is not above a positive limit."""
    if held < 1 or limit <= 0 or score <= limit:
        return 0.0
    return 1.0 - (limit / score) ** held

"""The run's acceptance figures, computed from its own telemetry (issue: DDoS scenario).

- attack reduction: 1 − attack delivered to the server / attack offered, over the end
  window (the last 20 s): at least 90 %;
- legitimate traffic: delivered over the end window / delivered before the attack: at
  least 90 %;
- capacity: no PoP and no link allocated beyond capacity at any step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from secmas.network.dataplane import Telemetry

END_WINDOW_S = 20.0
REQUIRED = 0.9


@dataclass(frozen=True)
class Acceptance:
    """The figures and whether each holds."""

    attack_reduction: float | None
    legit_ratio: float | None
    capacity_ok: bool
    end_window_s: float
    pre_attack_legit: float
    end_legit: float
    end_attack: float
    end_offered_attack: float

    @property
    def passed(self) -> bool:
        """All three hold (a run without an attack only needs capacity and legit)."""
        attack_ok = self.attack_reduction is None or self.attack_reduction >= REQUIRED
        legit_ok = self.legit_ratio is None or self.legit_ratio >= REQUIRED
        return attack_ok and legit_ok and self.capacity_ok

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, with `passed`."""
        return asdict(self) | {"passed": self.passed, "required": REQUIRED}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def acceptance(
    telemetry: Sequence[Telemetry], attack_start: float | None, capacity_ok: bool
) -> Acceptance:
    """Compute the figures from per-step telemetry (t is each step's start)."""
    if not telemetry:
        return Acceptance(None, None, capacity_ok, END_WINDOW_S, 0.0, 0.0, 0.0, 0.0)
    end = telemetry[-1].t + 1e-9 - END_WINDOW_S
    tail = [x for x in telemetry if x.t > end] or list(telemetry[-1:])
    start = attack_start if attack_start is not None else float("inf")
    before = [x.legit for x in telemetry if x.t < start]
    end_attack = _mean([x.attack for x in tail])
    end_offered = _mean([x.offered_attack for x in tail])
    end_legit = _mean([x.legit for x in tail])
    pre = _mean(before)
    return Acceptance(
        attack_reduction=None if end_offered <= 0 else 1.0 - end_attack / end_offered,
        legit_ratio=None if pre <= 0 else end_legit / pre,
        capacity_ok=capacity_ok,
        end_window_s=END_WINDOW_S,
        pre_attack_legit=pre,
        end_legit=end_legit,
        end_attack=end_attack,
        end_offered_attack=end_offered,
    )

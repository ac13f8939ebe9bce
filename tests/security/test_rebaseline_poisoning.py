"""Attack: an attack that outlives the mitigation taught as the CNF's new normal.

The loop re-baselines a CNF's alarm limit on the windows after its own mitigation
(`secmas.analytics.rebaseline`). An attacker who keeps going after the remedy (a flood
the guard does not stop, a hog restarted after the isolation) at a level under `cap` ×
the detector's limit would be collected as the "new normal" and raise the limit over
itself: from then on the attack, and any other at its level, is silent. The defence
refuses a collection that still scores like the attack it followed, or that is
still rising (a leak that goes on growing).
"""

from __future__ import annotations

import numpy as np

from secmas.analytics.rebaseline import Rebaseline

LIMIT = 1.0


def collect(rule: Rebaseline, scores: list[float]) -> list[dict]:
    events = [rule.observe(float(i), s, LIMIT) for i, s in enumerate(scores)]
    return [e for e in events if e is not None]


def test_an_attack_that_outlives_the_mitigation_is_not_learnt_as_normal() -> None:
    rng = np.random.default_rng(3)
    attack = list(3.0 + 0.1 * rng.standard_normal(40))  # 3 × the limit: under cap (5 ×)
    rule = Rebaseline(windows=20)
    rule.arm(now=0.0, skip=4, alert=attack[0])
    events = collect(rule, attack[:24])
    assert len(events) == 1 and not events[0]["accepted"]
    assert all(rule.flags(s) for s in attack[24:])  # the attack still alarms


def test_a_leak_still_growing_after_the_mitigation_is_not_learnt_as_normal() -> None:
    leak = list(np.linspace(1.2, 4.0, 24))  # starts low, goes on rising: the attack's peak
    rule = Rebaseline(windows=20)
    rule.arm(now=0.0, skip=4, alert=4.0)
    events = collect(rule, leak)
    assert len(events) == 1 and not events[0]["accepted"]
    assert rule.flags(4.0)

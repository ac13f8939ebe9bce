"""`pulse_sentinel`: watches the traffic towards the server at its PoP with the `swing`
detector, and posts the goal `pulseScrubbed(server)` when it pulses.

Like the Link Monitor of secmas's DDoS strategy (Table 5.2 of `003_…`), it is a VNF whose
own capability revises the agent's beliefs from what it perceives and generates a goal
from them (`options`); the goal is then auctioned among the agents, and the winner runs
`scrubber.PulseScrubber`'s plan. It starts where the scenario places it (`placements`).

It first learns: the first `LEARN_STEPS` steps after `SETTLE_STEPS` are normal traffic, on
which it fits the detector through secmas's registry (`fit_detector("swing", …)`, as
`secmas detect fit` does). It then scores the last `WINDOW` steps at every step, and
`CONFIRM` windows in a row above `HEADROOM` × the fitted limit are a pulse.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from secmas.agents.bdi import Belief, Capability, Goal, Plan
from secmas.agents.ddos.facts import PROTECT
from secmas.agents.vnfplugin import VNFContext, VNFPlugin
from secmas.analytics.registry import fit_detector
from secmas.analytics.scoring import Fitting, WindowDetector

NAME = "pulse_sentinel"
GOAL = "pulseScrubbed"
"""The goal it posts: the pulsing traffic towards an address is scrubbed."""
SETTLE_STEPS = 3
"""Steps it ignores at the start (clients still starting)."""
LEARN_STEPS = 12
"""Steps of normal traffic it fits the detector on."""
WINDOW = 8
"""Steps per window: at least one period of the pulses it should see."""
HEADROOM = 1.5
"""How far above the 99th percentile of normal swings a window must be."""
CONFIRM = 2
"""Windows in a row above it before the sentinel believes the traffic pulses."""


@dataclass(frozen=True)
class Pulsing:
    """What the sentinel perceived: the traffic towards `dst_ip` at `node` pulses, by
    `swing` MB/s against a normal `limit`, since `since` run seconds."""

    dst_ip: str
    node: str
    swing: float
    limit: float
    since: float


class SentinelCapability(Capability):
    """pulsing(ip) → goal(pulseScrubbed(ip)), once per pulse the sentinel perceives."""

    def __init__(self, sentinel: PulseSentinel, plans: Iterable[Plan] = ()) -> None:
        super().__init__(NAME, sentinel, plans=plans)
        self.seen: Pulsing | None = None

    def revise(self, event: object, beliefs: Any) -> Iterable[Belief]:
        if not isinstance(event, Pulsing):
            return ()
        self.seen = event
        return [Belief("pulsing", (event.dst_ip,))]

    def options(self, beliefs: Any, goals: Sequence[Goal]) -> Iterable[Goal]:
        seen = self.seen
        if seen is None or not beliefs.holds(Belief("pulsing", (seen.dst_ip,))):
            return ()
        self.seen = None  # one goal per perceived pulse
        scrubbed = Belief(GOAL, (seen.dst_ip,))
        if beliefs.holds(scrubbed) or any(goal.predicate == scrubbed for goal in goals):
            return ()
        payload = {"node": seen.node, "limit": seen.limit, "since": seen.since}
        return (Goal(scrubbed, priority=PROTECT, payload=payload),)


class PulseSentinel(VNFPlugin):
    """The sentinel of the PoP the scenario places it on."""

    name = NAME

    def __init__(self, context: VNFContext) -> None:
        super().__init__(context)
        self.detector: WindowDetector | None = None
        self.above = 0
        self.reported = False

    def capability(self, plans: Iterable[Plan]) -> Capability:
        return SentinelCapability(self, plans)

    async def observe(self) -> Pulsing | None:
        """Fit on the first normal steps, then score the last window every step."""
        context = self.context
        server = context.controller.server_ip
        rates = (await context.controller.destination_rates(context.pop)).get(server, [])
        learned = SETTLE_STEPS + LEARN_STEPS
        if len(rates) < learned:
            return None
        if self.detector is None:
            normal = np.asarray(rates[SETTLE_STEPS:learned], dtype=float)[:, None]
            self.detector = fit_detector("swing", normal, ("rate",), Fitting(window=WINDOW))
            normal_limit = float(self.detector.static.value or 0.0)
            context.act("fitSwing", f"{server}: normal swing ≤ {normal_limit:.3f} MB/s")
            return None
        window = np.asarray(rates[-WINDOW:], dtype=float)[:, None]
        score, _ = self.detector.evaluate_window(window)
        limit = HEADROOM * float(self.detector.static.value or 0.0)
        self.above = self.above + 1 if score > limit else 0
        if self.above < CONFIRM or self.reported:
            return None
        self.reported = True
        now = await context.controller.now()
        context.act("pulsing", f"{server}: swing {score:.2f} MB/s > {limit:.3f}")
        return Pulsing(server, context.pop, score, limit, now)

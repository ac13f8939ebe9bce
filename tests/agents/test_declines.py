"""Local policies that make a PoP refuse a goal: the REFUSE carries their reason, and the
auction places the goal elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from secmas.agents.bidding import GoalRequest
from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.world import World
from secmas.pipeline.operate import operate
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
REASON = "domain blue hygiene 0.31 < 0.6 for a sensitive goal"


class Keep:
    """Keeps pop5 (the reference winner of linkRateLimited, next to the repository) out."""

    def attach(
        self, world: World, _records: Callable[[], Sequence[Any]], _layer: Any = None
    ) -> None:
        def rule(pop: str, request: GoalRequest) -> str | None:
            return REASON if pop == "pop5" and request.goal == "linkRateLimited" else None

        world.declines.append(rule)

    async def start(self, agents: Sequence[PoPAgent]) -> None:
        return None

    async def after_step(self, now: float) -> None:
        return None

    def report(self) -> dict[str, Any]:
        return {}


def test_a_declining_pop_refuses_with_its_reason() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")
    scenario = scenario.model_copy(
        update={"security": scenario.security.model_copy(update={"enabled": False})}
    )
    result = asyncio.run(operate(scenario, until=100.0, loops=[Keep()]))
    [record] = [
        r for _, r in result.journal.auctions if r.outcome.request.goal == "linkRateLimited"
    ]
    refusals = {r.bidder: r.reason for r in record.outcome.refusals}
    assert refusals["pop5"] == REASON
    assert record.outcome.winner is not None and record.outcome.winner.bidder != "pop5"

"""Attacks on the mitigation's recovery, each of which must fail.

* An infected agent that is not detected yet wins goals and sabotages every plan it runs
  (it reports FAILURE): before, each goal was given up after three attempts that the same
  agent kept winning. Now it is left out of the goal's next calls and the goal is done
  elsewhere.
* Killing the agent that runs the only Link Monitor, before the flood starts: before,
  nobody watched the link any more and the flood went on. Now its duty is auctioned again
  and a new monitor detects the flood.

Runs the ddos-6pop scenario in one process on the real MemoryBus, VirtualClock and data
plane (`tests.agents.test_resilience.mitigate`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.agents.test_resilience import _attack_share_last_20s, actions, mitigate

from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.ddos.agent import PoPAgent


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 300))


def sabotage(pop: str, agents: dict[str, PoPAgent]) -> None:
    """`pop` reports FAILURE for every goal it wins (an implant in its plan runner)."""

    async def fail(request: GoalRequest, bid: Bid, payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError(f"{pop} sabotaged {request.goal}")

    agents[pop].mailbox.participant.executor = fail


def test_an_undetected_saboteur_that_wins_every_goal_cannot_make_one_be_dropped():
    """pop5 (at the repository: T = 0, it wins most goals) fails every plan it wins. Each
    goal is done elsewhere instead (later: the others download for 50 s or more)."""

    async def main() -> None:
        world, _ = await mitigate({}, prepare=lambda agents: sabotage("pop5", agents))
        records = [r for _, r in world.journal.auctions]
        assert records and not [r for r in records if r.status == "failed"]
        done = [r for r in records if r.status == "done"]
        assert done and all(r.outcome.winner.bidder != "pop5" for r in done)
        for record in (r for r in done if r.attempt > 1):
            left_out = {x.bidder: x.reason for x in record.outcome.refusals}
            assert left_out["pop5"].startswith("left out: failed in attempt")
        limits = {agent for agent, _ in actions(world, "limitLink") + actions(world, "limitIP")}
        assert limits and "pop5" not in limits

    run(main())


def test_killing_the_only_link_monitor_does_not_blind_the_defence():
    async def main() -> None:
        world, telemetry = await mitigate({10.0: "pop6"})
        assert actions(world, "monitorLink")
        assert any(agent != "pop6" for agent, _ in actions(world, "overUsage"))
        assert _attack_share_last_20s(telemetry) < 0.10

    run(main())

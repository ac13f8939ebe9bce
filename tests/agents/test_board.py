"""The goal board's check after a live round costs O(changes), not O(directory): it
asks the trust layer about its watched agents and about those the trust layer's log
says changed, and finds exactly what a scan of the whole directory finds.

Real GoalBoards on the MemoryBus with a VirtualClock that is not driven (the checks are
called as a live round would call them), and a real TrustView whose `changed` log the
boards read; the scanning board (no log), on a bus of its own so that both see every
event in the same order, is the oracle.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from secmas.agents.board import NOT_ADMITTED, GoalBoard, notice_subject
from secmas.network.clock import VirtualClock, settle
from secmas.transport.memory import MemoryBus
from secmas.trust.view import TrustView


def names(count: int) -> tuple[str, ...]:
    return tuple(f"pop{i}" for i in range(count))


def counting(view: TrustView, asked: list[str]) -> Callable[[str], bool]:
    def admits(agent: str) -> bool:
        asked.append(agent)
        return view.admits(agent)

    return admits


def test_a_check_asks_only_about_watched_and_changed_agents():
    directory = names(1000)
    view = TrustView()
    for agent in directory:
        view.trust(agent)
    asked: list[str] = []

    async def main() -> GoalBoard:
        bus = MemoryBus()
        board = GoalBoard(
            "pop500", directory, bus, VirtualClock(), counting(view, asked), admissions=view.changed
        )
        await board.start()
        board.check()  # the first check knows nothing yet: it asks about everyone
        assert len(set(asked)) == 1000
        asked.clear()
        board.check()
        assert set(asked) <= {"pop500", *board.watched()}
        for agent in ("pop3", "pop4", "pop900"):
            view.exclude(agent, "revoked")
        asked.clear()
        board.check()
        await board.stop()
        await bus.close()
        return board

    board = asyncio.run(main())
    assert board.gone == dict.fromkeys(("pop3", "pop4", "pop900"), NOT_ADMITTED)
    successors = {"pop5", "pop901"}  # asked whether they take over
    assert set(asked) <= {"pop500", *board.watched(), "pop3", "pop4", "pop900", *successors}


AGENTS = names(8)
ME = "pop0"

Step = tuple[str, str, str]
steps = st.lists(
    st.tuples(
        st.sampled_from(("trust", "withdraw", "exclude", "back", "check")),
        st.sampled_from(AGENTS[1:]),
        st.sampled_from(AGENTS[1:]),
    ),
    max_size=40,
)


@given(steps)
def test_the_log_finds_what_a_scan_of_the_directory_finds(script: list[Step]):
    """Any mix of admissions, withdrawals, revocations, "back" notices and checks: the board
    that reads the log is told the same losses and returns, and holds the same `gone`, as
    the board that asks about every agent at every check."""
    view = TrustView()
    for agent in AGENTS:
        view.trust(agent)
    told: dict[str, list[Any]] = {"log": [], "scan": []}

    def board(way: str) -> GoalBoard:
        return GoalBoard(
            ME,
            AGENTS,
            MemoryBus(),
            VirtualClock(),
            view.admits,
            admissions=view.changed if way == "log" else None,
            lost=lambda agent, why: told[way].append(("lost", agent, why)),
            back=lambda agent: told[way].append(("back", agent)),
        )

    async def main() -> dict[str, GoalBoard]:
        boards = {way: board(way) for way in told}
        for each in boards.values():
            await each.start()
        await settle()
        for action, agent, other in [*script, ("check", "", "")]:
            if action == "check":
                for each in boards.values():
                    each.check()
            elif action == "back":
                notice = {"agent": agent, "state": "back", "reason": "", "by": other}
                for each in boards.values():
                    await each.bus.publish(notice_subject(), json.dumps(notice).encode())
            else:
                getattr(view, action)(*((agent, "revoked") if action == "exclude" else (agent,)))
            await settle()
            assert boards["log"].gone == boards["scan"].gone
        for each in boards.values():
            await each.stop()
            await each.bus.close()
        return boards

    boards = asyncio.run(main())
    assert told["log"] == told["scan"]
    assert boards["log"].gone == boards["scan"].gone

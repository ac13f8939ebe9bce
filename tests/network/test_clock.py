"""VirtualClock.timeout: deadlines on simulated time, never on wall time."""

from __future__ import annotations

import asyncio
import time

import pytest

from secmas.network.clock import VirtualClock
from secmas.pipeline.operate import drive_clock


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_a_timeout_fires_when_simulated_time_passes() -> None:
    async def main() -> tuple[str, float]:
        clock = VirtualClock()

        async def waits() -> str:
            try:
                async with clock.timeout(5.0):
                    await clock.sleep(60.0)
            except TimeoutError:
                return "timed out"
            return "slept"

        task = asyncio.ensure_future(waits())
        await drive_clock(clock, 100.0)
        return await task, clock.now()

    assert run(main()) == ("timed out", 100.0)


def test_a_block_that_ends_in_time_is_not_cancelled_later() -> None:
    async def main() -> list[str]:
        clock = VirtualClock()
        seen: list[str] = []

        async def quick() -> None:
            async with clock.timeout(5.0):
                await clock.sleep(4.0)
            seen.append("in time")
            await clock.sleep(10.0)  # past the old deadline: still not cancelled
            seen.append("after")

        task = asyncio.ensure_future(quick())
        await drive_clock(clock, 30.0)
        await task
        return seen

    assert run(main()) == ["in time", "after"]


def test_blocking_work_longer_than_the_timeout_in_wall_time_does_not_expire_it() -> None:
    async def main() -> str:
        clock = VirtualClock()

        async def slow() -> str:
            async with clock.timeout(0.01):
                await clock.run_blocking(time.sleep, 0.2)  # 20× the bound, in wall time
            return "done"

        task = asyncio.ensure_future(slow())
        await drive_clock(clock, 0.0)
        return await task

    assert run(main()) == "done"


def test_an_outer_cancel_is_not_taken_for_a_timeout() -> None:
    async def main() -> None:
        clock = VirtualClock()

        async def waits() -> None:
            async with clock.timeout(5.0):
                await clock.sleep(60.0)

        task = asyncio.ensure_future(waits())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())

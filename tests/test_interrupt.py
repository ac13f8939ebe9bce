"""SIGTERM as Ctrl-C (`secmas.interrupt`): outside asyncio a KeyboardInterrupt, inside
`asyncio.run` the main task cancelled so its clean-ups run; a start running in a thread is
waited for before a cancellation goes on, so the clean-up finds what it started."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from secmas.interrupt import terminate_as_interrupt, uninterrupted


def test_sigterm_is_a_keyboard_interrupt_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs at once: never reached
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_inside_asyncio_run_cancels_the_main_task_first() -> None:
    cleaned: list[str] = []

    async def main() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(5)
        finally:
            await asyncio.sleep(0)  # a clean-up that awaits still runs
            cleaned.append("cleaned")

    with pytest.raises(KeyboardInterrupt), terminate_as_interrupt():
        asyncio.run(main())
    assert cleaned == ["cleaned"]


def test_where_sigint_is_ignored_sigterm_still_cancels_the_main_task_first() -> None:
    """A command a shell without job control started with `&` inherits SIGINT ignored:
    asyncio.run then left SIGINT to Python, and the stop came as a KeyboardInterrupt
    raised in whichever task ran, with its traceback printed."""
    cleaned: list[str] = []

    async def main() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cleaned.append("cancelled")
            raise

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(KeyboardInterrupt), terminate_as_interrupt():
            asyncio.run(main())
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
    assert cleaned == ["cancelled"]


def test_a_cancelled_caller_waits_for_the_start_it_began() -> None:
    began, finished = threading.Event(), threading.Event()

    def start() -> None:
        began.set()
        time.sleep(0.3)
        finished.set()

    async def main() -> bool:
        task = asyncio.ensure_future(uninterrupted(start))
        await asyncio.to_thread(began.wait)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return finished.is_set()

    assert asyncio.run(main())

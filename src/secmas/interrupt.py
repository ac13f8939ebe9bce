"""One way a run stops: SIGTERM does what Ctrl-C does.

Everything a run starts is taken down by `finally` blocks and asyncio cancellation:
agent processes and the measurer (in sessions of their own, so a terminal's signal never
reaches them), containers, pods, namespaces, the bus and ledger servers, and the
temporary folders that hold their credentials. Ctrl-C runs those paths (inside
`asyncio.run`, the main task is cancelled first, then KeyboardInterrupt ends the
command); Python's default on SIGTERM is to die on the spot and run none of them. The
command line's entry (`secmas.console`) wraps every command in `terminate_as_interrupt`,
so a `kill` stops a run in any placement as Ctrl-C does; code that runs a network outside
the command line (tests, scripts) wraps its own work the same way. A cancelled coroutine
stops waiting at once, but a thread it waited on runs on: a start that is still going
(`uninterrupted`) is seen to its end, so that what it starts is there for the clean-up.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

T = TypeVar("T")


def interrupt(_signum: int, frame: FrameType | None) -> None:
    """Handle a signal as SIGINT's handler of the moment would: asyncio's (cancel the
    running main task, then KeyboardInterrupt) inside `asyncio.run`, else Python's
    (KeyboardInterrupt now). Where SIGINT is ignored all the same (outside
    `terminate_as_interrupt`), the stop still comes: as KeyboardInterrupt."""
    handler = signal.getsignal(signal.SIGINT)
    if not callable(handler):
        handler = signal.default_int_handler
    handler(signal.SIGINT, frame)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM stops the work as Ctrl-C would (`interrupt`), so its
    clean-ups run; the previous handlers are restored afterwards. Nesting is harmless.
    SIGINT inherited ignored (a command a shell without job control started with `&`)
    is Python's again within the block: `asyncio.run` installs its own handler only over
    Python's, and without it the stop came as a KeyboardInterrupt raised in whichever
    task ran, its traceback printed, rather than as the main task cancelled."""
    previous = signal.signal(signal.SIGTERM, interrupt)
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, previous)


async def uninterrupted(call: Callable[[], T]) -> T:
    """`call()` in a thread, waited for to its end even when the caller is cancelled
    meanwhile (a stop asked during a start): whatever it starts (a server, pods) is then
    there for the caller's clean-up to stop, rather than appearing after it. The
    cancellation is raised once the call has returned, or failed."""
    import asyncio  # here: `secmas --help` loads this module, and asyncio costs it 40 ms

    future = asyncio.ensure_future(asyncio.to_thread(call))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise

"""How the emulated network's helper processes (clients, probe, key/value CNF) run their
event loop: until it ends, or until SIGTERM or Ctrl-C, which are a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any


def until_terminated(main: Coroutine[Any, Any, Any]) -> None:
    """Run `main`; a SIGTERM (the run stopping its process) ends it without a traceback."""
    signal.signal(signal.SIGTERM, _stop)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        asyncio.run(main)


def _stop(_signum: int, _frame: object) -> None:
    raise SystemExit(0)

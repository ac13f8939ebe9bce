"""Hitless key rotation: every member installs the new epoch before anyone sends under it.

A new key epoch (a revocation, an agent added, a periodic refresh) used to be sent under
by each member as soon as it fetched the secret, while members that had not fetched it yet
dropped those frames (`no_key`) and requests to them timed out. The MLFO now rotates in
two phases, as IKEv2 rekeys a child SA before deleting the old one (RFC 7296 §2.8):
1. announce and install: each member is told of epoch e+1 and installs it
   (`EpochKeyring.install`: receivable, not yet sent under) and acknowledges; a member
   that does not answer within `timeout` is reported, never waited for longer;
2. switch: the members that acknowledged start sending under e+1
   (`EpochKeyring.activate`); a member that misses the switch switches by itself
   `switch_after` seconds after its install.
Receivers accept e and e+1 throughout, and e for a further grace period after the switch,
so no frame in flight is dropped. A revoked member gets no box for e+1 (`push_epoch`
seals the secret to the trusted members only) and is refused on every link at once.

How a member is told and answers is the caller's: in one process, a keyring call; over
NATS, a sealed request to the agent. This module only orders the two phases.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

Step = Callable[[str], Awaitable[object]]
"""Tell one member (by name) to install, or to switch to, the epoch being rotated to."""


@dataclass(frozen=True)
class Rotation:
    """How a rotation to `epoch` went: who acknowledged the install, who did not and
    why, and how long each phase took (wall seconds)."""

    epoch: int
    acknowledged: tuple[str, ...]
    missing: dict[str, str] = field(default_factory=dict)
    install_s: float = 0.0
    switch_s: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "epoch": self.epoch,
            "acknowledged": list(self.acknowledged),
            "missing": dict(self.missing),
            "install_s": round(self.install_s, 4),
            "switch_s": round(self.switch_s, 4),
        }


async def _bounded(name: str, step: Step, gate: asyncio.Semaphore, timeout: float) -> str | None:
    """Run `step(name)`; None when it acknowledged in time, else why not."""
    async with gate:
        try:
            async with asyncio.timeout(timeout):
                await step(name)
        except TimeoutError:
            return f"no acknowledgement within {timeout:g} s"
        except Exception as exc:  # a member's failure is reported, the rotation goes on
            return f"{type(exc).__name__}: {exc}"
    return None


async def rotate(
    epoch: int,
    members: Iterable[str],
    install: Step,
    switch: Step,
    *,
    timeout: float,
    limit: int = 64,
) -> Rotation:
    """Rotate `members` to `epoch`: `install` on every member (at most `limit` at once,
    each within `timeout` s), then `switch` on those that acknowledged."""
    names = list(dict.fromkeys(members))
    gate = asyncio.Semaphore(max(1, limit))
    began = time.perf_counter()
    answers = await asyncio.gather(*(_bounded(n, install, gate, timeout) for n in names))
    installed = time.perf_counter()
    missing = {n: why for n, why in zip(names, answers, strict=True) if why is not None}
    acknowledged = tuple(n for n in names if n not in missing)
    for name, why in missing.items():
        logger.warning("key epoch %d: %s did not install it: %s", epoch, name, why)
    switched = await asyncio.gather(*(_bounded(n, switch, gate, timeout) for n in acknowledged))
    for name, why in zip(acknowledged, switched, strict=True):
        if why is not None:  # it switches by itself after switch_after
            logger.warning("key epoch %d: %s was not told to switch: %s", epoch, name, why)
    return Rotation(
        epoch,
        acknowledged,
        missing,
        installed - began,
        time.perf_counter() - installed,
    )

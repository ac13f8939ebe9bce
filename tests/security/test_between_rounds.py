"""An implant that hides between two attestation rounds.

The scenario says when the periodic mutual-attestation steps run (`period`), so code
running inside an attested agent knows when it will be looked at: it patches the agent
right after one step and restores the genuine code before the next. Every step then
measures the genuine agent, and the patch acts in between for as long as it likes.

On the run's virtual clock, in one process with real measurements, a real EVM and the
MLFO's real chain: with periodic steps only the implant acts and is never caught; with
the unannounced measurements on top (`security.attestation.random`) a check lands inside
one of its windows and the agent is revoked within the run. Over many run seeds, the
longer the implant stays patched, the more runs catch it.
"""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path
from types import ModuleType

from tests.security.conftest import run
from tests.trust.test_chain import agent_image

from secmas.network.clock import VirtualClock, drive_clock
from secmas.pipeline.images import WrappedImage
from secmas.pipeline.inprocess import InProcessAgents, bring_up
from secmas.scenario.model import Attestation, Security
from secmas.transport.memory import MemoryBus
from secmas.trust.chain import ChainEntry
from secmas.trust.schedule import Timetable

PIPE = "between-rounds"
AGENTS = ["a1", "a2", "a3"]
VICTIM = "a2"
PERIOD = 10.0
LEAD = 0.5
"""Seconds after a periodic step at which the implant patches the agent."""
HORIZON = 300.0
SEED = 3
"""A run seed whose unannounced checks land on the victim while it is patched."""


class Implant:
    """Patches `module.decide` right after each periodic step (k·period + LEAD) and puts
    the genuine code back `dwell` seconds later, before the next step."""

    def __init__(self, module: ModuleType, dwell: float) -> None:
        self.module, self.dwell = module, dwell
        self.genuine = module.decide.__code__
        self.windows: list[tuple[float, float]] = []
        self.acted: list[float] = []
        """When the agent decided as only the patched code makes it."""

    async def hide(self, clock: VirtualClock) -> None:
        k = 0
        while True:
            await clock.sleep(k * PERIOD + LEAD - clock.now())
            self.module.decide.__code__ = (lambda load: True).__code__  # always mitigate
            self.windows.append((clock.now(), math.inf))
            await clock.sleep(self.dwell)
            self.module.decide.__code__ = self.genuine
            self.windows[-1] = (self.windows[-1][0], clock.now())
            k += 1

    def covers(self, t: float) -> bool:
        return any(start < t < end for start, end in self.windows)


async def agent_work(module: ModuleType, clock: VirtualClock, wrong: list[float]) -> None:
    """The agent going about its business, one decision per simulated second; `wrong`
    gets the times it decided as only the implant makes it (a load of 0.5 is not high)."""
    while True:
        if module.decide(0.5):
            wrong.append(clock.now())
        await clock.sleep(1.0)


def victim_images(tmp_path: Path) -> dict[str, WrappedImage]:
    honest = agent_image(tmp_path)
    return {a: agent_image(tmp_path) if a == VICTIM else honest for a in AGENTS}


async def hide_between_rounds(
    tmp_path: Path, security: Security, seed: int, dwell: float
) -> tuple[InProcessAgents, Implant, list[ChainEntry]]:
    """Bring the pipeline up, start its background attestation and the implant, and
    run the virtual clock until the victim is revoked or HORIZON; the chain's entries."""
    chosen = victim_images(tmp_path)
    module = sys.modules[chosen[VICTIM].runtime.layout.name]
    bus, clock = MemoryBus(), VirtualClock()
    pipeline = await bring_up(PIPE, AGENTS, bus, clock, security, images=chosen)
    implant = Implant(module, dwell)
    pipeline.mlfo.attest_in_background(clock, seed)
    work = agent_work(module, clock, implant.acted)
    tasks = [asyncio.ensure_future(t) for t in (implant.hide(clock), work)]
    try:
        t = 0.0
        while t < HORIZON and pipeline.mlfo.view.admits(VICTIM):
            t += 1.0
            await drive_clock(clock, t)
        return pipeline, implant, list(pipeline.mlfo.entries)
    finally:
        for task in tasks:
            task.cancel()
        module.decide.__code__ = implant.genuine
        await pipeline.close()
        await bus.close()


def test_periodic_steps_alone_never_see_an_implant_that_hides_between_them(
    tmp_path: Path,
) -> None:
    """The attack as it stands without unannounced checks: the implant acts for most of
    every period, each periodic step measures the victim genuine, it is never caught."""
    periodic_only = Security(attestation=Attestation(period=PERIOD, random=None))
    pipeline, implant, entries = run(
        hide_between_rounds(tmp_path, periodic_only, SEED, dwell=PERIOD - 2 * LEAD)
    )
    assert pipeline.mlfo.view.admits(VICTIM)
    assert len(implant.acted) > HORIZON / 2  # it acted most of the time
    periodic = [e for e in entries if e.kind == "mutual" and e.time and e.measured == VICTIM]
    assert len(periodic) >= 4  # looked at again and again ...
    assert all(e.passed for e in entries)  # ... and never seen
    assert not any(e.kind == "random" for e in entries)


def test_unannounced_measurements_catch_it_within_the_run(tmp_path: Path) -> None:
    """Before: no measurement between the periodic steps, so this run ended with the
    victim trusted (as above). With the scenario's default unannounced checks, one lands
    on the victim while it is patched: SECaaS measures it, it fails and is revoked."""
    security = Security(attestation=Attestation(period=PERIOD))
    pipeline, implant, entries = run(
        hide_between_rounds(tmp_path, security, SEED, dwell=PERIOD - 2 * LEAD)
    )
    assert not pipeline.mlfo.view.admits(VICTIM)
    caught = [e for e in entries if not e.passed]
    assert [(e.kind, e.measured, e.verifier) for e in caught] == [("random", VICTIM, "secaas")]
    assert caught[0].time is not None and implant.covers(caught[0].time)
    assert caught[0].differing == (f"code:{implant.module.__name__}",)
    assert caught[0].revoke_tx is not None
    assert all(e.passed for e in entries if e.kind == "mutual")  # the rounds never saw it


def caught_by_schedule(seed: int, dwell: float, horizon: float) -> bool:
    """Whether the run's unannounced checks (the timetable `InProcessAgents` follows for
    `seed` on the virtual clock) land on the victim inside one of its patched windows
    (k·period + LEAD, k·period + LEAD + dwell) before `horizon`."""
    timetable = Timetable.for_run(Attestation(period=PERIOD), PIPE, seed, simulated=True)
    while (due := timetable.next()).at < horizon:
        if due.unannounced and due.pick(AGENTS) == VICTIM:
            into = (due.at - LEAD) % PERIOD
            if 0 < into < dwell:
                return True
        timetable.done(due, due.at)
    return False


def test_the_longer_the_implant_stays_the_more_runs_catch_it() -> None:
    """Over 200 run seeds of ten simulated minutes: an implant patched for 8 of every
    10 s is caught in most runs (at the default rate about 2.7 checks of the victim land
    in its windows on average: exp(-2.7) of the runs miss it), and the share caught grows
    with its dwell time; one never patched is never caught."""
    seeds, minutes = range(200), 600.0
    share = {
        dwell: sum(caught_by_schedule(s, dwell, minutes) for s in seeds) / len(seeds)
        for dwell in (0.0, 1.0, 4.0, 8.0)
    }
    assert share[0.0] == 0.0
    assert share[0.0] < share[1.0] < share[4.0] < share[8.0]
    assert share[8.0] >= 0.8, share
    assert caught_by_schedule(SEED, PERIOD - 2 * LEAD, HORIZON)  # the seed the run above uses

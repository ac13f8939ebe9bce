"""Agents as tasks of this process: each holds its own keys and joins as an agent process
does, and on the virtual clock a busy machine never fails an honest attester, while a
silent one still fails (`secmas.trust.deadlines`).

The slow attester is genuine: its image is libtorch_cpu (hundreds of MB of mapped code
read from memory and hashed, about a second a measurement), while the scenario declares a
challenge timeout of 50 ms. Wall time is what a busy machine stretches; on the run's clock
the measurement takes no time, so the verdict is the same on any machine.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.network.clock import VirtualClock
from secmas.pipeline.errors import PipelineError
from secmas.pipeline.images import secmas_image, wrap_native_image
from secmas.pipeline.iml import AgentLaunch
from secmas.pipeline.inprocess import InProcessAgents, bring_up, warm
from secmas.scenario.model import Attestation, Security
from secmas.transport.memory import MemoryBus
from secmas.trust.identity import AgentIdentity
from secmas.trust.repository import ReferenceRepository

LIBTORCH = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
TIGHT = Security(attestation=Attestation(challenge_timeout=0.05))


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 300))


def test_a_slow_honest_attester_passes_on_the_run_clock() -> None:
    async def main() -> list[tuple[str, bool, tuple[str, ...]]]:
        image = wrap_native_image(
            LIBTORCH, Ed25519PrivateKey.generate(), ReferenceRepository(":memory:")
        )
        bus = MemoryBus()
        pipeline = await bring_up(
            "slow-pipe", ["a1", "a2"], bus, VirtualClock(), TIGHT, images={"a1": image, "a2": image}
        )
        try:
            return [(e.measured, e.passed, e.reasons) for e in pipeline.mlfo.entries]
        finally:
            await pipeline.close()
            await bus.close()

    assert run(main()) == [("a1", True, ()), ("a2", True, ())]


def test_an_attester_that_never_answers_still_fails_on_the_run_clock() -> None:
    async def main() -> tuple[bool, tuple[str, ...]]:
        bus = MemoryBus()
        pipeline = await bring_up("mute-pipe", ["a1", "a2", "a3"], bus, VirtualClock(), TIGHT)
        try:
            await pipeline.members["a2"].endpoint.stop()  # a2 answers nothing from now on
            entries = await pipeline.mlfo.chain.run(3)
            failed = [e for e in entries if not e.passed]
            return failed[0].measured, failed[0].passed, failed[0].reasons
        finally:
            await pipeline.close()
            await bus.close()

    measured, passed, reasons = run(main())
    assert (measured, passed) == ("a2", False)
    assert reasons[0].startswith("no evidence from a2")


def identities_within(root: object, skip: tuple[str, ...], depth: int = 6) -> set[str]:
    """The names of every identity (private keys) reachable from `root`'s attributes and
    containers, not going through the attributes named in `skip`."""
    found: set[str] = set()
    seen: set[int] = set()

    def walk(value: object, left: int) -> None:
        if id(value) in seen or left < 0 or isinstance(value, (str, bytes, int, float)):
            return
        seen.add(id(value))
        if isinstance(value, AgentIdentity):
            found.add(value.name)
            return
        if isinstance(value, dict):
            children: list[object] = [*value.keys(), *value.values()]
        elif isinstance(value, (list, tuple, set, frozenset)):
            children = list(value)
        elif hasattr(value, "__dict__"):
            children = [v for k, v in vars(value).items() if k not in skip]
        else:
            return
        for child in children:
            walk(child, left - 1)

    walk(root, depth)
    return found


def test_the_mlfo_holds_no_agent_s_private_keys() -> None:
    """Each agent made its keys itself; the MLFO knows their public halves only. Before,
    the in-process MLFO made every agent's keys and fetched their secrets for them, so
    whoever held the MLFO held every agent."""

    async def main() -> tuple[set[str], set[str], dict[str, bool]]:
        bus = MemoryBus()
        pipeline = await bring_up("own-keys", ["a1", "a2", "a3"], bus, VirtualClock(), Security())
        try:
            mlfo = identities_within(pipeline.mlfo, skip=("iml", "launch", "on_stopped"))
            agents = {a: m.identity.name for a, m in pipeline.members.items()}
            keyed = {a: m.secret is not None for a, m in pipeline.members.items()}
            return mlfo, set(agents.values()), keyed
        finally:
            await pipeline.close()
            await bus.close()

    mlfo, agents, keyed = run(main())
    assert mlfo == {"mlfo", "secaas"}
    assert agents == {"a1", "a2", "a3"}
    assert keyed == {"a1": True, "a2": True, "a3": True}  # each fetched its own box


def test_an_agent_whose_join_fails_stops_the_bring_up_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A member that cannot join (here: its credential's file is gone before it reads
    it) is a dead agent: the bring-up fails at step 2 with its error, not a timeout."""
    start = InProcessAgents.start

    def lose_a2(self: InProcessAgents, launch: AgentLaunch) -> None:
        if launch.pop == "a2" and launch.enrolment is not None:
            launch.enrolment.unlink()
        start(self, launch)

    monkeypatch.setattr(InProcessAgents, "start", lose_a2)

    async def main() -> None:
        bus = MemoryBus()
        try:
            await bring_up("lost", ["a1", "a2"], bus, VirtualClock(), Security())
        finally:
            await bus.close()

    with pytest.raises(PipelineError) as failed:
        run(main())
    assert "step 2" in str(failed.value) and "agent a2 exited" in str(failed.value)
    assert "EnrolmentError" in str(failed.value) and "cannot read" in str(failed.value)


def test_warming_leaves_what_a_genuine_image_measures_unchanged() -> None:
    """The first challenge finds the caches filled, and the measurement still the
    reference's."""
    image = secmas_image(Ed25519PrivateKey.generate(), ReferenceRepository())
    warm(image).join(timeout=120)
    assert image.runtime.measure().root == image.reference.root


def test_a_walk_that_fails_is_logged_and_leaves_the_challenge_to_measure(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    library = tmp_path / "gone"
    library.write_bytes(Path("/bin/true").read_bytes())
    image = wrap_native_image(library, Ed25519PrivateKey.generate(), ReferenceRepository())
    library.unlink()
    with caplog.at_level(logging.DEBUG, logger="secmas.pipeline.inprocess"):
        warm(image).join(timeout=60)
    assert "warming the agents' measurement failed" in caplog.text
